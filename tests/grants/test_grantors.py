"""Issue 19: who may review and decide an application, what a grant system with no scopes sees,
and who reads a fund's matching figures (docs/grantors.md). Each test fails on the code before."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from services.grants.worker import run_once
from shared.auth import Role
from shared.timeutil import BANGKOK
from tests.support.factories import NAKHON, make_fund, person
from tests.support.helpers import Tokens

TODAY = dt.datetime.now(BANGKOK).date()
B = 100


class Grants:
    def __init__(self, grants: Any, ledger: Any, members: Any, tokens: Tokens) -> None:
        self.grants, self.ledger, self.members, self.tokens = grants, ledger, members, tokens
        self.officer = tokens.headers(Role.grant_officer, sub="codi-officer")

    async def program(self, **overrides: Any) -> dict[str, Any]:
        body = {"grantor": "codi", "name": "สนับสนุนกองทุนสวัสดิการชุมชน", "fiscal_year_be": 2569,
                "envelope_satang": 300_000_000 * B, "per_fund_ceiling_satang": 55_000 * B, **overrides}
        response = await self.grants.post("/v1/grants/programs", json=body, headers=self.officer)
        assert response.status_code == 201, response.text
        return response.json()

    async def submitted(self, program: dict[str, Any], fund: Any) -> str:
        lines = [{"line": "L1", "description": "กิจกรรม", "amount_satang": 30_000 * B}]
        made = await self.grants.post(f"/v1/grants/programs/{program['id']}/applications", headers=fund.as_(Role.fund_admin),
                                      json={"fund_id": fund.id, "title": "ขยายสวัสดิการผู้สูงอายุ", "budget_lines": lines})
        assert made.status_code == 201, made.text
        aid = made.json()["id"]
        submitted = await self.grants.post(f"/v1/grants/applications/{aid}/submit", headers=fund.as_(Role.fund_admin))
        assert submitted.status_code == 200, submitted.text
        return aid

    async def review(self, aid: str, headers: dict[str, str]) -> Any:
        return await self.grants.post(f"/v1/grants/applications/{aid}/reviews", headers=headers,
                                      json={"score": 80, "recommendation": "approve"})

    async def decide(self, aid: str, headers: dict[str, str]) -> Any:
        return await self.grants.post(f"/v1/grants/applications/{aid}/decision", headers=headers,
                                      json={"decision": "approve"})

    async def work(self) -> None:
        app = self.grants._transport.app
        await run_once(app.state.db, app.state.ledger, app.state.webhook_http, targets=app.state.webhook_targets)


@pytest.fixture
async def g(service_client, tokens) -> Grants:
    return Grants(await service_client("grants"), await service_client("ledger"), await service_client("members"), tokens)


async def fund_in(g: Grants, name: str, network_id: str | None = None) -> Any:
    extra = {"network_id": network_id} if network_id else {}
    return await make_fund(g.members, g.tokens, name=name, **NAKHON, **extra)


async def network(g: Grants, name: str) -> str:
    made = await g.members.post("/v1/members/networks", headers=g.tokens.headers(),
                                json={"name_th": name, "province": "นครศรีธรรมราช"})
    assert made.status_code == 201, made.text
    return made.json()["id"]


# --- Point 3: matching answers only for funds the caller may see ----------------------------------------


async def test_matching_due_only_for_those_who_may_see_the_fund(g: Grants) -> None:
    """Found: the matching report read any fund's contributions with the grants service's own
    token for callers who may not see that fund, and fund A's own members and collectors could
    read its matching-due total."""
    home, other_network = await network(g, "เครือข่ายฉวาง (19)"), await network(g, "เครือข่ายอื่น (19)")
    fund = await fund_in(g, "กองทุนสมทบ (19)", home)
    other = await fund_in(g, "กองทุนอื่น (19)", other_network)
    collector = str(uuid.uuid4())
    made = await g.members.post(f"/v1/members/funds/{fund.id}/collectors", headers=fund.as_(Role.committee),
                                json={"user_id": collector, "display_name": "อาสา"})
    assert made.status_code == 201, made.text
    member_id = (await fund.register(person(1901))).json()["id"]
    posted = await g.ledger.post(f"/v1/ledger/funds/{fund.id}/deposits", headers=fund.as_(Role.collector, sub=collector), json={
        "id": str(uuid.uuid4()), "member_id": member_id, "amount_satang": 50_000,
        "collected_at": dt.datetime.now(BANGKOK).isoformat()})
    assert posted.status_code == 201, posted.text
    program = await g.program(name="สมทบ 1:1 (19)", matching_ratio_bp=10_000)

    async def due(headers: dict[str, str]) -> Any:
        return await g.grants.get(f"/v1/grants/programs/{program['id']}/matching",
                                  params={"fund_id": fund.id, "year": TODAY.year}, headers=headers)

    for allowed in (fund.as_(Role.committee), fund.as_(Role.fund_admin), g.tokens.headers(Role.network_officer, network_id=home),
                    g.tokens.headers(Role.platform_admin)):
        answer = await due(allowed)
        assert answer.status_code == 200 and answer.json()["due_satang"] == 50_000, answer.text
    for refused in (fund.as_(Role.member, member_id=member_id), fund.as_(Role.collector, sub=collector),
                    other.as_(Role.committee), g.tokens.headers(Role.network_officer, network_id=other_network),
                    g.tokens.headers(Role.integration, sub="cli-19", scope="grants:decide grants:disburse grants:read"),
                    g.officer):
        answer = await due(refused)
        assert answer.status_code == 403, answer.text
        assert "due_satang" not in answer.json()
    # Once the fund has applied to the grantor's programs, the grantor's officers see what is due.
    await g.submitted(await g.program(name="โครงการอื่นของผู้ให้ทุนเดียวกัน (19)"), fund)
    assert (await due(g.officer)).json()["due_satang"] == 50_000


# --- Point 2: who reviews, and who decides ------------------------------------------------------------


async def test_reviewers_are_whom_the_program_names_and_never_of_the_applying_fund(g: Grants) -> None:
    """Found: any committee member or fund admin anywhere could review any application."""
    fund, elsewhere = await fund_in(g, "กองทุนผู้ยื่น (19)"), await fund_in(g, "กองทุนที่อื่น (19)")
    program = await g.program(name="โครงการกลั่นกรองโดยเจ้าหน้าที่ (19)")
    assert program["reviewers"] == ["grant_officer"], "by default, the grantor's own officers"
    aid = await g.submitted(program, fund)
    for outsider in (elsewhere.as_(Role.committee), elsewhere.as_(Role.fund_admin),
                     g.tokens.headers(Role.network_officer, network_id=str(uuid.uuid4()))):
        refused = await g.review(aid, outsider)
        assert refused.status_code == 403 and refused.json()["code"] == "application.not_a_reviewer", refused.text
    own = await g.review(aid, fund.as_(Role.committee))
    assert own.status_code == 403 and own.json()["code"] == "application.own_fund_review"
    assert (await g.review(aid, g.tokens.headers(Role.grant_officer, sub="officer-r1"))).status_code == 200

    # A program may name people and roles; still never anyone of the applying fund.
    person_id = str(uuid.uuid4())
    named = await g.program(name="โครงการที่กำหนดผู้กลั่นกรอง (19)", reviewers=["committee", person_id])
    assert set(named["reviewers"]) == {"committee", person_id}
    aid = await g.submitted(named, fund)
    assert (await g.review(aid, elsewhere.as_(Role.committee))).status_code == 200
    assert (await g.review(aid, g.tokens.headers(Role.network_officer, sub=person_id, network_id=str(uuid.uuid4())))).status_code == 200
    officer = await g.review(aid, g.tokens.headers(Role.grant_officer, sub="officer-not-named"))
    assert officer.status_code == 403 and officer.json()["code"] == "application.not_a_reviewer"
    own = await g.review(aid, fund.as_(Role.committee, sub=str(uuid.uuid4())))
    assert own.status_code == 403 and own.json()["code"] == "application.own_fund_review"
    bad = await g.grants.post("/v1/grants/programs", headers=g.officer, json={
        "grantor": "codi", "name": "x", "fiscal_year_be": 2569, "envelope_satang": 1, "reviewers": ["member"]})
    assert bad.status_code == 422


async def test_two_reviews_by_two_people_and_no_reviewer_decides(g: Grants) -> None:
    """Found: the officer who decides may have been one of its two reviewers (and the same person
    could review again)."""
    fund = await fund_in(g, "กองทุนผู้ยื่น 2 (19)")
    program = await g.program(name="โครงการสองผู้กลั่นกรอง (19)")
    aid = await g.submitted(program, fund)
    first, second = (g.tokens.headers(Role.grant_officer, sub=f"officer-{n}") for n in ("a", "b"))
    assert (await g.review(aid, first)).status_code == 200
    again = await g.review(aid, first)
    assert again.status_code == 403 and again.json()["code"] == "application.reviewed_already"
    early = await g.decide(aid, g.officer)
    assert early.status_code == 409 and early.json()["code"] == "application.reviews_needed"
    assert (await g.review(aid, second)).status_code == 200
    for reviewer in (first, second):
        refused = await g.decide(aid, reviewer)
        assert refused.status_code == 403 and refused.json()["code"] == "application.decider_reviewed", refused.text
    decided = await g.decide(aid, g.officer)
    assert decided.status_code == 200 and decided.json()["status"] == "awarded", decided.text
    assert len(decided.json()["reviews"]) == 2


# --- Point 1 (part): a grant system with no scopes sees nothing -----------------------------------------


async def test_a_client_with_no_scopes_sees_nothing(g: Grants) -> None:
    """Found: any integration client, even one registered with no scopes, listed every fund's
    grant applications in the country."""
    fund = await fund_in(g, "กองทุนที่ไม่ควรเห็น (19)")
    program = await g.program(name="โครงการของทุกคน (19)")
    aid = await g.submitted(program, fund)
    bare = g.tokens.headers(Role.integration, sub="cli-no-scope")
    listed = await g.grants.get(f"/v1/grants/programs/{program['id']}/applications", headers=bare)
    assert listed.status_code == 200 and listed.json()["items"] == [], listed.text
    for path in (f"/v1/grants/applications/{aid}", f"/v1/grants/applications/{aid}/reconciliation"):
        hidden = await g.grants.get(path, headers=bare)
        assert hidden.status_code == 404 and hidden.json()["code"] == "application.not_found"
    subscribed = await g.grants.post("/v1/grants/webhooks", headers=bare,
                                     json={"url": "https://hooks.example.org/h", "events": ["application.status_changed"]})
    assert subscribed.status_code == 403
    # A client holding a scope still sees the applications.
    reader = g.tokens.headers(Role.integration, sub="cli-reader", scope="grants:read")
    listed = await g.grants.get(f"/v1/grants/programs/{program['id']}/applications", headers=reader)
    assert [a["id"] for a in listed.json()["items"]] == [aid]


# --- Point 1 (part): a provincial office's money is its own income source ----------------------------


async def test_a_provincial_office_tranche_is_booked_as_its_own_source(g: Grants) -> None:
    """Found: a provincial office's money was booked in the ledger as CODI income."""
    fund = await fund_in(g, "กองทุนรับทุน พมจ. (19)")
    program = await g.program(grantor="provincial_office", name="พมจ. นครศรีธรรมราช สนับสนุนกองทุน (19)")
    aid = await g.submitted(program, fund)
    for reviewer in ("pso-r1", "pso-r2"):
        assert (await g.review(aid, g.tokens.headers(Role.grant_officer, sub=reviewer))).status_code == 200
    awarded = await g.decide(aid, g.officer)
    assert awarded.status_code == 200, awarded.text
    tranche = awarded.json()["tranches"][0]["id"]
    paid = await g.grants.post(f"/v1/grants/applications/{aid}/tranches/{tranche}/disbursement", headers=g.officer,
                               json={"disbursed_on": TODAY.isoformat(), "reference": "PSO-0001"})
    assert paid.status_code == 200, paid.text
    await g.work()
    books = fund.as_(Role.committee)
    accounts = {a["code"]: (a["source"], a["balance_satang"]) for a in
                (await g.ledger.get(f"/v1/ledger/funds/{fund.id}/accounts", headers=books)).json()}
    assert accounts["4350"] == ("provincial_office", -30_000 * B)
    assert accounts["4300"] == ("codi", 0), "not CODI's income"
    report = (await g.ledger.get(f"/v1/ledger/funds/{fund.id}/reports/sources", headers=books,
                                 params={"from": TODAY.isoformat(), "to": TODAY.isoformat()})).json()
    assert {s["source"]: s["amount_satang"] for s in report["sources"]} == {"provincial_office": 30_000 * B}
