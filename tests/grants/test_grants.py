"""Grants: programs and envelopes, applications and screening, tranches posted to the real ledger,
reports of use, idempotent pushes from grant systems, signed webhooks, roll-ups, access."""

from __future__ import annotations

import datetime as dt
import json
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select, text

from services.grants.worker import run_once, verify
from shared.auth import Role
from shared.timeutil import BANGKOK
from tests.support.factories import NAKHON, grant_officer, make_fund, make_grantor
from tests.support.helpers import Tokens, migration

TODAY = dt.datetime.now(BANGKOK).date()
B = 100


class Grants:
    def __init__(self, grants: Any, ledger: Any, members: Any, tokens: Tokens) -> None:
        self.grants, self.ledger, self.members, self.tokens = grants, ledger, members, tokens
        #: Grantors by kind (CODI's first), and one officer of each.
        self.grantors: dict[str, str] = {}

    async def setup(self) -> None:
        self.codi = await make_grantor(self.grants, self.tokens, "codi", "พอช. (ทดสอบ)")
        self.grantors["codi"] = self.codi
        self.officer = grant_officer(self.tokens, self.codi, sub="codi-officer")
        self.system = self.tokens.headers(Role.integration, sub="cli-codi", scope="grants:decide grants:disburse", grantor_id=self.codi)

    def officer_of(self, kind: str = "codi", sub: str = "codi-officer") -> dict[str, str]:
        return grant_officer(self.tokens, self.grantors[kind], sub=sub)

    async def program(self, **overrides: Any) -> dict[str, Any]:
        body = {"grantor": "codi", "name": "สนับสนุนกองทุนสวัสดิการชุมชน", "fiscal_year_be": 2551,
                "envelope_satang": 300_000_000 * B, "per_fund_ceiling_satang": 55_000 * B, **overrides}
        if body["grantor"] not in self.grantors:
            self.grantors[body["grantor"]] = await make_grantor(self.grants, self.tokens, body["grantor"])
        response = await self.grants.post("/v1/grants/programs", json=body, headers=self.officer_of(body["grantor"]))
        assert response.status_code == 201, response.text
        return response.json()

    async def apply(self, program: dict[str, Any], fund: Any, amounts: tuple[int, ...] = (30_000 * B, 25_000 * B), **extra: Any) -> Any:
        lines = [{"line": f"L{i}", "description": f"กิจกรรม {i}", "amount_satang": a} for i, a in enumerate(amounts, 1)]
        return await self.grants.post(f"/v1/grants/programs/{program['id']}/applications", headers=fund.as_(Role.fund_admin),
                                      json={"fund_id": fund.id, "title": "ขยายสวัสดิการผู้สูงอายุ", "budget_lines": lines, **extra})

    async def screened(self, program: dict[str, Any], fund: Any, **extra: Any) -> dict[str, Any]:
        application = (await self.apply(program, fund, **extra)).json()
        aid = application["id"]
        assert (await self.grants.post(f"/v1/grants/applications/{aid}/submit", headers=fund.as_(Role.fund_admin))).status_code == 200
        for reviewer in ("r1", "r2"):
            r = await self.grants.post(f"/v1/grants/applications/{aid}/reviews", headers=self.officer_of(sub=reviewer),
                                       json={"score": 80, "recommendation": "approve", "comment": "เหมาะสม"})
            assert r.status_code == 200, r.text
        return application

    async def decide(self, application_id: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        return await self.grants.post(f"/v1/grants/applications/{application_id}/decision", json=body, headers=headers or self.officer)

    async def work(self) -> None:
        app = self.grants._transport.app
        await run_once(app.state.db, app.state.ledger, app.state.webhook_http, targets=app.state.webhook_targets)


@pytest.fixture
async def g(service_client, tokens) -> Grants:
    members = await service_client("members")
    ledger = await service_client("ledger")
    grants = await service_client("grants")
    made = Grants(grants, ledger, members, tokens)
    await made.setup()
    return made


async def nakhon_fund(g: Grants, name: str = "กองทุนสวัสดิการชุมชนตำบลฉวาง") -> Any:
    return await make_fund(g.members, g.tokens, name=name, **NAKHON)


# --- 1. Programs -------------------------------------------------------------------------------------------------


async def test_programs_have_fiscal_years_envelopes_and_splits(g: Grants) -> None:
    # The Nakhon Si Thammarat 2008 document: the national welfare budget of FY 2551, split 25% issue-based and 75% target areas.
    program = await g.program(name="งบสวัสดิการชุมชน ปี 2551", allocation_splits=[
        {"name": "issue_based", "pct_bp": 2500}, {"name": "target_areas", "pct_bp": 7500}], per_fund_ceiling_satang=None)
    assert (program["fiscal_year_starts"], program["fiscal_year_ends"]) == ("2007-10-01", "2008-09-30")
    assert [(s["name"], s["amount_satang"]) for s in program["allocation_splits"]] == [
        ("issue_based", 75_000_000 * B), ("target_areas", 225_000_000 * B)]
    bad = await g.grants.post("/v1/grants/programs", headers=g.officer, json={
        "grantor": "codi", "name": "x", "fiscal_year_be": 2551, "envelope_satang": 1,
        "allocation_splits": [{"name": "a", "pct_bp": 5000}]})
    assert bad.status_code == 422
    fund = await nakhon_fund(g)
    assert (await g.grants.post("/v1/grants/programs", headers=fund.as_(Role.fund_admin), json={
        "grantor": "codi", "name": "x", "fiscal_year_be": 2551, "envelope_satang": 1})).status_code == 403


async def test_eligibility_ceiling_and_province(g: Grants) -> None:
    fund = await nakhon_fund(g)
    program = await g.program(eligible_provinces=["นครศรีธรรมราช"])
    over = await g.apply(program, fund, amounts=(50_000 * B, 5_001 * B))
    assert over.status_code == 422 and over.json()["code"] == "application.over_ceiling"
    elsewhere = await make_fund(g.members, g.tokens, name="กองทุนห้วยงู", province="ชัยนาท", district="หันคา",
                                subdistrict="ห้วยงู", founded_on="2011-01-01")
    refused = await g.apply(program, elsewhere)
    assert refused.status_code == 422 and refused.json()["code"] == "application.province_not_eligible"
    ok = await g.apply(program, fund)
    assert ok.status_code == 201 and ok.json()["requested_satang"] == 55_000 * B and ok.json()["status"] == "draft"
    again = await g.apply(program, fund)
    assert again.status_code == 409 and again.json()["code"] == "application.exists"
    stranger = await g.grants.post(f"/v1/grants/programs/{program['id']}/applications", headers=fund.as_(Role.fund_admin), json={
        "fund_id": str(uuid.uuid4()), "title": "x", "budget_lines": [{"line": "L1", "description": "x", "amount_satang": 1}]})
    assert stranger.status_code == 403, "a fund applies only for itself"


# --- 2. Screening and decisions ----------------------------------------------------------------------------------------


async def test_screening_needs_two_reviewers_none_from_the_fund_itself(g: Grants) -> None:
    fund = await nakhon_fund(g)
    # This program takes committees of other funds as reviewers too (by default, grant officers only).
    program = await g.program(reviewers=["grant_officer", "committee"])
    aid = (await g.apply(program, fund)).json()["id"]
    await g.grants.post(f"/v1/grants/applications/{aid}/submit", headers=fund.as_(Role.fund_admin))
    own = await g.grants.post(f"/v1/grants/applications/{aid}/reviews", headers=fund.as_(Role.committee),
                              json={"score": 100, "recommendation": "approve"})
    assert own.status_code == 403 and own.json()["code"] == "application.own_fund_review"
    peer = await nakhon_fund(g, "กองทุนข้างเคียง")
    assert (await g.grants.post(f"/v1/grants/applications/{aid}/reviews", headers=peer.as_(Role.committee),
                                json={"score": 70, "recommendation": "approve_in_part"})).status_code == 200
    early = await g.decide(aid, {"decision": "approve"})
    assert early.status_code == 409 and early.json()["code"] == "application.reviews_needed"
    second = g.officer_of(sub="codi-screener")
    await g.grants.post(f"/v1/grants/applications/{aid}/reviews", headers=second, json={"score": 90, "recommendation": "approve"})
    decided = await g.decide(aid, {"decision": "approve", "approved_satang": 40_000 * B, "note": "อนุมัติบางส่วน"})
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert (body["status"], body["approved_satang"], len(body["reviews"])) == ("awarded", 40_000 * B, 2)
    assert [t["amount_satang"] for t in body["tranches"]] == [40_000 * B]
    assert (await g.grants.get(f"/v1/grants/programs/{program['id']}", headers=g.officer)).json()["allocated_satang"] == 40_000 * B


async def test_awards_never_exceed_the_envelope(g: Grants) -> None:
    program = await g.program(envelope_satang=100_000 * B)
    applications = [await g.screened(program, await nakhon_fund(g, f"กองทุน {i}")) for i in range(3)]
    results = [await g.decide(a["id"], {"decision": "approve"}) for a in applications]
    assert [r.status_code for r in results] == [200, 409, 409]
    assert results[1].json()["code"] == "award.envelope_exceeded"
    partial = await g.decide(applications[1]["id"], {"decision": "approve", "approved_satang": 45_000 * B})
    assert partial.status_code == 200
    after = (await g.grants.get(f"/v1/grants/programs/{program['id']}", headers=g.officer)).json()
    assert (after["allocated_satang"], after["available_satang"]) == (100_000 * B, 0)


# --- 3 and 4. Tranches, the ledger, reporting back -------------------------------------------------------------------------


async def test_tranches_reach_the_ledger_once_and_a_missing_report_holds_the_next(g: Grants) -> None:
    fund = await nakhon_fund(g)
    program = await g.program()
    aid = (await g.screened(program, fund))["id"]
    award = (await g.decide(aid, {"decision": "approve", "tranches": [
        {"amount_satang": 30_000 * B, "due_on": TODAY.isoformat()},
        {"amount_satang": 25_000 * B, "due_on": (TODAY + dt.timedelta(days=90)).isoformat(), "requires_report": True}]})).json()
    first, second = award["tranches"]
    confirm = {"disbursed_on": TODAY.isoformat(), "reference": "KTB-0001"}
    paid = await g.grants.post(f"/v1/grants/applications/{aid}/tranches/{first['id']}/disbursement", json=confirm, headers=g.officer)
    assert paid.status_code == 200 and paid.json()["ledger_status"] == "pending"
    await g.work()
    await g.work()  # a second pass changes nothing
    recon = (await g.grants.get(f"/v1/grants/applications/{aid}/reconciliation", headers=fund.as_(Role.committee))).json()
    assert (recon["awarded_satang"], recon["disbursed_satang"], recon["received_by_ledger_satang"]) == (55_000 * B, 30_000 * B, 30_000 * B)
    accounts = {a["code"]: a["balance_satang"] for a in (await g.ledger.get(f"/v1/ledger/funds/{fund.id}/accounts", headers=fund.as_(Role.committee))).json()}
    assert accounts["4300"] == -30_000 * B and accounts["1020"] == 30_000 * B, "income from CODI, into the bank, once"
    held = await g.grants.post(f"/v1/grants/applications/{aid}/tranches/{second['id']}/disbursement", json=confirm, headers=g.officer)
    assert held.status_code == 409 and held.json()["code"] == "tranche.held"
    view = (await g.grants.get(f"/v1/grants/applications/{aid}", headers=fund.as_(Role.committee))).json()
    assert view["tranches"][1]["on_hold"] is True
    bad_line = await g.grants.post(f"/v1/grants/applications/{aid}/reports", headers=fund.as_(Role.fund_admin),
                                   json={"lines": [{"line": "L9", "spent_satang": 1}]})
    assert bad_line.status_code == 422
    report = await g.grants.post(f"/v1/grants/applications/{aid}/reports", headers=fund.as_(Role.fund_admin),
                                 json={"lines": [{"line": "L1", "spent_satang": 28_000 * B}, {"line": "L2", "spent_satang": 0}], "narrative": "จัดซื้อแล้ว"})
    assert report.status_code == 201
    released = await g.grants.post(f"/v1/grants/applications/{aid}/tranches/{second['id']}/disbursement",
                                   json={**confirm, "reference": "KTB-0002"}, headers=g.officer)
    assert released.status_code == 200
    await g.work()
    final = (await g.grants.get(f"/v1/grants/applications/{aid}/reconciliation", headers=g.officer)).json()
    assert (final["disbursed_satang"], final["received_by_ledger_satang"], final["spent_reported_satang"]) == (55_000 * B, 55_000 * B, 28_000 * B)
    assert (await g.grants.get(f"/v1/grants/applications/{aid}", headers=g.officer)).json()["status"] == "closed"


async def test_an_overdue_report_holds_later_tranches(g: Grants) -> None:
    fund = await nakhon_fund(g)
    program = await g.program(report_due_days=30)
    aid = (await g.screened(program, fund))["id"]
    award = (await g.decide(aid, {"decision": "approve", "tranches": [
        {"amount_satang": 30_000 * B, "due_on": TODAY.isoformat()}, {"amount_satang": 25_000 * B, "due_on": TODAY.isoformat()}]})).json()
    first, second = award["tranches"]
    long_ago = (TODAY - dt.timedelta(days=45)).isoformat()
    await g.grants.post(f"/v1/grants/applications/{aid}/tranches/{first['id']}/disbursement",
                        json={"disbursed_on": long_ago, "reference": "T1"}, headers=g.officer)
    held = await g.grants.post(f"/v1/grants/applications/{aid}/tranches/{second['id']}/disbursement",
                               json={"disbursed_on": TODAY.isoformat(), "reference": "T2"}, headers=g.officer)
    assert held.status_code == 409 and "overdue" in held.json()["detail"]


# --- 5. Integration: idempotent pushes, signed webhooks ----------------------------------------------------------------------


class Receiver:
    """A grant system's webhook endpoint: checks signatures, drops repeats, fails when told to."""

    def __init__(self) -> None:
        self.secret = ""
        self.seen: list[dict[str, Any]] = []
        self.fail_next = 0
        self.bad_signatures = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(self.secret, request.headers.get("Sajja-Signature", ""), body):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=500)
        self.seen.append(json.loads(body))
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    r = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", r.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield r, f"http://127.0.0.1:{port}/hooks"
    await runner.cleanup()


