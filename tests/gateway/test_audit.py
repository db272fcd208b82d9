"""The audit trail of administrative acts (issue 20, point 5; docs/audit.md).

The gateway in front of the four real services: each kind of act writes one row with its actor,
action and the X-Request-ID sent, in the act's transaction (a refused act writes none); ``GET
/v1/audit`` gathers them, every event for platform admins, a fund's own for its fund admin; the
table is append-only in every database; no national ID or secret is ever written.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text as sql_text
from sqlalchemy.exc import DBAPIError

from shared.auth import Principal, Role, TokenVerifier
from shared.settings import PROCESS_NAMES
from tests.support.apps import ServicesWire, gateway_app
from tests.support.factories import make_books, make_fund, national_id
from tests.support.helpers import AUDIENCE, ISSUER, Tokens

SERVICES = ("members", "ledger", "benefits", "grants")



@pytest.fixture
async def wired(engines, service_client, tokens) -> AsyncIterator[tuple[Any, httpx.AsyncClient, Tokens]]:
    services = {name: await service_client(name) for name in SERVICES}
    async with gateway_app(engines["gateway"], **{f"{name}_url": f"http://{name}" for name in SERVICES}) as (app, client):
        keyring = app.state.keyring
        trusted = {"keys": tokens.jwks["keys"] + keyring.jwks()["keys"]}
        for service in services.values():
            service._transport.app.state.verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=trusted)
        await app.state.forwarder.client.close()
        app.state.forwarder.client = ServicesWire(services)
        yield app, client, Tokens(pem=keyring._current_pem, kid=keyring.current_kid, jwks=keyring.jwks())


def rid(headers: dict[str, str], request_id: str) -> dict[str, str]:
    return {**headers, "X-Request-ID": request_id}


async def all_events(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    answer = await client.get("/v1/audit", params={"limit": 200, **params}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


async def test_each_administrative_act_writes_one_row_with_actor_action_and_request_id(
    wired, service_client, tokens
) -> None:
    app, gateway, signed = wired
    members, ledger, benefits, grants = [await service_client(name) for name in SERVICES]
    books = await make_books(service_client, tokens, members_count=1)
    fund, member_id = books.fund, books.member_ids[0]
    admin_a = fund.as_(Role.fund_admin)
    admin_sub = fund._subjects[Role.fund_admin]
    platform = tokens.headers(Role.platform_admin, sub="platform-admin-1")
    expected: dict[str, tuple[str, str]] = {}  # request id -> (action, actor)

    async def act(call: Any, request_id: str, action: str, actor: str, status: int) -> httpx.Response:
        answer = await call
        assert answer.status_code == status, (action, answer.text)
        expected[request_id] = (action, actor)
        return answer

    base = f"/v1/members/funds/{fund.id}"
    await act(members.patch(base, json={"population": 12_000}, headers=rid(admin_a, "rid-fund-update")),
              "rid-fund-update", "fund.update", admin_sub, 200)
    committee_sub = fund._subjects[Role.committee]
    await act(members.post(f"{base}/members/{member_id}/status", headers=rid(fund.committee, "rid-status"),
                           json={"status": "suspended", "effective_on": "2026-01-05"}),
              "rid-status", "member.status", committee_sub, 200)
    whole = await act(members.get(f"{base}/members/{member_id}/national-id", headers=rid(fund.committee, "rid-pii"),
                                  params={"purpose": f"แบบฟอร์ม {national_id(500)}"}),
                      "rid-pii", "member.national_id_read", committee_sub, 200)
    assert whole.json()["national_id"] == national_id(500)

    await act(books.ledger.patch(f"{books.base}/rules", json={"late_window_days": 30}, headers=rid(admin_a, "rid-rules")),
              "rid-rules", "ledger.rules_update", admin_sub, 200)
    account = {"code": "1030", "name_th": "เงินฝากสหกรณ์", "name_en": "Co-op deposit", "type": "asset"}
    await act(books.ledger.post(f"{books.base}/accounts", json=account, headers=rid(admin_a, "rid-account")),
              "rid-account", "ledger.account_create", admin_sub, 201)
    await act(books.ledger.post(f"{books.base}/plans", headers=rid(admin_a, "rid-plan"), json={
        "name": "สัจจะวันละบาท", "period": "month", "amount_satang": 3_000, "effective_from": "2026-01-01"}),
              "rid-plan", "ledger.plan_create", admin_sub, 201)
    await act(books.ledger.put(f"{books.base}/matching-rules", headers=rid(admin_a, "rid-matching"),
                               json={"source": "local_government", "ratio_bp": 10_000}),
              "rid-matching", "ledger.matching_rules_set", admin_sub, 200)

    welfare = f"/v1/benefits/funds/{fund.id}"
    await act(benefits.patch(f"{welfare}/settings", json={"reserve_floor_satang": 100_000}, headers=rid(admin_a, "rid-settings")),
              "rid-settings", "benefits.settings_update", admin_sub, 200)
    await act(benefits.post(f"{welfare}/catalog/from-templates", json={"effective_from": "2000-01-01"},
                            headers=rid(admin_a, "rid-templates")),
              "rid-templates", "benefits.catalog_from_templates", admin_sub, 201)

    await act(grants.post("/v1/grants/grantors", headers=rid(platform, "rid-grantor"), json={"kind": "codi", "name": "พอช."}),
              "rid-grantor", "grants.grantor_create", "platform-admin-1", 201)

    # The gateway's own: a user, a client, an export, a key rotation.
    gw_admin = signed.headers(Role.platform_admin, sub="platform-admin-2")
    made = await act(gateway.post("/v1/auth/users", headers=rid(gw_admin, "rid-user"), json={
        "phone": "0829990001", "password": "fund-admin-pass", "display_name": "ผู้ดูแล", "role": "fund_admin",
        "fund_id": fund.id}), "rid-user", "user.create", "platform-admin-2", 201)
    users = f"/v1/auth/users/{made.json()['id']}"
    await act(gateway.patch(users, headers=rid(gw_admin, "rid-user-role"), json={"role": "committee"}),
              "rid-user-role", "user.change", "platform-admin-2", 200)
    reset = await act(gateway.post(f"{users}/pin-reset", headers=rid(gw_admin, "rid-user-pin")),
                      "rid-user-pin", "user.pin_reset", "platform-admin-2", 200)
    temporary_pin = reset.json()["temporary_pin"]
    await act(gateway.post(f"{users}/deactivate", headers=rid(gw_admin, "rid-user-off")),
              "rid-user-off", "user.deactivate", "platform-admin-2", 200)
    await act(gateway.post(f"{users}/reactivate", headers=rid(gw_admin, "rid-user-on")),
              "rid-user-on", "user.reactivate", "platform-admin-2", 200)
    client = await act(gateway.post("/v1/auth/clients", headers=rid(gw_admin, "rid-client"),
                                    json={"name": "ระบบ พอช.", "scopes": ["grants:read"]}),
                       "rid-client", "client.create", "platform-admin-2", 201)
    client_secret = client.json()["client_secret"]
    clients = f"/v1/auth/clients/{client.json()['client_id']}"
    rotated_secret = (await act(gateway.post(f"{clients}/rotate", headers=rid(gw_admin, "rid-client-rotate")),
                                "rid-client-rotate", "client.rotate", "platform-admin-2", 200)).json()["client_secret"]
    await act(gateway.post(f"{clients}/revoke", headers=rid(gw_admin, "rid-client-revoke")),
              "rid-client-revoke", "client.revoke", "platform-admin-2", 200)
    gw_committee = signed.headers(Role.committee, fund_id=fund.id, sub=committee_sub)
    await act(gateway.get(f"/v1/dashboard/funds/{fund.id}/exports/members.csv", headers=rid(gw_committee, "rid-roll")),
              "rid-roll", "export.members_roll", committee_sub, 200)
    await act(gateway.get(f"/v1/dashboard/funds/{fund.id}/members/{member_id}/exports/statement.csv",
                          headers=rid(gw_committee, "rid-statement")),
              "rid-statement", "export.statement", committee_sub, 200)

    # Refused acts write nothing: another fund's admin, a duplicate account, a refused export.
    other = await make_fund(members, tokens, name="กองทุนอื่น")
    refused = {
        "rid-refused-patch": await members.patch(base, json={"population": 1}, headers=rid(other.as_(Role.fund_admin), "rid-refused-patch")),
        "rid-refused-account": await books.ledger.post(f"{books.base}/accounts", json=account, headers=rid(admin_a, "rid-refused-account")),
        "rid-refused-rules": await books.ledger.patch(f"{books.base}/rules", json={"late_window_days": 5},
                                                      headers=rid(fund.committee, "rid-refused-rules")),
        "rid-refused-export": await gateway.get(f"/v1/dashboard/funds/{fund.id}/exports/members.csv",
                                                headers=rid(signed.headers(Role.committee, fund_id=other.id), "rid-refused-export")),
    }
    assert all(answer.status_code in (403, 404, 409) for answer in refused.values()), {k: v.status_code for k, v in refused.items()}

    rotated = await act(gateway.post("/v1/auth/keys/rotate", headers=rid(gw_admin, "rid-key")),
                        "rid-key", "key.rotate", "platform-admin-2", 200)
    assert rotated.json()["kid"]
    # The key published next (neither the one signing the test's tokens nor the one just promoted).
    spare = next(k["kid"] for k in app.state.keyring.jwks()["keys"] if k["kid"] not in (signed.kid, rotated.json()["kid"]))
    await act(gateway.post(f"/v1/auth/keys/{spare}/revoke", headers=rid(gw_admin, "rid-key-revoke")),
              "rid-key-revoke", "key.revoke", "platform-admin-2", 200)
    # The services learn the new key (the gateway's own token is signed with it from now on).
    trusted = {"keys": tokens.jwks["keys"] + app.state.keyring.jwks()["keys"]}
    for service in (members, ledger, benefits, grants):
        service._transport.app.state.verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=trusted)

    events = await all_events(gateway, gw_admin)
    by_request: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_request.setdefault(event["request_id"], []).append(event)
    for request_id, (action, actor) in expected.items():
        found = by_request.get(request_id, [])
        assert [(e["action"], e["actor"]) for e in found] == [(action, actor)], request_id
    assert not set(refused) & set(by_request), "a refused act leaves no event"
    status = by_request["rid-status"][0]
    assert status["fund_id"] == fund.id and status["object_id"] == member_id and status["process"] == "members"
    assert status["details"]["to"] == "suspended" and status["actor_role"] == "committee"
    assert by_request["rid-user"][0]["process"] == "gateway" and by_request["rid-user"][0]["fund_id"] == fund.id
    assert by_request["rid-pii"][0]["details"]["purpose"] == "แบบฟอร์ม [redacted]"
    ats = [e["at"] for e in events]
    assert ats == sorted(ats, reverse=True), "newest first"

    # No national ID, password or secret anywhere in what the audit holds.
    text = (await gateway.get("/v1/audit", params={"limit": 200}, headers=gw_admin)).text
    assert not re.search(r"(?<!\d)\d{13}(?!\d)", text) and national_id(500) not in text
    assert client_secret not in text and "fund-admin-pass" not in text and "password" not in text
    assert rotated_secret not in text and temporary_pin not in text
    role_change = by_request["rid-user-role"][0]
    assert role_change["details"] == {"fields": ["role"], "role": "committee", "role_before": "fund_admin"}
    assert role_change["fund_id"] == fund.id and role_change["object_id"] == made.json()["id"]

    # Filters and pages.
    only = await all_events(gateway, gw_admin, action="member.status")
    assert [e["request_id"] for e in only] == ["rid-status"]
    mine = await all_events(gateway, gw_admin, actor=admin_sub)
    assert {e["request_id"] for e in mine} == {r for r, (_, a) in expected.items() if a == admin_sub}
    paged: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await gateway.get("/v1/audit", params={"limit": 3, **({"cursor": cursor} if cursor else {})}, headers=gw_admin)
        assert page.status_code == 200, page.text
        paged += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert [(e["process"], e["id"]) for e in paged] == [(e["process"], e["id"]) for e in events]


async def test_a_fund_admin_reads_only_their_funds_events(wired, service_client, tokens) -> None:
    _, gateway, signed = wired
    members = await service_client("members")
    fund_a = await make_fund(members, tokens)
    fund_b = await make_fund(members, tokens, name="กองทุนบี")
    for fund, request_id in ((fund_a, "rid-a"), (fund_b, "rid-b")):
        answer = await members.patch(f"/v1/members/funds/{fund.id}", json={"population": 500},
                                     headers=rid(fund.as_(Role.fund_admin), request_id))
        assert answer.status_code == 200, answer.text
    admin_a = signed.headers(Role.fund_admin, fund_id=fund_a.id)
    seen = await all_events(gateway, admin_a)
    assert {e["fund_id"] for e in seen} == {fund_a.id}, "another fund's events never appear"
    assert {e["action"] for e in seen} == {"fund.create", "fund.update"}
    updates = await all_events(gateway, admin_a, fund_id=fund_a.id, action="fund.update")
    assert [e["request_id"] for e in updates] == ["rid-a"]
    other = await gateway.get("/v1/audit", params={"fund_id": fund_b.id}, headers=admin_a)
    assert other.status_code == 403 and other.json()["code"] == "audit.other_fund"
    everything = {e["request_id"] for e in await all_events(gateway, signed.headers(Role.platform_admin))}
    assert {"rid-a", "rid-b"} <= everything
    only_b = await all_events(gateway, signed.headers(Role.platform_admin), fund_id=fund_b.id, action="fund.update")
    assert {e["request_id"] for e in only_b} == {"rid-b"}
    for role in (Role.committee, Role.member, Role.network_officer, Role.grant_officer):
        refused = await gateway.get("/v1/audit", headers=signed.headers(role, fund_id=fund_a.id))
        assert refused.status_code == 403, role
    internal = await members.get("/v1/members/internal/audit", headers=tokens.headers(Role.platform_admin))
    assert internal.status_code == 403, "a service's own read is the gateway's only"
    assert (await members.get("/v1/members/internal/audit", headers=tokens.service("ledger"))).status_code == 403
    assert (await members.get("/v1/members/internal/audit", headers=tokens.service("gateway"))).status_code == 200


@pytest.mark.parametrize("process", sorted(PROCESS_NAMES))
async def test_audit_events_are_append_only_in_every_database(process: str, engines) -> None:
    from shared.audit import audit

    async with engines[process].connect() as conn:
        transaction = await conn.begin()
        try:
            from sqlalchemy.ext.asyncio import AsyncSession

            session = AsyncSession(bind=conn, join_transaction_mode="create_savepoint")
            await audit(session, Principal(subject="someone", role=Role.platform_admin), "test.act",
                        details={"note": "kept"})
            for statement in ("UPDATE audit_events SET action = 'changed'", "DELETE FROM audit_events",
                              "TRUNCATE audit_events"):
                with pytest.raises(DBAPIError, match="append-only"):
                    async with conn.begin_nested():
                        await conn.execute(sql_text(statement))
            assert await conn.scalar(sql_text("SELECT count(*) FROM audit_events WHERE action = 'test.act'")) == 1
        finally:
            await transaction.rollback()


def test_details_never_take_a_secret_or_a_national_id() -> None:
    from shared.audit import _checked

    for key in ("password", "client_secret", "national_id", "refresh_token", "pin"):
        with pytest.raises(ValueError):
            _checked({key: "x"})
    assert _checked({"purpose": f"ตรวจ {national_id(7)} และ 1-2345-67890-12-1"}) == {"purpose": "ตรวจ [redacted] และ [redacted]"}
    assert _checked({"id": uuid.UUID(int=1), "n": [1, None]}) == {"id": str(uuid.UUID(int=1)), "n": [1, None]}
