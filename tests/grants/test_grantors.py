"""Issue 19: grantors are organisations whose officers and grant systems act only for their own
programs, who may review and decide an application, what a grant system with no scopes sees,
where a provincial office's money is booked, and who reads a fund's matching figures
(docs/grantors.md). Each test fails on the code before."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from services.grants.worker import run_once
from shared.auth import Role
from shared.timeutil import BANGKOK
from tests.support.factories import NAKHON, grant_officer, make_fund, make_grantor, person
from tests.support.helpers import Tokens

TODAY = dt.datetime.now(BANGKOK).date()
B = 100


class Grants:
    def __init__(self, grants: Any, ledger: Any, members: Any, tokens: Tokens) -> None:
        self.grants, self.ledger, self.members, self.tokens = grants, ledger, members, tokens

    async def setup(self) -> None:
        """Two grantors: CODI (X) and a provincial office (Y), an officer of each."""
        self.x = await make_grantor(self.grants, self.tokens, "codi", "พอช. (19)")
        self.y = await make_grantor(self.grants, self.tokens, "provincial_office", "พมจ. นครศรีธรรมราช (19)")
        self.officer = grant_officer(self.tokens, self.x, sub="codi-officer")
        self.officer_y = grant_officer(self.tokens, self.y, sub="pso-officer")

    def x_officer(self, sub: str) -> dict[str, str]:
        return grant_officer(self.tokens, self.x, sub=sub)

    async def program(self, officer: dict[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
        body = {"name": "สนับสนุนกองทุนสวัสดิการชุมชน", "fiscal_year_be": 2569,
                "envelope_satang": 300_000_000 * B, "per_fund_ceiling_satang": 55_000 * B, **overrides}
        response = await self.grants.post("/v1/grants/programs", json=body, headers=officer or self.officer)
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
    made = Grants(await service_client("grants"), await service_client("ledger"), await service_client("members"), tokens)
    await made.setup()
    return made


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
    assert (await g.grants.get(f"/v1/grants/programs/{program['id']}/matching", headers=g.officer_y,
                               params={"fund_id": fund.id, "year": TODAY.year})).status_code == 404

    async def due(headers: dict[str, str]) -> Any:
        return await g.grants.get(f"/v1/grants/programs/{program['id']}/matching",
                                  params={"fund_id": fund.id, "year": TODAY.year}, headers=headers)

    for allowed in (fund.as_(Role.committee), fund.as_(Role.fund_admin), g.tokens.headers(Role.network_officer, network_id=home),
                    g.tokens.headers(Role.platform_admin)):
        answer = await due(allowed)
        assert answer.status_code == 200 and answer.json()["due_satang"] == 50_000, answer.text
    for refused in (fund.as_(Role.member, member_id=member_id), fund.as_(Role.collector, sub=collector),
                    other.as_(Role.committee), g.tokens.headers(Role.network_officer, network_id=other_network),
                    g.tokens.headers(Role.integration, sub="cli-19", scope="grants:decide grants:disburse grants:read", grantor_id=g.x),
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
    assert (await g.review(aid, g.x_officer("officer-r1"))).status_code == 200

    # A program may name people and roles; still never anyone of the applying fund.
    person_id = str(uuid.uuid4())
    named = await g.program(name="โครงการที่กำหนดผู้กลั่นกรอง (19)", reviewers=["committee", person_id])
    assert set(named["reviewers"]) == {"committee", person_id}
    aid = await g.submitted(named, fund)
    assert (await g.review(aid, elsewhere.as_(Role.committee))).status_code == 200
    assert (await g.review(aid, g.tokens.headers(Role.network_officer, sub=person_id, network_id=str(uuid.uuid4())))).status_code == 200
    officer = await g.review(aid, g.x_officer("officer-not-named"))
    assert officer.status_code == 403 and officer.json()["code"] == "application.not_a_reviewer"
    own = await g.review(aid, fund.as_(Role.committee, sub=str(uuid.uuid4())))
    assert own.status_code == 403 and own.json()["code"] == "application.own_fund_review"
    bad = await g.grants.post("/v1/grants/programs", headers=g.officer, json={
        "name": "x", "fiscal_year_be": 2569, "envelope_satang": 1, "reviewers": ["member"]})
    assert bad.status_code == 422


async def test_two_reviews_by_two_people_and_no_reviewer_decides(g: Grants) -> None:
    """Found: the officer who decides may have been one of its two reviewers (and the same person
    could review again)."""
    fund = await fund_in(g, "กองทุนผู้ยื่น 2 (19)")
    program = await g.program(name="โครงการสองผู้กลั่นกรอง (19)")
    aid = await g.submitted(program, fund)
    first, second = (g.x_officer(f"officer-{n}") for n in ("a", "b"))
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
    bare = g.tokens.headers(Role.integration, sub="cli-no-scope", grantor_id=g.x)
    listed = await g.grants.get(f"/v1/grants/programs/{program['id']}/applications", headers=bare)
    assert listed.status_code == 404 and listed.json()["code"] == "program.not_found", listed.text
    assert (await g.grants.get("/v1/grants/programs", headers=bare)).json()["items"] == []
    for path in (f"/v1/grants/applications/{aid}", f"/v1/grants/applications/{aid}/reconciliation"):
        hidden = await g.grants.get(path, headers=bare)
        assert hidden.status_code == 404 and hidden.json()["code"] == "application.not_found"
    subscribed = await g.grants.post("/v1/grants/webhooks", headers=bare,
                                     json={"url": "https://hooks.example.org/h", "events": ["application.status_changed"]})
    assert subscribed.status_code == 403
    # A client holding a scope still sees the applications.
    reader = g.tokens.headers(Role.integration, sub="cli-reader", scope="grants:read", grantor_id=g.x)
    listed = await g.grants.get(f"/v1/grants/programs/{program['id']}/applications", headers=reader)
    assert [a["id"] for a in listed.json()["items"]] == [aid]


# --- Point 1 (part): a provincial office's money is its own income source ----------------------------


async def test_a_provincial_office_tranche_is_booked_as_its_own_source(g: Grants) -> None:
    """Found: a provincial office's money was booked in the ledger as CODI income."""
    fund = await fund_in(g, "กองทุนรับทุน พมจ. (19)")
    program = await g.program(g.officer_y, name="พมจ. นครศรีธรรมราช สนับสนุนกองทุน (19)")
    assert (program["grantor_id"], program["grantor"]) == (g.y, "provincial_office")
    aid = await g.submitted(program, fund)
    for reviewer in ("pso-r1", "pso-r2"):
        assert (await g.review(aid, grant_officer(g.tokens, g.y, sub=reviewer))).status_code == 200
    awarded = await g.decide(aid, g.officer_y)
    assert awarded.status_code == 200, awarded.text
    tranche = awarded.json()["tranches"][0]["id"]
    paid = await g.grants.post(f"/v1/grants/applications/{aid}/tranches/{tranche}/disbursement", headers=g.officer_y,
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


# --- Point 1: grantors are organisations; officers and systems act only for theirs -----------------------


async def test_officers_and_systems_act_only_for_their_grantors_programs(g: Grants) -> None:
    """Found: a client holding grants:disburse could confirm a tranche of any program (posting
    co-funding income into that fund's books), and any grant officer could decide or disburse
    another grantor's program; the grantor was a kind, not an organisation."""
    fund = await fund_in(g, "กองทุนของผู้ให้ทุน X (19)")
    program = await g.program(name="โครงการของ X (19)")
    assert (program["grantor_id"], program["grantor"]) == (g.x, "codi")
    other = await g.program(name="โครงการอื่นของ X (19)")
    aid = await g.submitted(program, fund)
    assert (await g.review(aid, g.x_officer("x-r1"))).status_code == 200
    # Another grantor's officer: the program and its application are not there for them.
    hidden = await g.review(aid, grant_officer(g.tokens, g.y, sub="y-r2"))
    assert hidden.status_code == 404 and hidden.json()["code"] == "application.not_found"
    assert (await g.review(aid, g.x_officer("x-r2"))).status_code == 200
    client_y = g.tokens.headers(Role.integration, sub="cli-y", scope="grants:read grants:decide grants:disburse", grantor_id=g.y)
    narrowed = g.tokens.headers(Role.integration, sub="cli-x-narrowed", scope="grants:read grants:decide grants:disburse",
                                grantor_id=g.x, program_ids=[other["id"]])
    for outsider in (g.officer_y, client_y, narrowed):
        for path in (f"/v1/grants/programs/{program['id']}", f"/v1/grants/programs/{program['id']}/applications"):
            assert (await g.grants.get(path, headers=outsider)).status_code == 404
        assert (await g.grants.get(f"/v1/grants/applications/{aid}", headers=outsider)).status_code == 404
        refused = await g.decide(aid, outsider)
        assert refused.status_code == 404 and refused.json()["code"] == "application.not_found", refused.text
        listed = (await g.grants.get("/v1/grants/programs", headers=outsider)).json()["items"]
        assert program["id"] not in [p["id"] for p in listed]
    rollup = (await g.grants.get("/v1/grants/reports/rollup", headers=g.officer_y)).json()
    assert program["id"] not in [line["program_id"] for line in rollup["lines"]]
    # X's own officer decides; then only X's side may confirm the transfer.
    awarded = await g.decide(aid, g.officer)
    assert awarded.status_code == 200, awarded.text
    tranche = awarded.json()["tranches"][0]["id"]
    confirm = {"disbursed_on": TODAY.isoformat(), "reference": "KTB-19"}
    for outsider in (g.officer_y, client_y, narrowed):
        refused = await g.grants.post(f"/v1/grants/applications/{aid}/tranches/{tranche}/disbursement", json=confirm, headers=outsider)
        assert refused.status_code == 404, refused.text
    await g.work()
    accounts = {a["code"]: a["balance_satang"] for a in
                (await g.ledger.get(f"/v1/ledger/funds/{fund.id}/accounts", headers=fund.as_(Role.committee))).json()}
    assert accounts["4300"] == 0, "nothing reached the fund's books"
    client_x = g.tokens.headers(Role.integration, sub="cli-x", scope="grants:disburse", grantor_id=g.x)
    paid = await g.grants.post(f"/v1/grants/applications/{aid}/tranches/{tranche}/disbursement", json=confirm, headers=client_x)
    assert paid.status_code == 200, paid.text
    # An officer opens programs only for their own grantor; a platform admin names one.
    mine = await g.grants.post("/v1/grants/programs", headers=g.officer_y, json={
        "grantor_id": g.x, "name": "x", "fiscal_year_be": 2569, "envelope_satang": 1})
    assert mine.status_code == 403
    unnamed = await g.grants.post("/v1/grants/programs", headers=g.tokens.headers(Role.platform_admin), json={
        "name": "x", "fiscal_year_be": 2569, "envelope_satang": 1})
    assert unnamed.status_code == 422 and unnamed.json()["code"] == "program.grantor_required"
    no_grantor = await g.grants.post("/v1/grants/programs", headers=g.tokens.headers(Role.grant_officer), json={
        "name": "x", "fiscal_year_be": 2569, "envelope_satang": 1})
    assert no_grantor.status_code == 403
    # Grantors are organisations, registered by platform admins.
    assert (await g.grants.post("/v1/grants/grantors", headers=g.officer, json={"kind": "codi", "name": "x"})).status_code == 403
    names = {gr["id"]: gr["kind"] for gr in (await g.grants.get("/v1/grants/grantors", headers=g.officer)).json()}
    assert names[g.x] == "codi" and names[g.y] == "provincial_office"