async def test_grant_systems_push_decisions_idempotently_and_hear_signed_webhooks(g: Grants, receiver) -> None:
    hook, url = receiver
    program = await g.program()
    subscribed = await g.grants.post("/v1/grants/webhooks", headers=g.system,
                                     json={"url": url, "events": ["application.status_changed", "tranche.disbursed"], "program_id": program["id"]})
    assert subscribed.status_code == 201
    hook.secret = subscribed.json()["secret"]
    fund = await nakhon_fund(g)
    aid = (await g.screened(program, fund))["id"]
    key = {"Idempotency-Key": f"codi-decision-{aid}"}
    decision = {"decision": "approve", "approved_satang": 50_000 * B}
    first = await g.decide(aid, decision, {**g.system, **key})
    assert first.status_code == 200, first.text
    again = await g.decide(aid, decision, {**g.system, **key})
    assert again.status_code == 200 and again.headers["idempotency-replayed"] == "true" and again.json() == first.json()
    changed = await g.decide(aid, {**decision, "approved_satang": 1}, {**g.system, **key})
    assert changed.status_code == 409 and changed.json()["code"] == "idempotency.key_reused"
    no_scope = await g.decide(aid, decision, g.tokens.headers(Role.integration, sub="cli-x", scope="grants:read"))
    assert no_scope.status_code == 403
    tranche = first.json()["tranches"][0]["id"]
    push = {"disbursed_on": TODAY.isoformat(), "reference": "CODI-TX-9"}
    d1 = await g.grants.post(f"/v1/grants/applications/{aid}/tranches/{tranche}/disbursement", json=push, headers={**g.system, "Idempotency-Key": "tx-9"})
    d2 = await g.grants.post(f"/v1/grants/applications/{aid}/tranches/{tranche}/disbursement", json=push, headers={**g.system, "Idempotency-Key": "tx-9"})
    assert d1.status_code == 200 and d2.status_code == 200 and d2.headers["idempotency-replayed"] == "true"

    hook.fail_next = 1
    await g.work()
    deliveries = (await g.grants.get(f"/v1/grants/webhooks/{subscribed.json()['id']}/deliveries", headers=g.system)).json()
    assert {d["status"] for d in deliveries} >= {"pending", "delivered"}, deliveries
    async with g.grants._transport.app.state.db.sessionmaker() as session:
        async with session.begin():
            await session.execute(text("UPDATE webhook_deliveries SET next_attempt_at = NULL WHERE status = 'pending'"))
    await g.work()
    deliveries = (await g.grants.get(f"/v1/grants/webhooks/{subscribed.json()['id']}/deliveries", headers=g.system)).json()
    assert {d["status"] for d in deliveries} == {"delivered"}
    events = [(e["event"], e["data"].get("to")) for e in hook.seen]
    assert ("application.status_changed", "awarded") in events and ("tranche.disbursed", None) in events
    assert hook.bad_signatures == 0
    failed_once = next(d for d in deliveries if d["attempts"] == 2)
    redo = await g.grants.post(f"/v1/grants/webhooks/deliveries/{failed_once['id']}/redeliver", headers=g.system)
    assert redo.status_code == 200 and redo.json()["status"] == "pending"
    await g.work()
    ids = [e["id"] for e in hook.seen]
    assert ids.count(failed_once["id"]) == 2, "a redelivery carries the same id, so the receiver can drop it"
    assert (await g.grants.post(f"/v1/grants/webhooks/deliveries/{failed_once['id']}/redeliver",
                                headers=g.tokens.headers(Role.integration, sub="someone-else"))).status_code == 404


