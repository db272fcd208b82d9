"""The gateway's auth: login, refresh rotation and reuse, logout, client credentials, users, keys."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path

import pytest
from jose import jwt
from sqlalchemy import select, update

from gateway.models import RefreshToken, User
from shared.auth import service_client_secret
from tests.support.apps import gateway_app
from tests.support.helpers import (
    ADMIN_PASSWORD,
    ADMIN_PHONE,
    AUDIENCE,
    ISSUER,
    TEST_SECRET,
    gateway_settings,
    login,
)


async def test_bootstrap_admin_logs_in_and_gets_es256_tokens(gateway) -> None:
    app, client = gateway
    pair = await login(client)
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == 600
    header = jwt.get_unverified_header(pair["access_token"])
    assert header["alg"] == "ES256"
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}
    assert all("d" not in k for k in jwks["keys"]), "private key material must never be published"
    claims = jwt.decode(pair["access_token"], jwks["keys"][0], algorithms=["ES256"], audience=AUDIENCE, issuer=ISSUER)
    assert claims["role"] == "platform_admin" and claims["typ"] == "access"
    me = await client.get("/v1/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200
    assert me.json()["user"]["phone"] == ADMIN_PHONE


async def test_bootstrap_does_not_create_a_second_admin(engines) -> None:
    async with gateway_app(engines["gateway"]) as (app, client):
        from gateway.app import start_gateway

        await start_gateway(app)  # a second start on the same database
        async with app.state.db.sessionmaker() as session:
            admins = (await session.scalars(select(User).where(User.role == "platform_admin"))).all()
        assert len(admins) == 1
        for resource in [app.state.forwarder]:
            await resource.close()


async def test_wrong_password_is_401_in_thai_and_english(gateway) -> None:
    _, client = gateway
    thai = await client.post("/v1/auth/login", json={"phone": ADMIN_PHONE, "password": "nope"})
    assert thai.status_code == 401
    assert thai.headers["content-type"] == "application/problem+json"
    assert thai.json()["code"] == "auth.invalid_credentials"
    assert thai.json()["title"] == "เข้าสู่ระบบไม่สำเร็จ"
    english = await client.post(
        "/v1/auth/login", json={"phone": ADMIN_PHONE, "password": "nope"}, headers={"Accept-Language": "en"}
    )
    assert english.json()["title"] == "Login failed"
    unknown = await client.post("/v1/auth/login", json={"phone": "0899999999", "password": "nope"})
    assert unknown.status_code == 401 and unknown.json()["code"] == "auth.invalid_credentials"


async def test_failed_logins_are_limited_per_phone(gateway) -> None:
    app, client = gateway
    at = dt.datetime.now(dt.UTC)
    app.state.login_throttle.now = lambda: at  # the delay is measured on this clock
    for _ in range(5):
        r = await client.post("/v1/auth/login", json={"phone": ADMIN_PHONE, "password": "wrong"})
        assert r.status_code == 401
    blocked = await client.post("/v1/auth/login", json={"phone": ADMIN_PHONE, "password": ADMIN_PASSWORD})
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "auth.too_many_attempts"
    assert int(blocked.headers["retry-after"]) > 0


async def test_failed_logins_are_slowed_per_address(engines) -> None:
    """A capped delay, never a lock (tests/gateway/test_login_throttling.py has the rest)."""
    async with gateway_app(engines["gateway"], login_address_free_failures=3) as (app, client):
        at = dt.datetime.now(dt.UTC)
        app.state.login_throttle.now = lambda: at
        for i in range(3):
            await client.post("/v1/auth/login", json={"phone": f"081000000{i}", "password": "wrong"})
        blocked = await client.post("/v1/auth/login", json={"phone": ADMIN_PHONE, "password": ADMIN_PASSWORD})
        assert blocked.status_code == 429
        assert 1 <= int(blocked.headers["retry-after"]) <= app.state.settings.login_address_max_delay_seconds


async def test_refresh_rotates_and_the_new_token_works(gateway) -> None:
    _, client = gateway
    first = await login(client)
    second = (await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    assert second["refresh_token"] != first["refresh_token"]
    third = await client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert third.status_code == 200


async def test_a_lost_response_may_be_retried_within_the_grace(gateway) -> None:
    _, client = gateway
    first = await login(client)
    lost = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert lost.status_code == 200
    retried = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert retried.status_code == 200, retried.text
    # The successor the phone never saw is retired; the one it got now works.
    never_seen = await client.post("/v1/auth/refresh", json={"refresh_token": lost.json()["refresh_token"]})
    assert never_seen.status_code == 401
    # ...and presenting it was reuse: the family is gone.
    after = await client.post("/v1/auth/refresh", json={"refresh_token": retried.json()["refresh_token"]})
    assert after.status_code == 401


async def test_reusing_a_spent_refresh_token_after_the_grace_revokes_the_family(gateway) -> None:
    app, client = gateway
    first = await login(client)
    second = (await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})).json()
    async with app.state.db.sessionmaker() as session:
        async with session.begin():
            await session.execute(
                update(RefreshToken)
                .where(RefreshToken.used_at.is_not(None))
                .values(used_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
            )
    stolen = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert stolen.status_code == 401
    assert stolen.json()["code"] == "auth.refresh_reused"
    legit = await client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert legit.status_code == 401, "the whole family must be revoked"


async def test_logout_revokes_the_refresh_token(gateway) -> None:
    _, client = gateway
    pair = await login(client)
    assert (await client.post("/v1/auth/logout", json={"refresh_token": pair["refresh_token"]})).status_code == 204
    again = await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 401 and again.json()["code"] == "auth.refresh_invalid"


async def _admin_headers(client) -> dict[str, str]:
    return {"Authorization": f"Bearer {(await login(client))['access_token']}"}


async def test_platform_admin_creates_users_of_every_role(gateway) -> None:
    _, client = gateway
    admin = await _admin_headers(client)
    fund_id = str(uuid.uuid4())
    body = {"phone": "081-234-5678", "password": "fund-admin-pass", "display_name": "เหรัญญิก", "role": "fund_admin",
            "fund_id": fund_id}
    created = await client.post("/v1/auth/users", json=body, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["phone"] == "0812345678"
    dup = await client.post("/v1/auth/users", json=body, headers=admin)
    assert dup.status_code == 409 and dup.json()["code"] == "user.phone_taken"
    no_fund = await client.post("/v1/auth/users", json={**body, "phone": "0812345679", "fund_id": None}, headers=admin)
    assert no_fund.status_code == 422 and no_fund.json()["code"] == "user.scope_invalid"
    pair = await login(client, "0812345678", "fund-admin-pass")
    claims = jwt.get_unverified_claims(pair["access_token"])
    assert claims["role"] == "fund_admin" and claims["fund_id"] == fund_id


async def test_fund_admin_creates_users_only_in_their_fund(gateway) -> None:
    _, client = gateway
    admin = await _admin_headers(client)
    fund_id = str(uuid.uuid4())
    await client.post("/v1/auth/users", headers=admin, json={
        "phone": "0820000001", "password": "fund-admin-pass", "display_name": "ผู้ดูแล", "role": "fund_admin", "fund_id": fund_id})
    fa = {"Authorization": f"Bearer {(await login(client, '0820000001', 'fund-admin-pass'))['access_token']}"}
    collector = await client.post("/v1/auth/users", headers=fa, json={
        "phone": "0820000002", "password": "123456", "display_name": "อาสา", "role": "collector"})
    assert collector.status_code == 201, collector.text
    assert collector.json()["fund_id"] == fund_id
    elsewhere = await client.post("/v1/auth/users", headers=fa, json={
        "phone": "0820000003", "password": "123456", "display_name": "x", "role": "collector", "fund_id": str(uuid.uuid4())})
    assert elsewhere.status_code == 403
    escalate = await client.post("/v1/auth/users", headers=fa, json={
        "phone": "0820000004", "password": "long-enough-password", "display_name": "x", "role": "platform_admin"})
    assert escalate.status_code == 403
    collector_token = {"Authorization": f"Bearer {(await login(client, '0820000002', '123456'))['access_token']}"}
    by_collector = await client.post("/v1/auth/users", headers=collector_token, json={
        "phone": "0820000005", "password": "123456", "display_name": "x", "role": "member", "member_id": str(uuid.uuid4())})
    assert by_collector.status_code == 403


async def test_staff_passwords_must_be_long(gateway) -> None:
    _, client = gateway
    admin = await _admin_headers(client)
    weak = await client.post("/v1/auth/users", headers=admin, json={
        "phone": "0830000001", "password": "123456", "display_name": "x", "role": "committee", "fund_id": str(uuid.uuid4())})
    assert weak.status_code == 422 and weak.json()["code"] == "user.password_weak"


async def test_user_requests_forbid_unknown_fields(gateway) -> None:
    _, client = gateway
    admin = await _admin_headers(client)
    r = await client.post("/v1/auth/users", headers=admin, json={
        "phone": "0830000002", "password": "long-enough-password", "display_name": "x", "role": "grant_officer",
        "is_superuser": True})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["body.is_superuser"]


async def test_integration_client_credentials_give_scoped_tokens(gateway) -> None:
    _, client = gateway
    admin = await _admin_headers(client)
    made = await client.post("/v1/auth/clients", headers=admin, json={"name": "CODI grant system", "scopes": ["grants:read", "grants:write"]})
    assert made.status_code == 201
    cred = made.json()
    form = await client.post("/v1/auth/token", data={"grant_type": "client_credentials", "client_id": cred["client_id"],
                                                     "client_secret": cred["client_secret"], "scope": "grants:read"})
    assert form.status_code == 200, form.text
    assert form.json()["scope"] == "grants:read"
    claims = jwt.get_unverified_claims(form.json()["access_token"])
    assert claims["role"] == "integration" and claims["scope"] == "grants:read"
    as_json = await client.post("/v1/auth/token", json={"grant_type": "client_credentials", "client_id": cred["client_id"],
                                                        "client_secret": cred["client_secret"]})
    assert as_json.json()["scope"] == "grants:read grants:write"
    too_much = await client.post("/v1/auth/token", json={"grant_type": "client_credentials", "client_id": cred["client_id"],
                                                         "client_secret": cred["client_secret"], "scope": "members:read"})
    assert too_much.status_code == 400 and too_much.json()["code"] == "auth.scope_not_allowed"
    wrong = await client.post("/v1/auth/token", json={"grant_type": "client_credentials", "client_id": cred["client_id"],
                                                      "client_secret": "x"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "auth.client_invalid"
    bad_grant = await client.post("/v1/auth/token", json={"grant_type": "password", "client_id": "a", "client_secret": "b"})
    assert bad_grant.status_code == 422


async def test_services_get_service_tokens_from_derived_secrets(gateway) -> None:
    _, client = gateway
    ok = await client.post("/v1/auth/token", json={"grant_type": "client_credentials", "client_id": "svc-benefits",
                                                   "client_secret": service_client_secret(TEST_SECRET, "benefits")})
    assert ok.status_code == 200
    assert jwt.get_unverified_claims(ok.json()["access_token"])["role"] == "service"
    other = await client.post("/v1/auth/token", json={"grant_type": "client_credentials", "client_id": "svc-ledger",
                                                      "client_secret": service_client_secret(TEST_SECRET, "benefits")})
    assert other.status_code == 401


async def test_key_rotation_keeps_old_tokens_valid(gateway) -> None:
    _, client = gateway
    pair = await login(client)
    old = {"Authorization": f"Bearer {pair['access_token']}"}
    old_kid = jwt.get_unverified_header(pair["access_token"])["kid"]
    rotated = await client.post("/v1/auth/keys/rotate", headers=old)
    assert rotated.status_code == 200
    new_kid = rotated.json()["kid"]
    assert new_kid != old_kid
    kids = {k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]}
    assert {old_kid, new_kid} <= kids
    assert (await client.get("/v1/auth/me", headers=old)).status_code == 200
    fresh = await login(client)
    assert jwt.get_unverified_header(fresh["access_token"])["kid"] == new_kid


async def test_the_gateway_reuses_its_own_service_token_until_half_its_life_or_a_new_key(gateway, monkeypatch) -> None:
    app, client = gateway
    issuer = app.state.issuer
    first = issuer.gateway_token()
    assert issuer.gateway_token() == first, "signed once, not for every call"
    claims = jwt.get_unverified_claims(first)
    assert claims["sub"] == "svc-gateway" and claims["role"] == "service"
    ttl = issuer.settings.access_token_ttl_seconds
    clock = time.time()
    monkeypatch.setattr(time, "time", lambda: clock + ttl / 2 + 1)
    aged = issuer.gateway_token()
    assert aged != first, "renewed at half its lifetime"
    monkeypatch.undo()
    pair = await login(client)
    rotated = await client.post("/v1/auth/keys/rotate", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert rotated.status_code == 200
    after = issuer.gateway_token()
    assert jwt.get_unverified_header(after)["kid"] == rotated.json()["kid"], "signed again with the new key"


async def test_keys_persist_across_gateway_restarts(engines) -> None:
    async with gateway_app(engines["gateway"]) as (app, client):
        from gateway.keys import KeyRing

        kid = app.state.keyring.current_kid
        again = KeyRing(app.state.settings.key_secret)
        await again.ensure_current(app.state.db)
        assert again.current_kid == kid


@pytest.mark.parametrize("path", ["/v1/auth/users", "/v1/auth/clients", "/v1/auth/keys/rotate"])
async def test_admin_endpoints_need_a_token(gateway, path: str) -> None:
    _, client = gateway
    r = await client.post(path, json={})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_development_gives_the_first_admin_the_documented_login_and_says_so_once(engines, capsys) -> None:
    """`make run` on a new machine: the README's development login works without reading logs."""
    from gateway.app import start_gateway
    from gateway.settings import DEV_ADMIN_PASSWORD, DEV_ADMIN_PHONE

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert DEV_ADMIN_PHONE in readme and DEV_ADMIN_PASSWORD in readme
    async with gateway_app(engines["gateway"], env="dev", bootstrap_admin_phone="", bootstrap_admin_password="") as (app, client):
        printed = capsys.readouterr().out
        assert "platform admin created" in printed
        assert printed.split("password:")[1].split()[0] == DEV_ADMIN_PASSWORD
        pair = await login(client, DEV_ADMIN_PHONE, DEV_ADMIN_PASSWORD)
        assert jwt.get_unverified_claims(pair["access_token"])["role"] == "platform_admin"
        owned = await start_gateway(app)  # a restart on the same data
        assert "platform admin created" not in capsys.readouterr().out
        for resource in owned:
            await resource.close()


