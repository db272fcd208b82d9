"""A service's replicas, and the choice of one for each request: the one piece of code for it, used
by the gateway's forwarding (``gateway/proxy.py``) and by every call a service or a worker makes to
another service (:class:`ReplicaTransport`, under ``shared.http.make_client``).

- Each request goes to the replica with the fewest requests in flight from this process, taking
  turns among equals; a request with a key (the gateway keys a fund's deposit posts by the fund)
  goes to the first replica up in the key's own order (:meth:`Upstream.order`), so that one
  ledger process groups all of a fund's deposits.
- A replica that refuses the connection is left out for :data:`DOWN_SECONDS` and the request is
  sent to another one, whatever its method: nothing of it was sent. While every replica is left
  out, the one left out first is tried.
- A request that was sent and whose answer broke off (the replica died under it) is sent to
  another replica only when sending it twice does no harm (:func:`retry_after_sending`).
- A timeout is never retried: the request may still be under way, and a second copy would double
  the load on a service that is already slow.

A service is known by a list of base URLs (``SAJJA_LEDGER_URL=http://a:8002,http://a:8007``,
:func:`split_urls`). Callers address a service by its first replica's URL (:func:`first_url`);
the transport sends each request to whichever replica it chooses. See docs/replicas.md.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

log = logging.getLogger("sajja.replicas")

#: How long a replica that refused a connection is left out before a request tries it again.
DOWN_SECONDS = 1.0
#: The methods HTTP makes idempotent (``shared.http`` retries them too).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Deposits carry their own ids, which the ledger's database keeps unique: posted twice, a deposit
#: is posted once and the second answer is its receipt again (``Idempotency-Replayed``).
DEPOSIT_POST = re.compile(r"/v1/ledger/funds/([^/]+)/deposits(?:/batch)?")
#: Keys whose order of replicas :class:`Upstream` keeps (a few thousand funds in all); past this
#: many it forgets them all and starts again.
ORDERS_KEPT = 65_536


def split_urls(value: str | Sequence[str]) -> list[str]:
    """A URL setting as the list of its replicas' base URLs (comma-separated in a setting)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return [url.strip().rstrip("/") for url in items if url.strip()]


def first_url(value: str | Sequence[str]) -> str:
    """The address a caller uses for a service: its first replica's URL (the transport of a client
    made with the service's replicas sends each request to one of them)."""
    urls = split_urls(value)
    if not urls:
        raise ValueError("a service needs at least one URL")
    return urls[0]


def retry_after_sending(method: str, path: str, headers: Iterable[tuple[Any, Any]]) -> bool:
    """Whether a request that reached a replica may be sent again to another: the methods HTTP
    makes idempotent, a request with an ``Idempotency-Key``, and the deposit posts (idempotent by
    the deposits' ids). Any other POST or a PATCH is sent once: it may have been applied before
    the answer broke off. ``headers``: (name, value) pairs, as bytes or str."""
    if method.upper() in IDEMPOTENT_METHODS:
        return True
    if method.upper() == "POST" and DEPOSIT_POST.fullmatch(path):
        return True
    return any((k.lower() if isinstance(k, bytes) else k.lower().encode("latin-1")) == b"idempotency-key"
               for k, _ in headers)


class Replica:
    """One replica of a service: where it listens, and what this process knows of it."""

    __slots__ = ("scheme", "host", "port", "base", "name", "in_flight", "down_until")

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"only http(s)://host[:port] URLs: {url!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base = (parts.path or "").rstrip("/").encode("latin-1")
        #: What the replica is known by in a key's order: its address, the same in every process.
        self.name = f"{self.host}:{self.port}{self.base.decode('latin-1')}".encode()
        self.in_flight = 0
        self.down_until = 0.0

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.base.decode('latin-1')}"

    def refused(self) -> None:
        """It refused a connection: left out for :data:`DOWN_SECONDS`."""
        self.down_until = time.monotonic() + DOWN_SECONDS