def test_signatures_refuse_tampering_and_replays_of_old_deliveries() -> None:
    from services.grants.worker import sign

    body = b'{"event":"tranche.disbursed"}'
    header = sign("secret", 1_700_000_000, body)
    assert verify("secret", header, body, now=1_700_000_100)
    assert not verify("secret", header, body + b" ", now=1_700_000_100)
    assert not verify("other", header, body, now=1_700_000_100)
    assert not verify("secret", header, body, now=1_700_000_000 + 301)
    assert not verify("secret", "garbage", body)


# --- 6 and 7. Views and access -----------------------------------------------------------------------------------------------


async def test_rollups_by_province_and_program_and_who_sees_what(g: Grants) -> None:
    program = await g.program()
    network = (await g.members.post("/v1/members/networks", headers=g.tokens.headers(),
                                    json={"name_th": "เครือข่ายนครศรีธรรมราช", "province": "นครศรีธรรมราช"})).json()
    in_network = await make_fund(g.members, g.tokens, name="กองทุนในเครือข่าย", network_id=network["id"], **NAKHON)
    outside = await make_fund(g.members, g.tokens, name="กองทุนห้วยงู", province="ชัยนาท", district="หันคา", subdistrict="ห้วยงู", founded_on="2011-01-01")
    a1 = (await g.screened(program, in_network))["id"]
    a2 = (await g.screened(program, outside))["id"]
    await g.decide(a1, {"decision": "approve"})
    await g.decide(a2, {"decision": "reject", "note": "ไม่ครบเงื่อนไข"})
    national = (await g.grants.get("/v1/grants/reports/rollup", headers=g.officer)).json()
    by_province = {line["province"]: line for line in national["lines"]}
    assert by_province["นครศรีธรรมราช"]["awarded_satang"] == 55_000 * B and by_province["ชัยนาท"]["approved"] == 0
    officer = g.tokens.headers(Role.network_officer, network_id=network["id"])
    mine = (await g.grants.get("/v1/grants/reports/rollup", headers=officer)).json()
    assert [line["province"] for line in mine["lines"]] == ["นครศรีธรรมราช"]
    assert (await g.grants.get(f"/v1/grants/applications/{a2}", headers=in_network.as_(Role.committee))).status_code == 404
    listed = (await g.grants.get(f"/v1/grants/programs/{program['id']}/applications", headers=in_network.as_(Role.committee))).json()
    assert [a["id"] for a in listed["items"]] == [a1]
    # A page describes each application exactly as reading it alone does (reviews, tranches, holds).
    page = (await g.grants.get(f"/v1/grants/programs/{program['id']}/applications", headers=g.officer)).json()["items"]
    assert sorted(a["id"] for a in page) == sorted([a1, a2])
    for item in page:
        assert item == (await g.grants.get(f"/v1/grants/applications/{item['id']}", headers=g.officer)).json()
    assert any(item["tranches"] for item in page) and all(item["reviews"] for item in page)
    assert (await g.grants.get(f"/v1/grants/applications/{a2}", headers=officer)).status_code == 404
    assert (await g.grants.get("/v1/grants/reports/rollup", headers=in_network.as_(Role.committee))).status_code == 403
    assert (await g.grants.post(f"/v1/grants/applications/{a1}/submit", headers=outside.as_(Role.fund_admin))).status_code == 404


