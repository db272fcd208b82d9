"""The gateway's choice among a service's replicas (gateway/proxy.py over shared/replicas.py,
docs/replicas.md; the services' own calls: tests/shared/test_service_replicas.py), against
upstreams on real sockets: requests spread; a replica that refuses connections is left out and
the request goes to another, then it is back once it answers; after a broken answer only
requests that may be sent twice go to another replica."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from gateway.proxy import Forwarder, retry_after_sending
from shared import replicas
from shared.http1 import BrokenAnswer, Unreachable
from tests.support.helpers import free_port, serving

FUND = "0190b3a4-0000-7000-8000-000000000001"


def replica(name: str, hits: list[tuple[str, str, str]], *, broken: bool = False) -> web.Application:
    """An upstream that records (replica, method, path) and answers, or drops the connection."""

    async def handle(request: web.Request) -> web.StreamResponse:
        hits.append((name, request.method, request.path))
        await asyncio.sleep(0.02)
        if broken:
            request.transport.close()
        return web.json_response({"replica": name}, status=201 if request.method == "POST" else 200)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


@asynccontextmanager
async def forwarder(*urls: str) -> AsyncIterator[Forwarder]:
    made = Forwarder({"ledger": list(urls)}, timeout=5, connect_timeout=1, max_connections=16)
    try:
        yield made
    finally:
        await made.close()


async def test_requests_spread_over_the_replicas() -> None:
    hits: list[tuple[str, str, str]] = []
    async with serving(replica("a", hits)) as a, serving(replica("b", hits)) as b, forwarder(a, b) as fwd:
        for _ in range(10):  # one at a time: they take turns
            await fwd.call("ledger", "GET", "/v1/ledger/x")
        assert sorted(name for name, _, _ in hits) == ["a"] * 5 + ["b"] * 5
        hits.clear()
        await asyncio.gather(*(fwd.call("ledger", "GET", "/v1/ledger/x") for _ in range(40)))  # the fewest in flight
        assert abs(sum(name == "a" for name, _, _ in hits) - 20) <= 2


async def test_a_replica_refusing_connections_is_left_out_and_back_when_it_answers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replicas, "DOWN_SECONDS", 0.3)
    hits: list[tuple[str, str, str]] = []
    port = free_port()
    dead = f"http://127.0.0.1:{port}"
    async with serving(replica("live", hits)) as live, forwarder(dead, live) as fwd:
        # Every request is answered, whatever its method: a refused connection carried nothing.
        answers = [await fwd.call("ledger", method, f"/v1/ledger/funds/{FUND}/movements") for method in ["POST", "PATCH"] * 5]
        assert [a.status for a in answers] == [201, 200] * 5 and len(hits) == 10
        dead_replica = fwd.upstreams["ledger"].replicas[0]
        assert dead_replica.down_until > 0

        runner = web.AppRunner(replica("restarted", hits))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            await asyncio.sleep(0.35)
            hits.clear()
            for _ in range(6):
                await fwd.call("ledger", "GET", "/v1/ledger/x")
            assert {name for name, _, _ in hits} == {"live", "restarted"}
        finally:
            await runner.cleanup()


async def test_every_replica_refusing_is_a_refusal() -> None:
    async with forwarder(f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}") as fwd:
        with pytest.raises(Unreachable):
            await fwd.call("ledger", "GET", "/v1/ledger/x")


async def test_after_a_broken_answer_only_requests_that_may_be_sent_twice_go_to_another_replica() -> None:
    hits: list[tuple[str, str, str]] = []
    async with serving(replica("dying", hits, broken=True)) as dying, serving(replica("good", hits)) as good, \
            forwarder(dying, good) as fwd:
        sent_twice = [
            ("POST", f"/v1/ledger/funds/{FUND}/deposits", {}),  # the deposit's id is its key
            ("POST", f"/v1/ledger/funds/{FUND}/deposits/batch", {}),
            ("GET", f"/v1/ledger/funds/{FUND}/trial-balance", {}),
            ("DELETE", "/v1/members/x", {}),
            ("POST", "/v1/grants/pushes", {"Idempotency-Key": "k-1"}),
        ]
        for method, path, headers in sent_twice:
            for _ in range(2):  # whichever replica is tried first
                answer = await fwd.call("ledger", method, path, headers=headers)
                assert answer.status in (200, 201)
        assert {(m, p) for n, m, p in hits if n == "good"} == {(m, p) for m, p, _ in sent_twice}

        hits.clear()
        outcomes = []
        for method, path in [("POST", f"/v1/ledger/funds/{FUND}/movements"), ("PATCH", "/v1/members/x"),
                             ("POST", f"/v1/ledger/funds/{FUND}/deposits/{FUND}/reverse")] * 2:
            try:
                outcomes.append((await fwd.call("ledger", method, path)).status)
            except BrokenAnswer:
                outcomes.append("broken")
        # Each was sent once: to the dying replica (a 502 at the gateway) or to the good one.
        assert len(hits) == 6 and outcomes.count("broken") == sum(n == "dying" for n, _, _ in hits) >= 1


def test_which_requests_are_sent_again_after_reaching_a_replica() -> None:
    deposit = f"/v1/ledger/funds/{FUND}/deposits"
    assert retry_after_sending("POST", deposit, [])
    assert retry_after_sending("POST", deposit + "/batch", [])
    assert not retry_after_sending("POST", deposit + f"/{FUND}/reverse", [])
    assert not retry_after_sending("POST", f"/v1/members/funds/{FUND}/deposits", [])
    assert not retry_after_sending("POST", f"/v1/ledger/funds/{FUND}/movements", [])
    assert retry_after_sending("POST", f"/v1/ledger/funds/{FUND}/movements", [(b"idempotency-key", b"x")])
    assert not retry_after_sending("PATCH", "/v1/members/x", [])
    assert retry_after_sending("PUT", "/v1/members/x", []) and retry_after_sending("GET", "/v1/members/x", [])
