"""Two ledger replicas behind the gateway, as real processes (``SAJJA_LEDGER_REPLICAS=2``): the
gateway sends a fund's deposits to the fund's own replica; that replica is SIGKILLed while phones
keep posting, and every deposit is answered (by the other replica) and posted exactly once; the
killed replica, restarted by the supervisor, takes the fund's deposits again. The same deposit
sent to both replicas at once is posted once: the ledger's database decides, not either process's
grouping of deposits (docs/replicas.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from shared.replicas import Upstream
from tests.support.factories import E2E_FUND, national_id
from tests.support.system import ADMIN_PASSWORD, ADMIN_PHONE, RunningSystem, running_system

pytestmark = pytest.mark.e2e

MEMBERS = 4
PHONES = 8


def _login(client: httpx.Client, phone: str, password: str) -> dict[str, str]:
    response = client.post("/v1/auth/login", json={"phone": phone, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _gateway_connections(pid: int, url: str) -> int:
    """Connections established to the replica at ``url`` (only the gateway connects to the ledger here)."""
    port = urlsplit(url).port
    return sum(1 for c in psutil.Process(pid).net_connections(kind="tcp")
               if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port)


def _wait(check, timeout: float = 30.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _deposit(member_id: str, amount: int) -> dict[str, object]:
    return {"id": str(uuid.uuid4()), "member_id": member_id, "amount_satang": amount,
            "collected_at": dt.datetime.now(dt.UTC).isoformat()}


async def _post_until(url: str, headers: dict[str, str], members: list[str], stop: asyncio.Event,
                      answers: list[tuple[dict[str, object], int, dict[str, object]]]) -> None:
    """A phone posting deposit after deposit through the gateway until ``stop``."""
    async with httpx.AsyncClient(timeout=20) as client:
        n = 0
        while not stop.is_set():
            body = _deposit(members[n % len(members)], 100 + n % 7)
            n += 1
            response = await client.post(url, headers=headers, json=body)
            answers.append((body, response.status_code, response.json()))


def _phones(system: RunningSystem, fid: str, headers: dict[str, str], members: list[str], seconds: float,
            during=None) -> list[tuple[dict[str, object], int, dict[str, object]]]:  # noqa: ANN001
    answers: list[tuple[dict[str, object], int, dict[str, object]]] = []

    async def run() -> None:
        stop = asyncio.Event()
        url = f"{system.url}/v1/ledger/funds/{fid}/deposits"
        phones = [asyncio.create_task(_post_until(url, headers, members, stop, answers)) for _ in range(PHONES)]
        if during is not None:
            await asyncio.sleep(seconds / 3)
            during()
            await asyncio.sleep(seconds * 2 / 3)
        else:
            await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*phones)

    asyncio.run(run())
    return answers


def test_deposits_spread_over_two_ledger_replicas_and_survive_one_killed(tmp_path: Path) -> None:
    with running_system(tmp_path / "home", extra_env={"SAJJA_LEDGER_REPLICAS": "2"}) as system, \
            httpx.Client(base_url=system.url, timeout=20) as client:
        replicas = system.replica_urls("ledger")
        assert len(replicas) == 2 and replicas[0] != replicas[1]
        admin = _login(client, ADMIN_PHONE, ADMIN_PASSWORD)
        fid = client.post("/v1/members/funds", headers=admin, json=E2E_FUND).json()["id"]
        members = []
        for i in range(MEMBERS):
            created = client.post(f"/v1/members/funds/{fid}/members", headers=admin, json={
                "national_id": national_id(9100 + i), "first_name": f"สมาชิก{i}", "last_name": "สองสำเนา",
                "birth_date": "1970-01-01", "sex": "หญิง", "village": 1, "house_no": str(i), "joined_on": "2015-01-01",
                "consent_given": True})
            assert created.status_code == 201, created.text
            members.append(created.json()["id"])
        user = client.post("/v1/auth/users", headers=admin, json={
            "phone": "0871111111", "password": "collector-pass", "display_name": "อาสา", "role": "collector",
            "fund_id": fid}).json()
        assert client.post(f"/v1/members/funds/{fid}/collectors", headers=admin,
                           json={"user_id": user["id"], "display_name": "อาสา"}).status_code == 201
        collector = _login(client, "0871111111", "collector-pass")

        # 1. Phones through the gateway: the fund's own replica takes its deposits (the gateway
        # orders the replicas for a fund as Upstream.order does, from the fund and the addresses).
        own = [urlsplit(url).port for url in replicas].index(Upstream(replicas).order(fid)[0].port)
        own_name, own_url = system.replica_names("ledger")[own], replicas[own]
        answers = _phones(system, fid, collector, members, seconds=2.0)
        assert answers and all(status == 201 for _, status, _ in answers), {s for _, s, _ in answers}
        assert _gateway_connections(system.pid_of(own_name), own_url) > 0

        # 2. The same deposit straight to both replicas at once: one posts it, the other answers
        # with its receipt (the deposits' key in the database decides).
        async def both(body: dict[str, object]) -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=20) as c:
                return list(await asyncio.gather(*(
                    c.post(f"{url}/v1/ledger/funds/{fid}/deposits", headers=collector, json=body) for url in replicas)))

        twice = [_deposit(members[i % MEMBERS], 1000 + i) for i in range(20)]
        for body in twice:
            first, second = asyncio.run(both(body))
            assert sorted([first.status_code, second.status_code]) == [200, 201], (first.text, second.text)
            assert first.json()["receipt_no"] == second.json()["receipt_no"]

        # 3. The fund's replica is killed while the phones post: every deposit is still answered (a
        # request refused, or cut off, by the dead replica goes to the other one).
        killed = system.pid_of(own_name)
        more = _phones(system, fid, collector, members, seconds=4.0,
                       during=lambda: os.kill(killed, signal.SIGKILL))
        statuses = {status for _, status, _ in more}
        assert statuses <= {200, 201}, [(s, a) for _, s, a in more if s not in (200, 201)][:3]
        assert psutil.pid_exists(killed) is False or psutil.Process(killed).status() == psutil.STATUS_ZOMBIE

        # 4. The supervisor restarts it; once it answers, the gateway sends it the fund's deposits again.
        _wait(lambda: system.pid_of(own_name) != killed)
        _wait(lambda: _ready(own_url))
        time.sleep(1.2)  # the gateway's time-out of a replica that refused (shared.replicas.DOWN_SECONDS)
        again = _phones(system, fid, collector, members, seconds=2.0)
        assert all(status == 201 for _, status, _ in again)
        assert _gateway_connections(system.pid_of(own_name), own_url) > 0

        # 5. Every deposit posted exactly once: one receipt each, and the books hold each amount once.
        everything = answers + more + again
        receipts = [answer["receipt_no"] for _, _, answer in everything]
        assert len(set(receipts)) == len(everything)
        for body, _, answer in more:
            assert answer["id"] == body["id"] and answer["amount_satang"] == body["amount_satang"]
        expected = sum(int(body["amount_satang"]) for body, _, _ in everything) + sum(int(b["amount_satang"]) for b in twice)
        trial = client.get(f"/v1/ledger/funds/{fid}/trial-balance", headers=admin).json()
        assert trial["balanced"]
        cash = sum(a["balance_satang"] for a in trial["accounts"] if a["kind"] == "collector_cash")
        contributions = -sum(a["balance_satang"] for a in trial["accounts"] if a["kind"] == "member_contribution")
        assert cash == contributions == expected
        feed, cursor = [], None
        while True:
            page = client.get(f"/v1/ledger/funds/{fid}/deposits/feed", headers=admin,
                              params={"limit": 500, **({"after": cursor} if cursor else {})}).json()
            if not page["items"]:
                break
            feed += page["items"]
            cursor = page["next_cursor"]
        assert sorted(item["id"] for item in feed) == sorted(
            [str(b["id"]) for b, _, _ in everything] + [str(b["id"]) for b in twice])