async def test_matching_programs_compute_what_is_due_from_the_ledger(g: Grants) -> None:
    from tests.support.factories import person

    fund = await nakhon_fund(g)
    collector = str(uuid.uuid4())
    await g.members.post(f"/v1/members/funds/{fund.id}/collectors", headers=fund.as_(Role.committee), json={"user_id": collector, "display_name": "อาสา"})
    member_ids = [(await fund.register(person(900 + i))).json()["id"] for i in range(2)]
    now = dt.datetime.now(BANGKOK).isoformat()
    for member_id, amount in zip(member_ids, (50_000, 20_000), strict=True):
        posted = await g.ledger.post(f"/v1/ledger/funds/{fund.id}/deposits", headers=fund.as_(Role.collector, sub=collector),
                                     json={"id": str(uuid.uuid4()), "member_id": member_id, "amount_satang": amount, "collected_at": now})
        assert posted.status_code == 201, posted.text
    program = await g.program(grantor="local_government", name="อบต. สมทบ 1:1", matching_ratio_bp=10_000, matching_cap_per_member_satang=36_500)
    due = (await g.grants.get(f"/v1/grants/programs/{program['id']}/matching", params={"fund_id": fund.id, "year": TODAY.year},
                              headers=fund.as_(Role.committee))).json()
    assert (due["member_contributions_satang"], due["due_satang"]) == (70_000, 36_500 + 20_000)


