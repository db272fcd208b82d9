"""The whole system as real processes: `sajja run` on embedded PostgreSQL, through the gateway."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest
from jose import jwt

from services.members.thai import national_id_check_digit
from tests.support.factories import E2E_FUND as FUND
from tests.support.system import ADMIN_PASSWORD, ADMIN_PHONE, running_system

pytestmark = pytest.mark.e2e


def _login(client: httpx.Client, phone: str, password: str) -> dict:
    response = client.post("/v1/auth/login", json={"phone": phone, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def _bearer(pair: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def _postgres_running(pgdata: Path) -> bool:
    for proc in psutil.process_iter(attrs=("name", "cmdline")):
        if proc.info["name"] == "postgres" and proc.info["cmdline"] and str(pgdata) in " ".join(proc.info["cmdline"]):
            return True
    return False


def test_the_whole_system_runs_restarts_and_stops(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with running_system(home) as system:
        health = httpx.get(system.url + "/healthz").json()
        assert health == {"status": "ok", "services": dict.fromkeys(
            ["gateway", "members", "ledger", "benefits", "grants"], "ok")}

        with httpx.Client(base_url=system.url, timeout=10) as client:
            admin = _bearer(_login(client, ADMIN_PHONE, ADMIN_PASSWORD))
            fund = client.post("/v1/members/funds", json=FUND, headers=admin)
            assert fund.status_code == 201, fund.text
            fund_id = fund.json()["id"]
            user = client.post("/v1/auth/users", headers=admin, json={
                "phone": "0871234567", "password": "committee-pass-1", "display_name": "กรรมการ",
                "role": "committee", "fund_id": fund_id})
            assert user.status_code == 201, user.text
            committee_pair = _login(client, "0871234567", "committee-pass-1")
            committee = _bearer(committee_pair)

            # A member registered by the committee gets a login bound to that membership; the
            # gateway asks the members service (with its own service token) before binding.
            first12 = "350010020030"
            member = client.post(f"/v1/members/funds/{fund_id}/members", headers=committee, json={
                "national_id": first12 + str(national_id_check_digit(first12)), "first_name": "มาลี",
                "last_name": "ใจดี", "birth_date": "1970-01-01", "sex": "หญิง", "joined_on": "2015-01-01",
                "consent_given": True})
            assert member.status_code == 201, member.text
            member_user = {"phone": "0861234567", "password": "123456", "display_name": "มาลี", "role": "member",
                           "fund_id": fund_id, "member_id": member.json()["id"]}
            assert client.post("/v1/auth/users", headers=admin, json=member_user).status_code == 201
            unknown = client.post("/v1/auth/users", headers=admin,
                                  json={**member_user, "phone": "0861234568", "member_id": str(uuid.uuid4())})
            assert unknown.status_code == 422 and unknown.json()["code"] == "user.member_unknown"
            own = _bearer(_login(client, "0861234567", "123456"))
            assert client.get(f"/v1/members/funds/{fund_id}/members/{member.json()['id']}", headers=own).status_code == 200

            # A collector's deposit through the gateway: the ledger checks the member and the
            # collector with the members service, using a service token from the gateway.
            collector_user = client.post("/v1/auth/users", headers=admin, json={
                "phone": "0851112222", "password": "654321", "display_name": "อาสา", "role": "collector", "fund_id": fund_id})
            assert collector_user.status_code == 201, collector_user.text
            collector_id = collector_user.json()["id"]
            assert client.post(f"/v1/members/funds/{fund_id}/collectors", headers=committee,
                               json={"user_id": collector_id, "display_name": "อาสา"}).status_code == 201
            collector = _bearer(_login(client, "0851112222", "654321"))
            deposit = {"id": str(uuid.uuid4()), "member_id": member.json()["id"], "amount_satang": 3000,
                       "collected_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())}
            posted = client.post(f"/v1/ledger/funds/{fund_id}/deposits", headers=collector, json=deposit)
            assert posted.status_code == 201, posted.text
            assert posted.json()["receipt_no"] == 1
            replayed = client.post(f"/v1/ledger/funds/{fund_id}/deposits", headers=collector, json=deposit)
            assert replayed.status_code == 200 and replayed.headers["idempotency-replayed"] == "true"
            balance = client.get(f"/v1/ledger/funds/{fund_id}/members/{member.json()['id']}/balance", headers=own)
            assert balance.status_code == 200 and balance.json()["contributed_satang"] == 3000

            # Every service, through the gateway, with a real token verified against the real JWKS.
            assert client.get(f"/v1/members/funds/{fund_id}", headers=committee).json()["name"] == FUND["name"]
            trial = client.get(f"/v1/ledger/funds/{fund_id}/trial-balance", headers=committee)
            assert trial.status_code == 200 and trial.json()["balanced"] is True
            catalog = client.get(f"/v1/benefits/funds/{fund_id}/catalog", headers=committee)
            assert catalog.status_code == 200
            grantor = client.post("/v1/grants/grantors", headers=admin, json={"kind": "codi", "name": "พอช."})
            assert grantor.status_code == 201, grantor.text
            program = client.post("/v1/grants/programs", headers=admin, json={
                "grantor_id": grantor.json()["id"], "name": "CODI 2551", "fiscal_year_be": 2551, "envelope_satang": 5_500_000})
            assert program.status_code == 201, program.text
            assert client.get("/v1/grants/programs", headers=committee).json()["items"][0]["name"] == "CODI 2551"
            # Scope is enforced by the owning service behind the gateway.
            other_fund = client.get(f"/v1/ledger/funds/{uuid.uuid4()}/trial-balance", headers=committee)
            assert other_fund.status_code == 403
            assert other_fund.headers["content-type"] == "application/problem+json"
            # The request id the caller chose comes back.
            traced = client.get("/v1/auth/me", headers={**committee, "X-Request-ID": "e2e-trace-1"})
            assert traced.headers["x-request-id"] == "e2e-trace-1"

            # One merged OpenAPI document and its docs page.
            paths = client.get("/openapi.json").json()["paths"]
            for path in ("/v1/auth/login", "/v1/members/funds", "/v1/ledger/funds/{fund_id}/trial-balance",
                         "/v1/benefits/funds/{fund_id}/catalog", "/v1/grants/programs"):
                assert path in paths, path
            assert "swagger" in client.get("/docs").text.lower()

        # A service called directly verifies tokens itself, against the gateway's JWKS.
        members = system.service_url("members")
        assert httpx.get(f"{members}/v1/members/funds/{fund_id}", headers=committee).status_code == 200
        head, payload, signature = committee_pair["access_token"].split(".")
        forged = {**jwt.get_unverified_claims(committee_pair["access_token"]), "role": "platform_admin"}
        forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
        for bad in (f"{head}.{forged_payload}.{signature}", f"{head}.{payload}."):
            refused = httpx.get(f"{members}/v1/members/funds", headers={"Authorization": f"Bearer {bad}"})
            assert refused.status_code == 401, refused.text

        # A child that dies is reported and restarted.
        os.kill(system.pid_of("members"), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while "restarting members" not in system.output() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "!!! members exited" in system.output()
        system.wait_healthy(timeout=60)
        assert httpx.get(f"{system.url}/v1/members/funds/{fund_id}", headers=committee).status_code == 200

        assert system.stop() == 0
    assert "PostgreSQL stopped" in system.output()
    assert not _postgres_running(home / "pgdata")

    # A second run reuses the data, the secrets and the signing keys: the old token still works.
    with running_system(home) as again:
        with httpx.Client(base_url=again.url, timeout=10) as client:
            assert client.get(f"/v1/members/funds/{fund_id}", headers=committee).status_code == 200
            _login(client, ADMIN_PHONE, ADMIN_PASSWORD)
        assert "platform admin created" not in again.output()
