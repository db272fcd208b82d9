"""The lean HTTP/1.1 client (shared/http1.py) against a server on a real socket that answers with
bytes the test writes itself, so framing, keep-alive and failures are exactly what is sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from shared.http1 import BrokenAnswer, Http1Client, Unreachable
from tests.support.helpers import free_port

Reply = Callable[[bytes], Any]  # request head -> bytes to send back (or a coroutine function's result)


class Scripted:
    """A TCP server: for each request head it reads (and its Content-Length body), writes what
    ``reply`` returns; ``None`` closes the connection without an answer."""

    def __init__(self, reply: Callable[[bytes, bytes], Any]) -> None:
        self.reply = reply
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.server: asyncio.Server | None = None
        self.port = free_port()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                out = self.reply(head, body)
                if asyncio.iscoroutine(out):
                    out = await out
                if out is None:
                    return
                writer.write(out)
                await writer.drain()
                if b"connection: close" in out.lower():
                    return
        finally:
            self.open -= 1
            writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Callable[[bytes, bytes], Any]], Any]]:
    servers: list[Scripted] = []

    async def start(reply: Callable[[bytes, bytes], Any]) -> Scripted:
        server = Scripted(reply)
        server.server = await asyncio.start_server(server.handle, "127.0.0.1", server.port)
        servers.append(server)
        return server

    yield start
    for server in servers:
        assert server.server is not None
        server.server.close()


def ok(body: bytes = b'{"ok":true}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def test_requests_go_out_whole_and_answers_come_back_whole_over_one_kept_connection(scripted) -> None:
    server = await scripted(lambda head, body: ok(b"echo:" + body, b"set-cookie: a=1\r\nset-cookie: b=2\r\n"))
    client = Http1Client()
    try:
        for n in range(3):
            answer = await client.request("POST", server.url + "/v1/x?q=%E0%B8%81", body=b"n=%d" % n,
                                          headers=[(b"authorization", b"Bearer t"), (b"x-request-id", b"r-1")])
            assert answer.status == 200 and answer.body == b"echo:n=%d" % n
            assert [v for k, v in answer.headers if k.lower() == b"set-cookie"] == [b"a=1", b"b=2"], "repeats are kept"
            assert answer.header(b"content-type") == b"application/json"
    finally:
        await client.close()
    assert server.connections == 1, "keep-alive: one connection for all three"
    head, body = server.requests[0]
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/x?q=%E0%B8%81 HTTP/1.1"
    assert b"host: 127.0.0.1:%d" % server.port in lines and b"content-length: 3" in lines
    assert b"authorization: Bearer t" in lines and body == b"n=0"


async def test_chunked_answers_and_interim_100_continue(scripted) -> None:
    def reply(head: bytes, body: bytes) -> bytes:
        return (b"HTTP/1.1 100 Continue\r\n\r\n"
                b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")

    server = await scripted(reply)
    client = Http1Client()
    try:
        first = await client.request("POST", server.url + "/a", body=b"x")
        second = await client.request("GET", server.url + "/b")
    finally:
        await client.close()
    assert (first.status, first.body) == (201, b"hello world")
    assert (second.status, second.body) == (201, b"hello world")
    assert server.connections == 1


async def test_connection_close_and_idle_connections_are_not_reused(scripted) -> None:
    closing = await scripted(lambda head, body: ok(extra=b"connection: close\r\n"))
    client = Http1Client(idle_seconds=0.2)
    try:
        for _ in range(2):
            assert (await client.request("GET", closing.url + "/")).status == 200
        assert closing.connections == 2, "the server said it would close: a new connection each time"

        kept = await scripted(lambda head, body: ok())
        await client.request("GET", kept.url + "/")
        await client.request("GET", kept.url + "/")
        assert kept.connections == 1
        await asyncio.sleep(0.3)  # idle longer than the client keeps a connection
        await client.request("GET", kept.url + "/")
        assert kept.connections == 2
    finally:
        await client.close()


async def test_broken_answers_are_broken(scripted) -> None:
    client = Http1Client()
    try:
        hang_up = await scripted(lambda head, body: None)
        with pytest.raises(BrokenAnswer):
            await client.request("GET", hang_up.url + "/")
        cut = await scripted(lambda head, body: b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\nonly part")
        with pytest.raises(BrokenAnswer):
            await client.request("GET", cut.url + "/")
        unframed = await scripted(lambda head, body: b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nto the end")
        with pytest.raises(BrokenAnswer):
            await client.request("GET", unframed.url + "/")
        garbage = await scripted(lambda head, body: b"SMTP ready\r\n\r\n")
        with pytest.raises(BrokenAnswer):
            await client.request("GET", garbage.url + "/")
        with pytest.raises(Unreachable):
            await client.request("GET", f"http://127.0.0.1:{free_port()}/")
    finally:
        await client.close()


async def test_a_request_cut_short_never_hands_its_answer_to_the_next(scripted) -> None:
    async def reply(head: bytes, body: bytes) -> bytes:
        if b"/slow" in head:
            await asyncio.sleep(0.3)
            return ok(b"slow")
        return ok(b"fast")

    server = await scripted(reply)
    client = Http1Client(max_connections=1)
    try:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await client.request("GET", server.url + "/slow")
        answer = await client.request("GET", server.url + "/fast")
        assert answer.body == b"fast"
        await asyncio.sleep(0.4)  # the slow answer would have arrived by now
        assert (await client.request("GET", server.url + "/fast")).body == b"fast"
    finally:
        await client.close()
    assert server.connections == 2, "the timed-out connection was closed, not pooled"


async def test_connections_per_origin_are_capped(scripted) -> None:
    async def reply(head: bytes, body: bytes) -> bytes:
        await asyncio.sleep(0.05)
        return ok()

    server = await scripted(reply)
    client = Http1Client(max_connections=2)
    started = time.perf_counter()
    try:
        answers = await asyncio.gather(*(client.request("GET", server.url + f"/{n}") for n in range(6)))
    finally:
        await client.close()
    assert [a.status for a in answers] == [200] * 6
    assert server.most_open == 2 and server.connections == 2
    assert time.perf_counter() - started >= 0.15, "six requests, two at a time, 50 ms each"


async def test_what_cannot_be_sent_is_refused_before_anything_is_sent(scripted) -> None:
    server = await scripted(lambda head, body: ok())
    client = Http1Client()
    try:
        for bad in ([(b"x-evil", b"a\r\nhost: elsewhere")], [(b"x-evil\r\nhost", b"a")], [(b"x:y", b"a")]):
            with pytest.raises(ValueError):
                await client.request("GET", server.url + "/", headers=bad)
        with pytest.raises(ValueError):
            await client.send("127.0.0.1", server.port, "GET", b"/a b HTTP/1.0\r\n")
        with pytest.raises(ValueError):
            await client.send("127.0.0.1", server.port, "GET / HTTP/1.1\r\n", b"/")
        with pytest.raises(ValueError):
            await client.request("HEAD", server.url + "/")
        with pytest.raises(ValueError):
            await client.request("GET", "https://127.0.0.1/")
    finally:
        await client.close()
    assert server.requests == []


async def test_bytes_beyond_the_answer_never_reach_the_next_request(scripted) -> None:
    """A server that says more than it was asked (a second, partial answer after the first): the
    first request gets its answer, the connection is dropped, and the next request is sent on a
    new one and gets its own answer, never the stray one."""
    sent = {"n": 0}

    def reply(head: bytes, body: bytes) -> bytes:
        sent["n"] += 1
        if sent["n"] == 1:
            return ok(b"A") + b"HTTP/1.1 403 Forbidden\r\ncontent-length: 5\r\n\r\nst"
        return ok(b"B")

    server = await scripted(reply)
    client = Http1Client()
    try:
        assert (await client.request("GET", server.url + "/1")).body == b"A"
        await asyncio.sleep(0.05)
        second = await client.request("GET", server.url + "/2")
    finally:
        await client.close()
    assert (second.status, second.body) == (200, b"B")
    assert server.connections == 2


async def test_switching_protocols_and_trailers_are_not_taken_for_an_answer(scripted) -> None:
    client = Http1Client()
    try:
        upgrade = await scripted(lambda head, body: b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n")
        with pytest.raises(BrokenAnswer):
            await client.request("GET", upgrade.url + "/")
        trailing = await scripted(lambda head, body: b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: set-cookie\r\n\r\n"
                                                     b"2\r\nok\r\n0\r\nset-cookie: sneaky=1\r\n\r\n")
        answer = await client.request("GET", trailing.url + "/")
        assert answer.body == b"ok" and answer.header(b"set-cookie") is None, "a trailer is not a header"
    finally:
        await client.close()


async def test_framing_headers_are_the_clients_own(scripted) -> None:
    server = await scripted(lambda head, body: ok())
    client = Http1Client()
    try:
        for name in (b"transfer-encoding", b"Content-Length", b"host", b"connection", b"", b"x y"):
            with pytest.raises(ValueError):
                await client.request("POST", server.url + "/", headers=[(name, b"chunked")], body=b"x")
    finally:
        await client.close()
    assert server.requests == []