async def matching_fund(g: Grants, n: int, contributions: dict[dt.date, int]) -> tuple[Any, str]:
    """A fund whose one member (``person(n)``) contributed ``contributions`` (satang by the day
    collected, at 17:00 or now if sooner), each posted late through a collector as a fund bringing
    its past books in does; the fund and the member."""
    from tests.support.factories import person

    fund = await nakhon_fund(g, f"กองทุนสมทบ {uuid.uuid4().hex[:6]}")
    collector = str(uuid.uuid4())
    made = await g.members.post(f"/v1/members/funds/{fund.id}/collectors", headers=fund.as_(Role.committee),
                                json={"user_id": collector, "display_name": "อาสา"})
    assert made.status_code == 201, made.text
    late = await g.ledger.patch(f"/v1/ledger/funds/{fund.id}/rules", json={"late_window_days": 3650}, headers=fund.as_(Role.fund_admin))
    assert late.status_code == 200, late.text
    member_id = (await fund.register(person(n))).json()["id"]
    for day, amount in contributions.items():
        collected = min(dt.datetime(day.year, day.month, day.day, 17, tzinfo=BANGKOK), dt.datetime.now(BANGKOK)).isoformat()
        posted = await g.ledger.post(f"/v1/ledger/funds/{fund.id}/deposits", headers=fund.as_(Role.collector, sub=collector),
                                     json={"id": str(uuid.uuid4()), "member_id": member_id, "amount_satang": amount,
                                           "collected_at": collected})
        assert posted.status_code == 201, posted.text
    return fund, member_id


