"""Signing keys across real processes (docs/signing-keys.md): two rotations in a row, each followed
at once by a login and a call to every service, succeed; a revoked key is refused everywhere within
5 seconds. The services are called directly, so each one's own verifier answers."""

from __future__ import annotations

import time

import httpx
import pytest
from jose import jwt

from tests.support.factories import E2E_FUND as FUND
from tests.support.system import ADMIN_PASSWORD, ADMIN_PHONE, RunningSystem

pytestmark = pytest.mark.e2e

CALLS = {
    "members": "/v1/members/funds/{fund_id}",
    "ledger": "/v1/ledger/funds/{fund_id}/trial-balance",
    "benefits": "/v1/benefits/funds/{fund_id}/catalog",
    "grants": "/v1/grants/programs",
}


def _admin(client: httpx.Client) -> dict[str, str]:
    response = client.post("/v1/auth/login", json={"phone": ADMIN_PHONE, "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _status(system, name: str, path: str, headers: dict[str, str]) -> int:
    return httpx.get(system.service_url(name) + path, headers=headers, timeout=10).status_code


def _until(check, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_two_rotations_in_a_row_then_every_service_and_a_revoke_within_five_seconds(shared_system: RunningSystem) -> None:
    # The shared system's services refresh the keys every second (2 s by default; tests/e2e/conftest.py):
    # that leaves a loaded machine room within the 5 s.
    system = shared_system
    with httpx.Client(base_url=system.url, timeout=10) as client:
        admin = _admin(client)
        fund = client.post("/v1/members/funds", json=FUND, headers=admin)
        assert fund.status_code == 201, fund.text
        paths = {name: path.format(fund_id=fund.json()["id"]) for name, path in CALLS.items()}
        for name, path in paths.items():
            assert _status(system, name, path, admin) == 200, name

        for rotation in (1, 2):
            assert client.post("/v1/auth/keys/rotate", headers=admin).status_code == 200
            admin = _admin(client)
            assert client.get("/v1/auth/me", headers=admin).status_code == 200
            for name, path in paths.items():
                assert _status(system, name, path, admin) == 200, (rotation, name)

        kid = jwt.get_unverified_header(admin["Authorization"].split()[1])["kid"]
        assert client.post(f"/v1/auth/keys/{kid}/revoke", headers=admin).status_code == 200
        deadline = time.monotonic() + 5
        assert client.get("/v1/auth/me", headers=admin).status_code == 401
        for name, path in paths.items():
            assert _until(lambda: _status(system, name, path, admin) == 401, deadline), f"{name} still trusts a revoked key"  # noqa: B023 (called at once)
        fresh = _admin(client)
        for name, path in paths.items():
            assert _until(lambda: _status(system, name, path, fresh) == 200, time.monotonic() + 5), name  # noqa: B023 (called at once)
