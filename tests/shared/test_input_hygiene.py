"""Input hygiene at the edge of every service (issue 21, point 1): what fuzzing found answering
500 or 502, each through the real services (and the gateway where it showed as a 502), now a 422
problem+json naming the field, with nothing written.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text as sql_text

from shared.auth import Role, TokenVerifier
from tests.support.apps import ServicesWire, app_routes, gateway_app
from tests.support.factories import make_books, person
from tests.support.helpers import ADMIN_PASSWORD, ADMIN_PHONE, AUDIENCE, ISSUER, Tokens

SERVICES = ("members", "ledger", "benefits", "grants")


def refused(response: httpx.Response, *fields: tuple[str, str]) -> None:
    """A 422 problem+json whose errors are exactly ``fields`` (field, code)."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == list(fields), response.text


@pytest.fixture
async def wired(engines, service_client, tokens) -> AsyncIterator[tuple[httpx.AsyncClient, Tokens]]:
    """The gateway in front of the four real services, which trust its keys too."""
    services = {name: await service_client(name) for name in SERVICES}
    async with gateway_app(engines["gateway"], **{f"{name}_url": f"http://{name}" for name in SERVICES}) as (app, client):
        keyring = app.state.keyring
        trusted = {"keys": tokens.jwks["keys"] + keyring.jwks()["keys"]}
        for service in services.values():
            service._transport.app.state.verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=trusted)
        await app.state.forwarder.client.close()
        app.state.forwarder.client = ServicesWire(services)
        yield client, Tokens(pem=keyring._current_pem, kid=keyring.current_kid, jwks=keyring.jwks())


async def rows(client: httpx.AsyncClient, sql: str, **params: Any) -> Any:
    """The first column of the first row of ``sql`` in the service's rolled-back database."""
    result = await client._transport.app.state.db.bind.execute(sql_text(sql), params)
    return result.scalar()


# --- Strings: NUL and lone surrogates ----------------------------------------------------------------------

NUL, SURROGATE = "\x00", "\ud800"


def raw_json(text: str) -> bytes:
    """JSON as a fuzzer writes it: a lone surrogate as its escape (json.dumps does the same)."""
    import json

    return json.dumps(text).encode()


@pytest.mark.parametrize("bad", [NUL, SURROGATE])
async def test_a_network_name_with_nul_or_a_lone_surrogate(service_client, tokens, bad) -> None:
    members = await service_client("members")
    body = b'{"name_th": %s, "province": "x"}' % raw_json(f"เครือข่าย{bad}")
    for lang in ("th", "en"):
        answer = await members.post("/v1/members/networks", content=body,
                                    headers={**tokens.headers(), "content-type": "application/json", "accept-language": lang})
        refused(answer, ("body.name_th", "text_control_character" if bad == NUL else "text_lone_surrogate"))
    assert await rows(members, "SELECT count(*) FROM networks") == 0



async def test_nul_in_a_path_parameter_names_it(service_client, tokens) -> None:
    books = await make_books(service_client, tokens, members_count=0)
    benefits = await service_client("benefits")
    answer = await benefits.get(f"/v1/benefits/funds/{books.id}/catalog/%00/rules", headers=tokens.headers())
    refused(answer, ("path.code", "text_control_character"))


async def test_nul_in_a_query_parameter_names_it(service_client, tokens) -> None:
    books = await make_books(service_client, tokens, members_count=1)
    answer = await books.fund.client.get(f"/v1/members/funds/{books.id}/members", params={"q": "สม\x00"},
                                         headers={**books.committee, "accept-language": "en"})
    refused(answer, ("query.q", "text_control_character"))
    assert answer.json()["errors"][0]["message"] == "Contains a control character (U+0000) this field does not take"


async def test_secrets_and_codes_are_strings_too(wired) -> None:
    client, _ = wired
    form = await client.post("/v1/auth/token", data={"grant_type": "client_credentials", "client_id": "grant\x00sys",
                                                       "client_secret": "x"})
    refused(form, ("body.client_id", "text_control_character"))
    login = await client.post("/v1/auth/login", content=rb'{"phone": "0811111111", "password": "pass\ud800word"}',
                              headers={"content-type": "application/json"})
    refused(login, ("body.password", "text_lone_surrogate"))


async def test_a_lone_surrogate_in_an_unknown_key_is_named_printably(service_client, tokens) -> None:
    members = await service_client("members")
    answer = await members.post("/v1/members/networks", content=b'{"name_th": "x", "province": "x", "\\ud800": 1}',
                                headers={**tokens.headers(), "content-type": "application/json"})
    refused(answer, ("body.\ufffd", "text_lone_surrogate"))


async def test_the_gateway_refuses_them_before_forwarding_and_lean_routes_are_covered(wired, service_client, tokens) -> None:
    client, signed = wired
    books = await make_books(service_client, tokens, members_count=1)
    deposit = books.deposit(amount=100)
    body = b'{"id": "%s", "member_id": "\\u0000", "amount_satang": 100, "collected_at": "%s"}' % (
        deposit["id"].encode(), deposit["collected_at"].encode())
    headers = {**signed.headers(Role.collector, fund_id=books.id, sub=books.collector), "content-type": "application/json"}
    through = await client.post(f"/v1/ledger/funds/{books.id}/deposits", content=body, headers=headers)
    refused(through, ("body.member_id", "text_control_character"))
    straight = await books.ledger.post(f"/v1/ledger/funds/{books.id}/deposits", content=body,
                                       headers={**books.collector_headers, "content-type": "application/json"})
    refused(straight, ("body.member_id", "text_control_character"))