async def test_matching_counts_the_programs_fiscal_year_october_to_september(g: Grants) -> None:
    """Found: what a matching program owes was counted over the calendar year the caller passed in
    ``year``, while the program (and the grantor paying on it) belongs to a Thai fiscal year,
    October to September. The program's own year is the window now; ``year`` is deprecated and
    still a calendar year."""
    from shared.fiscal import BE_OFFSET, fiscal_year_of

    fy = fiscal_year_of(TODAY, 10) - 1  # the last fiscal year that is over: 1 October fy-1 to 30 September fy
    # One figure per day, each a different power of ten, so a total names the days counted.
    fund, _ = await matching_fund(g, 950, {
        dt.date(fy - 1, 9, 30): 1,         # fiscal year fy-1
        dt.date(fy - 1, 10, 1): 10,        # fiscal year fy, calendar year fy-1
        dt.date(fy - 1, 12, 31): 100,      # fiscal year fy, calendar year fy-1
        dt.date(fy, 9, 30): 1_000,         # fiscal year fy, calendar year fy
        dt.date(fy, 10, 1): 10_000,        # fiscal year fy+1, calendar year fy
        min(dt.date(fy, 12, 31), TODAY): 100_000,  # October to December of fy: fiscal year fy+1
    })
    program = await g.program(grantor="local_government", name="อบต. สมทบ 1:2", fiscal_year_be=fy + BE_OFFSET,
                              matching_ratio_bp=5_000)
    url = f"/v1/grants/programs/{program['id']}/matching"

    due = await g.grants.get(url, params={"fund_id": fund.id}, headers=fund.as_(Role.committee))
    assert due.status_code == 200, due.text
    assert due.json() == {
        "program_id": program["id"], "fund_id": fund.id, "year": fy, "fiscal_year_be": fy + BE_OFFSET,
        "period_start": f"{fy - 1}-10-01", "period_end": f"{fy}-09-30", "counted_through": f"{fy}-09-30",
        "member_contributions_satang": 1_110, "due_satang": 555}
    assert (program["fiscal_year_starts"], program["fiscal_year_ends"]) == (f"{fy - 1}-10-01", f"{fy}-09-30")

    # The deprecated ``year`` is still a calendar year, and the answer says so.
    calendar = (await g.grants.get(url, params={"fund_id": fund.id, "year": fy}, headers=fund.as_(Role.committee))).json()
    assert (calendar["year"], calendar["fiscal_year_be"], calendar["period_start"], calendar["period_end"]) == (
        fy, fy + BE_OFFSET, f"{fy}-01-01", f"{fy}-12-31")
    assert calendar["counted_through"] == min(dt.date(fy, 12, 31), TODAY).isoformat()
    assert (calendar["member_contributions_satang"], calendar["due_satang"]) == (111_000, 55_500)
    before = (await g.grants.get(url, params={"fund_id": fund.id, "year": fy - 1}, headers=fund.as_(Role.committee))).json()
    assert before["member_contributions_satang"] == 111


async def test_matching_for_a_fiscal_year_under_way_or_not_begun(g: Grants) -> None:
    """A program's year under way is counted up to today; one that has not begun owes nothing yet
    (the ledger, which takes no day more than a year ahead, is not asked); the first fiscal year a
    program may have, which begins before the ledger's first day, is answered too."""
    from shared.fiscal import BE_OFFSET, fiscal_year_of

    current = fiscal_year_of(TODAY, 10)
    fund, _ = await matching_fund(g, 951, {dt.date(current - 1, 9, 30): 7, TODAY: 20_000})

    async def due(fiscal_year_be: int, **params: Any) -> dict[str, Any]:
        program = await g.program(name=f"สมทบ {fiscal_year_be}", fiscal_year_be=fiscal_year_be, matching_ratio_bp=10_000)
        answer = await g.grants.get(f"/v1/grants/programs/{program['id']}/matching", params={"fund_id": fund.id, **params},
                                    headers=fund.as_(Role.fund_admin))
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    running = await due(current + BE_OFFSET)
    assert (running["period_start"], running["period_end"], running["counted_through"]) == (
        f"{current - 1}-10-01", f"{current}-09-30", TODAY.isoformat())
    assert (running["member_contributions_satang"], running["due_satang"]) == (20_000, 20_000)
    ahead = await due(current + 2 + BE_OFFSET)
    assert (ahead["period_start"], ahead["period_end"]) == (f"{current + 1}-10-01", f"{current + 2}-09-30")
    assert (ahead["counted_through"], ahead["member_contributions_satang"], ahead["due_satang"]) == (TODAY.isoformat(), 0, 0)
    first = await due(2543)
    assert (first["period_start"], first["period_end"], first["due_satang"]) == ("1999-10-01", "2000-09-30", 0)
    far = await due(current + BE_OFFSET, year=2100)
    assert (far["period_start"], far["period_end"], far["due_satang"]) == ("2100-01-01", "2100-12-31", 0)


async def test_matching_refuses_a_program_that_does_not_match_in_thai_or_english(g: Grants) -> None:
    fund = await nakhon_fund(g)
    program = await g.program(name="ไม่สมทบ")
    url = f"/v1/grants/programs/{program['id']}/matching"
    thai = await g.grants.get(url, params={"fund_id": fund.id}, headers=fund.as_(Role.committee))
    assert thai.status_code == 422 and thai.headers["content-type"].startswith("application/problem+json")
    assert (thai.json()["code"], thai.json()["title"]) == ("program.not_matching", "ไม่ใช่โครงการสมทบ")
    english = await g.grants.get(url, params={"fund_id": fund.id}, headers={**fund.as_(Role.committee), "Accept-Language": "en"})
    assert (english.status_code, english.json()["code"], english.json()["title"]) == (422, "program.not_matching", "Not a matching program")