class Upstream:
    """A service's replicas, and the choice of one for each request."""

    def __init__(self, urls: Sequence[str]) -> None:
        if not urls:
            raise ValueError("a service needs at least one URL")
        self.replicas = [Replica(url) for url in urls]
        self._turn = 0
        self._orders: dict[str, tuple[Replica, ...]] = {}

    def order(self, key: str) -> tuple[Replica, ...]:
        """The replicas in ``key``'s order of preference (rendezvous hashing): each replica scored
        by a hash of the key and the replica's address. Every process orders them alike, and a
        replica that goes away moves only its own keys, each to its next replica."""
        found = self._orders.get(key)
        if found is None:
            if len(self._orders) >= ORDERS_KEPT:
                self._orders.clear()
            raw = b"\0" + key.encode("utf-8", "surrogateescape")
            found = self._orders[key] = tuple(sorted(
                self.replicas, key=lambda r: hashlib.blake2b(r.name + raw, digest_size=8).digest(), reverse=True))
        return found

    def pick(self, tried: list[Replica], key: str | None = None) -> Replica | None:
        """With a ``key``, the first replica in the key's :meth:`order` that is up and not yet
        tried; without, the replica with the fewest requests in flight among those. When all left
        are down, the one that went down first (it may be back); None when all were tried."""
        replicas = self.replicas
        if len(replicas) == 1:
            return None if tried else replicas[0]
        if key is not None:
            now = time.monotonic()
            fallback: Replica | None = None
            for replica in self.order(key):
                if replica in tried:
                    continue
                if replica.down_until <= now:
                    return replica
                if fallback is None or replica.down_until < fallback.down_until:
                    fallback = replica
            return fallback
        count = len(replicas)
        start = self._turn = (self._turn + 1) % count
        now = time.monotonic()
        best: Replica | None = None
        fallback = None
        for i in range(count):
            replica = replicas[(start + i) % count]
            if replica in tried:
                continue
            if replica.down_until > now:
                if fallback is None or replica.down_until < fallback.down_until:
                    fallback = replica
            elif best is None or replica.in_flight < best.in_flight:
                best = replica
        return best or fallback


def _origin(scheme: str, host: str, port: int | None) -> tuple[str, str, int]:
    return scheme, host.lower(), port or (443 if scheme == "https" else 80)


#: Failures of an httpx exchange in which nothing of the request reached the replica.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)
#: Failures after the request (or part of it) was sent: the replica may have acted on it.
_BROKEN = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


class ReplicaTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends a request addressed to a service (its first replica's URL) to
    one of the service's replicas, by :class:`Upstream`'s choice and the retry rules above. Any
    other request (the gateway's JWKS, LINE, a service with one replica) goes through untouched.

    The answer of a request to a replica is read whole before it is returned (services' answers
    are small JSON): a connection that breaks while the body comes is then a broken answer, retried
    or not like any other, and the replica's count of requests in flight covers the whole exchange."""

    def __init__(self, services: Mapping[str, str | Sequence[str]], inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.upstreams: dict[tuple[str, str, int], tuple[str, Upstream]] = {}
        for name, value in services.items():
            urls = split_urls(value)
            if len(urls) > 1:
                upstream = Upstream(urls)
                first = upstream.replicas[0]
                self.upstreams[_origin(first.scheme, first.host, first.port)] = (name, upstream)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        found = self.upstreams.get(_origin(url.scheme, url.host, url.port))
        if found is None:
            return await self.inner.handle_async_request(request)
        name, upstream = found
        raw = url.raw_path.removeprefix(upstream.replicas[0].base) or b"/"
        path = url.path.removeprefix(upstream.replicas[0].base.decode("latin-1")) or "/"
        tried: list[Replica] = []
        failure: Exception | None = None
        while True:
            replica = upstream.pick(tried)
            if replica is None:
                assert failure is not None  # the first pick always finds one
                raise failure
            tried.append(replica)
            request.url = url.copy_with(scheme=replica.scheme, host=replica.host, port=replica.port,
                                        raw_path=replica.base + raw)
            request.headers["Host"] = f"{replica.host}:{replica.port}"
            replica.in_flight += 1
            try:
                response = await self.inner.handle_async_request(request)
                try:
                    body = b"".join([part async for part in response.stream])  # type: ignore[union-attr]
                finally:
                    await response.aclose()
                return httpx.Response(response.status_code, headers=response.headers, stream=httpx.ByteStream(body),
                                      extensions=response.extensions)
            except _NOT_SENT as exc:
                replica.refused()
                failure = exc
                log.warning("service %s replica %s refused the connection; left out for %gs", name, replica.url,
                            DOWN_SECONDS)
            except _BROKEN as exc:
                failure = exc
                if not retry_after_sending(request.method, path, request.headers.raw):
                    raise
                log.warning("service %s replica %s broke off its answer to %s %s; sent to another",
                            name, replica.url, request.method, path)
            finally:
                replica.in_flight -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()
