"""Forwarding ``/v1/<service>/...`` to the services, and the gateway's own calls to them.

The one place the transport is chosen: :class:`shared.http1.Http1Client`, pooled keep-alive
HTTP/1.1 with responses parsed by httptools, chosen because the forwarding path carries every
deposit and general-purpose clients cost several times its CPU per request (docs/architecture.md,
"Why these choices"); ``make bench`` compares reads and deposits straight and through the gateway.

What is forwarded: method, path and query as the caller encoded them, body, and the end-to-end
headers; hop-by-hop headers are dropped, ``X-Request-ID`` and ``X-Forwarded-*`` set by the gateway.
Responses, problem+json included, come back untouched (no decompression, repeated headers such
as ``Set-Cookie`` kept). An upstream timeout becomes 504, a refused connection 503, a broken
answer 502, each as problem+json. The client keeps no cookies: nothing of one caller's answer
can ride along with another's request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from shared.errors import SajjaError, problem_response
from shared.etag import etag_of, if_none_match
from shared.http import CLIENT_IDLE_SECONDS
from shared.http1 import (
    OWN_HEADERS,
    Answer,
    Http1Client,
    Unreachable,
    UpstreamError,
    header_pairs,
    split_url,
)

log = logging.getLogger("sajja.proxy")

#: Not passed on in either direction: framing and connection headers (the client's own, see
#: ``shared.http1.OWN_HEADERS``; the gateway has whole bodies, so no trailers or 100-continue
#: either) and the hop-by-hop ones a proxy answers for itself.
HOP_BY_HOP = OWN_HEADERS | {b"proxy-authenticate", b"proxy-authorization", b"trailers"}
#: Set by the gateway itself on the way in...
REQUEST_SET = frozenset({b"x-request-id", b"x-forwarded-for", b"x-forwarded-proto"})
REQUEST_DROP = HOP_BY_HOP | REQUEST_SET
#: ...and by the gateway's own server on the way out.
RESPONSE_DROP = HOP_BY_HOP | {b"x-request-id", b"server", b"date"}


def with_headers(response: Response, headers: list[tuple[bytes, bytes]]) -> Response:
    """``response`` carrying ``headers`` as they are (lowercase names, repeats kept)."""
    response.raw_headers.extend(headers)
    return response


def conditional(request: Request, content: bytes, headers: list[tuple[bytes, bytes]]) -> Response:
    """Every successful GET gets an ETag (the service's own, or one made from the body), and a
    caller that already has it gets 304 with no body: phones poll balances and rounds."""
    etag = next((v for k, v in headers if k == b"etag"), None)
    if etag is None:
        etag = etag_of(content).encode("latin-1")
        headers.append((b"etag", etag))
    if if_none_match(request, etag.decode("latin-1")):
        kept = [(k, v) for k, v in headers if k in (b"etag", b"cache-control", b"vary")]
        return with_headers(Response(status_code=304), kept)
    return with_headers(Response(content=content, status_code=200), headers)


def bad_gateway(service: str) -> SajjaError:
    """502: ``service`` answered something the gateway cannot use."""
    return SajjaError("upstream.bad_gateway", status_code=502, params={"service": service})


def upstream_failure(exc: BaseException, service: str) -> SajjaError:
    """The gateway's problem for a call to a service that failed in transport: a timeout is 504,
    no connection 503 (a connection that times out too: nothing was sent), a broken answer 502."""
    if isinstance(exc, TimeoutError):
        return SajjaError("upstream.timeout", status_code=504, params={"service": service})
    if isinstance(exc, Unreachable):
        return SajjaError("upstream.unavailable", status_code=503, params={"service": service})
    return bad_gateway(service)


#: What :meth:`Forwarder.call` raises when the exchange itself failed.
TRANSPORT_ERRORS = (TimeoutError, UpstreamError)


class Forwarder:
    """The pooled client and the map of service names to base URLs."""

    def __init__(
        self, service_urls: dict[str, str], *, timeout: float, connect_timeout: float, max_connections: int,
        idle_seconds: float = CLIENT_IDLE_SECONDS,
    ) -> None:
        self.service_urls = service_urls
        self.timeout = timeout
        #: service -> (host, port, the base path every target starts with)
        self._origins: dict[str, tuple[str, int, bytes]] = {}
        for name, url in service_urls.items():
            host, port, base = split_url(url)
            self._origins[name] = (host, port, base.rstrip(b"/"))
        self.client = Http1Client(max_connections=max_connections, idle_seconds=idle_seconds, connect_timeout=connect_timeout)

    async def close(self) -> None:
        await self.client.close()

    async def call(
        self, service: str, method: str, path: str, *, params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None, body: bytes = b"", timeout: float | None = None,
    ) -> Answer:
        """The gateway's own request to a service (``path`` from the service's root); raises one
        of :data:`TRANSPORT_ERRORS` when the exchange fails (see :func:`upstream_failure`)."""
        host, port, base = self._origins[service]
        target = base + path.encode("latin-1")
        if params:
            target += b"?" + urlencode(params).encode("ascii")
        async with asyncio.timeout(timeout or self.timeout):
            return await self.client.send(host, port, method, target, headers=header_pairs(headers or {}), body=body)

    async def forward(self, request: Request, service: str) -> Response:
        scope = request.scope
        host, port, base = self._origins[service]
        # The path and query as the caller encoded them, not re-encoded.
        target = base + (scope.get("raw_path") or request.url.path.encode())
        if query := scope.get("query_string"):
            target += b"?" + query
        headers = [(k, v) for k, v in scope["headers"] if k not in REQUEST_DROP]
        client = (scope.get("client") or ("",))[0]
        prior = request.headers.get("x-forwarded-for")
        headers += [
            (b"x-request-id", request.state.request_id.encode("latin-1")),
            (b"x-forwarded-for", (f"{prior}, {client}" if prior else client).encode("latin-1")),
            (b"x-forwarded-proto", scope.get("scheme", "http").encode("latin-1")),
        ]
        body = await request.body()
        try:
            async with asyncio.timeout(self.timeout):
                answer = await self.client.send(host, port, request.method, target, headers=headers, body=body)
        except TRANSPORT_ERRORS as exc:
            failure = upstream_failure(exc, service)
            log.warning("upstream %s: %s (%s): %s %s", service, failure.code, type(exc).__name__, request.method,
                        request.url.path)
            return problem_response(request, failure.code, failure.status_code, failure.params)
        out = [(name, v) for k, v in answer.headers if (name := k.lower()) not in RESPONSE_DROP]
        if request.method == "GET" and answer.status == 200:
            return conditional(request, answer.body, out)
        return with_headers(Response(content=answer.body, status_code=answer.status), out)