async def test_awards_stay_within_each_split_of_the_envelope(g: Grants) -> None:
    program = await g.program(envelope_satang=200_000 * B, allocation_splits=[
        {"name": "issue_based", "pct_bp": 2500}, {"name": "target_areas", "pct_bp": 7500}])
    issue = [await g.screened(program, await nakhon_fund(g, f"กองทุนประเด็น {i}"), amounts=(25_000 * B, 10_000 * B), split="issue_based")
             for i in range(2)]
    assert (await g.decide(issue[0]["id"], {"decision": "approve"})).status_code == 200
    over = await g.decide(issue[1]["id"], {"decision": "approve"})
    assert over.status_code == 409 and over.json()["code"] == "award.split_exceeded"  # 35,000 + 35,000 > 50,000 issue-based
    target = await g.screened(program, await nakhon_fund(g, "กองทุนพื้นที่"), split="target_areas")
    assert (await g.decide(target["id"], {"decision": "approve"})).status_code == 200


# --- Totals kept with every change of an application or a tranche (issue 22, point 1) ------------------------


async def _totals(session: Any) -> set[tuple[Any, ...]]:
    return {tuple(r) for r in (await session.execute(text(
        "SELECT fund_id, program_id, network_id, applications, requested_satang, awarded, awarded_satang,"
        " disbursed_satang, received_satang FROM grant_totals"
        " WHERE (applications, requested_satang, awarded, awarded_satang, disbursed_satang, received_satang)"
        " <> (0, 0, 0, 0, 0, 0)"))).all()}


async def _recount(session: Any) -> set[tuple[Any, ...]]:
    """The same totals counted from scratch from the applications and tranches, in Python."""
    from services.grants.models import NO_NETWORK, Application, Tranche

    applications = {a.id: a for a in (await session.scalars(select(Application))).all()}
    totals: dict[tuple[Any, ...], list[int]] = {}

    def line(a: Any) -> list[int]:
        return totals.setdefault((a.fund_id, a.program_id, a.network_id or NO_NETWORK), [0] * 6)

    for a in applications.values():
        if a.status != "draft":
            t = line(a)
            t[0], t[1] = t[0] + 1, t[1] + a.requested_satang
            t[2], t[3] = t[2] + (a.approved_satang is not None), t[3] + (a.approved_satang or 0)
    for tranche in (await session.scalars(select(Tranche))).all():
        t = line(applications[tranche.application_id])
        t[4] += tranche.amount_satang if tranche.status == "disbursed" else 0
        t[5] += tranche.amount_satang if tranche.ledger_status == "posted" else 0
    return {(*k, *v) for k, v in totals.items() if any(v)}


async def _from_the_rows(session: Any, principal: Any, fund_ids: list[uuid.UUID] | None) -> dict[str, int]:
    """What the aggregates said when they grouped the applications and tranches themselves."""
    from sqlalchemy import func

    from services.grants.models import Application, Program, Tranche
    from services.grants.service import visible_programs

    mine: list[Any] = [Application.status != "draft"]
    if fund_ids is not None:
        mine.append(Application.fund_id.in_(fund_ids))
    if principal.role is Role.network_officer:
        mine.append(Application.network_id == principal.network_id)
    if principal.role is Role.integration:
        if principal.fund_id is not None:
            mine.append(Application.fund_id == principal.fund_id)
        if principal.network_id is not None:
            mine.append(Application.network_id == principal.network_id)
    if visible_programs(principal):
        mine.append(Application.program_id.in_(select(Program.id).where(*visible_programs(principal))))
    applications, requested, awarded, awarded_satang, funds = (await session.execute(
        select(func.count(), func.coalesce(func.sum(Application.requested_satang), 0), func.count(Application.approved_satang),
               func.coalesce(func.sum(Application.approved_satang), 0), func.count(func.distinct(Application.fund_id)))
        .where(*mine))).one()
    disbursed, received = (await session.execute(
        select(func.coalesce(func.sum(Tranche.amount_satang).filter(Tranche.status == "disbursed"), 0),
               func.coalesce(func.sum(Tranche.amount_satang).filter(Tranche.ledger_status == "posted"), 0))
        .join(Application, Application.id == Tranche.application_id).where(*mine))).one()
    return {"funds_with_applications": funds, "applications": applications, "awarded": awarded, "requested_satang": requested,
            "awarded_satang": awarded_satang, "disbursed_satang": disbursed, "received_satang": received,
            "in_transit_satang": disbursed - received}


