"""Accounts after they are created (issue 20, points 1 and 2; docs/accounts.md): users listed within
the caller's scope, deactivated, reactivated, given another role, PINs reset and changed; API
clients listed, revoked and rotated; a cut-off caller's tokens refused within 5 seconds."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from gateway.models import ApiClient
from shared.auth import RevocationList, RevokingVerifier, TokenVerifier, http_revocations_loader, service_client_secret
from tests.support.apps import gateway_app
from tests.support.helpers import ADMIN_PHONE, AUDIENCE, ISSUER, TEST_SECRET, login

STAFF_PIN = "staff-password-1"
#: Nothing listens there: a forwarded request that passes the gateway's checks is a 503.
NOWHERE = "http://127.0.0.1:9"


@pytest.fixture
async def gw(engines) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The gateway reloading its revocation list every 0.2 s, its services unreachable."""
    async with gateway_app(engines["gateway"], revocation_refresh_seconds=0.2,
                           **{f"{n}_url": NOWHERE for n in ("members", "ledger", "benefits", "grants")}) as pair:
        yield pair


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def admin_headers(client: httpx.AsyncClient) -> dict[str, str]:
    return bearer((await login(client))["access_token"])


async def make_user(client: httpx.AsyncClient, by: dict[str, str], phone: str, role: str = "committee",
                    fund_id: str | None = None, password: str = STAFF_PIN) -> dict[str, Any]:
    body = {"phone": phone, "password": password, "display_name": f"ผู้ใช้ {phone}", "role": role}
    if fund_id is not None:
        body["fund_id"] = fund_id
    made = await client.post("/v1/auth/users", headers=by, json=body)
    assert made.status_code == 201, made.text
    return made.json()


