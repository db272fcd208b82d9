"""Benefits: catalog and versioned rules, eligibility, claims, maker-checker, payouts through the
real ledger (including a ledger that fails in the middle), the reserve floor, reports, access."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.benefits.payouts import pay_due
from shared.auth import Role
from shared.ledger_client import LedgerClient
from shared.timeutil import BANGKOK
from tests.support.factories import make_fund, person
from tests.support.helpers import Tokens

TODAY = dt.datetime.now(BANGKOK).date()
B = 100

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n" + b"x" * 64


class Welfare:
    def __init__(self, benefits: Any, ledger: Any, members: Any, tokens: Tokens, fund: Any) -> None:
        self.benefits, self.ledger, self.members, self.tokens, self.fund = benefits, ledger, members, tokens, fund
        self.base = f"/v1/benefits/funds/{fund.id}"
        self.member_ids: list[str] = []

    def member(self, i: int = 0) -> dict[str, str]:
        return self.fund.as_(Role.member, member_id=self.member_ids[i], sub=f"00000000-0000-0000-0000-{i:012d}")

    @property
    def committee(self) -> dict[str, str]:
        return self.fund.as_(Role.committee)

    @property
    def second_committee(self) -> dict[str, str]:
        return self.tokens.headers(Role.committee, fund_id=self.fund.id, sub="second-committee-member")

    @property
    def admin(self) -> dict[str, str]:
        return self.fund.as_(Role.fund_admin)

    async def claim(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        return await self.benefits.post(f"{self.base}/claims", json=body, headers=headers or self.committee)

    async def act(self, claim_id: str, action: str, headers: dict[str, str] | None = None, **body: Any) -> Any:
        return await self.benefits.post(f"{self.base}/claims/{claim_id}/{action}", json=body or None, headers=headers or self.committee)

    async def upload(self, claim_id: str, kind: str, data: bytes = PNG, headers: dict[str, str] | None = None) -> Any:
        return await self.benefits.post(f"{self.base}/claims/{claim_id}/documents", params={"kind": kind}, headers=headers or self.committee,
                                        files={"file": ("scan.png", data, "image/png")})

    async def fund_bank(self, amount: int) -> None:
        response = await self.ledger.post(f"/v1/ledger/funds/{self.fund.id}/co-funding", headers=self.committee,
                                          json={"id": str(uuid.uuid4()), "source": "codi", "amount_satang": amount, "received_on": TODAY.isoformat()})
        assert response.status_code == 201, response.text

    def app(self) -> Any:
        return self.benefits._transport.app

    async def pay(self, ledger: LedgerClient | None = None) -> int:
        return await pay_due(self.app().state.db, ledger or self.app().state.ledger)


@pytest.fixture
async def welfare(service_client, tokens) -> Welfare:
    members = await service_client("members")
    ledger = await service_client("ledger")
    benefits = await service_client("benefits")
    fund = await make_fund(members, tokens)
    w = Welfare(benefits, ledger, members, tokens, fund)
    joined = [TODAY - dt.timedelta(days=4000), TODAY - dt.timedelta(days=4000), TODAY - dt.timedelta(days=30)]
    births = ["1950-01-01", "1990-06-15", "1985-01-01"]
    for i, (j, b) in enumerate(zip(joined, births, strict=True)):
        created = await fund.register(person(800 + i, joined_on=j.isoformat(), birth_date=b, sex="female" if i else "male"))
        assert created.status_code == 201, created.text
        w.member_ids.append(created.json()["id"])
    made = await benefits.post(f"{w.base}/catalog/from-templates", json={"effective_from": "2000-01-01"}, headers=w.admin)
    assert made.status_code == 201, made.text
    return w


# --- 1 and 2. Catalog and versioned rules -------------------------------------------------------------


async def test_the_catalog_starts_from_the_nine_templates(welfare: Welfare) -> None:
    catalog = (await welfare.benefits.get(f"{welfare.base}/catalog", headers=welfare.member())).json()["items"]
    assert sorted(b["category"] for b in catalog) == sorted([
        "birth", "sickness_medical", "elderly", "death", "education", "disadvantaged_disabled", "occupation",
        "housing_repair", "disaster_relief"])
    death = next(b for b in catalog if b["code"] == "death")
    assert death["rules"]["rules"]["amount"]["model"] == "tiered"
    again = await welfare.benefits.post(f"{welfare.base}/catalog/from-templates", json={"effective_from": "2000-01-01"}, headers=welfare.admin)
    assert again.json() == [], "templates are not applied twice"
    by_committee = await welfare.benefits.post(f"{welfare.base}/catalog/from-templates", json={"effective_from": "2000-01-01"}, headers=welfare.committee)
    assert by_committee.status_code == 403


async def test_a_fund_writes_its_own_benefit(welfare: Welfare) -> None:
    body = {"code": "glasses", "category": "sickness_medical", "name_th": "ค่าแว่นตา", "name_en": "Glasses",
            "effective_from": "2020-01-01", "rules": {"amount": {"model": "fixed", "amount_satang": 800 * B},
                                                      "min_age": 40, "lifetime_count": 2}}
    assert (await welfare.benefits.post(f"{welfare.base}/catalog", json=body, headers=welfare.admin)).status_code == 201
    bad = {**body, "code": "bad", "rules": {"amount": {"model": "fixed"}}}
    response = await welfare.benefits.post(f"{welfare.base}/catalog", json=bad, headers=welfare.admin)
    assert response.status_code == 422
    floaty = {**body, "code": "floaty", "rules": {"amount": {"model": "fixed", "amount_satang": 10.5}}}
    assert (await welfare.benefits.post(f"{welfare.base}/catalog", json=floaty, headers=welfare.admin)).status_code == 422


async def test_claims_are_judged_by_the_rules_on_their_event_date_and_decisions_do_not_change(welfare: Welfare) -> None:
    await welfare.fund_bank(1_000_000 * B)
    old = await welfare.claim({"member_id": welfare.member_ids[1], "benefit_code": "education", "event_date": (TODAY - dt.timedelta(days=40)).isoformat()})
    assert old.status_code == 201 and old.json()["amount_satang"] == 500 * B and old.json()["rule_version"] == 1
    new_rules = {"effective_from": (TODAY - dt.timedelta(days=10)).isoformat(),
                 "rules": {"amount": {"model": "fixed", "amount_satang": 800 * B}, "waiting_days": 365, "per_year_count": 2}}
    version = await welfare.benefits.post(f"{welfare.base}/catalog/education/rules", json=new_rules, headers=welfare.admin)
    assert version.status_code == 201 and version.json()["version"] == 2
    earlier = await welfare.claim({"member_id": welfare.member_ids[0], "benefit_code": "education", "event_date": (TODAY - dt.timedelta(days=20)).isoformat()})
    assert earlier.json()["amount_satang"] == 500 * B and earlier.json()["rule_version"] == 1
    # Version 2 allows two a year, so the same member may claim again for a later event.
    recent = await welfare.claim({"member_id": welfare.member_ids[0], "benefit_code": "education", "event_date": TODAY.isoformat()})
    assert recent.json()["amount_satang"] == 800 * B and recent.json()["rule_version"] == 2
    unchanged = (await welfare.benefits.get(f"{welfare.base}/claims/{old.json()['id']}", headers=welfare.committee)).json()
    assert (unchanged["amount_satang"], unchanged["rule_version"]) == (500 * B, 1)
    clash = await welfare.benefits.post(f"{welfare.base}/catalog/education/rules", json=new_rules, headers=welfare.admin)
    assert clash.status_code == 409


# --- 3. Eligibility, in Thai and English, with the date it will qualify -----------------------------------------


async def test_a_new_member_is_told_when_the_waiting_period_ends(welfare: Welfare) -> None:
    body = {"member_id": welfare.member_ids[2], "benefit_code": "birth", "event_date": TODAY.isoformat()}
    check = await welfare.benefits.post(f"{welfare.base}/claims/check", json=body, headers=welfare.member(2))
    assert check.status_code == 200
    result = check.json()
    ends = (TODAY - dt.timedelta(days=30) + dt.timedelta(days=180)).isoformat()
    assert result["eligible"] is False and result["qualifies_on"] == ends
    assert [r["code"] for r in result["reasons"]] == ["eligibility.waiting_period"]
    assert ends in result["reasons"][0]["message"] and "ระยะรอ" in result["reasons"][0]["message"]
    english = await welfare.benefits.post(f"{welfare.base}/claims/check", json=body, headers={**welfare.member(2), "Accept-Language": "en"})
    assert english.json()["reasons"][0]["message"] == f"Still in the waiting period after joining; qualifies from {ends}"
    refused = await welfare.claim(body, welfare.member(2))
    assert refused.status_code == 422 and refused.json()["code"] == "claim.not_eligible"
    assert refused.json()["qualifies_on"] == ends
    assert (await welfare.benefits.get(f"{welfare.base}/claims", headers=welfare.committee)).json()["items"] == []


async def test_age_sex_and_applicant_conditions(welfare: Welfare) -> None:
    young = await welfare.benefits.post(f"{welfare.base}/claims/check", headers=welfare.committee,
                                        json={"member_id": welfare.member_ids[1], "benefit_code": "elderly", "event_date": TODAY.isoformat()})
    assert [r["code"] for r in young.json()["reasons"]] == ["eligibility.too_young"]
    assert young.json()["qualifies_on"] == "2050-06-15"
    old = await welfare.benefits.post(f"{welfare.base}/claims/check", headers=welfare.committee,
                                      json={"member_id": welfare.member_ids[0], "benefit_code": "elderly", "event_date": TODAY.isoformat()})
    assert old.json()["eligible"] is True and old.json()["amount_satang"] == 300 * B
    by_member = await welfare.benefits.post(f"{welfare.base}/claims/check", headers=welfare.member(0),
                                            json={"member_id": welfare.member_ids[0], "benefit_code": "death", "event_date": TODAY.isoformat()})
    assert "eligibility.applicant" in [r["code"] for r in by_member.json()["reasons"]]


async def test_contributions_in_arrears_block_a_benefit_that_checks_them(welfare: Welfare) -> None:
    base = f"/v1/ledger/funds/{welfare.fund.id}"
    plan = await welfare.ledger.post(f"{base}/plans", headers=welfare.committee, json={
        "name": "สัจจะเดือนละ 30 บาท", "period": "month", "amount_satang": 3000, "effective_from": (TODAY - dt.timedelta(days=200)).isoformat()})
    assert plan.status_code == 201
    check = await welfare.benefits.post(f"{welfare.base}/claims/check", headers=welfare.committee, json={
        "member_id": welfare.member_ids[0], "benefit_code": "sickness_medical", "event_date": TODAY.isoformat(), "days": 2})
    reasons = check.json()["reasons"]
    assert [r["code"] for r in reasons] == ["eligibility.arrears"] and reasons[0]["params"]["periods"] >= 6


# --- 3. The member's status on the event date, from the members service's status history ---------------------------


async def record_status(welfare: Welfare, i: int, status: str, on: dt.date) -> None:
    """A change of status recorded by the committee through the members API."""
    response = await welfare.members.post(f"/v1/members/funds/{welfare.fund.id}/members/{welfare.member_ids[i]}/status",
                                          headers=welfare.committee, json={"status": status, "effective_on": on.isoformat()})
    assert response.status_code == 200 and response.json()["status"] == status, response.text


async def check_on(welfare: Welfare, i: int, code: str, on: dt.date, headers: dict[str, str] | None = None) -> dict[str, Any]:
    check = await welfare.benefits.post(f"{welfare.base}/claims/check", headers=headers or welfare.committee,
                                        json={"member_id": welfare.member_ids[i], "benefit_code": code, "event_date": on.isoformat()})
    assert check.status_code == 200, check.text
    return check.json()


async def test_the_death_claim_of_a_member_recorded_as_deceased_qualifies(welfare: Welfare) -> None:
    """The death is recorded first, then the committee files the claim with the date of death as the
    event date: the member was a member that day (refused as not a current member before issue 18)."""
    died = TODAY - dt.timedelta(days=5)
    await record_status(welfare, 0, "deceased", died)
    check = await check_on(welfare, 0, "death", died)
    assert (check["eligible"], check["reasons"], check["amount_satang"]) == (True, [], 20_000 * B)
    by_member = await check_on(welfare, 0, "death", died, welfare.member(0))
    assert [r["code"] for r in by_member["reasons"]] == ["eligibility.applicant"], "the committee files it"
    claim = await welfare.claim({"member_id": welfare.member_ids[0], "benefit_code": "death", "event_date": died.isoformat()})
    assert claim.status_code == 201, claim.text
    assert (claim.json()["amount_satang"], claim.json()["status"]) == (20_000 * B, "submitted")
    # Other benefits: an event while alive still qualifies; one after the death does not.
    assert (await check_on(welfare, 0, "education", died - dt.timedelta(days=1)))["eligible"] is True
    after = await check_on(welfare, 0, "education", died + dt.timedelta(days=1))
    assert [r["code"] for r in after["reasons"]] == ["eligibility.member_not_current"]


async def test_a_claim_for_an_event_after_the_member_resigned_is_refused(welfare: Welfare) -> None:
    resigned = TODAY - dt.timedelta(days=10)
    await record_status(welfare, 1, "resigned", resigned)
    day_after = {"member_id": welfare.member_ids[1], "benefit_code": "education", "event_date": (resigned + dt.timedelta(days=1)).isoformat()}
    refused = await welfare.claim(day_after, {**welfare.committee, "Accept-Language": "en"})
    assert refused.status_code == 422 and refused.json()["code"] == "claim.not_eligible"
    assert [(r["code"], r["message"]) for r in refused.json()["reasons"]] == [
        ("eligibility.member_not_current", "The member must be active on the event date")]
    # A resignation takes effect at the end of its day: an event that day, or before, is covered.
    assert (await check_on(welfare, 1, "education", resigned))["eligible"] is True
    earlier = await welfare.claim({**day_after, "event_date": (resigned - dt.timedelta(days=1)).isoformat()})
    assert earlier.status_code == 201, earlier.text


async def test_an_event_while_suspended_is_judged_by_the_status_that_day(welfare: Welfare) -> None:
    suspended, reinstated = TODAY - dt.timedelta(days=20), TODAY - dt.timedelta(days=10)
    await record_status(welfare, 0, "suspended", suspended)
    await record_status(welfare, 0, "active", reinstated)
    for day, eligible in ((suspended - dt.timedelta(days=1), True), (suspended, False), (reinstated - dt.timedelta(days=1), False),
                          (reinstated, True)):
        check = await check_on(welfare, 0, "education", day)
        assert (check["eligible"], [r["code"] for r in check["reasons"]]) == (
            eligible, [] if eligible else ["eligibility.member_not_current"]), day
    while_suspended = {"member_id": welfare.member_ids[0], "benefit_code": "education", "event_date": (suspended + dt.timedelta(days=5)).isoformat()}
    refused = await welfare.claim(while_suspended)
    assert refused.status_code == 422 and [r["code"] for r in refused.json()["reasons"]] == ["eligibility.member_not_current"]
    assert (await welfare.claim({**while_suspended, "event_date": reinstated.isoformat()})).status_code == 201


# --- 3 and 4. Claim life, documents, maker-checker ----------------------------------------------------------------


async def test_a_claim_from_submission_to_payment(welfare: Welfare) -> None:
    await welfare.fund_bank(50_000 * B)
    submitted = await welfare.claim({"member_id": welfare.member_ids[0], "benefit_code": "sickness_medical",
                                     "event_date": (TODAY - dt.timedelta(days=3)).isoformat(),
                                     "event_end_date": (TODAY - dt.timedelta(days=1)).isoformat(), "details": "นอนโรงพยาบาล 3 คืน"},
                                    welfare.member(0))
    assert submitted.status_code == 201, submitted.text
    claim = submitted.json()
    assert (claim["days"], claim["amount_satang"], claim["status"]) == (3, 300 * B, "submitted")
    assert [p["code"] for p in claim["pending"]] == ["eligibility.documents_missing"]
    cid = claim["id"]
    assert (await welfare.act(cid, "review")).json()["status"] == "under_review"
    missing = await welfare.act(cid, "approve")
    assert missing.status_code == 422 and missing.json()["code"] == "claim.documents_missing"
    doc = await welfare.upload(cid, "medical_certificate", PDF, welfare.member(0))
    assert doc.status_code == 201 and doc.json()["is_medical"] is True and doc.json()["content_type"] == "application/pdf"
    as_member = (await welfare.benefits.get(f"{welfare.base}/claims/{cid}", headers=welfare.member(0))).json()
    assert as_member["documents"] == [], "medical documents are for the committee only"
    download = await welfare.benefits.get(f"{welfare.base}/claims/{cid}/documents/{doc.json()['id']}", headers=welfare.member(0))
    assert download.status_code == 404
    by_committee = await welfare.benefits.get(f"{welfare.base}/claims/{cid}/documents/{doc.json()['id']}", headers=welfare.committee)
    assert by_committee.status_code == 200 and by_committee.content == PDF
    approved = await welfare.act(cid, "approve")
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["payout_status"]) == ("approved", "pending")
    assert await welfare.pay() == 1
    paid = (await welfare.benefits.get(f"{welfare.base}/claims/{cid}", headers=welfare.member(0))).json()
    assert (paid["status"], paid["payout_status"]) == ("paid", "paid")
    assert [(e["from_status"], e["to_status"], e["action"]) for e in paid["events"]] == [
        (None, "submitted", "submit"), ("submitted", "under_review", "review"), ("under_review", "approved", "approve"),
        ("approved", "paid", "payout")]
    accounts = (await welfare.ledger.get(f"/v1/ledger/funds/{welfare.fund.id}/accounts", headers=welfare.committee)).json()
    by_code = {a["code"]: a["balance_satang"] for a in accounts}
    assert by_code["5100-sickness_medical"] == 300 * B and by_code["1020"] == 50_000 * B - 300 * B


async def test_maker_checker_and_two_approvers_above_the_threshold(welfare: Welfare) -> None:
    await welfare.fund_bank(100_000 * B)
    own = (await welfare.claim({"member_id": welfare.member_ids[1], "benefit_code": "education", "event_date": TODAY.isoformat()})).json()
    refused = await welfare.act(own["id"], "approve")
    assert refused.status_code == 403 and refused.json()["code"] == "claim.self_approval"
    assert (await welfare.act(own["id"], "approve", welfare.second_committee)).json()["status"] == "approved"
    await welfare.benefits.patch(f"{welfare.base}/settings", headers=welfare.admin, json={"two_approvers_above_satang": 1000 * B})
    death = await welfare.claim({"member_id": welfare.member_ids[0], "benefit_code": "death", "event_date": TODAY.isoformat()},
                                welfare.fund.as_(Role.fund_admin))
    assert death.status_code == 201 and death.json()["amount_satang"] == 20_000 * B  # over ten years a member
    cid = death.json()["id"]
    assert death.json()["approvals_needed"] == 2
    await welfare.upload(cid, "death_certificate")
    first = await welfare.act(cid, "approve")
    assert first.json()["status"] == "under_review" and len(first.json()["approvals"]) == 1
    twice = await welfare.act(cid, "approve")
    assert twice.status_code == 409 and twice.json()["code"] == "claim.already_approved_by_you"
    second = await welfare.act(cid, "approve", welfare.second_committee)
    assert second.json()["status"] == "approved" and len(second.json()["approvals"]) == 2


# --- 5. The same event is not paid twice -----------------------------------------------------------------------


async def test_a_second_death_claim_and_an_overlapping_stay_are_refused(welfare: Welfare) -> None:
    death = {"member_id": welfare.member_ids[0], "benefit_code": "death", "event_date": TODAY.isoformat()}
    assert (await welfare.claim(death)).status_code == 201
    again = await welfare.claim({**death, "event_date": (TODAY - dt.timedelta(days=1)).isoformat()})
    assert again.status_code == 422 and [r["code"] for r in again.json()["reasons"]] == ["eligibility.once_only"]
    stay = {"member_id": welfare.member_ids[1], "benefit_code": "sickness_medical",
            "event_date": (TODAY - dt.timedelta(days=10)).isoformat(), "event_end_date": (TODAY - dt.timedelta(days=6)).isoformat()}
    assert (await welfare.claim(stay)).status_code == 201
    overlap = await welfare.claim({**stay, "event_date": (TODAY - dt.timedelta(days=7)).isoformat(), "event_end_date": (TODAY - dt.timedelta(days=4)).isoformat()})
    assert overlap.status_code == 422 and [r["code"] for r in overlap.json()["reasons"]] == ["eligibility.overlap"]
    later = await welfare.claim({**stay, "event_date": (TODAY - dt.timedelta(days=3)).isoformat(), "event_end_date": TODAY.isoformat()})
    assert later.status_code == 201 and later.json()["days"] == 4
    replay = await welfare.claim({**stay, "id": later.json()["id"], "event_date": (TODAY - dt.timedelta(days=3)).isoformat(), "event_end_date": TODAY.isoformat()})
    assert replay.status_code == 200 and replay.headers["idempotency-replayed"] == "true"


# --- 6. Payout through a ledger that fails in the middle -------------------------------------------------------------


class FlakyLedger(httpx.AsyncBaseTransport):
    """The network between benefits and the real ledger: refuses, loses answers, or passes."""

    def __init__(self, inner: httpx.AsyncBaseTransport, script: list[str]) -> None:
        self.inner, self.script, self.calls = inner, script, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        step = self.script[self.calls] if self.calls < len(self.script) else "pass"
        self.calls += 1
        if step == "refuse":
            raise httpx.ConnectError("connection refused")
        response = await self.inner.handle_async_request(request)
        if step == "lose_answer":
            await response.aread()
            raise httpx.ReadTimeout("the answer never came")
        return response


async def test_payouts_survive_a_failing_ledger_and_pay_exactly_once(welfare: Welfare) -> None:
    await welfare.fund_bank(100_000 * B)
    claims = []
    for i in (0, 1):
        c = (await welfare.claim({"member_id": welfare.member_ids[i], "benefit_code": "education", "event_date": TODAY.isoformat()})).json()
        assert (await welfare.act(c["id"], "approve", welfare.second_committee)).json()["status"] == "approved"
        claims.append(c["id"])
    good = welfare.app().state.ledger
    flaky = FlakyLedger(good.http._transport, ["refuse", "lose_answer", "lose_answer", "refuse"])
    ledger = LedgerClient(httpx.AsyncClient(transport=flaky, headers=dict(good.http.headers)), "http://ledger")
    db = welfare.app().state.db
    for _ in range(6):
        await pay_due(db, ledger)
        async with db.sessionmaker() as session:
            async with session.begin():  # the backoff has passed
                await session.execute(text("UPDATE claims SET next_attempt_at = NULL WHERE payout_status = 'pending'"))
    assert flaky.calls >= 6
    for cid in claims:
        claim = (await welfare.benefits.get(f"{welfare.base}/claims/{cid}", headers=welfare.committee)).json()
        assert (claim["status"], claim["payout_status"]) == ("paid", "paid"), claim
    accounts = {a["code"]: a["balance_satang"] for a in (await welfare.ledger.get(
        f"/v1/ledger/funds/{welfare.fund.id}/accounts", headers=welfare.committee)).json()}
    assert accounts["5100-education"] == 2 * 500 * B, "each claim paid once, though answers were lost"
    assert accounts["1020"] == 100_000 * B - 2 * 500 * B
    assert await welfare.pay() == 0


async def test_an_unreachable_ledger_leaves_the_claim_approved_with_payout_pending(welfare: Welfare) -> None:
    await welfare.fund_bank(10_000 * B)
    c = (await welfare.claim({"member_id": welfare.member_ids[1], "benefit_code": "education", "event_date": TODAY.isoformat()})).json()
    await welfare.act(c["id"], "approve", welfare.second_committee)
    down = LedgerClient(httpx.AsyncClient(transport=FlakyLedger(welfare.app().state.ledger.http._transport, ["refuse"] * 10)), "http://ledger")
    await welfare.pay(down)
    claim = (await welfare.benefits.get(f"{welfare.base}/claims/{c['id']}", headers=welfare.committee)).json()
    assert (claim["status"], claim["payout_status"]) == ("approved", "pending")
    assert "unreachable" in claim["payout_error"]


# --- 7. Reserve floor -------------------------------------------------------------------------------------------------


async def test_a_payout_below_the_reserve_floor_is_held_until_the_committee_decides(welfare: Welfare) -> None:
    await welfare.fund_bank(1_000 * B)
    await welfare.benefits.patch(f"{welfare.base}/settings", headers=welfare.admin, json={"reserve_floor_satang": 800 * B})
    c = (await welfare.claim({"member_id": welfare.member_ids[1], "benefit_code": "education", "event_date": TODAY.isoformat()})).json()
    await welfare.act(c["id"], "approve", welfare.second_committee)
    await welfare.pay()
    held = (await welfare.benefits.get(f"{welfare.base}/claims/{c['id']}", headers=welfare.committee)).json()
    assert (held["status"], held["payout_status"]) == ("approved", "held")
    assert "เงินสำรอง" in held["payout_error"] or "reserve" in held["payout_error"]
    assert (await welfare.act(c["id"], "release", welfare.member(1))).status_code == 403
    released = await welfare.act(c["id"], "release")
    assert released.json()["payout_status"] == "pending"
    await welfare.pay()
    paid = (await welfare.benefits.get(f"{welfare.base}/claims/{c['id']}", headers=welfare.committee)).json()
    assert paid["status"] == "paid"
    assert [e["action"] for e in paid["events"]][-3:] == ["payout_held", "release", "payout"]


# --- 8. Reports --------------------------------------------------------------------------------------------------------


async def test_reports_of_paid_and_pending(welfare: Welfare) -> None:
    await welfare.fund_bank(100_000 * B)
    for i, code in ((0, "education"), (1, "education"), (0, "disaster_relief")):
        c = (await welfare.claim({"member_id": welfare.member_ids[i], "benefit_code": code, "event_date": TODAY.isoformat()})).json()
        if code == "disaster_relief":
            await welfare.upload(c["id"], "photo")
        await welfare.act(c["id"], "approve", welfare.second_committee)
    waiting = await welfare.claim({"member_id": welfare.member_ids[1], "benefit_code": "elderly", "event_date": TODAY.isoformat()})
    assert waiting.status_code == 422  # too young; nothing pending from it
    await welfare.claim({"member_id": welfare.member_ids[0], "benefit_code": "elderly", "event_date": TODAY.isoformat()})
    await welfare.pay()
    paid = (await welfare.benefits.get(f"{welfare.base}/reports/paid", params={"year": TODAY.year}, headers=welfare.committee)).json()
    assert (paid["claims"], paid["total_satang"], paid["members_helped"]) == (3, 2_000 * B, 2)
    assert {(line["key"], line["amount_satang"]) for line in paid["by_category"]} == {("education", 1_000 * B), ("disaster_relief", 1_000 * B)}
    assert [line["key"] for line in paid["by_month"]] == [f"{TODAY.year}-{TODAY.month:02d}"]
    pending = (await welfare.benefits.get(f"{welfare.base}/reports/pending", headers=welfare.committee)).json()
    assert [(line["status"], line["claims"]) for line in pending["lines"]] == [("submitted", 1)]


# --- 9. Access and bad input -----------------------------------------------------------------------------------------


async def test_who_sees_and_does_what(welfare: Welfare) -> None:
    mine = (await welfare.claim({"member_id": welfare.member_ids[0], "benefit_code": "education", "event_date": TODAY.isoformat()}, welfare.member(0))).json()
    assert (await welfare.claim({"member_id": welfare.member_ids[1], "benefit_code": "education", "event_date": TODAY.isoformat()},
                                welfare.member(0))).status_code == 403
    assert (await welfare.benefits.get(f"{welfare.base}/claims/{mine['id']}", headers=welfare.member(1))).status_code == 404
    assert [c["id"] for c in (await welfare.benefits.get(f"{welfare.base}/claims", headers=welfare.member(1))).json()["items"]] == []
    assert (await welfare.act(mine["id"], "approve", welfare.member(1))).status_code == 403
    collector = welfare.fund.as_(Role.collector)
    assert (await welfare.benefits.get(f"{welfare.base}/claims/{mine['id']}", headers=collector)).status_code == 404
    other = welfare.tokens.headers(Role.committee, fund_id=uuid.uuid4())
    assert (await welfare.benefits.get(f"{welfare.base}/claims/{mine['id']}", headers=other)).status_code == 403
    assert (await welfare.benefits.get(f"{welfare.base}/reports/paid", params={"year": 2026}, headers=welfare.member(0))).status_code == 403
    withdrawn = await welfare.act(mine["id"], "cancel", welfare.member(0), reason="ไม่ต้องการแล้ว")
    assert withdrawn.json()["status"] == "cancelled"
    late = await welfare.act(mine["id"], "approve", welfare.second_committee)
    assert late.status_code == 409 and late.json()["code"] == "claim.transition"


async def test_bad_input_is_problem_json_and_writes_nothing(welfare: Welfare) -> None:
    for body in ({"member_id": welfare.member_ids[0], "benefit_code": "education"},
                 {"member_id": welfare.member_ids[0], "benefit_code": "education", "event_date": "2026-13-01"},
                 {"member_id": welfare.member_ids[0], "benefit_code": "education", "event_date": TODAY.isoformat(), "amount_satang": 1}):
        response = await welfare.claim(body)
        assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    unknown = await welfare.claim({"member_id": str(uuid.uuid4()), "benefit_code": "education", "event_date": TODAY.isoformat()})
    assert unknown.status_code == 422 and unknown.json()["code"] == "claim.member_unknown"
    no_benefit = await welfare.claim({"member_id": welfare.member_ids[0], "benefit_code": "yacht", "event_date": TODAY.isoformat()})
    assert no_benefit.status_code == 404 and no_benefit.json()["code"] == "benefit.not_found"
    c = (await welfare.claim({"member_id": welfare.member_ids[0], "benefit_code": "disaster_relief", "event_date": TODAY.isoformat()})).json()
    exe = await welfare.upload(c["id"], "photo", b"MZ\x90\x00 not an image")
    assert exe.status_code == 415 and exe.json()["code"] == "document.unsupported_type"
    big = await welfare.upload(c["id"], "photo", PNG + b"\x00" * (1024 * 1024))
    assert big.status_code == 413
    listed = (await welfare.benefits.get(f"{welfare.base}/claims", headers=welfare.committee)).json()["items"]
    assert len(listed) == 1
    detail = (await welfare.benefits.get(f"{welfare.base}/claims/{c['id']}", headers=welfare.committee)).json()
    assert detail["documents"] == []


@pytest.mark.parametrize("benefit", ["sickness_medical", "education"])  # per day, and a fixed amount
async def test_an_end_before_the_start_is_422_naming_the_end_date_and_writes_nothing(welfare: Welfare, benefit: str) -> None:
    start, end = (TODAY - dt.timedelta(days=3)).isoformat(), (TODAY - dt.timedelta(days=5)).isoformat()
    body = {"member_id": welfare.member_ids[0], "benefit_code": benefit, "event_date": start, "event_end_date": end}
    for path in ("claims", "claims/check"):
        for lang, message in (("th", f"วันที่สิ้นสุดต้องไม่ก่อนวันที่เกิดเหตุ ({start})"),
                              ("en", f"The end date must not be before the event date ({start})")):
            sent = {**body, "id": str(uuid.uuid4())} if path == "claims" else body
            response = await welfare.benefits.post(f"{welfare.base}/{path}", json=sent,
                                                   headers={**welfare.committee, "Accept-Language": lang})
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            assert problem["code"] == "request.validation_failed"
            assert problem["errors"] == [{"field": "body.event_end_date", "code": "end_before_start", "message": message}]
    same_day = await welfare.claim({**body, "event_end_date": start})
    assert same_day.status_code == 201, same_day.text  # ending the day it began is a stay of one day
    listed = (await welfare.benefits.get(f"{welfare.base}/claims", headers=welfare.committee)).json()["items"]
    assert [c["id"] for c in listed] == [same_day.json()["id"]], "nothing was written for the refused bodies"
    async with welfare.app().state.db.sessionmaker() as session:
        rows = (await session.execute(text("SELECT event_date, event_end_date FROM claims WHERE fund_id = :fund"),
                                      {"fund": welfare.fund.id})).all()
    assert [(a.isoformat(), b.isoformat()) for a, b in rows] == [(start, start)]
