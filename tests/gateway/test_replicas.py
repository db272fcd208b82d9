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


FUNDS = [f"0190b3a4-0000-7000-8000-{n:012d}" for n in range(1, 21)]


async def test_a_funds_deposits_go_to_one_replica_and_funds_spread_over_both() -> None:
    hits: list[tuple[str, str, str]] = []
    async with serving(replica("a", hits)) as a, serving(replica("b", hits)) as b, forwarder(a, b) as fwd:
        # Many at once (least in flight would split them): each fund's to one replica, its own.
        await asyncio.gather(*(fwd.call("ledger", "POST", f"/v1/ledger/funds/{fund}/deposits{tail}")
                               for fund in FUNDS for tail in ("", "", "", "/batch")))
        replica_of = {fund: {name for name, _, path in hits if fund in path} for fund in FUNDS}
        assert all(len(names) == 1 for names in replica_of.values()), replica_of
        assert {name for names in replica_of.values() for name in names} == {"a", "b"}
        # The same in another gateway process (the order comes from the fund and the addresses),
        # and in any case of the fund's id.
        other = Forwarder({"ledger": [b, a]}, timeout=5, connect_timeout=1, max_connections=4)
        try:
            for fund in FUNDS:
                hits.clear()
                await other.call("ledger", "POST", f"/v1/ledger/funds/{fund.upper()}/deposits")
                assert {name for name, _, _ in hits} == replica_of[fund]
        finally:
            await other.close()
        # Other requests of a fund still go to the replica with the fewest in flight.
        hits.clear()
        await asyncio.gather(*(fwd.call("ledger", "GET", f"/v1/ledger/funds/{FUNDS[0]}/deposits/feed") for _ in range(20)))
        assert {name for name, _, _ in hits} == {"a", "b"}


async def test_a_funds_deposits_go_to_its_next_replica_while_its_own_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replicas, "DOWN_SECONDS", 0.3)
    hits: list[tuple[str, str, str]] = []
    port = free_port()
    dead = f"http://127.0.0.1:{port}"
    async with serving(replica("live", hits)) as live, forwarder(dead, live) as fwd:
        upstream = fwd.upstreams["ledger"]
        # A fund whose own replica is the dead one: its deposits are answered, all by the other.
        fund = next(f for f in FUNDS if upstream.order(f)[0].port == port)
        answers = await asyncio.gather(*(fwd.call("ledger", "POST", f"/v1/ledger/funds/{fund}/deposits")
                                         for _ in range(10)))
        assert [a.status for a in answers] == [201] * 10 and {name for name, _, _ in hits} == {"live"}

        runner = web.AppRunner(replica("restarted", hits))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            await asyncio.sleep(0.35)  # back once it answers: the fund's deposits go to it again
            hits.clear()
            await asyncio.gather(*(fwd.call("ledger", "POST", f"/v1/ledger/funds/{fund}/deposits") for _ in range(5)))
            assert {name for name, _, _ in hits} == {"restarted"}
        finally:
            await runner.cleanup()


def test_a_replica_leaving_moves_only_its_own_funds() -> None:
    urls = [f"http://127.0.0.1:{8002 + 5 * n}" for n in range(3)]
    three, two = replicas.Upstream(urls), replicas.Upstream(urls[:2])
    moved = [f for f in FUNDS if three.order(f)[0].port != two.order(f)[0].port]
    assert moved and all(three.order(f)[0].port == 8012 for f in moved)
    assert [r.port for r in three.order(FUNDS[0])] == [r.port for r in replicas.Upstream(urls[::-1]).order(FUNDS[0])]
