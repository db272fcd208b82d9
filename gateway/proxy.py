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

A service may run as several replicas (``sajja run`` with ``SAJJA_REPLICAS``, docs/replicas.md):
each request goes to the replica with the fewest requests in flight from this gateway (round
robin among equals), except a fund's deposit posts, which go to the fund's own replica (the first
up in an order made from the fund's id and each replica's address, the same in every gateway
process): one ledger process then groups all of a fund's deposits into its posting calls, rather
than two processes splitting them. A replica that refuses the connection is taken out for
:data:`shared.replicas.DOWN_SECONDS` and the request is sent to another one, whatever its method: nothing of it
was sent. A request that was sent and whose answer broke off (the replica died under it) is sent
to another replica only when sending it twice does no harm (:func:`retry_after_sending`). A
timeout is never retried: the request may still be under way, and a second copy would double
the load on a service that is already slow. The choice and these rules are ``shared/replicas.py``'s,
the same for the services' and the workers' own calls to each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response

from shared import replicas
from shared.errors import SajjaError, problem_response
from shared.etag import etag_of, if_none_match
from shared.http import CLIENT_IDLE_SECONDS
from shared.http1 import (
    OWN_HEADERS,
    Answer,
    BrokenAnswer,
    Http1Client,
    Unreachable,
    UpstreamError,
    header_pairs,
)
# What a service's replicas are, how one is chosen, and which requests go to another after a broken
# answer: one piece of code with the services' own calls to each other (shared/replicas.py).
from shared.replicas import DEPOSIT_POST, Replica, Upstream, retry_after_sending
from shared.tracing import trace_var

log = logging.getLogger("sajja.proxy")

#: Not passed on in either direction: framing and connection headers (the client's own, see
#: ``shared.http1.OWN_HEADERS``; the gateway has whole bodies, so no trailers or 100-continue
#: either) and the hop-by-hop ones a proxy answers for itself.
HOP_BY_HOP = OWN_HEADERS | {b"proxy-authenticate", b"proxy-authorization", b"trailers"}
#: Set by the gateway itself on the way in...
REQUEST_SET = frozenset({b"x-request-id", b"x-forwarded-for", b"x-forwarded-proto", b"traceparent", b"tracestate"})
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
    """The pooled client and each service's replicas."""

    def __init__(
        self, service_urls: Mapping[str, str | list[str]], *, timeout: float, connect_timeout: float, max_connections: int,
        idle_seconds: float = CLIENT_IDLE_SECONDS,
    ) -> None:
        replicas = {name: [urls] if isinstance(urls, str) else list(urls) for name, urls in service_urls.items()}
        #: service -> the first replica's base URL (for the gateway's callers that take one URL)
        self.service_urls = {name: urls[0] for name, urls in replicas.items()}
        self.timeout = timeout
        self.upstreams = {name: Upstream(urls) for name, urls in replicas.items()}
        self.client = Http1Client(max_connections=max_connections, idle_seconds=idle_seconds, connect_timeout=connect_timeout)

    async def close(self) -> None:
        await self.client.close()

    async def _send(
        self, service: str, method: str, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes,
        path: str,
    ) -> Answer:
        """Send to a replica of ``service`` (``target`` from its base), trying another as the
        module's docstring says; raises the last replica's failure."""
        upstream = self.upstreams[service]
        tried: list[Replica] = []
        failure: UpstreamError | None = None
        key = None
        if method == "POST" and len(upstream.replicas) > 1 and (deposits := DEPOSIT_POST.fullmatch(path)):
            key = deposits[1].lower()  # the fund: its deposits are grouped by one replica
        while True:
            replica = upstream.pick(tried, key)
            if replica is None:
                assert failure is not None  # the first pick always finds one
                raise failure
            tried.append(replica)
            replica.in_flight += 1
            try:
                return await self.client.send(replica.host, replica.port, method, replica.base + target,
                                              headers=headers, body=body)
            except Unreachable as exc:
                replica.refused()
                failure = exc
                if len(upstream.replicas) > 1:
                    log.warning("upstream %s replica %s:%d refused the connection; left out for %gs",
                                service, replica.host, replica.port, replicas.DOWN_SECONDS)
            except BrokenAnswer as exc:
                failure = exc
                if not retry_after_sending(method, path, headers):
                    raise
            finally:
                replica.in_flight -= 1

    async def call_each(self, service: str, method: str, path: str, *, timeout: float) -> list[Answer | BaseException]:
        """The same request to every replica of ``service`` at once (readiness), in their order;
        each replica's answer or its transport failure."""
        target = path.encode("latin-1")

        async def one(replica: Replica) -> Answer:
            async with asyncio.timeout(timeout):
                return await self.client.send(replica.host, replica.port, method, replica.base + target)

        results = await asyncio.gather(*(one(r) for r in self.upstreams[service].replicas), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, TRANSPORT_ERRORS):
                raise result
        return results

    def replica_urls(self, service: str) -> list[str]:
        return [f"http://{r.host}:{r.port}{r.base.decode('latin-1')}" for r in self.upstreams[service].replicas]

    async def call(
        self, service: str, method: str, path: str, *, params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None, body: bytes = b"", timeout: float | None = None,
    ) -> Answer:
        """The gateway's own request to a service (``path`` from the service's root); raises one
        of :data:`TRANSPORT_ERRORS` when the exchange fails (see :func:`upstream_failure`)."""
        target = path.encode("latin-1")
        if params:
            target += b"?" + urlencode(params, doseq=True).encode("ascii")
        pairs = header_pairs(headers or {})
        if (trace := trace_var.get()) is not None:
            pairs.append((b"traceparent", trace.traceparent().encode("latin-1")))
        async with asyncio.timeout(timeout or self.timeout):
            return await self._send(service, method, target, pairs, body, path)

    async def forward(self, request: Request, service: str) -> Response:
        scope = request.scope
        # The path and query as the caller encoded them, not re-encoded.
        target = scope.get("raw_path") or request.url.path.encode()
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
        if (trace := trace_var.get()) is not None:
            headers.append((b"traceparent", trace.traceparent().encode("latin-1")))
        body = await request.body()
        try:
            async with asyncio.timeout(self.timeout):
                answer = await self._send(service, request.method, target, headers, body, scope["path"])
        except TRANSPORT_ERRORS as exc:
            failure = upstream_failure(exc, service)
            log.warning("upstream %s: %s (%s): %s %s", service, failure.code, type(exc).__name__, request.method,
                        request.url.path)
            return problem_response(request, failure.code, failure.status_code, failure.params)
        out = [(name, v) for k, v in answer.headers if (name := k.lower()) not in RESPONSE_DROP]
        if request.method == "GET" and answer.status == 200:
            return conditional(request, answer.body, out)
        return with_headers(Response(content=answer.body, status_code=answer.status), out)
