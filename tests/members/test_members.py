"""The members service: funds, members, PDPA, collectors, summary, facts, and who may see what."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from services.members.models import Member, PiiAccess
from shared.auth import Role
from tests.support.factories import BAN_SONG, ROLL_HEADER, Fund, make_fund, national_id, person, roll_csv, roll_row


@pytest.fixture
async def members(service_client) -> Any:
    return await service_client("members")


@pytest.fixture
async def fund(members, tokens) -> Fund:
    return await make_fund(members, tokens)


# --- 1. Networks and funds ---------------------------------------------------------------------


async def test_network_officers_read_and_register_funds_of_their_network_only(members, tokens) -> None:
    network = await members.post("/v1/members/networks", headers=tokens.headers(),
                                 json={"name_th": "สมาคมกองทุนสวัสดิการชุมชนจังหวัดสุราษฎร์ธานี", "province": "สุราษฎร์ธานี"})
    assert network.status_code == 201
    network_id = network.json()["id"]
    officer = tokens.headers(Role.network_officer, network_id=network_id)
    own = await members.post("/v1/members/funds", json=BAN_SONG, headers=officer)
    assert own.status_code == 201 and own.json()["network_id"] == network_id
    outside = await make_fund(members, tokens, name="กองทุนนอกเครือข่าย")
    assert (await members.get(f"/v1/members/funds/{own.json()['id']}", headers=officer)).status_code == 200
    assert (await members.get(f"/v1/members/funds/{outside.id}", headers=officer)).status_code == 404
    listed = await members.get("/v1/members/funds", headers=officer)
    assert [f["id"] for f in listed.json()["items"]] == [own.json()["id"]]
    patch = await members.patch(f"/v1/members/funds/{own.json()['id']}", json={"population": 1}, headers=officer)
    assert patch.status_code == 403, "network officers read; they do not manage funds"
    elsewhere = await members.post("/v1/members/funds", json={**BAN_SONG, "network_id": str(uuid.uuid4())}, headers=officer)
    assert elsewhere.status_code == 403


async def test_fund_admins_manage_their_fund(fund: Fund, members) -> None:
    admin = fund.as_(Role.fund_admin)
    changed = await members.patch(f"/v1/members/funds/{fund.id}", headers=admin,
                                  json={"population": 17600, "subdistrict_code": "841102", "name_en": "Ban Song"})
    assert changed.status_code == 200
    assert changed.json()["population"] == 17600 and changed.json()["subdistrict_code"] == "841102"
    assert (await members.patch(f"/v1/members/funds/{fund.id}", headers=fund.committee, json={"population": 1})).status_code == 403
    other = fund.tokens.headers(Role.fund_admin, fund_id=uuid.uuid4())
    assert (await members.patch(f"/v1/members/funds/{fund.id}", headers=other, json={"population": 1})).status_code == 404
    bad_code = await members.patch(f"/v1/members/funds/{fund.id}", headers=admin, json={"subdistrict_code": "84"})
    assert bad_code.status_code == 422


# --- 2. Members ----------------------------------------------------------------------------------


async def test_register_a_member_with_beneficiaries_and_history(fund: Fund, members) -> None:
    body = person(1, beneficiaries=[
        {"name": "สมชาย ใจดี", "relationship": "คู่สมรส", "share_bp": 6000},
        {"name": "สมหญิง ใจดี", "relationship": "บุตร", "share_bp": 4000, "phone": "0812223333"},
    ])
    response = await fund.register(body)
    assert response.status_code == 201, response.text
    member = response.json()
    assert member["member_no"] == 1
    assert member["national_id_masked"] == f"x-xxxx-xxxxx-{body['national_id'][10:12]}-{body['national_id'][12]}"
    assert body["national_id"] not in response.text
    assert [b["share_bp"] for b in member["beneficiaries"]] == [6000, 4000]
    assert member["status"] == "active" and member["consent_version"] == "2026-01"
    second = await fund.register(person(2))
    assert second.json()["member_no"] == 2
    history = await members.get(f"/v1/members/funds/{fund.id}/members/{member['id']}/status-history", headers=fund.committee)
    assert [(h["status"], h["effective_on"]) for h in history.json()] == [("active", "2012-01-10")]


async def test_the_national_id_is_stored_encrypted(fund: Fund, members, service_client) -> None:
    body = person(7)
    member = (await fund.register(body)).json()
    app = members._transport.app
    async with app.state.db.sessionmaker() as session:
        row = await session.get(Member, uuid.UUID(member["id"]))
        assert body["national_id"] not in (row.national_id_enc or "")
        assert row.national_id_hash is not None and len(row.national_id_hash) == 32
        assert row.national_id_key_id == app.state.pii.current_key_id == 1
        assert app.state.pii.decrypt(row.national_id_enc, row.national_id_key_id) == body["national_id"]


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"national_id": "1101700203458"}, "body.national_id", "national_id_invalid"),
        ({"national_id": "0101700203451"}, "body.national_id", "national_id_invalid"),
        ({"birth_date": "2999-01-01"}, "body.birth_date", "date_in_future"),
        ({"joined_on": "1950-01-01"}, "body", "joined_before_birth"),
        ({"sex": "x"}, "body.sex", "sex_invalid"),
        ({"phone": "12345"}, "body.phone", "phone_invalid"),
        ({"village": 120}, "body.village", "village_invalid"),
        ({"consent_given": False}, "body.consent_given", "consent_required"),
        ({"nickname": "แดง"}, "body.nickname", "extra_forbidden"),
        ({"beneficiaries": [{"name": "ก", "relationship": "บุตร", "share_bp": 5000}]}, "body.beneficiaries", "shares_must_total_100"),
    ],
)
async def test_bad_member_input_is_422_and_writes_nothing(fund: Fund, members, change, field, code) -> None:
    response = await fund.register(person(3, **change))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert (field, code) in [(e["field"], e["code"]) for e in errors]
    assert all(e["message"] for e in errors)
    listed = await members.get(f"/v1/members/funds/{fund.id}/members", headers=fund.committee)
    assert listed.json()["items"] == []


async def test_thai_dates_and_sex_are_understood(fund: Fund) -> None:
    response = await fund.register(person(4, birth_date="15/03/2503", joined_on="10/01/2555", sex="หญิง"))
    assert response.status_code == 201, response.text
    assert response.json()["birth_date"] == "1960-03-15" and response.json()["joined_on"] == "2012-01-10"


async def test_messages_in_english_on_request(fund: Fund, members) -> None:
    response = await members.post(f"/v1/members/funds/{fund.id}/members", json=person(5, national_id="1101700203458"),
                                  headers={**fund.committee, "Accept-Language": "en"})
    assert response.json()["errors"][0]["message"] == "Invalid national ID number (national_id check digit is wrong)"
    thai = await fund.register(person(5, national_id="1101700203458"))
    assert thai.json()["errors"][0]["message"].startswith("เลขประจำตัวประชาชนไม่ถูกต้อง")


@pytest.mark.parametrize(("field", "char"), [("first_name", "\x07"), ("last_name", "\x1b"), ("address", "\x1b")])
async def test_a_control_character_in_a_name_is_a_422_naming_the_field(fund: Fund, members, field: str, char: str) -> None:
    body = person(6, **{field: f"สม{char}ศรี"})
    thai = await fund.register(body)
    english = await members.post(f"/v1/members/funds/{fund.id}/members", json=body, headers={**fund.committee, "Accept-Language": "en"})
    code = f"U+{ord(char):04X}"
    assert (thai.status_code, english.status_code) == (422, 422)
    assert thai.json()["errors"] == [{"field": f"body.{field}", "code": "text_control_character",
                                      "message": f"มีอักขระควบคุม ({code}) ซึ่งใช้ในช่องนี้ไม่ได้"}]
    assert english.json()["errors"] == [{"field": f"body.{field}", "code": "text_control_character",
                                         "message": f"Contains a control character ({code}) this field does not take"}]
    assert (await members.get(f"/v1/members/funds/{fund.id}/members", headers=fund.committee)).json()["items"] == []


async def test_a_control_character_is_refused_in_fund_names_and_updates_but_a_reason_may_have_lines(fund: Fund, members, tokens) -> None:
    named = await members.post("/v1/members/funds", json={**BAN_SONG, "name": "กองทุน\x07ตำบล"}, headers=tokens.headers())
    assert [(e["field"], e["code"]) for e in named.json()["errors"]] == [("body.name", "text_control_character")]
    member = (await fund.register(person(7, first_name='=HYPERLINK("http://x","y")'))).json()
    assert member["first_name"] == '=HYPERLINK("http://x","y")', "a formula is text: exports write it as text"
    base = f"/v1/members/funds/{fund.id}/members/{member['id']}"
    renamed = await members.patch(base, json={"last_name": "ใจ\x1bดี"}, headers=fund.committee)
    assert [(e["field"], e["code"]) for e in renamed.json()["errors"]] == [("body.last_name", "text_control_character")]
    change = {"status": "suspended", "effective_on": "2026-01-31"}
    escaped = await members.post(f"{base}/status", json={**change, "reason": "ค้าง\x1bชำระ"}, headers=fund.committee)
    assert [(e["field"], e["code"]) for e in escaped.json()["errors"]] == [("body.reason", "text_control_character")]
    lines = await members.post(f"{base}/status", json={**change, "reason": "ค้างชำระ\nตามมติที่ประชุม"}, headers=fund.committee)
    assert lines.status_code == 200, lines.text


async def test_status_changes_follow_the_rules(fund: Fund, members) -> None:
    member = (await fund.register(person(8))).json()
    url = f"/v1/members/funds/{fund.id}/members/{member['id']}/status"
    suspended = await members.post(url, headers=fund.committee, json={"status": "suspended", "effective_on": "2020-01-01", "reason": "ค้างส่ง"})
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    too_early = await members.post(url, headers=fund.committee, json={"status": "active", "effective_on": "2019-01-01"})
    assert too_early.status_code == 422 and too_early.json()["code"] == "member.status_date"
    died = await members.post(url, headers=fund.committee, json={"status": "deceased", "effective_on": "2021-02-02", "reason": "เสียชีวิต"})
    assert died.status_code == 200
    again = await members.post(url, headers=fund.committee, json={"status": "active", "effective_on": "2022-01-01"})
    assert again.status_code == 409 and again.json()["code"] == "member.status_transition"
    history = await members.get(f"/v1/members/funds/{fund.id}/members/{member['id']}/status-history", headers=fund.committee)
    assert [h["status"] for h in history.json()] == ["active", "suspended", "deceased"]
    assert history.json()[1]["reason"] == "ค้างส่ง"


# --- 3. One person, one fund -------------------------------------------------------------------


async def test_one_person_is_a_current_member_of_one_fund_only(fund: Fund, members, tokens) -> None:
    other = await make_fund(members, tokens, name="กองทุนสวัสดิการชุมชนตำบลฉวาง", province="นครศรีธรรมราช")
    body = person(9)
    first = await fund.register(body)
    assert first.status_code == 201
    same_fund = await fund.register(body)
    assert same_fund.status_code == 409 and same_fund.json()["code"] == "member.already_registered"
    assert same_fund.json()["member_id"] == first.json()["id"]
    elsewhere = await other.register(body)
    assert elsewhere.status_code == 409 and elsewhere.json()["code"] == "member.active_elsewhere"
    leaked = elsewhere.text
    assert fund.id not in leaked and BAN_SONG["name"] not in leaked and first.json()["id"] not in leaked
    # A platform admin, who may see both funds, is told which one.
    admin_view = await other.register(body, headers=tokens.headers())
    assert admin_view.json()["other_fund_id"] == fund.id
    # After resigning, the person may join the other fund; rejoining the first is then refused.
    resign = await members.post(f"/v1/members/funds/{fund.id}/members/{first.json()['id']}/status", headers=fund.committee,
                                json={"status": "resigned", "effective_on": "2024-01-01", "reason": "ย้ายบ้าน"})
    assert resign.status_code == 200
    moved = await other.register(body)
    assert moved.status_code == 201, moved.text
    rejoin = await members.post(f"/v1/members/funds/{fund.id}/members/{first.json()['id']}/status", headers=fund.committee,
                                json={"status": "active", "effective_on": "2024-06-01"})
    assert rejoin.status_code == 409 and rejoin.json()["code"] == "member.active_elsewhere"


# --- 4. PDPA -------------------------------------------------------------------------------------


async def test_whole_national_id_is_for_the_committee_with_a_purpose_and_is_logged(fund: Fund, members) -> None:
    body = person(10)
    member = (await fund.register(body)).json()
    url = f"/v1/members/funds/{fund.id}/members/{member['id']}/national-id"
    no_purpose = await members.get(url, headers=fund.committee)
    assert no_purpose.status_code == 422 and no_purpose.json()["code"] == "pii.purpose_required"
    read = await members.get(url, params={"purpose": "ตรวจสอบคำขอสวัสดิการ"}, headers={**fund.committee, "X-Request-ID": "pii-1"})
    assert read.status_code == 200
    assert read.json()["national_id"] == body["national_id"]
    officer = fund.tokens.headers(Role.network_officer, network_id=uuid.uuid4())
    assert (await members.get(url, params={"purpose": "x" * 5}, headers=officer)).status_code == 404
    collector = fund.as_(Role.collector)
    assert (await members.get(url, params={"purpose": "x" * 5}, headers=collector)).status_code == 404
    self_read = await members.get(url, params={"purpose": "ดูข้อมูลตนเอง"}, headers=fund.as_(Role.member, member_id=member["id"]))
    assert self_read.status_code == 200
    app = members._transport.app
    async with app.state.db.sessionmaker() as session:
        log = (await session.scalars(select(PiiAccess).where(PiiAccess.member_id == uuid.UUID(member["id"])).order_by(PiiAccess.id))).all()
    assert [(e.actor_role, e.purpose) for e in log] == [("committee", "ตรวจสอบคำขอสวัสดิการ"), ("member", "ดูข้อมูลตนเอง")]
    assert log[0].request_id == "pii-1"


async def test_a_resigned_member_can_be_anonymised(fund: Fund, members) -> None:
    body = person(11, beneficiaries=[{"name": "ผู้รับ", "relationship": "บุตร", "share_bp": 10000}])
    member = (await fund.register(body)).json()
    base = f"/v1/members/funds/{fund.id}/members/{member['id']}"
    admin = fund.as_(Role.fund_admin)
    early = await members.post(f"{base}/anonymise", headers=admin, json={"reason": "คำขอของสมาชิก"})
    assert early.status_code == 409 and early.json()["code"] == "member.anonymise_not_resigned"
    await members.post(f"{base}/status", headers=fund.committee, json={"status": "resigned", "effective_on": "2023-01-01"})
    assert (await members.post(f"{base}/anonymise", headers=fund.committee, json={"reason": "คำขอ"})).status_code == 403
    done = await members.post(f"{base}/anonymise", headers=admin, json={"reason": "คำขอของสมาชิก"})
    assert done.status_code == 200
    out = done.json()
    assert out["anonymised"] is True and out["first_name"] == "-" and out["national_id_masked"] is None
    assert out["phone"] is None and out["birth_date"] is None and out["beneficiaries"] == []
    assert out["member_no"] == member["member_no"] and out["joined_on"] == member["joined_on"]
    assert body["last_name"] not in done.text
    gone = await members.get(f"{base}/national-id", params={"purpose": "ตรวจสอบ"}, headers=fund.committee)
    assert gone.status_code == 410
    found = await members.get(f"/v1/members/funds/{fund.id}/members", params={"q": body["national_id"]}, headers=fund.committee)
    assert found.json()["items"] == []
    # The person may register again, as a new member.
    assert (await fund.register(body)).status_code == 201


# --- 6. Search --------------------------------------------------------------------------------------


async def test_search_by_name_phone_national_id_and_village_in_thai_order(fund: Fund, members) -> None:
    names = [("แม้น", "ศรีสุข", 1), ("กมล", "ใจงาม", 2), ("เขียว", "ทองดี", 1), ("ขวัญ", "มีสุข", 3), ("ไข่", "ดีใจ", 1)]
    ids = {}
    for i, (first, last, village) in enumerate(names, start=20):
        created = await fund.register(person(i, first_name=first, last_name=last, village=village, house_no=f"{i}"))
        assert created.status_code == 201, created.text
        ids[first] = created.json()
    url = f"/v1/members/funds/{fund.id}/members"
    everyone = await members.get(url, headers=fund.committee)
    # Dictionary order: by consonant; after ข, a following consonant (ขวัญ) before vowels, and
    # the leading vowels last, เ before ไ (เขียว files under ข, before ไข่).
    assert [m["first_name"] for m in everyone.json()["items"]] == ["กมล", "ขวัญ", "เขียว", "ไข่", "แม้น"]
    by_name = await members.get(url, params={"q": "สุข"}, headers=fund.committee)
    assert sorted(m["first_name"] for m in by_name.json()["items"]) == ["ขวัญ", "แม้น"]
    by_phone = await members.get(url, params={"q": person(21)["phone"]}, headers=fund.committee)
    assert [m["first_name"] for m in by_phone.json()["items"]] == ["กมล"]
    by_id = await members.get(url, params={"q": national_id(22)}, headers=fund.committee)
    assert [m["first_name"] for m in by_id.json()["items"]] == ["เขียว"]
    by_village = await members.get(url, params={"village": 1}, headers=fund.committee)
    assert [m["first_name"] for m in by_village.json()["items"]] == ["เขียว", "ไข่", "แม้น"]
    wildcard = await members.get(url, params={"q": "%"}, headers=fund.committee)
    assert wildcard.json()["items"] == []
    pages, cursor = [], None
    while True:
        page = (await members.get(url, params={"limit": 2, **({"cursor": cursor} if cursor else {})}, headers=fund.committee)).json()
        pages.append([m["first_name"] for m in page["items"]])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == [["กมล", "ขวัญ"], ["เขียว", "ไข่"], ["แม้น"]]


# --- 5. Collectors and rounds ------------------------------------------------------------------------


async def test_a_collectors_round_comes_compact_paged_and_with_an_etag(fund: Fund, members) -> None:
    created = [(await fund.register(person(40 + i, village=1 + i % 2, first_name=f"ก{i}"))).json() for i in range(5)]
    listed_by_name = created[1]["id"]  # in village 2
    user_id = str(uuid.uuid4())
    collector = await members.post(f"/v1/members/funds/{fund.id}/collectors", headers=fund.committee, json={
        "user_id": user_id, "display_name": "อาสา ใจดี", "villages": [1], "member_ids": [listed_by_name]})
    assert collector.status_code == 201, collector.text
    collector_headers = fund.as_(Role.collector, sub=user_id)
    url = f"/v1/members/funds/{fund.id}/collectors/me/round"
    first = await members.get(url, params={"limit": 2}, headers=collector_headers)
    assert first.status_code == 200
    # A collector's token whose subject is not a user id as the gateway writes them has no round: a 404, not a 500.
    for odd in ("not-a-user", user_id.upper()):
        none = await members.get(url, headers=fund.as_(Role.collector, sub=odd))
        assert none.status_code == 404 and none.json()["code"] == "collector.not_found"
    etag = first.headers["etag"]
    assert first.json()["round_version"] == 1
    items = first.json()["items"]
    cursor = first.json()["next_cursor"]
    while cursor:
        page = await members.get(url, params={"limit": 2, "cursor": cursor}, headers=collector_headers)
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
    expected = {m["id"] for m in created if m["village"] == 1} | {listed_by_name}
    assert {i["id"] for i in items} == expected
    assert set(items[0]) == {"id", "member_no", "name", "village", "house_no", "phone", "status"}
    unchanged = await members.get(url, params={"limit": 2}, headers={**collector_headers, "If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    # Changing the round changes the answer and the version.
    await members.put(f"/v1/members/funds/{fund.id}/collectors/{collector.json()['id']}/round", headers=fund.committee,
                      json={"villages": [2], "member_ids": []})
    changed = await members.get(url, params={"limit": 2}, headers={**collector_headers, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.json()["round_version"] == 2
    # Another collector of the fund cannot read this round; staff can.
    stranger = fund.as_(Role.collector, sub=str(uuid.uuid4()))
    by_id = f"/v1/members/funds/{fund.id}/collectors/{collector.json()['id']}/round"
    assert (await members.get(by_id, headers=stranger)).status_code == 404
    assert (await members.get(by_id, headers=fund.committee)).status_code == 200
    assert (await members.get(url, headers=stranger)).status_code == 404


async def test_a_round_lists_only_members_of_the_fund(fund: Fund, members, tokens) -> None:
    other = await make_fund(members, tokens, name="อีกกองทุน")
    outsider = (await other.register(person(60))).json()
    response = await members.post(f"/v1/members/funds/{fund.id}/collectors", headers=fund.committee, json={
        "user_id": str(uuid.uuid4()), "display_name": "อาสา", "member_ids": [outsider["id"]]})
    assert response.status_code == 422 and response.json()["code"] == "collector.members_not_in_fund"


# --- 8. Summary --------------------------------------------------------------------------------------


async def test_summary_reproduces_ban_songs_coverage(fund: Fund, members) -> None:
    # 4,118 members of 17,539 people is 23.5%: the figure in the source table. Register a few and
    # check the arithmetic on them, then check the rounding rule on Ban Song's own numbers.
    from shared.figures import coverage_pct

    assert coverage_pct(4118, 17539) == 23.5
    assert coverage_pct(1388, 5881) == 23.6  # Huai Ngu: 23.60
    assert coverage_pct(1, 0) is None and coverage_pct(5, None) is None
    await fund.register(person(70, sex="male", birth_date="2015-01-01", joined_on="2020-02-02"))
    await fund.register(person(71, sex="female", birth_date="1990-01-01", joined_on="2020-03-03"))
    await fund.register(person(72, sex="female", birth_date="1950-01-01", joined_on="2021-01-01"))
    resigned = (await fund.register(person(73))).json()
    await members.post(f"/v1/members/funds/{fund.id}/members/{resigned['id']}/status", headers=fund.committee,
                       json={"status": "resigned", "effective_on": "2022-01-01"})
    summary = (await members.get(f"/v1/members/funds/{fund.id}/summary", headers=fund.as_(Role.member, member_id=uuid.uuid4()))).json()
    assert summary["members_active"] == 3 and summary["population"] == 17539
    assert summary["coverage_pct"] == coverage_pct(3, 17539) == 0.0
    assert summary["founded_year_be"] == 2553
    assert summary["by_status"] == {"active": 3, "suspended": 0, "resigned": 1, "deceased": 0}
    assert summary["by_sex"] == {"male": 1, "female": 2}
    assert summary["by_age_band"] == {"under_18": 1, "working_age": 1, "elderly": 1, "unknown": 0}
    assert [(y["year"], y["year_be"], y["count"]) for y in summary["joined_per_year"]] == [(2012, 2555, 1), (2020, 2563, 2), (2021, 2564, 1)]


# --- 9. Facts for other services ---------------------------------------------------------------------


async def test_services_read_membership_facts(fund: Fund, members, tokens) -> None:
    member = (await fund.register(person(80))).json()
    service, ledger = tokens.service("benefits"), tokens.service("ledger")
    url = f"/v1/members/internal/funds/{fund.id}/members/{member['id']}/facts"
    facts = await members.get(url, headers=service)
    assert facts.status_code == 200
    assert facts.json() == {"member_id": member["id"], "fund_id": fund.id, "member_no": member["member_no"], "status": "active",
                            "status_since": "2012-01-10", "joined_on": "2012-01-10", "birth_date": "1960-03-15",
                            "sex": "female", "anonymised": False,
                            "status_history": [{"status": "active", "effective_on": "2012-01-10"}]}
    assert "max-age=30" in facts.headers["cache-control"]
    assert (await members.get(url, headers={**service, "If-None-Match": facts.headers["etag"]})).status_code == 304
    # A change of status is in the history, so the facts have a new ETag (services judge by the status on a date).
    await members.post(f"/v1/members/funds/{fund.id}/members/{member['id']}/status", headers=fund.committee,
                       json={"status": "suspended", "effective_on": "2020-02-01"})
    changed = await members.get(url, headers={**service, "If-None-Match": facts.headers["etag"]})
    assert changed.status_code == 200 and changed.headers["etag"] != facts.headers["etag"]
    assert changed.json()["status_history"] == [{"status": "active", "effective_on": "2012-01-10"},
                                                {"status": "suspended", "effective_on": "2020-02-01"}]
    wrong_fund = f"/v1/members/internal/funds/{uuid.uuid4()}/members/{member['id']}/facts"
    assert (await members.get(wrong_fund, headers=service)).status_code == 404
    assert (await members.get(url, headers=fund.committee)).status_code == 403
    batch = await members.post(f"/v1/members/internal/funds/{fund.id}/members/facts", headers=service,
                               json={"member_ids": [member["id"], str(uuid.uuid4())]})
    assert [f["member_id"] for f in batch.json()["facts"]] == [member["id"]] and len(batch.json()["missing"]) == 1
    user_id = str(uuid.uuid4())
    await members.post(f"/v1/members/funds/{fund.id}/collectors", headers=fund.committee,
                       json={"user_id": user_id, "display_name": "อาสา"})
    belongs = await members.get(f"/v1/members/internal/funds/{fund.id}/collectors/by-user/{user_id}", headers=ledger)
    assert belongs.status_code == 200 and belongs.json()["is_active"] is True
    stranger = await members.get(f"/v1/members/internal/funds/{fund.id}/collectors/by-user/{uuid.uuid4()}", headers=ledger)
    assert stranger.status_code == 404


# --- 11. The authorization matrix ----------------------------------------------------------------------


async def test_authorization_matrix(fund: Fund, members, tokens) -> None:
    me = (await fund.register(person(90))).json()
    neighbour = (await fund.register(person(91))).json()
    other_fund = await make_fund(members, tokens, name="กองทุนอื่น")
    stranger_member = (await other_fund.register(person(92))).json()
    base = f"/v1/members/funds/{fund.id}/members"

    async def status(method: str, url: str, headers: dict[str, str], **kw: Any) -> int:
        return (await members.request(method, url, headers=headers, **kw)).status_code

    member = fund.as_(Role.member, member_id=me["id"])
    assert await status("GET", f"{base}/{me['id']}", member) == 200
    assert await status("GET", f"{base}/{neighbour['id']}", member) == 404
    assert await status("GET", base, member) == 403
    assert await status("POST", base, member, json=person(93)) == 403
    assert await status("GET", f"/v1/members/funds/{fund.id}/summary", member) == 200

    collector = fund.as_(Role.collector)
    assert await status("GET", base, collector) == 403
    assert await status("GET", f"{base}/{me['id']}", collector) == 404
    assert await status("POST", base, collector, json=person(94)) == 403

    for role in (Role.committee, Role.fund_admin):
        staff = fund.as_(role)
        assert await status("GET", f"{base}/{me['id']}", staff) == 200
        assert await status("GET", base, staff) == 200
        # Nobody crosses funds: another fund's member through this fund's path, or the other fund's path.
        assert await status("GET", f"{base}/{stranger_member['id']}", staff) == 404
        assert await status("GET", f"/v1/members/funds/{other_fund.id}/members/{stranger_member['id']}", staff) == 404
        assert await status("GET", f"/v1/members/funds/{other_fund.id}/members", staff) == 404
        assert await status("POST", f"/v1/members/funds/{other_fund.id}/members", staff, json=person(95)) == 404

    network = (await members.post("/v1/members/networks", headers=tokens.headers(),
                                  json={"name_th": "เครือข่าย", "province": "สุราษฎร์ธานี"})).json()
    in_network = await make_fund(members, tokens, name="กองทุนในเครือข่าย", network_id=network["id"])
    in_network_member = (await in_network.register(person(96))).json()
    officer = tokens.headers(Role.network_officer, network_id=network["id"])
    nbase = f"/v1/members/funds/{in_network.id}/members"
    assert await status("GET", nbase, officer) == 200
    assert await status("GET", f"{nbase}/{in_network_member['id']}", officer) == 200
    assert await status("POST", nbase, officer, json=person(97)) == 403
    assert await status("PATCH", f"{nbase}/{in_network_member['id']}", officer, json={"phone": "0811111111"}) == 403
    assert await status("GET", base, officer) == 404

    # No change was made by any refused call.
    app = members._transport.app
    async with app.state.db.sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(Member))
    assert count == 4


async def test_update_contact_details_and_beneficiaries(fund: Fund, members) -> None:
    member = (await fund.register(person(100))).json()
    base = f"/v1/members/funds/{fund.id}/members/{member['id']}"
    changed = await members.patch(base, headers=fund.committee, json={"phone": "+66 89 123 4567", "village": 5, "house_no": "9"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["phone"] == "0891234567" and changed.json()["village"] == 5 and changed.json()["household_id"]
    shares = await members.put(f"{base}/beneficiaries", headers=fund.committee, json={"beneficiaries": [
        {"name": "ก", "relationship": "บุตร", "share_bp": 5000}, {"name": "ข", "relationship": "บุตร", "share_bp": 5000}]})
    assert shares.status_code == 200 and len(shares.json()) == 2
    bad = await members.put(f"{base}/beneficiaries", headers=fund.committee, json={"beneficiaries": [
        {"name": "ก", "relationship": "บุตร", "share_bp": 7000}]})
    assert bad.status_code == 422
    after = await members.get(base, headers=fund.committee)
    assert len(after.json()["beneficiaries"]) == 2



async def test_a_name_or_a_status_sent_as_null_is_refused_and_what_is_left_out_stays(fund: Fund, members) -> None:
    """A fund's name and status and a member's names cannot be emptied: null is a 422 naming the
    field (it was a 500, the database refusing NULL, found by fuzzing); a PATCH leaving them out
    keeps them."""
    admin = fund.as_(Role.fund_admin)
    for field in ("name", "status"):
        refused = await members.patch(f"/v1/members/funds/{fund.id}", headers=admin, json={field: None})
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["body." + field]
    kept = await members.patch(f"/v1/members/funds/{fund.id}", headers=admin, json={"population": 17600})
    assert kept.status_code == 200 and kept.json()["name"] == fund.data["name"] and kept.json()["status"] == "active"

    member = (await fund.register(person(101))).json()
    base = f"/v1/members/funds/{fund.id}/members/{member['id']}"
    for field in ("first_name", "last_name"):
        refused = await members.patch(base, headers=fund.committee, json={field: None})
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["body." + field]
    cleared = await members.patch(base, headers=fund.committee, json={"title": None, "last_name": "ใจงาม"})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["title"] is None and cleared.json()["first_name"] == "สมศรี" and cleared.json()["last_name"] == "ใจงาม"

# --- 7. Importing a roll -------------------------------------------------------------------------------

async def _import(members: Any, fund: Fund, content: bytes, content_type: str, **params: Any) -> Any:
    return await members.post(f"/v1/members/funds/{fund.id}/members/import",
                              params={"consent_attested": "true", **params}, content=content,
                              headers={**fund.committee, "Content-Type": content_type})


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp874"])
async def test_import_a_roll_in_the_encodings_people_use_twice_without_duplicates(fund: Fund, members, encoding: str) -> None:
    csv = roll_csv([roll_row(200), roll_row(201), roll_row(202, national_id="1101700203459"),
                    roll_row(203, sex="?", birth_date="31/02/2505"), roll_row(200, first_name="ซ้ำ")])
    first = await _import(members, fund, csv.encode(encoding), "text/csv")
    assert first.status_code == 200, first.text
    result = first.json()
    assert (result["rows"], result["created"], result["duplicates"], result["rejected"]) == (5, 2, 0, 3)
    problems = [(p["line"], p["field"], p["code"]) for p in result["problems"]]
    assert (4, "national_id", "national_id_invalid") in problems
    assert (5, "sex", "sex_invalid") in problems and (5, "birth_date", "date_invalid") in problems
    assert (6, "national_id", "import.duplicate_in_file") in problems
    assert all(p["message"] for p in result["problems"])
    again = (await _import(members, fund, csv.encode(encoding), "text/csv")).json()
    assert (again["created"], again["duplicates"], again["rejected"]) == (0, 2, 3)
    roll = (await members.get(f"/v1/members/funds/{fund.id}/members", headers=fund.committee)).json()["items"]
    assert sorted(m["first_name"] for m in roll) == ["สมชาย200", "สมชาย201"]
    assert {m["village"] for m in roll} == {4}


async def test_import_reports_in_english_on_request(fund: Fund, members) -> None:
    csv = roll_csv([roll_row(210, national_id="1101700203459")])
    response = await members.post(f"/v1/members/funds/{fund.id}/members/import", params={"consent_attested": "true"},
                                  content=csv.encode(), headers={**fund.committee, "Content-Type": "text/csv", "Accept-Language": "en"})
    assert response.json()["problems"][0]["message"].startswith("Invalid national ID number")


async def test_import_an_xlsx_upload_as_a_multipart_form(fund: Fund, members) -> None:
    import datetime as dt
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["เลขประจำตัวประชาชน", "ชื่อ", "นามสกุล", "วันเกิด", "เพศ", "วันที่สมัคร"])
    sheet.append([int(national_id(220)), "มาลี", "สุขใจ", dt.datetime(1970, 5, 5), "หญิง", dt.datetime(2015, 1, 1)])
    buffer = io.BytesIO()
    book.save(buffer)
    response = await members.post(
        f"/v1/members/funds/{fund.id}/members/import", params={"consent_attested": "true"}, headers=fund.committee,
        files={"file": ("roll.xlsx", buffer.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")},
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1


async def test_import_against_other_funds_and_dry_runs(fund: Fund, members, tokens) -> None:
    other = await make_fund(members, tokens, name="กองทุนข้างเคียง")
    await other.register(person(230))
    csv = roll_csv([roll_row(230), roll_row(231)])
    dry = (await _import(members, fund, csv.encode(), "text/csv", dry_run="true")).json()
    assert (dry["dry_run"], dry["created"], dry["rejected"]) == (True, 0, 1)
    assert dry["problems"][0]["code"] == "member.active_elsewhere"
    assert (await members.get(f"/v1/members/funds/{fund.id}/members", headers=fund.committee)).json()["items"] == []
    real = (await _import(members, fund, csv.encode(), "text/csv")).json()
    assert (real["created"], real["rejected"]) == (1, 1)


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "text/csv", 422, "import.undecodable"),
        (b"PK\x03\x04not really a workbook", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", 422, "import.undecodable"),
        (b"%PDF-1.4", "application/pdf", 415, "import.unsupported_type"),
        (ROLL_HEADER.encode(), "text/csv", 422, "import.empty"),
        ("ชื่อ,นามสกุล\nก,ข\n".encode(), "text/csv", 422, "import.missing_columns"),
    ],
)
async def test_bad_files_are_refused_and_change_nothing(fund: Fund, members, content, content_type, status, code) -> None:
    response = await _import(members, fund, content, content_type)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert (await members.get(f"/v1/members/funds/{fund.id}/members", headers=fund.committee)).json()["items"] == []


async def test_import_needs_attested_consent_and_a_writer(fund: Fund, members) -> None:
    csv = roll_csv([roll_row(240)]).encode()
    no_consent = await members.post(f"/v1/members/funds/{fund.id}/members/import", content=csv,
                                    headers={**fund.committee, "Content-Type": "text/csv"})
    assert no_consent.status_code == 422 and no_consent.json()["code"] == "import.consent_not_attested"
    collector = await members.post(f"/v1/members/funds/{fund.id}/members/import", params={"consent_attested": "true"},
                                   content=csv, headers={**fund.as_(Role.collector), "Content-Type": "text/csv"})
    assert collector.status_code == 403


async def test_oversized_uploads_are_413(fund: Fund, members) -> None:
    big = b"x" * (20 * 1024 * 1024 + 1)
    response = await _import(members, fund, big, "text/csv")
    assert response.status_code == 413
