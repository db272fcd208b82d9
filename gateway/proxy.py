"""Forwarding ``/v1/<service>/...`` to the services. The one place the transport is chosen.

Measured on this 2-core machine (DESIGN.md section 7): a FastAPI proxy over a default
``httpx.AsyncClient`` reached 142 req/s, over the httpx-aiohttp transport 657, over aiohttp
directly 893, in front of a 1,200 req/s endpoint. The forwarding path carries every deposit, so it
uses aiohttp; ``make bench`` re-measures the overhead on every run.

What is forwarded: method, path, query, body, and the end-to-end headers; hop-by-hop headers are
dropped. Responses, problem+json included, come back untouched (no decompression). An upstream
timeout becomes 504, a refused connection 503, a broken answer 502, each as problem+json.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from fastapi import Request
from fastapi.responses import Response
from yarl import URL

from shared.errors import problem_response
from shared.etag import etag_of, if_none_match
from shared.http import CLIENT_IDLE_SECONDS

log = logging.getLogger("sajja.proxy")

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
#: Set again by the gateway's own server on the way out.
RESPONSE_DROP = HOP_BY_HOP | {"x-request-id", "server", "date"}


def conditional(request: Request, content: bytes, headers: dict[str, str]) -> Response:
    """Every successful GET gets an ETag (the service's own, or one made from the body), and a
    caller that already has it gets 304 with no body: phones poll balances and rounds."""
    etag = next((v for k, v in headers.items() if k.lower() == "etag"), None)
    if etag is None:
        etag = etag_of(content)
        headers["ETag"] = etag
    if if_none_match(request, etag):
        kept = {k: v for k, v in headers.items() if k.lower() in ("etag", "cache-control", "vary")}
        return Response(status_code=304, headers=kept)
    return Response(content=content, status_code=200, headers=headers)


class Forwarder:
    """A pooled aiohttp session and the map of service names to base URLs."""

    def __init__(
        self, service_urls: dict[str, str], *, timeout: float, connect_timeout: float, max_connections: int,
        idle_seconds: float = CLIENT_IDLE_SECONDS,
    ) -> None:
        self.service_urls = service_urls
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self._max_connections = max_connections
        self._idle_seconds = idle_seconds
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections, limit_per_host=self._max_connections, ttl_dns_cache=300,
            keepalive_timeout=self._idle_seconds,  # closed here before the service closes it
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, auto_decompress=False, skip_auto_headers=("User-Agent",),
            # One session serves every caller: a cookie a service set for one must never be sent
            # with another's request.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self._session is not None, "Forwarder not started"
        return self._session

    async def forward(self, request: Request, service: str) -> Response:
        # The path and query as the caller encoded them, not re-encoded.
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string") or b""
        url = URL(self.service_urls[service] + raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else ""),
                  encoded=True)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["x-request-id"] = request.state.request_id
        client = request.client.host if request.client else ""
        prior = request.headers.get("x-forwarded-for")
        headers["x-forwarded-for"] = f"{prior}, {client}" if prior else client
        headers["x-forwarded-proto"] = request.scope.get("scheme", "http")  # no URL object made
        body = await request.body()
        try:
            async with self.session.request(request.method, url, data=body or None, headers=headers) as upstream:
                content = await upstream.read()
                out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in RESPONSE_DROP}
                if request.method == "GET" and upstream.status == 200:
                    return conditional(request, content, out_headers)
                return Response(content=content, status_code=upstream.status, headers=out_headers)
        except asyncio.TimeoutError:
            log.warning("upstream %s timed out: %s %s", service, request.method, request.url.path)
            return problem_response(request, "upstream.timeout", 504, {"service": service})
        except aiohttp.ClientConnectorError:
            log.warning("upstream %s refused: %s %s", service, request.method, request.url.path)
            return problem_response(request, "upstream.unavailable", 503, {"service": service})
        except aiohttp.ClientError as exc:
            log.warning("upstream %s failed (%s): %s %s", service, type(exc).__name__, request.method, request.url.path)
            return problem_response(request, "upstream.bad_gateway", 502, {"service": service})