async def test_the_kept_totals_are_a_recount_of_applications_and_tranches(g: Grants) -> None:
    """Applications drafted, submitted, screened, rejected and awarded, tranches disbursed and
    received by the ledger: after each change ``grant_totals`` is what counting the rows from
    scratch gives, the migration's backfill gives the same, a write rolled back leaves it as it was,
    and the aggregates answer each caller what grouping the rows answered."""
    from services.grants import service
    from services.grants.models import Tranche
    from shared.auth import Principal

    db = g.grants._transport.app.state.db

    async def check() -> set[tuple[Any, ...]]:
        async with db.sessionmaker() as session:
            now = await _totals(session)
            assert now == await _recount(session)
            return now

    network = (await g.members.post("/v1/members/networks", headers=g.tokens.headers(),
                                    json={"name_th": "เครือข่ายนครศรีธรรมราช", "province": "นครศรีธรรมราช"})).json()
    in_network = await make_fund(g.members, g.tokens, name="กองทุนในเครือข่าย", network_id=network["id"], **NAKHON)
    outside = await make_fund(g.members, g.tokens, name="กองทุนห้วยงู", province="ชัยนาท", district="หันคา",
                              subdistrict="ห้วยงู", founded_on="2011-01-01")
    program = await g.program()
    other = await g.program(grantor="provincial_office", name="งบจังหวัด")
    drafted = await g.apply(other, in_network)
    assert drafted.status_code == 201 and not await check(), "a draft counts nowhere"
    awarded = (await g.screened(program, in_network))["id"]
    await check()
    award = (await g.decide(awarded, {"decision": "approve", "tranches": [
        {"amount_satang": 30_000 * B, "due_on": TODAY.isoformat()},
        {"amount_satang": 25_000 * B, "due_on": (TODAY + dt.timedelta(days=90)).isoformat()}]})).json()
    await check()
    rejected = (await g.screened(program, outside))["id"]
    assert (await g.decide(rejected, {"decision": "reject", "note": "ไม่ครบเงื่อนไข"})).status_code == 200
    await check()
    first = award["tranches"][0]["id"]
    disbursed = await g.grants.post(f"/v1/grants/applications/{awarded}/tranches/{first}/disbursement", headers=g.officer,
                                    json={"disbursed_on": TODAY.isoformat(), "reference": "KTB-0001"})
    assert disbursed.status_code == 200, disbursed.text
    await check()
    await g.work()
    totals = await check()
    assert {t[7:] for t in totals} == {(30_000 * B, 30_000 * B), (0, 0)}

    # The migration's backfill counts the same.
    backfill = migration("grants", "kept_aggregates").BACKFILL
    async with db.sessionmaker() as session, session.begin():
        await session.execute(text("DELETE FROM grant_totals"))
        await session.execute(text(backfill.strip().rstrip(";")))
        assert await _totals(session) == totals

    # A write rolled back leaves the totals untouched.
    with pytest.raises(RuntimeError):
        async with db.sessionmaker() as session, session.begin():
            second = await session.get(Tranche, uuid.UUID(award["tranches"][1]["id"]))
            second.status, second.disbursed_on = "disbursed", TODAY
            await session.flush()
            assert await _totals(session) != totals, "moved in the write's own transaction"
            raise RuntimeError("the webhook's outbox could not be written")
    assert await check() == totals

    # Each caller's aggregates are what grouping the rows gave.
    callers = [
        Principal(subject="admin", role=Role.platform_admin),
        Principal(subject="officer", role=Role.network_officer, network_id=uuid.UUID(network["id"])),
        Principal(subject="codi-officer", role=Role.grant_officer, grantor_id=uuid.UUID(g.codi)),
        Principal(subject="province-officer", role=Role.grant_officer, grantor_id=uuid.UUID(g.grantors["provincial_office"])),
        Principal(subject="cli", role=Role.integration, grantor_id=uuid.UUID(g.codi), scopes=frozenset({"grants:read"}),
                  fund_id=uuid.UUID(outside.id)),
    ]
    async with db.sessionmaker() as session:
        for principal in callers:
            for fund_ids in (None, [uuid.UUID(in_network.id)], [uuid.UUID(outside.id), uuid.uuid4()]):
                answer = await service.aggregates(session, principal, fund_ids)
                assert {k: v for k, v in answer.items() if k != "as_of"} == await _from_the_rows(session, principal, fund_ids), (
                    principal.role, fund_ids)


def test_a_report_sent_early_in_the_bangkok_morning_counts_from_that_day() -> None:
    """A report counts from its Bangkok date: one sent at 00:30 in Bangkok (17:30 UTC the day before)
    on the day the first tranche was paid releases the next (it was held: its UTC date compared)."""
    from services.grants.models import Tranche, UseReport
    from services.grants.service import hold_reason

    paid_on = dt.date(2026, 12, 8)
    first = Tranche(seq=1, status="disbursed", disbursed_on=paid_on, requires_report=False)
    second = Tranche(seq=2, status="scheduled", requires_report=True)
    report = UseReport(submitted_at=dt.datetime(2026, 12, 8, 0, 30, tzinfo=BANGKOK).astimezone(dt.UTC))
    assert report.submitted_at.date() == dt.date(2026, 12, 7)
    assert hold_reason(second, [first, second], [report], 90, paid_on) is None
    assert hold_reason(second, [first, second], [], 90, paid_on) == "progress report on tranche 1 not yet submitted"