async def eventually(call: Any, status: int, code: str | None = None, within: float = 5.0) -> httpx.Response:
    """Poll ``call`` until it answers ``status`` (and ``code``), failing after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        answer = await call()
        if answer.status_code == status and (code is None or answer.json().get("code") == code):
            return answer
        assert time.monotonic() < deadline, f"still {answer.status_code} {answer.text} after {within} s"
        await asyncio.sleep(0.05)


async def test_a_deactivated_users_tokens_stop_within_seconds_and_reactivation_lets_them_back(gw) -> None:
    _, client = gw
    admin = await admin_headers(client)
    user = await make_user(client, admin, "0861000001", fund_id=str(uuid.uuid4()))
    pair = await login(client, "0861000001", STAFF_PIN)
    mine = bearer(pair["access_token"])
    assert (await client.get("/v1/auth/me", headers=mine)).status_code == 200
    assert (await client.get("/v1/members/funds", headers=mine)).status_code == 503  # let through, nobody there

    off = await client.post(f"/v1/auth/users/{user['id']}/deactivate", headers=admin)
    assert off.status_code == 200, off.text
    assert off.json()["is_active"] is False
    refused = await eventually(lambda: client.get("/v1/auth/me", headers=mine), 401, "auth.token_revoked")
    assert refused.headers["content-type"] == "application/problem+json"
    forwarded = await eventually(lambda: client.get("/v1/members/funds", headers=mine), 401, "auth.token_revoked")
    assert forwarded.json()["title"] == "โทเคนถูกยกเลิก"
    again = await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 401 and again.json()["code"] == "auth.refresh_invalid"
    no_login = await client.post("/v1/auth/login", json={"phone": "0861000001", "password": STAFF_PIN})
    assert no_login.status_code == 401

    on = await client.post(f"/v1/auth/users/{user['id']}/reactivate", headers=admin)
    assert on.status_code == 200 and on.json()["is_active"] is True
    fresh = bearer((await login(client, "0861000001", STAFF_PIN))["access_token"])
    assert (await client.get("/v1/auth/me", headers=fresh)).status_code == 200
    assert (await client.get("/v1/auth/me", headers=mine)).status_code == 401  # the old one stays refused


async def test_a_service_called_directly_refuses_a_deactivated_users_token(gw, service_client, tokens) -> None:
    app, client = gw
    members = await service_client("members")
    members_app = members._transport.app
    issued = await client.post("/v1/auth/token", json={"grant_type": "client_credentials", "client_id": "svc-members",
                                                       "client_secret": service_client_secret(TEST_SECRET, "members")})
    as_members = httpx.AsyncClient(transport=client._transport, headers=bearer(issued.json()["access_token"]))
    trusted = {"keys": tokens.jwks["keys"] + app.state.keyring.jwks()["keys"]}
    members_app.state.verifier = RevokingVerifier(
        TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=trusted),
        RevocationList(http_revocations_loader(as_members, "http://gateway/.well-known/revocations"), 0.2),
    )
    admin = await admin_headers(client)
    user = await make_user(client, admin, "0861000002", fund_id=str(uuid.uuid4()))
    mine = bearer((await login(client, "0861000002", STAFF_PIN))["access_token"])
    assert (await members.get("/v1/members/funds", headers=mine)).status_code == 200
    assert (await client.post(f"/v1/auth/users/{user['id']}/deactivate", headers=admin)).status_code == 200
    await eventually(lambda: members.get("/v1/members/funds", headers=mine), 401, "auth.token_revoked")
    published = (await as_members.get("http://gateway/.well-known/revocations")).json()
    assert published["floors"][user["id"]] >= 1
    assert (await client.get("/.well-known/revocations", headers=mine)).status_code == 401
    # Only the services granted auth.revocations read it: a signed-in person, or the gateway's own
    # service token, is refused.
    someone = await make_user(client, admin, "0861000012", fund_id=str(uuid.uuid4()))
    person = bearer((await login(client, "0861000012", STAFF_PIN))["access_token"])
    refused = await client.get("/.well-known/revocations", headers=person)
    assert refused.status_code == 403 and someone["role"] == "committee"
    as_gateway = bearer(app.state.issuer.gateway_token())
    refused = await client.get("/.well-known/revocations", headers=as_gateway)
    assert refused.status_code == 403 and refused.json()["code"] == "auth.service_not_allowed"
    for name in ("ledger", "benefits", "grants"):
        issued = await client.post("/v1/auth/token", json={
            "grant_type": "client_credentials", "client_id": f"svc-{name}",
            "client_secret": service_client_secret(TEST_SECRET, name)})
        read = await client.get("/.well-known/revocations", headers=bearer(issued.json()["access_token"]))
        assert read.status_code == 200, (name, read.text)
    await as_members.aclose()


async def test_a_role_change_stops_the_old_token_and_the_next_login_has_the_new_role(gw) -> None:
    _, client = gw
    admin = await admin_headers(client)
    fund_id = str(uuid.uuid4())
    user = await make_user(client, admin, "0861000003", fund_id=fund_id)
    old = bearer((await login(client, "0861000003", STAFF_PIN))["access_token"])
    changed = await client.patch(f"/v1/auth/users/{user['id']}", headers=admin, json={"role": "fund_admin"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "fund_admin" and changed.json()["fund_id"] == fund_id
    await eventually(lambda: client.get("/v1/auth/me", headers=old), 401, "auth.token_revoked")
    new = bearer((await login(client, "0861000003", STAFF_PIN))["access_token"])
    me = await client.get("/v1/auth/me", headers=new)
    assert me.status_code == 200 and me.json()["role"] == "fund_admin"
    officer = await client.patch(f"/v1/auth/users/{user['id']}", headers=admin, json={"role": "network_officer"})
    assert officer.status_code == 422 and officer.json()["code"] == "user.scope_invalid"


async def test_a_fund_admin_sees_and_changes_only_their_own_funds_users(gw) -> None:
    _, client = gw
    admin = await admin_headers(client)
    fund_a, fund_b = str(uuid.uuid4()), str(uuid.uuid4())
    await make_user(client, admin, "0861000010", role="fund_admin", fund_id=fund_a)
    ours = await make_user(client, admin, "0861000011", fund_id=fund_a)
    theirs = await make_user(client, admin, "0861000012", fund_id=fund_b)
    fa = bearer((await login(client, "0861000010", STAFF_PIN))["access_token"])

    listed = await client.get("/v1/auth/users", headers=fa)
    assert listed.status_code == 200, listed.text
    ids = {u["id"] for u in listed.json()["items"]}
    assert ours["id"] in ids and theirs["id"] not in ids
    assert all(u["fund_id"] == fund_a for u in listed.json()["items"])
    for method, path, body in (
        ("GET", "", None), ("PATCH", "", {"role": "collector"}), ("POST", "/deactivate", None),
        ("POST", "/reactivate", None), ("POST", "/pin-reset", None),
    ):
        answer = await client.request(method, f"/v1/auth/users/{theirs['id']}{path}", headers=fa, json=body)
        assert answer.status_code == 404 and answer.json()["code"] == "user.not_found", (method, path, answer.text)
    elsewhere = await client.patch(f"/v1/auth/users/{ours['id']}", headers=fa, json={"fund_id": fund_b})
    assert elsewhere.status_code == 403
    promote = await client.patch(f"/v1/auth/users/{ours['id']}", headers=fa, json={"role": "platform_admin"})
    assert promote.status_code == 403
    demote = await client.patch(f"/v1/auth/users/{ours['id']}", headers=fa, json={"role": "collector"})
    assert demote.status_code == 200 and demote.json()["role"] == "collector"
    committee = bearer((await login(client, "0861000012", STAFF_PIN))["access_token"])
    assert (await client.get("/v1/auth/users", headers=committee)).status_code == 403
    everyone = await client.get("/v1/auth/users", headers=admin, params={"fund_id": fund_b})
    assert [u["id"] for u in everyone.json()["items"]] == [theirs["id"]]


async def test_a_pin_reset_gives_a_temporary_pin_that_only_lets_the_user_choose_a_new_one(gw) -> None:
    _, client = gw
    admin = await admin_headers(client)
    fund_id = str(uuid.uuid4())
    await make_user(client, admin, "0861000020", role="fund_admin", fund_id=fund_id)
    fa = bearer((await login(client, "0861000020", STAFF_PIN))["access_token"])
    user = await make_user(client, fa, "0861000021", role="collector", password="123456")
    old = bearer((await login(client, "0861000021", "123456"))["access_token"])

    reset = await client.post(f"/v1/auth/users/{user['id']}/pin-reset", headers=fa)
    assert reset.status_code == 200, reset.text
    temporary = reset.json()["temporary_pin"]
    assert len(temporary) == 8 and temporary.isdigit()
    await eventually(lambda: client.get("/v1/auth/me", headers=old), 401, "auth.token_revoked")
    forgotten = await client.post("/v1/auth/login", json={"phone": "0861000021", "password": "123456"})
    assert forgotten.status_code == 401
    with_temporary = await client.post("/v1/auth/login", json={"phone": "0861000021", "password": temporary})
    assert with_temporary.status_code == 403, with_temporary.text
    assert with_temporary.json()["code"] == "auth.pin_change_required"
    assert "access_token" not in with_temporary.json()
    ticket = with_temporary.json()["pin_ticket"]
    same = await client.post("/v1/auth/pin", json={"pin_ticket": ticket, "new_pin": temporary})
    assert same.status_code == 422 and same.json()["code"] == "user.pin_unchanged"
    chosen = await client.post("/v1/auth/pin", json={"pin_ticket": ticket, "new_pin": "654321"})
    assert chosen.status_code == 200, chosen.text
    assert (await client.get("/v1/auth/me", headers=bearer(chosen.json()["access_token"]))).status_code == 200
    reused = await client.post("/v1/auth/pin", json={"pin_ticket": ticket, "new_pin": "111222"})
    assert reused.status_code == 401 and reused.json()["code"] == "auth.pin_ticket_invalid"
    assert (await client.post("/v1/auth/login", json={"phone": "0861000021", "password": temporary})).status_code == 401
    await login(client, "0861000021", "654321")


async def test_a_user_changes_their_own_pin_only_with_the_current_one_and_every_session_ends(gw) -> None:
    _, client = gw
    admin = await admin_headers(client)
    await make_user(client, admin, "0861000030", fund_id=str(uuid.uuid4()))
    mine = bearer((await login(client, "0861000030", STAFF_PIN))["access_token"])
    other_phone = await login(client, "0861000030", STAFF_PIN)
    wrong = await client.post("/v1/auth/me/pin", headers=mine, json={"current_pin": "not-my-pin", "new_pin": "new-staff-password"})
    assert wrong.status_code == 403 and wrong.json()["code"] == "user.pin_wrong"
    weak = await client.post("/v1/auth/me/pin", headers=mine, json={"current_pin": STAFF_PIN, "new_pin": "123456"})
    assert weak.status_code == 422 and weak.json()["code"] == "user.password_weak"
    done = await client.post("/v1/auth/me/pin", headers=mine, json={"current_pin": STAFF_PIN, "new_pin": "new-staff-password"})
    assert done.status_code == 204, done.text
    await eventually(lambda: client.get("/v1/auth/me", headers=mine), 401, "auth.token_revoked")
    await eventually(lambda: client.get("/v1/auth/me", headers=bearer(other_phone["access_token"])), 401, "auth.token_revoked")
    refreshed = await client.post("/v1/auth/refresh", json={"refresh_token": other_phone["refresh_token"]})
    assert refreshed.status_code == 401 and refreshed.json()["code"] == "auth.refresh_invalid", "the other phone's session ended"
    assert (await client.post("/v1/auth/login", json={"phone": "0861000030", "password": STAFF_PIN})).status_code == 401
    again = bearer((await login(client, "0861000030", "new-staff-password"))["access_token"])
    assert (await client.get("/v1/auth/me", headers=again)).status_code == 200, "a login after the change works at once"


async def test_the_last_active_platform_admin_cannot_be_deactivated_or_demoted(gw) -> None:
    _, client = gw
    admin = await admin_headers(client)
    me = (await client.get("/v1/auth/me", headers=admin)).json()["user"]
    alone = await client.post(f"/v1/auth/users/{me['id']}/deactivate", headers=admin)
    assert alone.status_code == 409 and alone.json()["code"] == "user.last_platform_admin"
    demoted = await client.patch(f"/v1/auth/users/{me['id']}", headers=admin,
                                 json={"role": "committee", "fund_id": str(uuid.uuid4())})
    assert demoted.status_code == 409 and demoted.json()["code"] == "user.last_platform_admin"
    await make_user(client, admin, "0861000040", role="platform_admin")
    assert (await client.post(f"/v1/auth/users/{me['id']}/deactivate", headers=admin)).status_code == 200
    assert (await client.post("/v1/auth/login", json={"phone": ADMIN_PHONE, "password": "x"})).status_code == 401


async def _client_token(client: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await client.post("/v1/auth/token", json={"grant_type": "client_credentials", "client_id": client_id,
                                                     "client_secret": secret})


async def test_a_revoked_client_gets_no_token_and_its_tokens_are_refused(gw) -> None:
    _, client = gw
    admin = await admin_headers(client)
    made = (await client.post("/v1/auth/clients", headers=admin, json={"name": "ระบบทุน", "scopes": ["grants:disburse"]})).json()
    issued = await _client_token(client, made["client_id"], made["client_secret"])
    assert issued.status_code == 200
    theirs = bearer(issued.json()["access_token"])
    assert (await client.get("/v1/auth/me", headers=theirs)).status_code == 200
    listed = await client.get("/v1/auth/clients", headers=admin)
    assert listed.status_code == 200
    assert {c["client_id"] for c in listed.json()["items"]} >= {made["client_id"]}
    assert not {"client_secret", "secret_hash", "previous_secret_hash"} & {key for c in listed.json()["items"] for key in c}

    revoked = await client.post(f"/v1/auth/clients/{made['client_id']}/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["is_active"] is False
    refused = await _client_token(client, made["client_id"], made["client_secret"])
    assert refused.status_code == 401 and refused.json()["code"] == "auth.client_invalid"
    await eventually(lambda: client.get("/v1/auth/me", headers=theirs), 401, "auth.token_revoked")
    await eventually(lambda: client.get("/v1/grants/programs", headers=theirs), 401, "auth.token_revoked")
    assert (await client.post(f"/v1/auth/clients/{made['client_id']}/rotate", headers=admin)).status_code == 409
    assert (await client.post("/v1/auth/clients/cli-nobody/revoke", headers=admin)).status_code == 404


async def test_a_rotated_clients_old_secret_works_only_within_the_grace(gw) -> None:
    app, client = gw
    admin = await admin_headers(client)
    made = (await client.post("/v1/auth/clients", headers=admin, json={"name": "ระบบทุน", "scopes": ["grants:read"]})).json()
    rotated = await client.post(f"/v1/auth/clients/{made['client_id']}/rotate", headers=admin)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["client_secret"]
    assert new_secret != made["client_secret"]
    until = dt.datetime.fromisoformat(rotated.json()["client"]["previous_secret_expires_at"])
    assert until - dt.datetime.now(dt.UTC) > dt.timedelta(hours=23)
    assert (await _client_token(client, made["client_id"], made["client_secret"])).status_code == 200
    assert (await _client_token(client, made["client_id"], new_secret)).status_code == 200
    async with app.state.db.sessionmaker() as session, session.begin():
        await session.execute(update(ApiClient).where(ApiClient.client_id == made["client_id"])
                              .values(previous_secret_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    old = await _client_token(client, made["client_id"], made["client_secret"])
    assert old.status_code == 401 and old.json()["code"] == "auth.client_invalid"
    assert (await _client_token(client, made["client_id"], new_secret)).status_code == 200
