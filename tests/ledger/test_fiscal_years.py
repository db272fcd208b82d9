"""The fund's year (issue 27, docs/fiscal-years.md): fiscal years, closing into the accumulated fund,
the closed-period lock, late deposits, corrections, reopening, and the statements for the general
meeting, through the ledger's HTTP interface on a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from typing import Any

from sqlalchemy import text

from shared.auth import Role
from shared.timeutil import BANGKOK
from tests.support.factories import NOW, Books, make_books

TODAY = NOW.date()
LAST = TODAY.year - 1  # the last whole calendar year: closable today


def at(day: dt.date, hour: int = 17) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, 0, tzinfo=BANGKOK)


def close_body(**extra: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "meeting_on": TODAY.isoformat(), "minutes_ref": "รายงานการประชุมใหญ่ 1/2569", **extra}


async def co_funding(books: Books, source: str, amount: int, day: dt.date | str) -> Any:
    return await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": source, "amount_satang": amount,
                                            "received_on": str(day)})


async def payout(books: Books, category: str, amount: int, day: dt.date) -> Any:
    answer = await books.post("/payouts", {"id": str(uuid.uuid4()), "category": category, "amount_satang": amount,
                                           "paid_on": day.isoformat()}, books.tokens.service("benefits"))
    assert answer.status_code == 201, answer.text
    return answer


async def members_view(books: Books) -> list[Any]:
    """Everything the ledger says about each member's contributions."""
    view: list[Any] = []
    for member in books.member_ids:
        view.append((
            (await books.get(f"/members/{member}/balance")).json(),
            (await books.get(f"/members/{member}/statement", limit=200)).json(),
            (await books.get(f"/members/{member}/standing")).json(),
            (await books.get(f"/members/{member}/standing", as_of=f"{LAST}-12-31")).json(),
        ))
    view.append((await books.get("/arrears")).json())
    view.append((await books.get("/reports/member-contributions", **{"from": f"{LAST}-01-01", "to": TODAY.isoformat()})).json())
    return view


async def accounts(books: Books) -> dict[str, dict[str, Any]]:
    return {a["code"]: a for a in (await books.get("/accounts")).json()}


async def audit_actions(books: Books) -> list[tuple[str, str]]:
    async with books.ledger._transport.app.state.db.sessionmaker() as session:
        rows = await session.execute(text(
            "SELECT action, object_id FROM audit_events WHERE fund_id = :f AND action LIKE 'ledger.year_%' ORDER BY id"),
            {"f": books.id})
        return [tuple(r) for r in rows]


# --- 2 and 3. Closing: carried into the accumulated fund, members untouched, the period locked -----------------------