# --- Integers ----------------------------------------------------------------------------------------------


async def test_money_past_the_domain_maximum_or_2_63_is_a_422_and_nothing_is_written(service_client, tokens) -> None:
    books = await make_books(service_client, tokens, members_count=0)
    for amount, code in ((2**63, "less_than_equal"), (10**12 + 1, "less_than_equal")):
        answer = await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": "codi", "amount_satang": amount,
                                                  "received_on": "2024-01-01"})
        refused(answer, ("body.amount_satang", code))
    assert await rows(books.ledger, "SELECT count(*) FROM movements WHERE fund_id = :f", f=uuid.UUID(books.id)) == 0
    fine = await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": "codi", "amount_satang": 10**12,
                                            "received_on": "2024-01-01"})
    assert fine.status_code == 201, fine.text

    benefits = await service_client("benefits")
    settings = f"/v1/benefits/funds/{books.id}/settings"
    answer = await benefits.patch(settings, json={"reserve_floor_satang": 2**63}, headers=books.admin)
    refused(answer, ("body.reserve_floor_satang", "less_than_equal"))
    assert (await benefits.get(settings, headers=books.admin)).json()["reserve_floor_satang"] != 2**63


# --- Dates -------------------------------------------------------------------------------------------------


async def test_a_date_outside_its_window_is_a_422_naming_the_field(service_client, tokens) -> None:
    books = await make_books(service_client, tokens, members_count=1)
    answer = await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": "codi", "amount_satang": 100,
                                              "received_on": "0635-01-01"})
    refused(answer, ("body.received_on", "date_too_early"))
    assert answer.json()["errors"][0]["message"] == "วันที่ต้องไม่ก่อน 2000-01-01"
    deposit = books.deposit(amount=100, collected_at="0001-01-01T00:00:00+07:00")
    answer = await books.post("/deposits", deposit, books.collector_headers)
    refused(answer, ("body.collected_at", "date_too_early"))
    assert await rows(books.ledger, "SELECT count(*) FROM deposits WHERE fund_id = :f", f=uuid.UUID(books.id)) == 0
    standing = await books.get("/arrears", as_of="0635-01-01")
    refused(standing, ("query.as_of", "date_too_early"))
    born = await books.fund.register(person(77, birth_date="1899-12-31"))
    refused(born, ("body.birth_date", "date_too_early"))


# --- Empty PATCH bodies ------------------------------------------------------------------------------------


async def test_an_empty_patch_is_a_422_naming_the_body_on_every_patch_route(wired, service_client, tokens) -> None:
    client, signed = wired
    books = await make_books(service_client, tokens, members_count=1)
    admin = signed.headers()
    for path in (f"/v1/members/funds/{books.id}/members/{books.member_ids[0]}", f"/v1/members/funds/{books.id}",
                 f"/v1/ledger/funds/{books.id}/rules", f"/v1/benefits/funds/{books.id}/settings"):
        refused(await client.patch(path, json={}, headers=admin), ("body", "body_empty"))
    me = (await client.get("/v1/auth/me", headers=admin))
    users = await client.get("/v1/auth/users", headers=admin)
    user_id = users.json()["items"][0]["id"]
    refused(await client.patch(f"/v1/auth/users/{user_id}", json={}, headers=admin), ("body", "body_empty"))
    assert me is not None
    for service, table in (("members", "audit_events"), ("ledger", "audit_events"), ("benefits", "audit_events")):
        assert await rows(await service_client(service), f"SELECT count(*) FROM {table} WHERE action LIKE '%update%'") == 0


def test_every_patch_route_takes_a_patch_body() -> None:
    from shared.schemas import PatchBody

    patches = {(app, c.path): c.original_route.body_field.field_info.annotation
               for app in (*SERVICES, "gateway") for c in app_routes(app) if "PATCH" in c.methods}
    assert len(patches) == 5, patches
    assert [k for k, body in patches.items() if not (isinstance(body, type) and issubclass(body, PatchBody))] == []


# --- Data stored before the rules: the dashboards still show it ------------------------------------------


async def test_the_dashboards_and_the_funds_export_show_a_fund_name_with_control_characters(wired, service_client, tokens) -> None:
    client, signed = wired
    books = await make_books(service_client, tokens, members_count=1)
    posted = await books.post("/deposits", books.deposit(amount=100), books.collector_headers)
    assert posted.status_code == 201, posted.text
    old = "กองทุน\x00\x07สวัสดิการ\x1b\x7f\x85ชุมชน"  # written before input refused it (NUL by a direct SQL load)
    await books.members._transport.app.state.db.bind.execute(
        sql_text("UPDATE funds SET name = :name WHERE id = :id"), {"name": old.replace("\x00", ""), "id": books.id})
    admin = signed.headers()
    for path in (f"/v1/dashboard/funds/{books.id}", "/v1/dashboard/national", "/v1/dashboard/exports/funds.csv",
                 "/v1/dashboard/exports/funds.xlsx", f"/v1/dashboard/funds/{books.id}/reports/monthly.pdf",
                 f"/v1/dashboard/funds/{books.id}/deposits/{posted.json()['id']}/receipt.pdf"):
        answer = await client.get(path, headers=admin)
        assert answer.status_code == 200, (path, answer.text)
    await client.post("/dashboard/login", data={"phone": ADMIN_PHONE, "password": ADMIN_PASSWORD, "next": "/dashboard"})
    for path in (f"/dashboard/funds/{books.id}", "/dashboard/national"):
        page = await client.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert "\x07" not in page.text and "\x1b" not in page.text, "a page shows no control character"
