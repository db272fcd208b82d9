"""The views of many funds equal the sums of the funds' own figures, exactly (issue 22, point 4).

The gateway in front of the four real services. Four funds in two provinces, two of them in a
network, get deposits (one sync collected days earlier, one before the period), a deposit reversed
and a co-funding entry reversed, co-funding from several sources, a contribution plan (arrears),
benefit payouts and a claim still waiting, and a grant with one tranche disbursed and received by
the ledger. Then the national, province and network roll-ups, the funds table and its CSV and
XLSX must each equal what the funds' own dashboards (each fund's own reports, one fund at a time)
add up to: balances, income by source, deposits by month, members, arrears, benefits paid, claims
waiting, grants.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from gateway.dashboard import thai
from services.benefits.payouts import pay_due
from services.grants.worker import run_once
from shared.auth import Role
from shared.figures import coverage_pct
from shared.timeutil import BANGKOK
from tests.support.apps import gateway_before
from tests.support.factories import NAKHON, Books, add_collector, grant_officer, make_fund, make_grantor, person

NOW = dt.datetime.now(BANGKOK).replace(microsecond=0)
TODAY = NOW.date()
START = TODAY - dt.timedelta(days=60)
PERIOD = {"from": START.isoformat(), "to": TODAY.isoformat()}
B = 100


@pytest.fixture
async def wired(engines, service_client, tokens) -> AsyncIterator[tuple[Any, httpx.AsyncClient, Any]]:
    services = {name: await service_client(name) for name in ("members", "ledger", "benefits", "grants")}
    async with gateway_before(engines["gateway"], services, tokens) as made:
        yield made


def csv_rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


async def _books(service_client: Any, tokens: Any, first: int, count: int, **fund: Any) -> Books:
    """A fund with ``count`` members (national IDs from ``first``), a collector, and a late window
    wide enough for deposits collected months ago."""
    members, ledger = await service_client("members"), await service_client("ledger")
    books = Books(ledger, members, tokens, await make_fund(members, tokens, **fund))
    for i in range(count):
        made = await books.fund.register(person(first + i, joined_on="2012-01-10"))
        assert made.status_code == 201, made.text
        books.member_ids.append(made.json()["id"])
    assert (await add_collector(books.fund, books.collector)).status_code == 201
    rules = await ledger.patch(f"{books.base}/rules", json={"late_window_days": 3650}, headers=books.admin)
    assert rules.status_code == 200, rules.text
    return books


async def _deposit(books: Books, member: int, amount: int, at: dt.datetime = NOW) -> str:
    body = books.deposit(member, amount, at=at, collector_id=books.collector)
    answer = await books.post("/deposits", body, books.collector_headers)
    assert answer.status_code == 201, answer.text
    return body["id"]


async def _sync(books: Books, at: dt.datetime, amounts: list[int]) -> list[str]:
    """A phone's sync of deposits collected at ``at`` (one per member, in order)."""
    bodies = [books.deposit(i, amount, at=at, collector_id=books.collector) for i, amount in enumerate(amounts)]
    answer = await books.post("/deposits/batch", {"deposits": bodies}, books.collector_headers)
    assert answer.status_code == 200 and answer.json()["created"] == len(bodies), answer.text
    return [b["id"] for b in bodies]


async def _co_fund(books: Books, source: str, amount: int, into: str = "bank", on: dt.date = TODAY) -> dict[str, Any]:
    answer = await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": source, "amount_satang": amount,
                                              "received_on": on.isoformat(), "into": into})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def _reverse(books: Books, path: str) -> None:
    undone = await books.post_confirmed(path, {"id": str(uuid.uuid4()), "reason": "บันทึกผิด"})
    assert undone.status_code == 200, undone.text


