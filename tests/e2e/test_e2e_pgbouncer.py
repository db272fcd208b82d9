"""The whole system through PgBouncer in transaction mode (issue 25, point 2): ``sajja run`` with
every process's database URL pointing at Debian's PgBouncer in front of an embedded PostgreSQL and
``SAJJA_DB_POOLER=pgbouncer``, the migrations going to the server itself. A deposit, a claim paid
by the payouts worker, a sync of offline deposits: each through the pooler, whose own counters say
the five databases' transactions went through it."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

import httpx
import pytest

from services.members.thai import national_id_check_digit
from shared.embedded_pg import EmbeddedPostgres
from shared.settings import PROCESS_NAMES
from tests.support import pgbouncer
from tests.support.system import ADMIN_PASSWORD, ADMIN_PHONE, running_system

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not pgbouncer.available(), reason="pgbouncer not installed "
                                                 "(make test installs it: tools/system_packages.sh pooler)")]


def _login(client: httpx.Client, phone: str, password: str) -> dict[str, str]:
    response = client.post("/v1/auth/login", json={"phone": phone, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _until(check, what: str, timeout: float = 60.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"never happened: {what}")


def test_a_deposit_a_claim_paid_and_a_sync_through_pgbouncer(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg", delete_on_stop=True)
    direct = pg.start()
    try:
        with pgbouncer.pgbouncer_in_front(pg) as (pooled, admin):
            env = {"SAJJA_DATABASE_URL": direct, "SAJJA_DB_POOLER": "pgbouncer",
                   "SAJJA_BENEFITS_PAYOUT_INTERVAL_SECONDS": "0.3"}
            env.update({f"SAJJA_{name.upper()}_DATABASE_URL": pooled for name in PROCESS_NAMES})
            with running_system(tmp_path / "home", extra_env=env) as system, \
                    httpx.Client(base_url=system.url, timeout=20) as client:
                admin_headers = _login(client, ADMIN_PHONE, ADMIN_PASSWORD)
                fund = client.post("/v1/members/funds", headers=admin_headers, json={
                    "name": "กองทุนสวัสดิการชุมชนตำบลบ้านซ่อง", "province": "ฉะเชิงเทรา", "district": "พนมสารคาม",
                    "subdistrict": "บ้านซ่อง", "founded_on": "2005-01-01", "population": 8000})
                assert fund.status_code == 201, fund.text
                fid = fund.json()["id"]
                for phone, role in (("0870000021", "committee"), ("0870000022", "committee"), ("0870000023", "fund_admin"),
                                    ("0870000024", "collector")):
                    made = client.post("/v1/auth/users", headers=admin_headers, json={
                        "phone": phone, "password": "pooled-pass-1", "display_name": role, "role": role, "fund_id": fid})
                    assert made.status_code == 201, made.text
                    if role == "collector":
                        collector_id = made.json()["id"]
                committee, second, fund_admin, collector = (
                    _login(client, p, "pooled-pass-1") for p in ("0870000021", "0870000022", "0870000023", "0870000024"))
                members = []
                for i in range(3):
                    first12 = f"3240100{i:05d}"
                    created = client.post(f"/v1/members/funds/{fid}/members", headers=committee, json={
                        "national_id": first12 + str(national_id_check_digit(first12)), "first_name": f"สมาชิก{i}",
                        "last_name": "บ้านซ่อง", "birth_date": "1960-01-01", "sex": "หญิง", "village": 1, "house_no": str(i),
                        "joined_on": "2010-01-01", "consent_given": True})
                    assert created.status_code == 201, created.text
                    members.append(created.json()["id"])
                assert client.post(f"/v1/members/funds/{fid}/collectors", headers=committee, json={
                    "user_id": collector_id, "display_name": "อาสา", "villages": [1]}).status_code == 201
                assert client.post(f"/v1/benefits/funds/{fid}/catalog/from-templates", headers=fund_admin,
                                   json={"effective_from": "2000-01-01"}).status_code == 201
                today = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).date().isoformat()
                assert client.post(f"/v1/ledger/funds/{fid}/co-funding", headers=committee, json={
                    "id": str(uuid.uuid4()), "source": "codi", "amount_satang": 1_000_000, "received_on": today}).status_code == 201

                # A deposit.
                now = dt.datetime.now(dt.UTC).replace(microsecond=0)
                deposit = {"id": str(uuid.uuid4()), "member_id": members[0], "amount_satang": 3000, "collected_at": now.isoformat()}
                posted = client.post(f"/v1/ledger/funds/{fid}/deposits", headers=collector, json=deposit)
                assert posted.status_code == 201 and posted.json()["receipt_no"] == 1, posted.text

                # A sync of offline deposits.
                offline = [{"id": str(uuid.uuid4()), "member_id": members[i], "amount_satang": 100 * (i + 1),
                            "collected_at": (now - dt.timedelta(minutes=30 - i)).isoformat()} for i in range(3)]
                synced = client.post(f"/v1/ledger/funds/{fid}/deposits/batch", headers=collector, json={"deposits": offline})
                assert synced.status_code == 200 and synced.json()["created"] == 3, synced.text

                # A claim, approved, paid by the payouts worker through the ledger.
                claim = client.post(f"/v1/benefits/funds/{fid}/claims", headers=committee, json={
                    "member_id": members[1], "benefit_code": "education", "event_date": today})
                assert claim.status_code == 201, claim.text
                approved = client.post(f"/v1/benefits/funds/{fid}/claims/{claim.json()['id']}/approve", headers=second)
                assert approved.status_code == 200, approved.text
                _until(lambda: client.get(f"/v1/benefits/funds/{fid}/claims/{claim.json()['id']}", headers=committee)
                       .json()["status"] == "paid", "the claim paid")

                day = client.get(f"/v1/ledger/funds/{fid}/reports/collections", headers=collector, params={"date": today}).json()
                assert day[0]["collected_satang"] == 3000 + 100 + 200 + 300
                accounts = {a["code"]: a["balance_satang"] for a in
                            client.get(f"/v1/ledger/funds/{fid}/accounts", headers=committee).json()}
                assert sum(v for code, v in accounts.items() if code.startswith("5100")) == 50_000

                # Every process's database was worked on through PgBouncer.
                stats = admin("SHOW STATS").splitlines()
                header = stats[0].split("|")
                rows = {line.split("|")[0]: dict(zip(header, line.split("|"))) for line in stats[1:] if "|" in line}
                for name in PROCESS_NAMES:
                    assert int(rows[f"sajja_{name}"]["total_xact_count"]) > 0, (name, rows.keys())
                # And the server's sessions there are in UTC, with no time zone sent by the clients.
                for name in PROCESS_NAMES:
                    assert "TimeZone=UTC" in pg.psql(
                        "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting s JOIN pg_database d"
                        f" ON d.oid = s.setdatabase WHERE d.datname = 'sajja_{name}'"), name
    finally:
        pg.stop()