async def test_closing_a_year_keeps_every_member_as_they_were_and_locks_the_period(service_client, tokens) -> None:
    books = await make_books(service_client, tokens, members_count=3)
    assert (await books.ledger.patch(f"{books.base}/rules", json={"late_window_days": 3650}, headers=books.admin)).status_code == 200
    plan = await books.post("/plans", {"name": "เดือนละ 30 บาท", "period": "month", "amount_satang": 3_000,
                                       "effective_from": f"{LAST}-01-01"})
    assert plan.status_code == 201, plan.text
    # Member 0 pays the whole year and the next ahead, member 1 half a year, member 2 nothing.
    deposits = [books.deposit(member=0, amount=3_000, at=at(dt.date(LAST, m, 5))) for m in range(1, 13)]
    deposits.append(books.deposit(member=0, amount=36_000, at=at(dt.date(LAST, 12, 6))))
    deposits += [books.deposit(member=1, amount=3_000, at=at(dt.date(LAST, m, 6))) for m in range(1, 7)]
    synced = (await books.post("/deposits/batch", {"deposits": deposits}, books.collector_headers)).json()
    assert synced["created"] == 19, synced
    handed = await books.post("/handovers", {"id": str(uuid.uuid4()), "collector_id": books.collector,
                                             "amount_satang": 40_000, "handed_over_on": f"{LAST}-12-20"})
    assert handed.status_code == 201, handed.text
    codi = await co_funding(books, "codi", 54_000, f"{LAST}-06-30")
    assert codi.status_code == 201
    await payout(books, "death", 20_000, dt.date(LAST, 8, 1))
    expense = await books.post_confirmed("/expenses/administration", {
        "id": str(uuid.uuid4()), "amount_satang": 5_000, "paid_on": f"{LAST}-09-01", "paid_from": "bank", "memo": "ค่าเครื่องเขียน"})
    assert expense.status_code == 200, expense.text
    before = await members_view(books)
    assert [s[2]["in_arrears"] for s in before[:3]] == [False, True, True]
    # income 90,000 (members) + 54,000 (CODI); expenditure 20,000 + 5,000
    surplus = 144_000 - 25_000

    # Only the fund's committee closes; platform admins, fund admins and collectors are refused.
    for headers, code in ((books.tokens.headers(Role.platform_admin), "year.committee_only"), (books.admin, None),
                          (books.collector_headers, None)):
        refused = await books.post(f"/years/{LAST}/close", close_body(), headers)
        assert refused.status_code == 403, refused.text
        assert code is None or refused.json()["code"] == code
    not_ended = await books.post(f"/years/{TODAY.year}/close", close_body())
    assert not_ended.status_code == 422 and not_ended.json()["code"] == "year.not_ended"
    early_meeting = await books.post(f"/years/{LAST}/close", close_body(meeting_on=f"{LAST}-12-31"))
    assert early_meeting.status_code == 422 and early_meeting.json()["code"] == "year.meeting_date_invalid"
    assert await audit_actions(books) == []

    body = close_body()
    closed = await books.post(f"/years/{LAST}/close", body)
    assert closed.status_code == 201, closed.text
    closing = closed.json()
    assert (closing["year"], closing["surplus_satang"], closing["meeting_on"], closing["ends_on"]) == (
        LAST, surplus, TODAY.isoformat(), f"{LAST}-12-31")
    again = await books.post(f"/years/{LAST}/close", body)
    assert again.status_code == 200 and again.headers["Idempotency-Replayed"] == "true" and again.json() == closing
    changed = await books.post(f"/years/{LAST}/close", {**body, "minutes_ref": "อื่น"})
    assert changed.status_code == 409 and changed.json()["code"] == "idempotency.key_reused"
    twice = await books.post(f"/years/{LAST}/close", close_body())
    assert twice.status_code == 409 and twice.json()["code"] == "year.already_closed"
    assert twice.headers["content-type"].startswith("application/problem+json")

    # Members read exactly as before: balances, statements, standing, arrears, contributions.
    assert await members_view(books) == before
    chart = await accounts(books)
    assert chart["3200"]["balance_satang"] == -surplus
    assert chart["4199"]["balance_satang"] == 90_000  # the contra of the members' 90,000
    assert all(a["balance_satang"] == 0 for a in chart.values() if a["kind"] in ("income", "benefit_expense", "admin_expense"))
    assert sum(a["balance_satang"] for a in chart.values() if a["type"] == "income") == 0
    trial = (await books.get("/trial-balance")).json()
    assert trial["balanced"] and sum(a["balance_satang"] for a in trial["accounts"]) == 0
    years = (await books.get("/years")).json()
    assert years["closed_through"] == f"{LAST}-12-31"
    assert [(y["year"], y["status"]) for y in years["years"]] == [(LAST, "closed"), (TODAY.year, "open")]

    # The period is locked: nothing is dated into it, and nothing is written when refused.
    locked = await co_funding(books, "codi", 100, f"{LAST}-12-30")
    assert locked.status_code == 409 and locked.json()["code"] == "period.closed", locked.text
    assert locked.headers["content-type"].startswith("application/problem+json")
    english = await books.ledger.post(f"{books.base}/co-funding", json={"id": str(uuid.uuid4()), "source": "codi",
                                      "amount_satang": 100, "received_on": f"{LAST}-12-30"},
                                      headers={**books.committee, "Accept-Language": "en"})
    assert english.status_code == 409 and "closed" in english.json()["detail"]
    proposed = await books.post("/expenses/administration", {"id": str(uuid.uuid4()), "amount_satang": 100,
                                                             "paid_on": f"{LAST}-12-30", "memo": "x"})
    assert proposed.status_code == 409 and proposed.json()["code"] == "period.closed"
    assert (await books.get("/proposals", status="proposed")).json()["items"] == []
    assert await accounts(books) == chart

    # A deposit collected in the closed year and synced late goes into the open year, its
    # collection date kept and shown as late.
    late = books.deposit(member=1, amount=3_000, at=at(dt.date(LAST, 12, 28)))
    posted = await books.post("/deposits/batch", {"deposits": [late]}, books.collector_headers)
    assert posted.json()["created"] == 1, posted.text
    line = (await books.get(f"/members/{books.member_ids[1]}/statement", limit=1)).json()["lines"][0]
    assert (line["collected_on"], line["business_date"], line["late"]) == (f"{LAST}-12-28", f"{TODAY.year}-01-01", True)
    assert (await books.get(f"/deposits/{late['id']}")).json()["collected_at"].startswith(f"{LAST}-12-28")
    open_year = (await books.get("/reports/sources", **{"from": f"{TODAY.year}-01-01", "to": TODAY.isoformat()})).json()
    assert open_year["total_satang"] == 3_000

    # A correction of the closed year is an entry of the open year that refers to it; it moves the
    # accumulated fund, not this year's income.
    assert (await co_funding(books, "donors", 100_000, TODAY)).status_code == 201  # the bank has enough to give back
    reversal = await books.post_confirmed(f"/entries/{codi.json()['entry_id']}/reverse", {"id": str(uuid.uuid4()),
                                                                                         "reason": "รับซ้ำ"})
    assert reversal.status_code == 200, reversal.text
    corrected = await accounts(books)
    assert corrected["3200"]["balance_satang"] == -surplus + 54_000 and corrected["4300"]["balance_satang"] == 0
    statement = (await books.get(f"/statements/{TODAY.year}")).json()
    assert statement["income_and_expenditure"]["prior_year_corrections"]["amount_satang"] == -54_000
    assert statement["income_and_expenditure"]["income_total"]["amount_satang"] == 103_000
    closing_entry = closing["entry_id"]
    undo = await books.post(f"/entries/{closing_entry}/reverse", {"id": str(uuid.uuid4()), "reason": "ลองกลับ"})
    assert undo.status_code == 409 and undo.json()["code"] == "entry.is_year_closing"

    # Only a platform admin reopens, with a reason; the closing is reversed and the year opens.
    refused = await books.post(f"/years/{LAST}/reopen", {"id": str(uuid.uuid4()), "reason": "แก้ไขตัวเลข"})
    assert refused.status_code == 403 and refused.json()["code"] == "year.platform_admin_only"
    admin = books.tokens.headers(Role.platform_admin)
    reopen = {"id": str(uuid.uuid4()), "reason": "ที่ประชุมใหญ่ให้แก้ไขตัวเลข"}
    reopened = await books.post(f"/years/{LAST}/reopen", reopen, admin)
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["reopen_reason"] == reopen["reason"] and reopened.json()["reopened_by"]
    replayed = await books.post(f"/years/{LAST}/reopen", reopen, admin)
    assert replayed.status_code == 200 and replayed.headers["Idempotency-Replayed"] == "true"
    not_closed = await books.post(f"/years/{LAST}/reopen", {"id": str(uuid.uuid4()), "reason": "อีกครั้ง"}, admin)
    assert not_closed.status_code == 409 and not_closed.json()["code"] == "year.not_closed"
    assert (await books.get("/years")).json()["closed_through"] is None
    back = await accounts(books)
    # the year's accounts as before closing; its correction stays in the accumulated fund
    assert back["4300"]["balance_satang"] == -54_000 and back["5100-death"]["balance_satang"] == 20_000
    assert back["3200"]["balance_satang"] == 54_000 and back["4199"]["balance_satang"] == 0
    assert (await co_funding(books, "donors", 100, f"{LAST}-12-30")).status_code == 201
    assert (await books.post(f"/years/{LAST}/close", close_body(minutes_ref="รายงานการประชุมใหญ่วิสามัญ 2/2569"))).status_code == 201
    assert await audit_actions(books) == [("ledger.year_close", str(LAST)), ("ledger.year_reopen", str(LAST)),
                                          ("ledger.year_close", str(LAST))]
    after = await members_view(books)
    assert after[0] == before[0] and after[2] == before[2]  # member 1 paid once more, late
    await_trial = (await books.get("/trial-balance")).json()
    assert await_trial["balanced"]


