"""Two replicas of every worker, one of each killed with SIGKILL mid-traffic (issue 23, point 2):
every deposit is booked once, every claim paid once, and no LINE receipt pushed twice.

``sajja run`` with ``SAJJA_WORKER_REPLICAS=2`` and a short lease, so that a killed replica's claims
are taken over within the test. The API services run one replica each here: their replicas are
the other half of issue 23 (``SAJJA_REPLICAS``); webhook deliveries under leases are covered by
the grants tests and tests/shared/test_leases.py's protocol, not by this test.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from services.members.thai import national_id_check_digit
from shared.worker import WORKER_NAMES
from tests.fakes.line import ThreadedFakeLine
from tests.support.system import ADMIN_PASSWORD, ADMIN_PHONE, running_system

pytestmark = pytest.mark.e2e

MEMBERS = 6
BATCHES = 4
EDUCATION = 50_000  # the template's fixed amount, in satang


def _login(client: httpx.Client, phone: str, password: str) -> dict[str, str]:
    response = client.post("/v1/auth/login", json={"phone": phone, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _wait_for(check, timeout: float = 40.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out waiting")


def _receipts_pushed(texts: list[str]) -> list[int]:
    """Every receipt number named in the receipt messages LINE delivered."""
    numbers: list[int] = []
    for text in texts:
        found = re.search(r"ใบเสร็จเลขที่ (.+)$", text)
        if found:
            numbers += [int(n) for n in found.group(1).split(", ")]
    return numbers


def test_two_replicas_of_every_worker_survive_a_kill_mid_traffic(tmp_path: Path) -> None:
    with ThreadedFakeLine() as line, running_system(tmp_path / "home", extra_env={
        **line.env(),
        "SAJJA_WORKER_REPLICAS": "2",
        "SAJJA_WORKER_LEASE_SECONDS": "3",
        "SAJJA_GATEWAY_LINE_WORKER_INTERVAL_SECONDS": "0.3",
        "SAJJA_BENEFITS_PAYOUT_INTERVAL_SECONDS": "0.3",
        "SAJJA_GRANTS_WORKER_INTERVAL_SECONDS": "0.3",
    }) as system, httpx.Client(base_url=system.url, timeout=20) as client:
        replicas = {name: system.worker_pids(name) for name in WORKER_NAMES}
        assert all(len(pids) == 2 for pids in replicas.values()), replicas

        admin = _login(client, ADMIN_PHONE, ADMIN_PASSWORD)
        fund = client.post("/v1/members/funds", headers=admin, json={
            "name": "กองทุนสวัสดิการชุมชนตำบลบางระจัน", "province": "สิงห์บุรี", "district": "ค่ายบางระจัน",
            "subdistrict": "บางระจัน", "founded_on": "2008-03-01", "population": 5120})
        assert fund.status_code == 201, fund.text
        fid = fund.json()["id"]
        for phone, role in (("0870000011", "committee"), ("0870000012", "committee"), ("0870000013", "fund_admin")):
            made = client.post("/v1/auth/users", headers=admin, json={
                "phone": phone, "password": "committee-pass-1", "display_name": role, "role": role, "fund_id": fid})
            assert made.status_code == 201, made.text
        committee, second, fund_admin = (_login(client, p, "committee-pass-1") for p in ("0870000011", "0870000012", "0870000013"))
        members = []
        for i in range(MEMBERS):
            first12 = f"3600200{i:05d}"
            created = client.post(f"/v1/members/funds/{fid}/members", headers=committee, json={
                "national_id": first12 + str(national_id_check_digit(first12)), "first_name": f"สมาชิก{i}",
                "last_name": "บางระจัน", "birth_date": "1965-01-01", "sex": "หญิง", "village": 1, "house_no": str(i),
                "joined_on": "2010-01-01", "consent_given": True})
            assert created.status_code == 201, created.text
            members.append(created.json()["id"])
            code = client.post("/v1/auth/line/link-codes", headers=committee, json={"fund_id": fid, "member_id": members[-1]})
            linked = client.post("/v1/auth/line/link", json={"id_token": line.id_token(f"U-member-{i}"), "code": code.json()["code"]})
            assert linked.status_code == 200, linked.text
        collector_user = client.post("/v1/auth/users", headers=admin, json={
            "phone": "0870000014", "password": "246810", "display_name": "อาสาเก็บเงิน", "role": "collector", "fund_id": fid}).json()
        assert client.post(f"/v1/members/funds/{fid}/collectors", headers=committee,
                           json={"user_id": collector_user["id"], "display_name": "อาสาเก็บเงิน", "villages": [1]}).status_code == 201
        collector = _login(client, "0870000014", "246810")
        catalog = client.post(f"/v1/benefits/funds/{fid}/catalog/from-templates", headers=fund_admin,
                              json={"effective_from": "2000-01-01"})
        assert catalog.status_code == 201, catalog.text
        today = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).date().isoformat()
        funded = client.post(f"/v1/ledger/funds/{fid}/co-funding", headers=committee, json={
            "id": str(uuid.uuid4()), "source": "codi", "amount_satang": 10_000_000, "received_on": today})
        assert funded.status_code == 201, funded.text

        deposits: list[dict] = []
        receipts: dict[str, int] = {}
        claims: list[str] = []
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        for batch in range(BATCHES):
            if batch == BATCHES // 2:
                # Mid-traffic: one replica of every worker killed outright (the supervisor restarts it).
                for name, pids in replicas.items():
                    os.kill(pids[f"{name}#1"], signal.SIGKILL)
            offline = [{"id": str(uuid.uuid4()), "member_id": members[i], "amount_satang": 100 * (batch + 1),
                        "collected_at": (now - dt.timedelta(minutes=60 - batch * MEMBERS - i)).isoformat()} for i in range(MEMBERS)]
            synced = client.post(f"/v1/ledger/funds/{fid}/deposits/batch", headers=collector, json={"deposits": offline})
            assert synced.status_code == 200, synced.text
            assert synced.json()["created"] == MEMBERS, synced.text
            deposits += offline
            receipts.update({r["id"]: r["receipt_no"] for r in synced.json()["results"]})
            # Half the batches also bring a claim for a member, approved by the second committee member.
            member = members[batch % MEMBERS]
            claim = client.post(f"/v1/benefits/funds/{fid}/claims", headers=committee, json={
                "member_id": member, "benefit_code": "education", "event_date": today})
            assert claim.status_code == 201, claim.text
            approved = client.post(f"/v1/benefits/funds/{fid}/claims/{claim.json()['id']}/approve", headers=second)
            assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text
            claims.append(claim.json()["id"])
            time.sleep(0.5)

        # Every claim paid, once: the benefit expense is the claims' sum, not more.
        def all_paid() -> bool:
            return all(client.get(f"/v1/benefits/funds/{fid}/claims/{c}", headers=committee).json()["status"] == "paid"
                       for c in claims)

        _wait_for(all_paid)
        accounts = {a["code"]: a["balance_satang"] for a in
                    client.get(f"/v1/ledger/funds/{fid}/accounts", headers=committee).json()}
        expense = sum(v for code, v in accounts.items() if code.startswith("5100"))
        assert expense == EDUCATION * len(claims), accounts

        # Every deposit booked once: the collector's day is the deposits' sum.
        day = client.get(f"/v1/ledger/funds/{fid}/reports/collections", headers=collector, params={"date": today}).json()
        assert day[0]["collected_satang"] == sum(d["amount_satang"] for d in deposits)
        assert len(set(receipts.values())) == len(deposits)

        # Every receipt pushed to LINE, none twice; every payout told once.
        def pushed() -> list[str]:
            return [t for i in range(MEMBERS) for t in line.texts_to(f"U-member-{i}")]

        _wait_for(lambda: set(_receipts_pushed(pushed())) == set(receipts.values()))
        _wait_for(lambda: sum("จ่ายเงินสวัสดิการ" in t for t in pushed()) == len(claims))
        time.sleep(1.5)  # a late duplicate would have come by now (the workers pass every 0.3 s)
        counted = Counter(_receipts_pushed(pushed()))
        assert counted and max(counted.values()) == 1, counted
        assert sum("จ่ายเงินสวัสดิการ" in t for t in pushed()) == len(claims)
        keys = [p["retry_key"] for p in line.pushes]
        assert len(keys) == len(set(keys)), "a retry key delivered twice"

        # The killed replicas came back.
        restarted = {name: system.worker_pids(name) for name in WORKER_NAMES}
        assert all(restarted[n][f"{n}#1"] != replicas[n][f"{n}#1"] for n in WORKER_NAMES), restarted
