"""A lean HTTP/1.1 client for hot paths: the gateway's forwarding and the bench's load generator.

Both share the machine's cores with the servers they talk to, so their CPU per request is what
matters, and general-purpose clients (httpx, aiohttp's ``ClientSession``) spend several times as
much of the caller's CPU on the same POST over a kept connection. What makes the difference:
requests are written as bytes in one call, responses parsed by ``httptools`` (llhttp, the parser
uvicorn serves with) in ``data_received``, with no streams, no cookie jar, no tracing, no header
objects.

What it does and does not do:

- Keep-alive, one request at a time per connection; a pool per origin with a limit on connections
  and an idle lifetime (closed here before the server would close them, see ``shared.http``).
- Responses framed by ``Content-Length`` or chunked, which is how uvicorn and aiohttp answer.
  A response that ends only when the connection closes is refused (:class:`BrokenAnswer`), as is
  ``HEAD`` (the parser could not know that its answer has no body). Interim ``1xx`` answers are
  skipped.
- No retries: a request that fails on a kept connection is reported, not sent again (the
  gateway's callers retry with the same ids; see ``shared.http`` for when a retry is safe).
- No timeouts of its own beyond connecting: wrap a request in ``asyncio.timeout``; a request cut
  short closes its connection, so a late answer never reaches the next request.
- The body is read whole into memory, as the gateway needs it (ETags, 304s).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

#: A header name as HTTP allows it (a token).
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Headers of framing and of the connection: this client writes them itself and refuses them from
#: callers (a proxy drops them from what it forwards).
OWN_HEADERS = frozenset({b"host", b"content-length", b"transfer-encoding", b"connection", b"keep-alive", b"upgrade", b"te",
                         b"trailer", b"expect"})


def header_pairs(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """Headers as this client sends them: lowercase names, both as bytes."""
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


def split_url(url: str) -> tuple[str, int, bytes]:
    """``http://host[:port]/path?query`` as host, port and the encoded request target."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"only http://host[:port] URLs: {url!r}")
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    return parts.hostname, parts.port or 80, target.encode("latin-1")


class UpstreamError(Exception):
    """The exchange with the server failed."""


class Unreachable(UpstreamError):
    """No connection could be made (refused, no route, name unknown)."""


class BrokenAnswer(UpstreamError):
    """The server closed the connection before a whole answer, or sent something unreadable."""


@dataclass(frozen=True)
class Answer:
    status: int
    #: As received: names and values in bytes, repeated names kept (``Set-Cookie``).
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        """The first value of a header, by lowercase name."""
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