async def test_years_close_in_order(service_client, tokens) -> None:
    books = await make_books(service_client, tokens, members_count=1)
    assert (await co_funding(books, "codi", 1_000, f"{LAST - 1}-05-01")).status_code == 201
    out_of_order = await books.post(f"/years/{LAST}/close", close_body())
    assert out_of_order.status_code == 409 and out_of_order.json()["code"] == "year.earlier_open"
    assert str(LAST - 1 + 543) in out_of_order.json()["detail"]
    assert (await books.post(f"/years/{LAST - 1}/close", close_body())).status_code == 201
    assert (await books.post(f"/years/{LAST}/close", close_body())).status_code == 201
    later = await books.post(f"/years/{LAST - 1}/reopen", {"id": str(uuid.uuid4()), "reason": "ผิดปี"},
                             books.tokens.headers(Role.platform_admin))
    assert later.status_code == 409 and later.json()["code"] == "year.later_closed"


# --- 1. The fiscal year: October to September, and the rules that count per year ---------------------------------


async def test_an_october_fund_counts_its_rules_by_its_fiscal_year(service_client, tokens) -> None:
    books = await make_books(service_client, tokens, members_count=1)
    october = await books.ledger.patch(f"{books.base}/rules", json={"fiscal_year_start_month": 10}, headers=books.admin)
    assert october.status_code == 200 and october.json()["fiscal_year_start_month"] == 10
    bad = await books.ledger.patch(f"{books.base}/rules", json={"fiscal_year_start_month": 4}, headers=books.admin)
    assert bad.status_code == 422
    # Fiscal year LAST runs 1 October LAST-1 to 30 September LAST.
    assert (await co_funding(books, "codi", 100_000, f"{LAST - 1}-09-30")).status_code == 201  # fiscal year LAST-1
    assert (await co_funding(books, "codi", 10_000, f"{LAST - 1}-10-01")).status_code == 201   # fiscal year LAST
    # The cap (20%) counts fiscal year LAST's income only: 2,000 of it, not 20% of the calendar year.
    over = await books.post("/expenses/administration", {"id": str(uuid.uuid4()), "amount_satang": 2_001,
                                                         "paid_on": f"{LAST - 1}-12-01", "paid_from": "bank", "memo": "x"})
    assert over.status_code == 422 and over.json()["code"] == "expense.admin_cap_exceeded", over.text
    within = await books.post_confirmed("/expenses/administration", {"id": str(uuid.uuid4()), "amount_satang": 2_000,
                                                                     "paid_on": f"{LAST - 1}-12-01", "paid_from": "bank", "memo": "x"})
    assert within.status_code == 200, within.text
    years = (await books.get("/years")).json()
    first = years["years"][0]
    assert (first["year"], first["starts_on"], first["ends_on"]) == (LAST - 1, f"{LAST - 2}-10-01", f"{LAST - 1}-09-30")
    statement = (await books.get(f"/statements/{LAST}")).json()
    assert (statement["starts_on"], statement["ends_on"]) == (f"{LAST - 1}-10-01", f"{LAST}-09-30")
    ie = statement["income_and_expenditure"]
    assert (ie["income_total"]["amount_satang"], ie["income_total"]["previous_satang"]) == (10_000, 100_000)
    assert ie["administration"]["spent_satang"] == 2_000 and ie["administration"]["cap_satang"] == 2_000
    matching_rule = await books.ledger.put(f"{books.base}/matching-rules", json={"source": "codi", "ratio_bp": 10_000},
                                           headers=books.committee)
    assert matching_rule.status_code == 200
    standing = (await books.get(f"/members/{books.member_ids[0]}/standing")).json()
    assert standing["fiscal_year_start_month"] == 10
    # Once a year is closed the choice is fixed.
    assert (await books.post(f"/years/{LAST - 1}/close", close_body())).status_code == 201
    fixed = await books.ledger.patch(f"{books.base}/rules", json={"fiscal_year_start_month": 1}, headers=books.admin)
    assert fixed.status_code == 409 and fixed.json()["code"] == "fiscal_year.change_after_closing"
    same = await books.ledger.patch(f"{books.base}/rules", json={"fiscal_year_start_month": 10}, headers=books.admin)
    assert same.status_code == 200