async def _paid_claims(benefits: httpx.AsyncClient, books: Books, members: list[int], tokens: Any) -> None:
    """Education claims (500 baht each) approved by a second committee member; some left waiting."""
    base = f"/v1/benefits/funds/{books.id}"
    made = await benefits.post(f"{base}/catalog/from-templates", json={"effective_from": "2000-01-01"}, headers=books.admin)
    assert made.status_code == 201, made.text
    second = tokens.headers(Role.committee, fund_id=books.id, sub="second-committee-member")
    for member in members:
        claim = await benefits.post(f"{base}/claims", headers=books.committee, json={
            "member_id": books.member_ids[member], "benefit_code": "education", "event_date": TODAY.isoformat()})
        assert claim.status_code == 201, claim.text
        approved = await benefits.post(f"{base}/claims/{claim.json()['id']}/approve", headers=second)
        assert approved.json()["status"] == "approved", approved.text


async def _waiting_claim(benefits: httpx.AsyncClient, books: Books, member: int) -> None:
    base = f"/v1/benefits/funds/{books.id}"
    made = await benefits.post(f"{base}/catalog/from-templates", json={"effective_from": "2000-01-01"}, headers=books.admin)
    assert made.status_code == 201, made.text
    claim = await benefits.post(f"{base}/claims", headers=books.committee, json={
        "member_id": books.member_ids[member], "benefit_code": "education", "event_date": TODAY.isoformat()})
    assert claim.status_code == 201, claim.text


async def _grant(grants: httpx.AsyncClient, tokens: Any, books: Books) -> None:
    """An award of two tranches to the fund; the first disbursed and received by its ledger."""
    grantor = await make_grantor(grants, tokens)
    officer = grant_officer(tokens, grantor, sub="codi-officer")
    program = await grants.post("/v1/grants/programs", headers=officer, json={
        "grantor": "codi", "name": "สนับสนุนกองทุนสวัสดิการชุมชน", "fiscal_year_be": TODAY.year + 543,
        "envelope_satang": 1_000_000 * B, "per_fund_ceiling_satang": 55_000 * B})
    assert program.status_code == 201, program.text
    applied = await grants.post(f"/v1/grants/programs/{program.json()['id']}/applications", headers=books.admin, json={
        "fund_id": books.id, "title": "ขยายสวัสดิการผู้สูงอายุ", "budget_lines": [
            {"line": "L1", "description": "สวัสดิการ", "amount_satang": 30_000 * B},
            {"line": "L2", "description": "อบรม", "amount_satang": 25_000 * B}]})
    assert applied.status_code == 201, applied.text
    aid = applied.json()["id"]
    assert (await grants.post(f"/v1/grants/applications/{aid}/submit", headers=books.admin)).status_code == 200
    for reviewer in ("r1", "r2"):
        reviewed = await grants.post(f"/v1/grants/applications/{aid}/reviews", headers=grant_officer(tokens, grantor, sub=reviewer),
                                     json={"score": 80, "recommendation": "approve"})
        assert reviewed.status_code == 200, reviewed.text
    decided = await grants.post(f"/v1/grants/applications/{aid}/decision", headers=officer, json={
        "decision": "approve", "tranches": [{"amount_satang": 30_000 * B, "due_on": TODAY.isoformat()},
                                            {"amount_satang": 25_000 * B, "due_on": (TODAY + dt.timedelta(days=90)).isoformat()}]})
    assert decided.status_code == 200, decided.text
    first = decided.json()["tranches"][0]["id"]
    paid = await grants.post(f"/v1/grants/applications/{aid}/tranches/{first}/disbursement", headers=officer,
                             json={"disbursed_on": TODAY.isoformat(), "reference": "KTB-0001"})
    assert paid.status_code == 200, paid.text
    app = grants._transport.app
    await run_once(app.state.db, app.state.ledger, app.state.webhook_http, targets=app.state.webhook_targets)