class _Connection(asyncio.Protocol):
    """One connection: writes a request, parses its answer as bytes arrive."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Answer] | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.in_headers = False
        self.body: list[bytes] = []
        self.usable = True
        self.idle_since = 0.0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:  # 101 Switching Protocols too
            self._fail(BrokenAnswer(f"unreadable answer: {type(exc).__name__} {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        self._fail(BrokenAnswer("the server closed the connection before a whole answer"))

    # httptools callbacks
    def on_message_begin(self) -> None:
        if self.waiter is None:  # bytes nobody asked for: never hand them to the next request
            self._fail(BrokenAnswer("the server sent an answer nobody asked for"))
            raise httptools.HttpParserCallbackError("unexpected answer")
        self.in_headers = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.in_headers:  # not the trailer fields of a chunked body
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.in_headers = False

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        headers, body = self.headers, self.body
        self.headers, self.body = [], []
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            return
        waiter, self.waiter = self.waiter, None
        if not self.parser.should_keep_alive():
            self.close()
        if waiter is None or waiter.done():  # an answer nobody asked for: never trust this connection again
            self.close()
            return
        waiter.set_result(Answer(status, headers, b"".join(body)))

    def _fail(self, error: UpstreamError) -> None:
        self.close()
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def close(self) -> None:
        self.usable = False
        if self.transport is not None:
            self.transport.close()

    async def exchange(self, request: bytes) -> Answer:
        assert self.transport is not None and self.waiter is None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


class _Origin:
    """The pool for one ``host:port``: idle connections, newest last, and a cap on all of them."""

    def __init__(self, host: str, port: int, *, max_connections: int, idle_seconds: float, connect_timeout: float) -> None:
        self.host, self.port = host, port
        self.host_line = f"host: {host}:{port}\r\n".encode("latin-1")
        self.idle: deque[_Connection] = deque()
        self.slots = asyncio.Semaphore(max_connections)
        self.idle_seconds = idle_seconds
        self.connect_timeout = connect_timeout

    async def _connection(self) -> _Connection:
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            if conn.usable and now - conn.idle_since < self.idle_seconds:
                return conn
            conn.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(_Connection, self.host, self.port)
        except OSError as exc:
            raise Unreachable(f"{self.host}:{self.port}: {exc}") from exc
        return conn

    def _release(self, conn: _Connection) -> None:
        now = time.monotonic()
        while self.idle and now - self.idle[0].idle_since >= self.idle_seconds:
            self.idle.popleft().close()
        if conn.usable:
            conn.idle_since = now
            self.idle.append(conn)

    async def request(self, head: bytes, body: bytes) -> Answer:
        async with self.slots:
            conn = await self._connection()
            try:
                answer = await conn.exchange(head + self.host_line + b"content-length: %d\r\n\r\n" % len(body) + body)
            except BaseException:  # failed, timed out or cancelled: its answer may still come, on no one's watch
                conn.close()
                raise
            self._release(conn)
            return answer

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()


class Http1Client:
    """Pools per origin; ``request`` sends one request and returns its whole answer."""

    def __init__(self, *, max_connections: int = 100, idle_seconds: float = 30.0, connect_timeout: float = 5.0) -> None:
        self.max_connections = max_connections
        self.idle_seconds = idle_seconds
        self.connect_timeout = connect_timeout
        self._origins: dict[tuple[str, int], _Origin] = {}

    def _origin(self, host: str, port: int) -> _Origin:
        origin = self._origins.get((host, port))
        if origin is None:
            origin = self._origins[(host, port)] = _Origin(
                host, port, max_connections=self.max_connections, idle_seconds=self.idle_seconds,
                connect_timeout=self.connect_timeout)
        return origin

    async def request(
        self, method: str, url: str, *, headers: Iterable[tuple[bytes, bytes]] = (), body: bytes = b"",
    ) -> Answer:
        """``url`` is ``http://host:port/path?query``, already encoded; ``headers`` are sent as
        given (with ``host`` and ``content-length`` added here)."""
        host, port, target = split_url(url)
        return await self.send(host, port, method, target, headers=headers, body=body)

    async def send(
        self, host: str, port: int, method: str, target: bytes, *, headers: Iterable[tuple[bytes, bytes]] = (),
        body: bytes = b"",
    ) -> Answer:
        """``request`` with the URL already split and encoded (``/path?query``): the hot path's entry."""
        if method == "HEAD":
            raise ValueError("HEAD is not supported (its answer has no body the parser could know of)")
        if not method.isascii() or not method.isalpha():
            raise ValueError(f"method {method!r} cannot be sent")
        if not target.startswith(b"/") or b" " in target or b"\r" in target or b"\n" in target:
            raise ValueError(f"request target {target!r} cannot be sent as it is")
        for name, value in headers:
            if b"\r" in value or b"\n" in value or not _TOKEN.fullmatch(name):
                raise ValueError(f"header {name!r} cannot be sent as it is")
            if name.lower() in OWN_HEADERS:
                raise ValueError(f"header {name!r} is this client's to write (framing and connection)")
        head = b"%s %s HTTP/1.1\r\n" % (method.encode("ascii"), target)
        head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        return await self._origin(host, port).request(head, body)

    async def close(self) -> None:
        for origin in self._origins.values():
            origin.close()
        self._origins.clear()