def test_fiscal_year_arithmetic() -> None:
    from shared.fiscal import fiscal_year_of, year_bounds

    assert fiscal_year_of(dt.date(2019, 9, 30), 10) == 2019 and fiscal_year_of(dt.date(2019, 10, 1), 10) == 2020
    assert fiscal_year_of(dt.date(2019, 12, 31), 1) == 2019
    assert year_bounds(2020, 10) == (dt.date(2019, 10, 1), dt.date(2020, 9, 30))
    assert year_bounds(2020, 1) == (dt.date(2020, 1, 1), dt.date(2020, 12, 31))


def test_benefits_yearly_limits_count_the_funds_fiscal_year() -> None:
    from services.benefits.rules import MemberFacts, PastClaim, Rules, judge

    rules = Rules.model_validate({"amount": {"model": "fixed", "amount_satang": 100_000}, "per_year_count": 1})
    past = [PastClaim(dt.date(2019, 9, 20), None, None, 100_000)]

    def claim(month: int) -> Any:
        member = MemberFacts(status="active", joined_on=dt.date(2010, 1, 1), birth_date=None, sex="female",
                             fiscal_year_start_month=month)
        return judge(rules=rules, member=member, event_date=dt.date(2019, 10, 5), event_end_date=None, days=None,
                     past=past, applicant_is_member=False, documents=set())

    assert not claim(1).eligible and claim(1).reasons[0][0] == "eligibility.year_count"  # calendar 2019 both
    assert claim(10).eligible  # fiscal 2019 and 2020: another year


