"""Each service's first real endpoint, over its HTTP interface, on the real database."""

from __future__ import annotations

import uuid

from shared.auth import Role
from tests.support.factories import make_grantor
from tests.support.helpers import Tokens

BAN_SONG = {
    "name": "กองทุนสวัสดิการชุมชนเทศบาลตำบลบ้านส้อง",
    "kind": "municipal",
    "province": "สุราษฎร์ธานี",
    "district": "เวียงสระ",
    "subdistrict": "บ้านส้อง",
    "founded_on": "2010-05-01",
    "population": 17539,
}


async def test_platform_admin_registers_a_fund_and_its_committee_reads_it(service_client, tokens: Tokens) -> None:
    members = await service_client("members")
    created = await members.post("/v1/members/funds", json=BAN_SONG, headers=tokens.headers())
    assert created.status_code == 201, created.text
    fund = created.json()
    assert fund["founded_year_be"] == 2553
    assert fund["population"] == 17539

    own = await members.get(f"/v1/members/funds/{fund['id']}", headers=tokens.headers(Role.committee, fund_id=fund["id"]))
    assert own.status_code == 200
    assert own.json()["name"] == BAN_SONG["name"]

    listed = await members.get("/v1/members/funds", headers=tokens.headers(Role.committee, fund_id=fund["id"]))
    assert [f["id"] for f in listed.json()["items"]] == [fund["id"]]


async def test_a_fund_is_invisible_to_another_funds_staff(service_client, tokens: Tokens) -> None:
    members = await service_client("members")
    fund = (await members.post("/v1/members/funds", json=BAN_SONG, headers=tokens.headers())).json()
    other = tokens.headers(Role.fund_admin, fund_id=uuid.uuid4())
    response = await members.get(f"/v1/members/funds/{fund['id']}", headers=other)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "fund.not_found"
    listed = await members.get("/v1/members/funds", headers=other)
    assert listed.json()["items"] == []


async def test_only_platform_admins_and_network_officers_register_funds(service_client, tokens: Tokens) -> None:
    members = await service_client("members")
    response = await members.post(
        "/v1/members/funds", json=BAN_SONG, headers=tokens.headers(Role.fund_admin, fund_id=uuid.uuid4())
    )
    assert response.status_code == 403
    assert response.json()["code"] == "auth.forbidden"


async def test_fund_input_is_validated_field_by_field_in_thai_by_default(service_client, tokens: Tokens) -> None:
    members = await service_client("members")
    bad = {**BAN_SONG, "founded_on": "2999-01-01", "population": -1, "colour": "red"}
    response = await members.post("/v1/members/funds", json=bad, headers=tokens.headers())
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "request.validation_failed"
    assert body["title"] == "ข้อมูลไม่ถูกต้อง"
    fields = {e["field"]: e for e in body["errors"]}
    assert set(fields) == {"body.founded_on", "body.population", "body.colour"}
    assert fields["body.colour"]["message"] == "ไม่รู้จักช่องนี้"
    english = await members.post(
        "/v1/members/funds", json=bad, headers={**tokens.headers(), "Accept-Language": "en-US,en;q=0.9"}
    )
    assert english.json()["title"] == "Invalid request"
    listed = await members.get("/v1/members/funds", headers=tokens.headers())
    assert listed.json()["items"] == []


async def test_funds_page_by_cursor(service_client, tokens: Tokens) -> None:
    members = await service_client("members")
    for i in range(5):
        await members.post("/v1/members/funds", json={**BAN_SONG, "name": f"กองทุน {i}"}, headers=tokens.headers())
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await members.get("/v1/members/funds", params=params, headers=tokens.headers())).json()
        seen += [f["name"] for f in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"กองทุน {i}" for i in range(5)]
    bad = await members.get("/v1/members/funds", params={"cursor": "!!"}, headers=tokens.headers())
    assert bad.status_code == 400 and bad.json()["code"] == "request.cursor_invalid"


async def test_ledger_trial_balance_is_scoped_to_the_fund(service_client, tokens: Tokens) -> None:
    ledger = await service_client("ledger")
    fund_id = uuid.uuid4()
    ok = await ledger.get(f"/v1/ledger/funds/{fund_id}/trial-balance", headers=tokens.headers(Role.committee, fund_id=fund_id))
    assert ok.status_code == 200
    assert ok.json() == {"fund_id": str(fund_id), "accounts": [], "debit_total_satang": 0, "credit_total_satang": 0, "balanced": True}
    member = await ledger.get(
        f"/v1/ledger/funds/{fund_id}/trial-balance", headers=tokens.headers(Role.member, fund_id=fund_id, member_id=uuid.uuid4())
    )
    assert member.status_code == 403
    other = await ledger.get(f"/v1/ledger/funds/{fund_id}/trial-balance", headers=tokens.headers(Role.committee, fund_id=uuid.uuid4()))
    assert other.status_code == 403 and other.json()["code"] == "auth.out_of_scope"


async def test_benefit_catalog_is_scoped_to_the_fund(service_client, tokens: Tokens) -> None:
    benefits = await service_client("benefits")
    fund_id = uuid.uuid4()
    ok = await benefits.get(f"/v1/benefits/funds/{fund_id}/catalog", headers=tokens.headers(Role.member, fund_id=fund_id))
    assert ok.status_code == 200 and ok.json() == {"items": []}
    other = await benefits.get(f"/v1/benefits/funds/{fund_id}/catalog", headers=tokens.headers(Role.member, fund_id=uuid.uuid4()))
    assert other.status_code == 403


async def test_grant_officers_open_programs_everyone_signed_in_reads_them(service_client, tokens: Tokens) -> None:
    grants = await service_client("grants")
    officer = tokens.headers(Role.grant_officer, grantor_id=await make_grantor(grants, tokens))
    program = {
        "grantor": "codi",
        "name": "สนับสนุนกองทุนสวัสดิการชุมชน นครศรีธรรมราช",
        "fiscal_year_be": 2551,
        "envelope_satang": 530_467_200,
        "per_fund_ceiling_satang": 5_500_000,
    }
    created = await grants.post("/v1/grants/programs", json=program, headers=officer)
    assert created.status_code == 201, created.text
    refused = await grants.post("/v1/grants/programs", json=program, headers=tokens.headers(Role.fund_admin, fund_id=uuid.uuid4()))
    assert refused.status_code == 403
    listed = await grants.get("/v1/grants/programs", headers=tokens.headers(Role.member, fund_id=uuid.uuid4()))
    assert [p["envelope_satang"] for p in listed.json()["items"]] == [530_467_200]
    float_money = await grants.post(
        "/v1/grants/programs", json={**program, "envelope_satang": 10.5}, headers=officer
    )
    assert float_money.status_code == 422


async def test_every_service_answers_health_and_readiness(service_client) -> None:
    for name in ("members", "ledger", "benefits", "grants"):
        client = await service_client(name)
        assert (await client.get("/healthz")).json() == {"status": "ok", "service": name}
        assert (await client.get("/readyz")).status_code == 200