def expected(dashboards: list[dict[str, Any]]) -> dict[str, Any]:
    """A roll-up's figures as the sums of the funds' own dashboards."""
    income: Counter[str] = Counter()
    months: dict[str, Counter[str]] = {}
    categories: dict[str, Counter[str]] = {}
    waiting: Counter[str] = Counter()
    grants: Counter[str] = Counter()
    for d in dashboards:
        income.update({s["source"]: s["amount_satang"] for s in d["income_by_source"]["sources"]})
        for m in d["deposits_by_month"]["months"]:
            months.setdefault(m["month"], Counter()).update({"deposits": m["deposits"], "amount_satang": m["amount_satang"]})
        for c in d["benefits_paid"]["by_category"]:
            categories.setdefault(c["category"], Counter()).update({"claims": c["claims"], "amount_satang": c["amount_satang"]})
        waiting.update({s["status"]: s["claims"] for s in d["pending_claims"]["by_status"]})
        grants.update(d["grants"])
    known = [d["accumulated_satang"] for d in dashboards if d["accumulated_satang"] is not None]
    populated = [d for d in dashboards if d["members"]["population"]]
    population = sum(d["members"]["population"] for d in populated)
    return {
        "funds": {"count": len(dashboards), "with_books": len(known)},
        "accumulated_satang": sum(known) if known else None,
        "members": {"active": sum(d["members"]["active"] for d in dashboards),
                    "total": sum(d["members"]["total"] for d in dashboards), "population": population or None,
                    "coverage_pct": coverage_pct(sum(d["members"]["active"] for d in populated), population)},
        "income": {"total_satang": sum(d["income_by_source"]["total_satang"] for d in dashboards),
                   "sources": {s: a for s, a in income.items() if a}},
        "deposits": {"deposits": sum(d["deposits_by_month"]["deposits"] for d in dashboards),
                     "amount_satang": sum(d["deposits_by_month"]["amount_satang"] for d in dashboards),
                     "months": {m: dict(c) for m, c in months.items()}},
        "arrears": {"members": sum(d["arrears"]["members"] for d in dashboards),
                    "amount_satang": sum(d["arrears"]["amount_satang"] for d in dashboards)},
        "benefits": {"total_satang": sum(d["benefits_paid"]["total_satang"] for d in dashboards),
                     "claims": sum(d["benefits_paid"]["claims"] for d in dashboards),
                     "members_helped": sum(d["benefits_paid"]["members_helped"] for d in dashboards),
                     "by_category": {c: dict(n) for c, n in categories.items()}},
        "pending": {"claims": sum(d["pending_claims"]["claims"] for d in dashboards),
                    "by_status": {s: n for s, n in waiting.items() if n}},
        "grants": dict(grants),
    }


def observed(rollup: dict[str, Any]) -> dict[str, Any]:
    """The same figures, as a roll-up gives them."""
    assert rollup["missing"] == [] and rollup["unavailable"] == [], rollup["unavailable"]
    return {
        "funds": {"count": rollup["funds"]["count"], "with_books": rollup["funds"]["with_books"]},
        "accumulated_satang": rollup["accumulated_satang"],
        "members": rollup["members"],
        "income": {"total_satang": rollup["income_by_source"]["total_satang"],
                   "sources": {s["source"]: s["amount_satang"] for s in rollup["income_by_source"]["sources"]}},
        "deposits": {"deposits": rollup["deposits_by_month"]["deposits"],
                     "amount_satang": rollup["deposits_by_month"]["amount_satang"],
                     "months": {m["month"]: {"deposits": m["deposits"], "amount_satang": m["amount_satang"]}
                                for m in rollup["deposits_by_month"]["months"]}},
        "arrears": {"members": rollup["arrears"]["members"], "amount_satang": rollup["arrears"]["amount_satang"]},
        "benefits": {k: rollup["benefits_paid"][k] for k in ("total_satang", "claims", "members_helped")}
                    | {"by_category": {c["category"]: {"claims": c["claims"], "amount_satang": c["amount_satang"]}
                                       for c in rollup["benefits_paid"]["by_category"]}},
        "pending": {"claims": rollup["pending_claims"]["claims"],
                    "by_status": {s["status"]: s["claims"] for s in rollup["pending_claims"]["by_status"]}},
        "grants": rollup["grants"],
    }


