"""The services' and workers' own calls to a service run as replicas (shared/replicas.py's
``ReplicaTransport`` under ``shared.http.make_client``, docs/replicas.md), against real servers on
two ports: calls spread over both; with one down, every call is answered by the other, whatever
its method; after a broken answer, only a call that may be sent twice goes to the other replica;
a URL that is not a service's goes through untouched. The same rules as the gateway's
(tests/gateway/test_replicas.py), from the same code."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from aiohttp import web

from shared import replicas
from shared.http import make_client, request_with_retries
from shared.ledger_client import LedgerClient
from shared.members_client import MembersDirectory
from tests.support.helpers import free_port, serving

FUND = uuid.UUID("0190b3a4-0000-7000-8000-000000000001")


def replica(name: str, hits: list[tuple[str, str, str]], *, broken: bool = False) -> web.Application:
    """A service replica that records (replica, method, path) and answers, or drops the connection."""

    async def handle(request: web.Request) -> web.StreamResponse:
        hits.append((name, request.method, request.path))
        await asyncio.sleep(0.01)
        if broken:
            request.transport.close()
        if request.path.endswith("/standing"):
            return web.json_response({"replica": name, "standing": "good"})
        if request.path.endswith("/facts"):  # a read, posted for its size
            return web.json_response({"replica": name, "facts": []})
        return web.json_response({"replica": name, "facts": []}, status=201 if request.method == "POST" else 200)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def test_calls_spread_over_both_replicas_at_the_first_ones_address() -> None:
    hits: list[tuple[str, str, str]] = []
    async with serving(replica("a", hits)) as a, serving(replica("b", hits)) as b:
        async with make_client(services={"ledger": f"{a},{b}"}) as http:
            ledger = LedgerClient(http, replicas.first_url(f"{a},{b}"))
            for _ in range(10):
                assert (await ledger.standing(FUND, FUND))["standing"] == "good"
            assert sorted(name for name, _, _ in hits) == ["a"] * 5 + ["b"] * 5
            hits.clear()
            await asyncio.gather(*(ledger.standing(FUND, FUND) for _ in range(40)))  # the fewest in flight
            assert abs(sum(name == "a" for name, _, _ in hits) - 20) <= 2


async def test_with_one_replica_down_every_call_is_answered_by_the_other(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replicas, "DOWN_SECONDS", 0.3)
    hits: list[tuple[str, str, str]] = []
    port = free_port()
    dead, dead_members = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{free_port()}"
    async with serving(replica("live", hits)) as live:
        # The dead replica is the first: the very address the callers use.
        async with make_client(services={"ledger": [dead, live], "members": [dead_members, live]}) as http:
            ledger = LedgerClient(http, dead)
            members = MembersDirectory(http, dead_members)
            for _ in range(4):
                # A POST without an idempotency key too: a refused connection carried nothing of it.
                posted = await ledger.post(FUND, "payouts", {"claim_id": str(uuid.uuid4())})
                assert posted.status_code == 201 and posted.body["replica"] == "live"
                assert (await ledger.standing(FUND, FUND))["replica"] == "live"
                assert await members.members(FUND, [FUND]) == {}
            assert {name for name, _, _ in hits} == {"live"} and len(hits) == 12
            transport = http._transport
            assert isinstance(transport, replicas.ReplicaTransport)
            assert transport.upstreams[("http", "127.0.0.1", port)][1].replicas[0].down_until > 0

            # The replica comes back (the supervisor restarted it): after its time out, it takes calls again.
            runner = web.AppRunner(replica("restarted", hits))
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            try:
                await asyncio.sleep(0.35)
                hits.clear()
                for _ in range(6):
                    await ledger.standing(FUND, FUND)
                assert {name for name, _, _ in hits} == {"live", "restarted"}
            finally:
                await runner.cleanup()


async def test_every_replica_down_is_a_connection_error() -> None:
    first, second = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    async with make_client(services={"ledger": [first, second]}) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"{first}/v1/ledger/funds")


async def test_after_a_broken_answer_only_calls_that_may_be_sent_twice_go_to_the_other_replica() -> None:
    hits: list[tuple[str, str, str]] = []
    async with serving(replica("dying", hits, broken=True)) as dying, serving(replica("good", hits)) as good:
        async with make_client(services={"ledger": [dying, good]}) as http:
            sent_twice = [
                ("GET", f"/v1/ledger/funds/{FUND}/members/{FUND}/standing", {}),
                ("POST", f"/v1/ledger/funds/{FUND}/deposits", {}),  # the deposit's id is its key
                ("DELETE", "/v1/ledger/x", {}),
                ("POST", f"/v1/ledger/funds/{FUND}/co-funding", {"Idempotency-Key": "k-1"}),
            ]
            for method, path, headers in sent_twice:
                for _ in range(2):  # whichever replica is tried first
                    response = await http.request(method, dying + path, headers=headers)
                    assert response.status_code in (200, 201) and response.json()["replica"] == "good"
            assert {(m, p) for n, m, p in hits if n == "good"} == {(m, p) for m, p, _ in sent_twice}

            hits.clear()
            outcomes = []
            for method, path in [("POST", f"/v1/ledger/funds/{FUND}/payouts"), ("PATCH", "/v1/ledger/x")] * 3:
                try:
                    outcomes.append((await http.request(method, dying + path)).status_code)
                except httpx.TransportError:
                    outcomes.append("broken")
            # Each was sent once: to the dying replica (the caller sees the failure and retries with
            # the same id, as after any lost answer) or to the good one.
            assert len(hits) == 6 and outcomes.count("broken") == sum(n == "dying" for n, _, _ in hits) >= 1

            # shared.http's own retries of an idempotent call sit on top, unchanged.
            response = await request_with_retries(http, "GET", f"{dying}/v1/ledger/y")
            assert response.status_code == 200


async def test_other_addresses_and_single_replicas_go_through_untouched() -> None:
    hits: list[tuple[str, str, str]] = []
    async with serving(replica("one", hits)) as one, serving(replica("elsewhere", hits)) as elsewhere:
        async with make_client(services={"ledger": one, "members": [one]}) as http:
            assert not isinstance(http._transport, replicas.ReplicaTransport)  # nothing to spread
        async with make_client(services={"ledger": [one, f"http://127.0.0.1:{free_port()}"]}) as http:
            response = await http.get(f"{elsewhere}/v2/bot/message/push?x=1")
            assert response.json()["replica"] == "elsewhere"
            assert hits[-1] == ("elsewhere", "GET", "/v2/bot/message/push")


def test_settings_and_addresses() -> None:
    assert replicas.split_urls(" http://a:1/ , http://b:2,, ") == ["http://a:1", "http://b:2"]
    assert replicas.first_url("http://a:1,http://b:2") == "http://a:1"
    with pytest.raises(ValueError):
        replicas.first_url(" , ")
    assert replicas.retry_after_sending("POST", "/x", [("Idempotency-Key", "k")])
    assert replicas.retry_after_sending("POST", "/x", [(b"idempotency-key", b"k")])
    assert not replicas.retry_after_sending("POST", f"/v1/ledger/funds/{FUND}/payouts", [])