async def test_development_with_a_chosen_password_uses_it_and_prints_nothing(engines, capsys) -> None:
    from gateway.settings import DEV_ADMIN_PASSWORD, DEV_ADMIN_PHONE

    async with gateway_app(engines["gateway"], env="dev", bootstrap_admin_phone="",
                           bootstrap_admin_password="chosen-admin-pass") as (_, client):
        assert "chosen-admin-pass" not in capsys.readouterr().out
        assert (await client.post("/v1/auth/login", json={"phone": DEV_ADMIN_PHONE, "password": DEV_ADMIN_PASSWORD})).status_code == 401
        await login(client, DEV_ADMIN_PHONE, "chosen-admin-pass")


def test_the_development_password_is_refused_outside_development() -> None:
    from pydantic import ValidationError

    from gateway.settings import DEV_ADMIN_PASSWORD

    for env in ("test", "production"):
        with pytest.raises(ValidationError, match="development bootstrap admin password"):
            gateway_settings(env=env, bootstrap_admin_password=DEV_ADMIN_PASSWORD)


async def test_production_without_bootstrap_credentials_creates_no_admin(engines) -> None:
    async with gateway_app(engines["gateway"], env="production", bootstrap_admin_phone="", bootstrap_admin_password="") as (app, _):
        async with app.state.db.sessionmaker() as session:
            assert (await session.scalars(select(User).where(User.role == "platform_admin"))).all() == []
