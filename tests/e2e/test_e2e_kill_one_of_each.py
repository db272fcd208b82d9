"""Two replicas of everything, one of each killed with SIGKILL mid-traffic (issue 23, point 2).

``sajja run`` with ``SAJJA_REPLICAS=2``: two gateways on one port, two of each service on ports of
their own, two of every worker, and a short lease so that a killed worker's claims are taken over
within the test. Phones post deposits through the gateway (one at a time and in synced batches)
the whole time; claims are made and approved, so the payouts worker pays them; a grant is awarded
in tranches, so the grants worker posts them and tells a grant system's webhook receiver; members
are linked to LINE, so their receipts are pushed. Then one replica of each process kind (the
gateway, each service, each worker) is killed at once, while the phones post and while both grants
workers are in the middle of a webhook call (the receiver holds its answers). The supervisor
restarts them all, and once everything is quiet:

- every deposit is booked once: one receipt each, the ledger's contributions are the sum sent,
  the deposit feed holds each id once;
- every approved claim is paid once: one payout each, the benefit expense is the claims' sum;
- every tranche reaches the ledger once;
- no LINE receipt is pushed twice (LINE's retry key);
- no webhook event is delivered twice, except the one whose call the kill cut off: the killed
  worker's receiver had it and could not answer; it is delivered again when the lease runs out,
  with the same ``Sajja-Delivery`` id and body, which the receiver uses to drop it. Exactly once
  on the wire cannot be had across a kill in the middle of a call (docs/workers.md); this is the
  one window, and the test checks that nothing else is ever sent twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from shared.settings import PROCESS_NAMES
from shared.worker import WORKER_NAMES
from tests.fakes.line import ThreadedFakeLine
from tests.fakes.webhooks import ThreadedWebhookReceiver
from tests.support.factories import national_id
from tests.support.system import ADMIN_PASSWORD, ADMIN_PHONE, RunningSystem, running_system

pytestmark = pytest.mark.e2e

MEMBERS = 6
PHONES = 3
BATCH = 4
EDUCATION = 50_000  # the template's fixed amount, in satang
B = 100
LEASE_SECONDS = 4
#: Answers that mean the request did not get through (a replica dying under it, or restarting):
#: a phone sends the same deposit again, as it does after any lost answer.
LOST = frozenset({502, 503, 504})


def _wait_for(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def _call(client: httpx.Client, method: str, url: str, *, answers: list[int] | None = None,
          **kwargs: Any) -> httpx.Response:
    """A request that may be sent again (a read, a deposit or a claim with its id, a request with
    an Idempotency-Key), sent until it gets through; each answer's status kept in ``answers``."""
    deadline = time.monotonic() + 60
    while True:
        try:
            response = client.request(method, url, **kwargs)
            if answers is not None:
                answers.append(response.status_code)
            if response.status_code not in LOST or time.monotonic() > deadline:
                return response
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def _login(client: httpx.Client, phone: str, password: str) -> dict[str, str]:
    response = _call(client, "POST", "/v1/auth/login", json={"phone": phone, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _receipts_pushed(texts: list[str]) -> list[int]:
    """Every receipt number named in the receipt messages LINE delivered."""
    numbers: list[int] = []
    for text in texts:
        found = re.search(r"ใบเสร็จเลขที่ (.+)$", text)
        if found:
            numbers += [int(n) for n in found.group(1).split(", ")]
    return numbers


class Phones:
    """Collectors' phones posting deposits through the gateway until stopped, each deposit sent
    again with its id until it is answered (as the app does): ``booked`` is id -> (amount, receipt)."""

    def __init__(self, url: str, fid: str, headers: dict[str, str], members: list[str]) -> None:
        self.url, self.fid, self.headers, self.members = url, fid, headers, members
        self.booked: dict[str, tuple[int, int]] = {}
        self.resent = 0
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Phones:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(90)
        assert not self._thread.is_alive(), "a phone is still sending"
        if self.error is not None:
            raise self.error

    async def _send(self, client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
        while True:
            try:
                response = await client.post(f"{self.url}/v1/ledger/funds/{self.fid}/{path}", headers=self.headers, json=body)
                if response.status_code not in LOST:
                    assert response.status_code in (200, 201), response.text
                    return response.json()
            except httpx.TransportError:
                pass
            self.resent += 1
            await asyncio.sleep(0.1)

    def _deposit(self, n: int) -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "member_id": self.members[n % len(self.members)], "amount_satang": 100 + n % 7,
                "collected_at": dt.datetime.now(dt.UTC).isoformat()}

    async def _single(self, phone: int) -> None:
        async with httpx.AsyncClient(timeout=20) as client:
            n = phone
            while not self.stop.is_set():
                body = self._deposit(n)
                n += PHONES
                answer = await self._send(client, "deposits", body)
                assert answer["id"] == body["id"] and answer["amount_satang"] == body["amount_satang"]
                self.booked[body["id"]] = (body["amount_satang"], answer["receipt_no"])
                await asyncio.sleep(0.05)

    async def _batches(self) -> None:
        async with httpx.AsyncClient(timeout=20) as client:
            n = 0
            while not self.stop.is_set():
                bodies = [self._deposit(n + i) for i in range(BATCH)]
                n += BATCH
                answer = await self._send(client, "deposits/batch", {"deposits": bodies})
                receipts = {r["id"]: r["receipt_no"] for r in answer["results"]}
                assert set(receipts) == {b["id"] for b in bodies}, answer
                self.booked.update({b["id"]: (b["amount_satang"], receipts[b["id"]]) for b in bodies})
                await asyncio.sleep(0.3)

    async def _run(self) -> None:
        try:
            await asyncio.gather(*(self._single(p) for p in range(PHONES)), self._batches())
        except BaseException as exc:  # noqa: BLE001 - shown by the test's thread
            self.error = exc


def _connections_to(pid: int, port: int) -> set[int]:
    """The local ports of ``pid``'s connections to ``port`` (a webhook call has a connection of its own)."""
    return {c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp")
            if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED}


def test_two_replicas_of_everything_survive_one_of_each_killed_mid_traffic(tmp_path: Path) -> None:
    with ThreadedFakeLine() as line, ThreadedWebhookReceiver() as hooks, running_system(tmp_path / "home", extra_env={
        **line.env(),
        "SAJJA_REPLICAS": "2",
        "SAJJA_WORKER_LEASE_SECONDS": str(LEASE_SECONDS),
        "SAJJA_GATEWAY_LINE_WORKER_INTERVAL_SECONDS": "0.3",
        "SAJJA_BENEFITS_PAYOUT_INTERVAL_SECONDS": "0.3",
        "SAJJA_GRANTS_WORKER_INTERVAL_SECONDS": "0.3",
        "SAJJA_GRANTS_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    }) as system, httpx.Client(base_url=system.url, timeout=20) as client:
        receiver = hooks.receiver
        for name in PROCESS_NAMES:
            assert len(system.replica_names(name)) == 2, system.replica_names(name)
        assert all(len(system.worker_pids(name)) == 2 for name in WORKER_NAMES)

        # --- A fund, its people, six members linked to LINE, a catalog, money in the bank.
        admin = _login(client, ADMIN_PHONE, ADMIN_PASSWORD)
        fund = client.post("/v1/members/funds", headers=admin, json={
            "name": "กองทุนสวัสดิการชุมชนตำบลบางระจัน", "province": "สิงห์บุรี", "district": "ค่ายบางระจัน",
            "subdistrict": "บางระจัน", "founded_on": "2008-03-01", "population": 5120})
        assert fund.status_code == 201, fund.text
        fid = fund.json()["id"]
        codi = client.post("/v1/grants/grantors", headers=admin, json={"kind": "codi", "name": "พอช."})
        assert codi.status_code == 201, codi.text
        people = {"committee": ("0870000011", "committee", {"fund_id": fid}),
                  "second": ("0870000012", "committee", {"fund_id": fid}),
                  "fund_admin": ("0870000013", "fund_admin", {"fund_id": fid}),
                  "collector": ("0870000014", "collector", {"fund_id": fid}),
                  **{f"officer_{k}": (f"087000002{i}", "grant_officer", {"grantor_id": codi.json()["id"]})
                     for i, k in enumerate("abc")}}
        ids = {}
        for key, (phone, role, scope) in people.items():
            made = client.post("/v1/auth/users", headers=admin, json={
                "phone": phone, "password": "kill-test-pass-1", "display_name": key, "role": role, **scope})
            assert made.status_code == 201, made.text
            ids[key] = made.json()["id"]
        as_ = {key: _login(client, phone, "kill-test-pass-1") for key, (phone, _, _) in people.items()}
        committee, second = as_["committee"], as_["second"]
        members = []
        for i in range(MEMBERS):
            created = client.post(f"/v1/members/funds/{fid}/members", headers=committee, json={
                "national_id": national_id(7300 + i), "first_name": f"สมาชิก{i}", "last_name": "บางระจัน",
                "birth_date": "1965-01-01", "sex": "หญิง", "village": 1, "house_no": str(i), "joined_on": "2010-01-01",
                "consent_given": True})
            assert created.status_code == 201, created.text
            members.append(created.json()["id"])
            code = client.post("/v1/auth/line/link-codes", headers=committee, json={"fund_id": fid, "member_id": members[-1]})
            linked = client.post("/v1/auth/line/link", json={"id_token": line.id_token(f"U-member-{i}"), "code": code.json()["code"]})
            assert linked.status_code == 200, linked.text
        assert client.post(f"/v1/members/funds/{fid}/collectors", headers=committee, json={
            "user_id": ids["collector"], "display_name": "อาสาเก็บเงิน", "villages": [1]}).status_code == 201
        catalog = client.post(f"/v1/benefits/funds/{fid}/catalog/from-templates", headers=as_["fund_admin"],
                              json={"effective_from": "2000-01-01"})
        assert catalog.status_code == 201, catalog.text
        today = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).date().isoformat()
        funded = client.post(f"/v1/ledger/funds/{fid}/co-funding", headers=committee, json={
            "id": str(uuid.uuid4()), "source": "codi", "amount_satang": 10_000_000, "received_on": today})
        assert funded.status_code == 201, funded.text

        # --- A grant program, its webhook subscription, and an application screened and awarded.
        officer = as_["officer_c"]
        program = client.post("/v1/grants/programs", headers=officer, json={
            "grantor": "codi", "name": "สนับสนุนกองทุนสวัสดิการชุมชน", "fiscal_year_be": 2551,
            "envelope_satang": 1_000_000 * B, "per_fund_ceiling_satang": 55_000 * B})
        assert program.status_code == 201, program.text
        pid = program.json()["id"]
        subscribed = client.post("/v1/grants/webhooks", headers=officer, json={
            "url": receiver.url(), "events": ["application.status_changed", "tranche.disbursed"], "program_id": pid})
        assert subscribed.status_code == 201, subscribed.text
        receiver.secret = subscribed.json()["secret"]
        application = client.post(f"/v1/grants/programs/{pid}/applications", headers=as_["fund_admin"], json={
            "fund_id": fid, "title": "ขยายสวัสดิการผู้สูงอายุ", "budget_lines": [
                {"line": "L1", "description": "สวัสดิการผู้สูงอายุ", "amount_satang": 30_000 * B},
                {"line": "L2", "description": "อบรมอาสาสมัคร", "amount_satang": 25_000 * B}]})
        assert application.status_code == 201, application.text
        aid = application.json()["id"]
        assert client.post(f"/v1/grants/applications/{aid}/submit", headers=as_["fund_admin"]).status_code == 200
        for reviewer in ("officer_a", "officer_b"):
            reviewed = client.post(f"/v1/grants/applications/{aid}/reviews", headers=as_[reviewer],
                                   json={"score": 80, "recommendation": "approve", "comment": "เหมาะสม"})
            assert reviewed.status_code == 200, reviewed.text
        award = _call(client, "POST", f"/v1/grants/applications/{aid}/decision", headers={
            **officer, "Idempotency-Key": f"decision-{aid}"}, json={"decision": "approve", "tranches": [
                {"amount_satang": 30_000 * B, "due_on": today}, {"amount_satang": 25_000 * B, "due_on": today}]})
        assert award.status_code == 200, award.text
        tranches = [t["id"] for t in award.json()["tranches"]]
        income = {a["code"]: a["balance_satang"] for a in
                  client.get(f"/v1/ledger/funds/{fid}/accounts", headers=committee).json()}["4300"]

        claims: list[str] = []
        answers: list[int] = []

        def claim_for(member: str) -> None:
            """A claim (its id makes it safe to send again), approved by the second committee member."""
            cid = str(uuid.uuid4())
            made = _call(client, "POST", f"/v1/benefits/funds/{fid}/claims", headers=committee, answers=answers, json={
                "id": cid, "member_id": member, "benefit_code": "education", "event_date": today})
            assert made.status_code in (200, 201), made.text
            url = f"/v1/benefits/funds/{fid}/claims/{cid}"
            approved = _call(client, "POST", f"{url}/approve", headers=second)
            if approved.status_code != 200:  # a lost answer to an approval that was made
                assert _call(client, "GET", url, headers=committee).json()["status"] in ("approved", "paid"), approved.text
            claims.append(cid)

        collector = as_["collector"]
        with Phones(system.url, fid, collector, members) as phones:
            _wait_for(lambda: len(phones.booked) >= 20, "the phones' first deposits")
            claim_for(members[0])
            claim_for(members[1])

            # --- Mid-traffic: both grants workers in a webhook call (the receiver holds its answers),
            # then one replica of each process and of each worker killed at once.
            hooks.hold()
            for n, tranche in enumerate(tranches):
                disbursed = _call(client, "POST", f"/v1/grants/applications/{aid}/tranches/{tranche}/disbursement",
                                  headers={**officer, "Idempotency-Key": f"disbursement-{tranche}"},
                                  json={"disbursed_on": today, "reference": f"KTB-{n}"})
                assert disbursed.status_code == 200, disbursed.text
            _wait_for(lambda: len(receiver.held) >= 2, "both grants workers to be in a webhook call", timeout=30)
            killed = {name: system.pid_of(name) for name in PROCESS_NAMES}
            killed |= {f"{w}#1": system.worker_pids(w)[f"{w}#1"] for w in WORKER_NAMES}
            cut_off = _connections_to(killed["grants#1"], receiver.port)
            for pid_ in killed.values():
                os.kill(pid_, signal.SIGKILL)
            hooks.release()
            held = dict((port, delivery) for delivery, port in receiver.held)
            assert len(cut_off) == 1 and cut_off <= set(held), (cut_off, receiver.held)
            cut_delivery = held[next(iter(cut_off))]

            # Traffic goes on while the killed ones restart: claims through the other replicas. A
            # claim asks the members service and the ledger, whose first replicas, the addresses
            # benefits was given, are dead: it asks the others, and is never refused for it (503).
            answers.clear()
            claim_for(members[2])
            claim_for(members[3])
            assert 503 not in answers, answers
            _wait_for(lambda: all(_restarted(system, name, pid_) for name, pid_ in killed.items()),
                      "the supervisor to restart every killed process")
            system.wait_healthy()
            claim_for(members[4])
            booked_at_restart = len(phones.booked)
            _wait_for(lambda: len(phones.booked) >= booked_at_restart + 10, "deposits after the restart")

        # --- Quiet: every claim paid, both tranches in the ledger, every delivery made, every receipt pushed.
        def all_paid() -> bool:
            return all(_call(client, "GET", f"/v1/benefits/funds/{fid}/claims/{c}", headers=committee).json()["status"] == "paid"
                       for c in claims)

        _wait_for(all_paid, "every claim to be paid")
        _wait_for(lambda: _call(client, "GET", f"/v1/grants/applications/{aid}/reconciliation", headers=officer)
                  .json()["received_by_ledger_satang"] == 55_000 * B, "both tranches to reach the ledger")
        deliveries_url = f"/v1/grants/webhooks/{subscribed.json()['id']}/deliveries"
        _wait_for(lambda: {d["status"] for d in _call(client, "GET", deliveries_url, headers=officer).json()} == {"delivered"},
                  "every webhook delivery to be made")
        booked = phones.booked

        def pushed() -> list[str]:
            return [t for i in range(MEMBERS) for t in line.texts_to(f"U-member-{i}")]

        receipts = {receipt for _, receipt in booked.values()}
        _wait_for(lambda: set(_receipts_pushed(pushed())) >= receipts, "every receipt to reach LINE")
        _wait_for(lambda: sum("จ่ายเงินสวัสดิการ" in t for t in pushed()) >= len(claims), "every payout to be told")

        # Every deposit booked once.
        assert len(receipts) == len(booked), "one receipt per deposit"
        trial = _call(client, "GET", f"/v1/ledger/funds/{fid}/trial-balance", headers=admin).json()
        assert trial["balanced"]
        contributions = -sum(a["balance_satang"] for a in trial["accounts"] if a["kind"] == "member_contribution")
        assert contributions == sum(amount for amount, _ in booked.values())
        feed, cursor = [], None
        while True:
            page = _call(client, "GET", f"/v1/ledger/funds/{fid}/deposits/feed", headers=admin,
                         params={"limit": 500, **({"after": cursor} if cursor else {})}).json()
            if not page["items"]:
                break
            feed += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
        assert sorted(feed) == sorted(booked)

        # Every approved claim paid once; each tranche posted once.
        accounts = {a["code"]: a["balance_satang"] for a in
                    _call(client, "GET", f"/v1/ledger/funds/{fid}/accounts", headers=committee).json()}
        assert sum(v for code, v in accounts.items() if code.startswith("5100")) == EDUCATION * len(claims), accounts
        assert accounts["4300"] == income - 55_000 * B, "the grant's income, once"

        # No LINE receipt pushed twice, no payout told twice (LINE's retry key), once everything is quiet.
        time.sleep(1.5)  # a late duplicate would have come by now (the workers pass every 0.3 s)
        counted = Counter(_receipts_pushed(pushed()))
        assert set(counted) == receipts and max(counted.values()) == 1
        assert sum("จ่ายเงินสวัสดิการ" in t for t in pushed()) == len(claims)
        keys = [p["retry_key"] for p in line.pushes]
        assert len(keys) == len(set(keys)), "a retry key delivered twice"

        # No webhook event delivered twice but the one the kill cut off, which came again with the
        # same id and the same body, and which the receiver drops by that id.
        deliveries = _call(client, "GET", deliveries_url, headers=officer).json()
        seen = Counter(body["id"] for body in receiver.seen)
        assert set(seen) == {d["id"] for d in deliveries}
        assert {i for i, n in seen.items() if n > 1} == {cut_delivery} and seen[cut_delivery] == 2, seen
        copies = [body for body in receiver.seen if body["id"] == cut_delivery]
        assert copies[0] == copies[1]
        assert receiver.bad_signatures == 0
        assert sum(body["event"] == "tranche.disbursed" for body in {b["id"]: b for b in receiver.seen}.values()) == 2


def _restarted(system: RunningSystem, name: str, pid: int) -> bool:
    if "#" in name:
        return system.worker_pids(name.split("#")[0]).get(name) != pid
    return system.pid_of(name) != pid
