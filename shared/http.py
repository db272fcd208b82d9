"""Outgoing HTTP between Sajja services: one pooled httpx client per process.

- Timeouts everywhere; connection pools sized for a service, not for a browser.
- Retries only where a retry cannot do harm: GET/HEAD/OPTIONS/PUT/DELETE, or any request that
  carries an ``Idempotency-Key``. A POST without one is sent once.
- Service tokens: a service authenticates to another with a token the gateway issues for its
  client credentials (``svc-<name>``), fetched on first use and renewed before it expires.
- The caller's ``X-Request-ID`` and W3C ``traceparent`` go along, so logs and traces join up across services.
- A service run as several replicas (``SAJJA_LEDGER_URL=http://a,http://b``) is called at its first
  replica's URL, and each request goes to one of them as the gateway's do: the fewest in flight, a
  refused connection tried on another replica, a broken answer only when the request may be sent
  twice (``shared/replicas.py``, docs/replicas.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Generator, Mapping, Sequence
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from shared.auth import service_client_id, service_client_secret
from shared.errors import SajjaError
from shared.logs import request_id_var
from shared.replicas import IDEMPOTENT_METHODS, ReplicaTransport, split_urls
from shared.tracing import current_traceparent

#: How long a Sajja server keeps an idle keep-alive connection open (uvicorn's default is 5 s)...
SERVER_KEEP_ALIVE_SECONDS = 75
#: ...and how long a Sajja client keeps one before closing it itself: well under the server's, so a
#: client never sends on a connection the server is closing at that very moment (the request is
#: then lost to a reset: a 502 at the gateway, as when many pooled connections go idle together
#: and the server's idle timeout runs out just as the next request leaves).
CLIENT_IDLE_SECONDS = 30.0

RETRY_STATUSES = frozenset({502, 503, 504})


class ServiceTokenAuth(httpx.Auth):
    """Bearer auth with a service token from the gateway's client-credentials endpoint."""

    def __init__(self, *, gateway_url: str, service: str, master_secret: str, leeway: float = 30.0) -> None:
        self.token_url = gateway_url.rstrip("/") + "/v1/auth/token"
        self.client_id = service_client_id(service)
        self.client_secret = service_client_secret(master_secret, service)
        self.leeway = leeway
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def _token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.token_url,
            json={"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret},
        )

    async def _store(self, response: httpx.Response) -> None:
        await response.aread()
        response.raise_for_status()
        body = response.json()
        self._token = body["access_token"]
        self._expires_at = time.monotonic() + float(body["expires_in"]) - self.leeway

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("service clients are async")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._token is None or time.monotonic() >= self._expires_at:
            async with self._lock:
                if self._token is None or time.monotonic() >= self._expires_at:
                    await self._store((yield self._token_request()))
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            # A rotated key or a restarted gateway: one fresh token, one more try.
            await self._store((yield self._token_request()))
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request


async def _propagate_request_id(request: httpx.Request) -> None:
    """The caller's request id and trace go along (docs/observability.md)."""
    request_id = request_id_var.get()
    if request_id != "-" and "x-request-id" not in request.headers:
        request.headers["X-Request-ID"] = request_id
    if (traceparent := current_traceparent()) is not None:
        request.headers["traceparent"] = traceparent


def no_cookies() -> CookieJar:
    """A cookie jar that keeps nothing. Sajja's clients call for many people (a user's token, a
    service's, a webhook receiver): a cookie set in one answer must not ride along with the next."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def make_client(
    *,
    base_url: str = "",
    auth: httpx.Auth | None = None,
    timeout: float = 10.0,
    connect_timeout: float = 3.0,
    max_connections: int = 100,
    idle_seconds: float = CLIENT_IDLE_SECONDS,
    transport: httpx.AsyncBaseTransport | None = None,
    services: Mapping[str, str | Sequence[str]] | None = None,
) -> httpx.AsyncClient:
    """A pooled client with timeouts, request-id propagation and (optionally) service auth.
    ``services``: each service's replicas' URLs (a list, or a comma-separated setting); a request
    to a service's first URL goes to one of them (:class:`shared.replicas.ReplicaTransport`)."""
    # The limits belong to the transport: given one, httpx ignores a client's own ``limits``.
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections,
                          keepalive_expiry=idle_seconds)
    transport = transport or httpx.AsyncHTTPTransport(retries=1, limits=limits)  # retries: connect failures only
    if services and any(len(split_urls(urls)) > 1 for urls in services.values()):
        transport = ReplicaTransport(services, transport)
    return httpx.AsyncClient(
        base_url=base_url,
        auth=auth,
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        transport=transport,
        event_hooks={"request": [_propagate_request_id]},
        cookies=no_cookies(),
    )


def service_client(settings: Any, process: str) -> httpx.AsyncClient:
    """``process``'s client to the other services: its service token, and each service's replicas
    (``settings``: the process's settings, with ``gateway_url``, ``service_secret`` and
    ``service_urls()``)."""
    return make_client(auth=ServiceTokenAuth(gateway_url=settings.gateway_url, service=process,
                                             master_secret=settings.service_secret),
                       services=settings.service_urls())


def is_retryable(method: str, headers: Any) -> bool:
    return method.upper() in IDEMPOTENT_METHODS or "idempotency-key" in {k.lower() for k in (headers or {})}


async def request_with_retries(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    attempts: int = 3,
    backoff: float = 0.2,
    **kwargs: Any,
) -> httpx.Response:
    """Send a request; retry transport errors and 502/503/504 only when the request is idempotent."""
    retryable = is_retryable(method, kwargs.get("headers"))
    tries = attempts if retryable else 1
    for attempt in range(1, tries + 1):
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TransportError:
            if attempt == tries:
                raise
        else:
            if response.status_code not in RETRY_STATUSES or attempt == tries:
                return response
        await asyncio.sleep(backoff * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


async def get_json(client: httpx.AsyncClient, url: str, *, service: str, params: Mapping[str, Any] | None = None,
                   timeout: float | None = None) -> Any:
    """The JSON of another service's 200 answer to a GET; a transport failure or any other status is
    a 503 ``upstream.unavailable`` problem naming ``service`` (a read the caller cannot do without)."""
    extra: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
    try:
        response = await client.get(url, params=dict(params) if params else None, **extra)
    except httpx.HTTPError:
        raise SajjaError("upstream.unavailable", status_code=503, params={"service": service}) from None
    if response.status_code != 200:
        raise SajjaError("upstream.unavailable", status_code=503, params={"service": service})
    return response.json()