def table_of(dashboards: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """Each fund's row of the funds table, from its own dashboard."""
    return {f: (d["fund"]["name"], d["fund"]["province"], d["founded_year_be"], d["accumulated_satang"],
                d["members"]["active"], d["members"]["population"], d["members"]["coverage_pct"])
            for f, d in dashboards.items()}


async def test_every_view_of_many_funds_is_the_sum_of_the_funds_own_figures(wired, service_client, tokens) -> None:
    _, gateway, signed = wired
    members, ledger, benefits, grants = [await service_client(name) for name in ("members", "ledger", "benefits", "grants")]
    network = await members.post("/v1/members/networks", headers=tokens.headers(),
                                 json={"name_th": "เครือข่ายสุราษฎร์ธานี", "province": "สุราษฎร์ธานี"})
    assert network.status_code == 201, network.text
    network_id = network.json()["id"]
    one = await _books(service_client, tokens, 6100, 4, name="กองทุนสวัสดิการชุมชนตำบลบ้านส้อง", network_id=network_id)
    two = await _books(service_client, tokens, 6200, 3, name="กองทุนสวัสดิการชุมชนตำบลท่าขนอน", network_id=network_id,
                       population=4_000)
    three = await _books(service_client, tokens, 6300, 2, name="กองทุนสวัสดิการชุมชนตำบลเขาตอก", population=None)
    four = await _books(service_client, tokens, 6400, 3, name="กองทุนสวัสดิการชุมชนตำบลฉวาง", **NAKHON, population=2_775)
    funds = {b.id: b for b in (one, two, three, four)}

    # Fund one: deposits today, a sync collected 40 days ago (another month, most likely) with one of
    # its deposits reversed, one before the period; co-funding from three sources; a plan (arrears);
    # two benefits paid from the bank.
    await _deposit(one, 0, 3_000)
    await _deposit(one, 1, 2_500)
    late = await _sync(one, NOW - dt.timedelta(days=40), [1_000, 1_100, 1_200, 1_300])
    await _deposit(one, 2, 700, at=NOW - dt.timedelta(days=90))
    await _reverse(one, f"/deposits/{late[1]}/reverse")
    await _co_fund(one, "codi", 1_000_000)
    await _co_fund(one, "local_government", 300_000, on=TODAY - dt.timedelta(days=20))
    await _co_fund(one, "donors", 50_000, into="fund_cash")
    plan = await one.post("/plans", {"name": "สัจจะวันละบาท", "period": "month", "amount_satang": 3_000,
                                     "effective_from": (TODAY - dt.timedelta(days=200)).isoformat()}, one.admin)
    assert plan.status_code == 201, plan.text
    await _paid_claims(benefits, one, [0, 1], tokens)

    # Fund two: a sync of yesterday's collection; co-funding from two sources, one of them reversed
    # whole; a grant tranche disbursed and received.
    await _sync(two, NOW - dt.timedelta(days=1), [500, 600, 700])
    await _co_fund(two, "codi", 200_000)
    donors = await _co_fund(two, "donors", 70_000, into="fund_cash")
    await _reverse(two, f"/entries/{donors['entry_id']}/reverse")
    await _grant(grants, tokens, two)

    # Fund three: no books at all, a claim waiting. Fund four (another province): a deposit,
    # co-funding, a plan, a benefit paid, a member suspended (counted in total, not active).
    await _waiting_claim(benefits, three, 0)
    await _deposit(four, 0, 4_000)
    await _co_fund(four, "codi", 500_000)
    plan = await four.post("/plans", {"name": "สัจจะ", "period": "month", "amount_satang": 5_000,
                                      "effective_from": (TODAY - dt.timedelta(days=100)).isoformat()}, four.admin)
    assert plan.status_code == 201, plan.text
    await _paid_claims(benefits, four, [1], tokens)
    assert await pay_due(benefits._transport.app.state.db, benefits._transport.app.state.ledger) == 3
    suspended = await members.post(f"/v1/members/funds/{four.id}/members/{four.member_ids[2]}/status", headers=four.committee,
                                   json={"status": "suspended", "effective_on": TODAY.isoformat()})
    assert suspended.status_code == 200, suspended.text

    admin = signed.headers(Role.platform_admin, sub="platform-admin-1")
    counted = await gateway.post("/v1/ledger/aggregates/refresh", headers=admin)
    assert counted.status_code == 200 and counted.json()["arrears_counted"] == 2, counted.text

    # Each fund's own figures, one fund at a time.
    dashboards = {}
    for fund_id in funds:
        answer = await gateway.get(f"/v1/dashboard/funds/{fund_id}", params=PERIOD, headers=admin)
        assert answer.status_code == 200, answer.text
        dashboards[fund_id] = answer.json()
    d1 = dashboards[one.id]
    assert d1["deposits_by_month"]["deposits"] == 2 + 3 and d1["accumulated_satang"] is not None, "the data is what it says"
    assert d1["arrears"]["members"] > 0 and dashboards[two.id]["grants"]["received_satang"] == 30_000 * B
    assert dashboards[three.id]["accumulated_satang"] is None and dashboards[three.id]["pending_claims"]["claims"] == 1
    assert {s["source"] for s in d1["income_by_source"]["sources"]} >= {"codi", "local_government", "donors"}

    views = {
        "national": ("/v1/dashboard/national", list(funds)),
        "province": ("/v1/dashboard/provinces/สุราษฎร์ธานี", [one.id, two.id, three.id]),
        "network": (f"/v1/dashboard/networks/{network_id}", [one.id, two.id]),
    }
    officer = signed.headers(Role.network_officer, network_id=network_id)
    for name, (path, scope) in views.items():
        for who in (admin, officer) if name == "network" else (admin,):
            answer = await gateway.get(path, params=PERIOD, headers=who)
            assert answer.status_code == 200, answer.text
            rollup = answer.json()
            assert sorted(r["fund_id"] for r in rollup["table"]) == sorted(scope), name
            assert observed(rollup) == expected([dashboards[f] for f in scope]), name
            assert rollup["arrears"]["funds_not_counted"] == 0
            rows = {r["fund_id"]: (r["name"], r["province"], r["founded_year_be"], r["accumulated_satang"], r["members"],
                                   r["population"], r["coverage_pct"]) for r in rollup["table"]}
            assert rows == table_of({f: dashboards[f] for f in scope}), name

    # The funds table, and its downloads.
    want = table_of(dashboards)
    table = await gateway.get("/v1/dashboard/funds-table", headers=admin)
    assert table.status_code == 200, table.text
    assert table.json()["missing"] == []
    assert {r["fund_id"]: (r["name"], r["province"], r["founded_year_be"], r["accumulated_satang"], r["members"],
                           r["population"], r["coverage_pct"]) for r in table.json()["rows"]} == want
    by_name = {row[0]: row for row in want.values()}
    downloaded = await gateway.get("/v1/dashboard/exports/funds.csv", headers=admin)
    assert downloaded.status_code == 200, downloaded.text
    lines = csv_rows(downloaded.content)[3:]
    assert {line[1]: line[2:] for line in lines} == {
        name: [province, str(founded), thai.baht_plain(accumulated) if accumulated is not None else "", str(active),
               f"{pct:.1f}" if pct is not None else ""]
        for name, province, founded, accumulated, active, _, pct in by_name.values()}
    sheet = await gateway.get("/v1/dashboard/exports/funds.xlsx", headers=admin)
    assert sheet.status_code == 200, sheet.text
    cells = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))[3:]
    assert {row[1]: row[2:] for row in cells} == {
        name: (province, founded, accumulated / 100 if accumulated is not None else None, active, pct)
        for name, province, founded, accumulated, active, _, pct in by_name.values()}