# --- 4. Statements: tied to the trial balance, Ban Song's 2019 income mix, XLSX and a Thai PDF -------------------


async def test_the_statements_tie_to_the_trial_balance_and_give_ban_songs_2019_mix(service_client, tokens) -> None:
    from openpyxl import load_workbook
    from pypdf import PdfReader

    from tools.demo import load_facts

    income = load_facts()["ban_song"]["income_sources_2019"]
    baht = {k: int(v) for k, v in income.items() if k != "year_be"}
    books = await make_books(service_client, tokens, members_count=14)
    await books.ledger.patch(f"{books.base}/rules", json={"late_window_days": 3650}, headers=books.admin)
    assert (await co_funding(books, "donors", 500_000, "2018-11-01")).status_code == 201  # the year before
    await payout(books, "birth", 100_000, dt.date(2018, 12, 1))
    deposits, left = [], baht["members"] * 100
    for i in range(14):
        amount = min(left, 10_000_000)
        deposits.append(books.deposit(member=i, amount=amount, at=dt.datetime(2019, 3, 1 + i, 17, 0, tzinfo=BANGKOK)))
        left -= amount
    assert (await books.post("/deposits/batch", {"deposits": deposits}, books.collector_headers)).json()["created"] == 14
    for source, key in (("local_government", "local_government"), ("codi", "codi"), ("donors", "network_and_donors")):
        assert (await co_funding(books, source, baht[key] * 100, "2019-06-30")).status_code == 201
    await payout(books, "death", 3_000_000, dt.date(2019, 7, 1))
    await payout(books, "sickness_medical", 1_250_000, dt.date(2019, 8, 1))
    handed = await books.post("/handovers", {"id": str(uuid.uuid4()), "collector_id": books.collector,
                                             "amount_satang": 100_000_000, "handed_over_on": "2019-12-01"})
    assert handed.status_code == 201
    assert (await books.post_confirmed("/expenses/administration", {
        "id": str(uuid.uuid4()), "amount_satang": 2_500_000, "paid_on": "2019-10-01", "memo": "ค่าจัดประชุมใหญ่"})).status_code == 200
    for year in (2018, 2019):
        closed = await books.post(f"/years/{year}/close", close_body())
        assert closed.status_code == 201, closed.text
    trial = (await books.get("/trial-balance")).json()
    answer = await books.get("/statements/2019")
    assert answer.status_code == 200, answer.text
    s = answer.json()
    position, ie = s["position"], s["income_and_expenditure"]
    assert (s["status"], s["year_be"], s["previous_year"]) == ("closed", 2562, 2018)

    # Every account of the trial balance is in one line of the position, and assets = funds.
    def sum_of(*kinds: str, types: tuple[str, ...] = ()) -> int:
        return sum(a["balance_satang"] for a in trial["accounts"] if a["kind"] in kinds or a["type"] in types)

    lines = {f["key"]: f["amount_satang"] for f in (*position["assets"], *position["funds"], *position["liabilities"])}
    assert lines["fund_cash"] == sum_of("fund_cash") and lines["bank"] == sum_of("bank")
    assert lines["collector_cash"] == sum_of("collector_cash") and lines["grants_receivable"] == sum_of("grants_receivable")
    assert lines["accumulated_fund"] == -sum_of("accumulated_fund") and lines["restricted"] == -sum_of("restricted")
    assert lines["result_not_closed"] == -sum_of(types=("income", "expense")) == 0
    assert position["assets_total"]["amount_satang"] == sum_of(types=("asset",))
    assert position["funds_total"]["amount_satang"] == -sum_of(types=("liability", "equity", "income", "expense"))
    assert position["assets_total"]["amount_satang"] == position["funds_total"]["amount_satang"]
    assert position["assets_total"]["previous_satang"] == position["funds_total"]["previous_satang"] == 400_000
    # Income less expenditure is the change in the accumulated fund, this year and the year before.
    accumulated = next(f for f in position["funds"] if f["key"] == "accumulated_fund")
    assert ie["surplus"]["amount_satang"] == accumulated["amount_satang"] - accumulated["previous_satang"]
    assert ie["surplus"]["previous_satang"] == accumulated["previous_satang"] == 400_000
    assert ie["prior_year_corrections"]["amount_satang"] == 0
    # The income mix of the source documents.
    mix = [(f["key"], f["amount_satang"], f["share_pct"]) for f in ie["income"] if f["amount_satang"]]
    assert sorted(mix, key=lambda m: -m[1]) == [
        ("members", 131_217_500, 41.41), ("codi", 100_838_400, 31.82),
        ("local_government", 50_000_000, 15.78), ("donors", 34_820_000, 10.99)]
    assert ie["income_total"]["amount_satang"] == 316_875_900 and ie["income_total"]["previous_satang"] == 500_000
    benefits = {f["key"]: f["amount_satang"] for f in ie["benefits"]}
    assert benefits["benefit:death"] == 3_000_000 and ie["benefits_total"]["previous_satang"] == 100_000
    admin = ie["administration"]
    assert (admin["spent_satang"], admin["cap_satang"], admin["within_cap"]) == (2_500_000, 316_875_900 * 2000 // 10_000, True)

    # A later year changes nothing of a closed one, and shows it beside its own figures.
    assert (await co_funding(books, "codi", 99, "2020-01-01")).status_code == 201
    assert (await books.get("/statements/2019")).json() == s
    nxt = (await books.get("/statements/2020")).json()
    assert nxt["status"] == "open"
    assert nxt["income_and_expenditure"]["income_total"]["previous_satang"] == 316_875_900
    assert nxt["position"]["assets_total"]["previous_satang"] == position["assets_total"]["amount_satang"]

    # The workbook: Thai labels and the figures in baht.
    book = await books.get("/statements/2019", format="xlsx")
    assert book.status_code == 200 and book.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(book.content)).active
    rows = {row[0]: row[1:] for row in sheet.iter_rows(values_only=True) if row[0]}
    assert "งบการเงินประจำปีบัญชี 2562" in rows
    assert float(rows["เงินสัจจะสมาชิก"][0]) == 1_312_175 and rows["เงินสัจจะสมาชิก"][2] == 41.41
    assert float(rows["รวมรายรับ"][1]) == 5_000

    # The PDF: Thai headings and figures, as text.
    document = await books.get("/statements/2019", format="pdf")
    assert document.status_code == 200 and document.content.startswith(b"%PDF")
    extracted = "".join(page.extract_text() for page in PdfReader(io.BytesIO(document.content)).pages)
    for expected in ("งบแสดงฐานะการเงิน", "งบรายรับและรายจ่าย", "2562", "1,312,175.00", "41.41%", "31.82%", "15.78%",
                     "10.99%", "3,168,759.00"):
        assert expected in extracted, expected

    bad = await books.get("/statements/2019", format="doc")
    assert bad.status_code == 422
    out_of_range = await books.get("/statements/1999")
    assert out_of_range.status_code == 422
