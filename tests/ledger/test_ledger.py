"""The ledger through its HTTP interface, with the real members service behind it."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shared.auth import Role
from shared.timeutil import BANGKOK
from tests.support.factories import NOW, Books, make_books, person


@pytest.fixture
async def books(service_client, tokens) -> Books:
    return await make_books(service_client, tokens)


async def balance(books: Books, member: int = 0) -> int:
    return (await books.get(f"/members/{books.member_ids[member]}/balance")).json()["contributed_satang"]


async def statement_pages(books: Books, member: int, limit: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A member's whole statement read page by page, and its last page."""
    lines: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = (await books.get(f"/members/{books.member_ids[member]}/statement", limit=limit,
                                **({"cursor": cursor} if cursor else {}))).json()
        lines += page["lines"]
        if not (cursor := page["next_cursor"]):
            return lines, page


async def trial_balance_is_zero(books: Books) -> dict[str, Any]:
    trial = (await books.get("/trial-balance")).json()
    assert trial["balanced"] is True and trial["debit_total_satang"] == trial["credit_total_satang"]
    assert sum(a["balance_satang"] for a in trial["accounts"]) == 0
    return trial


# --- 1. Chart of accounts ----------------------------------------------------------------------


async def test_the_chart_is_made_from_the_template(books: Books) -> None:
    accounts = (await books.get("/accounts")).json()
    by_code = {a["code"]: a for a in accounts}
    for code in ("1010", "1020", "1300", "3100", "4200", "4300", "4400", "4500", "4600", "5100-death", "5100-birth", "5900"):
        assert code in by_code, code
    assert {a["source"] for a in accounts if a["kind"] == "income"} >= {"local_government", "codi", "donors", "community_enterprise", "interest"}
    assert len([a for a in accounts if a["kind"] == "benefit_expense"]) == 9
    assert all(a["balance_satang"] == 0 for a in accounts)


async def test_fund_admins_add_accounts_and_types_decide_negative_balances(books: Books) -> None:
    added = await books.post("/accounts", {"code": "1030", "name_th": "เงินฝากสหกรณ์", "name_en": "Co-op deposit", "type": "asset"}, books.admin)
    assert added.status_code == 201 and added.json()["kind"] == "custom" and added.json()["allow_negative"] is False
    again = await books.post("/accounts", {"code": "1030", "name_th": "x", "name_en": "x", "type": "asset"}, books.admin)
    assert again.status_code == 409 and again.json()["code"] == "account.code_taken"
    by_committee = await books.post("/accounts", {"code": "1040", "name_th": "x", "name_en": "x", "type": "asset"})
    assert by_committee.status_code == 403
    # An asset may not go below zero: paying more than the fund's cash holds is refused before the
    # database (with income enough that the administration cap is not the reason).
    day = NOW.date().isoformat()
    assert (await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": "donors", "amount_satang": 10_000,
                                             "received_on": day})).status_code == 201
    paid = await books.post("/expenses/administration", {"id": str(uuid.uuid4()), "amount_satang": 1_500, "paid_on": day,
                                                         "paid_from": "fund_cash", "memo": "x"})
    assert paid.status_code == 422 and paid.json()["code"] == "entry.balance_would_go_negative", paid.text
    # The database holds the same rule: assets and expenses at or above zero, the other types at or
    # below, any sign for an account that allows negatives.
    loose = await books.post("/accounts", {"code": "3900", "name_th": "ปรับปรุง", "name_en": "Adjustments", "type": "equity",
                                           "allow_negative": True}, books.admin)
    assert loose.status_code == 201 and loose.json()["allow_negative"] is True
    accounts = {a["code"]: a for a in (await books.get("/accounts")).json()}
    income = next(a for a in accounts.values() if a["kind"] == "income")
    async with books.ledger._transport.app.state.db.sessionmaker() as session:
        for account, balance, allowed in ((added.json(), -1, False), (income, 1, False), (loose.json(), 1, True),
                                          (loose.json(), -1, True), (added.json(), 1, True)):
            update = text("UPDATE accounts SET balance_satang = :b WHERE fund_id = :f AND id = :a")
            refused = contextlib.nullcontext() if allowed else pytest.raises(DBAPIError, match="ck_accounts_balance_sign")
            with refused:
                async with session.begin_nested():
                    await session.execute(update, {"b": balance, "f": books.id, "a": account["id"]})
        await session.rollback()


# --- 2. Append-only, balanced, reversible once ------------------------------------------------------


async def test_entries_are_append_only_and_must_balance(books: Books) -> None:
    created = await books.post("/deposits", books.deposit(amount=500, collector_id=books.collector))
    assert created.status_code == 201, created.text
    gift = {"id": str(uuid.uuid4()), "source": "donors", "amount_satang": 1_000, "received_on": NOW.date().isoformat()}
    assert (await books.post("/co-funding", gift)).status_code == 201  # a movement
    entry = created.json()["entry_id"]
    app = books.ledger._transport.app
    async with app.state.db.sessionmaker() as session:
        # Fire the deferred balance checks of the deposit now, as COMMIT would.
        await session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
        for statement in (
            "UPDATE journal_entries SET memo = 'x' WHERE id = :e",
            # The one change an erasure may make (a memo to NULL) carries nothing else with it.
            "UPDATE journal_entries SET memo = NULL, business_date = business_date - 1 WHERE id = :e",
            "UPDATE journal_entries SET memo = NULL, reverses_entry_id = gen_random_uuid() WHERE id = :e",
            "UPDATE journal_entries SET memo = '' WHERE id = :e",
            "DELETE FROM journal_entries WHERE id = :e",
            "DELETE FROM postings WHERE entry_id = :e",
            "UPDATE postings SET amount_satang = 1 WHERE entry_id = :e",
            "DELETE FROM deposits WHERE entry_id = :e",
            "UPDATE deposits SET amount_satang = 1 WHERE entry_id = :e",
            "TRUNCATE postings",
            "UPDATE movements SET reference = 'x' WHERE fund_id = :f",
            "DELETE FROM movements WHERE fund_id = :f",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                async with session.begin_nested():
                    await session.execute(text(statement), {"e": entry, "f": uuid.UUID(books.id)})
        cash = (await books.get("/accounts", kind="fund_cash")).json()[0]["id"]
        bank = (await books.get("/accounts", kind="bank")).json()[0]["id"]
        with pytest.raises(DBAPIError, match="does not balance"):
            async with session.begin_nested():
                await session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
                await session.execute(
                    text("SELECT ledger_post_entry(:f, gen_random_uuid(), 'test', current_date, NULL, 'test', NULL, :a, :m)"),
                    {"f": uuid.UUID(books.id), "a": [uuid.UUID(cash), uuid.UUID(bank)], "m": [100, -99]},
                )
        with pytest.raises(DBAPIError, match="does not balance"):
            async with session.begin_nested():
                await session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
                await session.execute(
                    text("SELECT ledger_post_entry(:f, gen_random_uuid(), 'test', current_date, NULL, 'test', NULL, :a, :m)"),
                    {"f": uuid.UUID(books.id), "a": [uuid.UUID(cash)], "m": [100]},
                )
        # A posting added later to the deposit's entry: refused when its statement ends, with
        # every deferrable check deferred to COMMIT.
        with pytest.raises(DBAPIError, match="does not balance"):
            async with session.begin_nested():
                await session.execute(text("SET CONSTRAINTS ALL DEFERRED"))
                await session.execute(text(
                    "INSERT INTO postings (fund_id, entry_id, line, account_id, amount_satang, business_date)"
                    " VALUES (:f, :e, 3, :a, 100, current_date)"), {"f": uuid.UUID(books.id), "e": entry, "a": uuid.UUID(cash)})
        # An entry with no postings at all: refused at COMMIT (here, when the checks are fired).
        with pytest.raises(DBAPIError, match="does not balance"):
            async with session.begin_nested():
                await session.execute(text("SET CONSTRAINTS ALL DEFERRED"))
                await session.execute(text(
                    "INSERT INTO journal_entries (fund_id, id, kind, business_date, created_by)"
                    " VALUES (:f, gen_random_uuid(), 'test', current_date, 'test')"), {"f": uuid.UUID(books.id)})
                await session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    await trial_balance_is_zero(books)


async def test_postings_refer_only_to_entries_and_accounts_of_their_fund(books: Books) -> None:
    """The keys of postings are declared but not enforced row by row (migration 0007): the
    statement trigger checks them as a set. Same outcome: a posting to an entry or account its
    fund does not have is refused, and an account, once there, can never go away."""
    created = await books.post("/deposits", books.deposit(amount=500, collector_id=books.collector))
    assert created.status_code == 201, created.text
    cash = uuid.UUID((await books.get("/accounts", kind="fund_cash")).json()[0]["id"])
    bank = uuid.UUID((await books.get("/accounts", kind="bank")).json()[0]["id"])
    fund = uuid.UUID(books.id)
    app = books.ledger._transport.app
    async with app.state.db.sessionmaker() as session:
        keys = (await session.execute(text(
            "SELECT conname, conenforced FROM pg_constraint WHERE conrelid = 'postings'::regclass AND contype = 'f'"
            " ORDER BY conname"))).all()
        assert [tuple(k) for k in keys] == [("fk_postings_fund_id_accounts", False), ("fk_postings_fund_id_journal_entries", False)]
        pair = ("INSERT INTO postings (fund_id, entry_id, line, account_id, amount_satang, business_date)"
                " VALUES (:f, :e, 1, :a, 100, current_date), (:f, :e, 2, :b, -100, current_date)")
        with_entry = ("WITH entry AS (INSERT INTO journal_entries (fund_id, id, kind, business_date, created_by)"
                      " VALUES (:f, :e, 'test', current_date, 'test')) " + pair)
        cases = [
            # balanced, but the entry does not exist
            (pair, {"f": fund, "e": uuid.uuid4(), "a": cash, "b": bank}, "journal entry"),
            # the entry is the deposit's, but of another fund
            (pair, {"f": uuid.uuid4(), "e": uuid.UUID(created.json()["entry_id"]), "a": cash, "b": bank}, "journal entry"),
            # a new entry, one leg on an account nobody has
            (with_entry, {"f": fund, "e": uuid.uuid4(), "a": cash, "b": uuid.uuid4()}, "account"),
        ]
        for statement, params, what in cases:
            with pytest.raises(DBAPIError, match=f"refers to {what}") as refused:
                async with session.begin_nested():
                    await session.execute(text(statement), params)
            assert refused.value.orig.sqlstate == "23503"  # foreign_key_violation, as PostgreSQL's own check says
        # The same statement with both accounts of the fund goes in.
        async with session.begin_nested():
            await session.execute(text(with_entry), {"f": fund, "e": uuid.uuid4(), "a": cash, "b": bank})
        kept = "accounts are never removed nor given another key"
        for statement, message in (("DELETE FROM accounts WHERE fund_id = :f AND id = :a", kept),
                                   ("UPDATE accounts SET id = gen_random_uuid() WHERE fund_id = :f AND id = :a", kept),
                                   ("UPDATE accounts SET fund_id = gen_random_uuid() WHERE fund_id = :f AND id = :a", kept),
                                   ("TRUNCATE accounts CASCADE", "TRUNCATE on accounts refused")):
            with pytest.raises(DBAPIError, match=message) as refused:
                async with session.begin_nested():
                    await session.execute(text(statement), {"f": fund, "a": cash})
            assert refused.value.orig.sqlstate == "23001"  # restrict_violation, by the accounts' own triggers
        async with session.begin_nested():  # names and balances still change
            await session.execute(text("UPDATE accounts SET name_th = name_th WHERE fund_id = :f AND id = :a"), {"f": fund, "a": cash})
        await session.rollback()
    await trial_balance_is_zero(books)


async def test_posting_reads_the_books_by_key_only(books: Books) -> None:
    """Posting (and its checks, at the statement and at COMMIT) never reads a whole table, even on
    a connection that planned its queries while the tables were small and freshly analyzed: a
    plan like that once read all of a fund's postings on every call, each call slower than the
    last as the fund's history grew. PostgreSQL counts the current transaction's scans."""
    created = await books.post("/deposits", books.deposit(amount=500, collector_id=books.collector))
    assert created.status_code == 201, created.text
    cash = uuid.UUID((await books.get("/accounts", kind="fund_cash")).json()[0]["id"])
    donors = uuid.UUID((await books.get("/accounts", kind="income")).json()[0]["id"])
    tables = ("postings", "journal_entries", "accounts", "deposits")
    app = books.ledger._transport.app
    async with app.state.db.sessionmaker() as session:
        await session.execute(text("ANALYZE " + ", ".join(tables)))  # statistics of small tables
        count = text("SELECT relname, seq_scan FROM pg_stat_xact_user_tables WHERE relname = ANY(:t)")
        before = dict((await session.execute(count, {"t": list(tables)})).all())  # ANALYZE counts some
        for _ in range(8):  # past the five custom plans after which PostgreSQL may keep a generic one
            await session.execute(
                text("SELECT ledger_post_entry(:f, gen_random_uuid(), 'test', current_date, NULL, 'test', NULL, :a, :m)"),
                {"f": uuid.UUID(books.id), "a": [cash, donors], "m": [100, -100]})
        await session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))  # the checks COMMIT would run
        after = dict((await session.execute(count, {"t": list(tables)})).all())
        scans = {table: after.get(table, 0) - before.get(table, 0) for table in tables}
        assert scans == dict.fromkeys(tables, 0), f"sequential scans while posting: {scans}"
        await session.rollback()


async def test_balances_are_read_without_adding_up_postings(books: Books) -> None:
    """Account balances, a member's balance and the trial balance are kept on the accounts (O(1)):
    reading them touches no posting, however long the fund's history."""
    from services.ledger.reports import service as reports

    for amount in (100, 200, 300):
        assert (await books.post("/deposits", books.deposit(amount=amount), books.collector_headers)).status_code == 201
    fund = uuid.UUID(books.id)
    async with books.ledger._transport.app.state.db.sessionmaker() as session:
        read = text("SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_xact_user_tables WHERE relname = 'postings'")
        before = await session.scalar(read)
        mine = await reports.member_balance(session, fund, uuid.UUID(books.member_ids[0]))
        trial = await reports.trial_balance(session, fund)
        listed = await reports.accounts(session, fund, "member_contribution")
        assert await session.scalar(read) == before, "a balance read scanned postings"
        await session.rollback()
    assert mine.contributed_satang == 600 and trial.balanced and trial.debit_total_satang == 600
    assert [a.balance_satang for a in listed if a.balance_satang] == [-600]


async def test_a_correction_is_one_linked_reversal(books: Books) -> None:
    body = {"id": str(uuid.uuid4()), "source": "donors", "amount_satang": 90_000, "received_on": "2026-10-01", "reference": "ผู้ใจบุญ"}
    gift = (await books.post("/co-funding", body)).json()
    reversal = await books.post_confirmed(f"/entries/{gift['entry_id']}/reverse", {"id": str(uuid.uuid4()), "reason": "บันทึกผิดกองทุน"})
    assert reversal.status_code == 200, reversal.text
    posted = reversal.json()["movement"]
    assert posted["kind"] == "reversal" and posted["amount_satang"] == 90_000
    twice = await books.post(f"/entries/{gift['entry_id']}/reverse", {"id": str(uuid.uuid4()), "reason": "อีกครั้ง"})
    assert twice.status_code == 409 and twice.json()["code"] == "entry.already_reversed"
    of_reversal = await books.post(f"/entries/{posted['entry_id']}/reverse", {"id": str(uuid.uuid4()), "reason": "ย้อน"})
    assert of_reversal.status_code == 409 and of_reversal.json()["code"] == "entry.is_reversal"
    bank = (await books.get("/accounts", kind="bank")).json()[0]
    assert bank["balance_satang"] == 0
    await trial_balance_is_zero(books)


async def test_a_sync_is_one_entry_per_collector_and_day_and_each_deposit_is_reversed_alone(books: Books) -> None:
    yesterday = NOW - dt.timedelta(days=1)
    items = [books.deposit(0, 100), books.deposit(1, 2000), books.deposit(0, 300), books.deposit(2, 700, at=yesterday)]
    synced = (await books.post("/deposits/batch", {"deposits": items}, books.collector_headers)).json()
    assert synced["created"] == 4, synced
    deposits = [(await books.get(f"/deposits/{item['id']}")).json() for item in items]
    today_entry, yesterday_entry = deposits[0]["entry_id"], deposits[3]["entry_id"]
    assert [d["entry_id"] for d in deposits] == [today_entry] * 3 + [yesterday_entry] and today_entry != yesterday_entry
    assert [d["receipt_no"] for d in deposits] == sorted({d["receipt_no"] for d in deposits}), "a receipt each"
    async with books.ledger._transport.app.state.db.sessionmaker() as session:
        legs = (await session.execute(text(
            "SELECT p.entry_id::text, p.line, a.kind, p.amount_satang, d.receipt_no FROM postings p"
            " JOIN accounts a ON a.fund_id = p.fund_id AND a.id = p.account_id"
            " LEFT JOIN deposits d ON d.fund_id = p.fund_id AND d.entry_id = p.entry_id AND d.entry_line = p.line"
            " WHERE p.fund_id = :f ORDER BY p.entry_id = :e DESC, p.line"), {"f": books.id, "e": today_entry})).all()
    receipts = [d["receipt_no"] for d in deposits]
    assert [tuple(leg) for leg in legs] == [
        (today_entry, 1, "collector_cash", 2400, None),
        (today_entry, 2, "member_contribution", -100, receipts[0]),
        (today_entry, 3, "member_contribution", -2000, receipts[1]),
        (today_entry, 4, "member_contribution", -300, receipts[2]),
        (yesterday_entry, 1, "collector_cash", 700, None),
        (yesterday_entry, 2, "member_contribution", -700, receipts[3]),
    ]
    # The entry holds three deposits: it is never undone whole, each deposit is on its own, once.
    whole = await books.post(f"/entries/{today_entry}/reverse", {"id": str(uuid.uuid4()), "reason": "ผิดทั้งชุด"})
    assert whole.status_code == 409 and whole.json()["code"] == "entry.holds_deposits"
    fix = {"id": str(uuid.uuid4()), "reason": "บันทึกผิดคน"}
    undone = await books.post_confirmed(f"/deposits/{items[1]['id']}/reverse", fix)
    assert undone.status_code == 200, undone.text
    assert undone.json()["movement"]["kind"] == "reversal" and undone.json()["movement"]["amount_satang"] == 2000
    replay = await books.post(f"/deposits/{items[1]['id']}/reverse", fix)  # the proposal, as it stands: confirmed
    assert replay.status_code == 200 and replay.json() == undone.json()
    twice = await books.post(f"/deposits/{items[1]['id']}/reverse", {"id": str(uuid.uuid4()), "reason": "อีกครั้ง"})
    assert twice.status_code == 409 and twice.json()["code"] == "deposit.already_reversed"
    assert str(receipts[1]) in twice.json()["detail"]
    unknown = await books.post(f"/deposits/{uuid.uuid4()}/reverse", {"id": str(uuid.uuid4()), "reason": "ไม่มี"})
    assert unknown.status_code == 404 and unknown.json()["code"] == "deposit.not_found"
    by_collector = await books.post(f"/deposits/{items[0]['id']}/reverse", {"id": str(uuid.uuid4()), "reason": "เอง"},
                                    books.collector_headers)
    assert by_collector.status_code == 403
    assert [await balance(books, m) for m in range(3)] == [400, 0, 700]
    cash = (await books.get("/accounts", kind="collector_cash")).json()
    assert [a["balance_satang"] for a in cash] == [400 + 700]
    # The reversed deposit no longer counts as collected, nor as one of its member's deposits.
    [day] = (await books.get("/reports/collections", date=NOW.date().isoformat())).json()
    assert (day["deposits"], day["collected_satang"], day["cash_in_hand_satang"]) == (2, 400, 1100)
    member_1 = (await books.get(f"/members/{books.member_ids[1]}/balance")).json()
    assert (member_1["contributed_satang"], member_1["deposits"], member_1["last_deposit_at"]) == (0, 0, None)
    months = (await books.get("/reports/deposits-by-month", **{"from": yesterday.date().isoformat(), "to": NOW.date().isoformat()})).json()
    assert (months["deposits"], months["amount_satang"]) == (3, 1100)
    # Member 0 has two lines in one entry: a statement one line a page still shows each once.
    lines, _ = await statement_pages(books, 0, limit=1)
    assert [(line["kind"], line["amount_satang"], line["receipt_no"]) for line in lines] == [
        ("deposit", 300, receipts[2]), ("deposit", 100, receipts[0])]
    statement = (await books.get(f"/members/{books.member_ids[1]}/statement")).json()
    assert [(line["kind"], line["amount_satang"], line["receipt_no"]) for line in statement["lines"]] == [
        ("reversal", -2000, None), ("deposit", 2000, receipts[1])]
    await trial_balance_is_zero(books)


# --- 3. Idempotency ----------------------------------------------------------------------------------


async def test_money_requests_replay_and_refuse_changed_bodies(books: Books) -> None:
    body = {"id": str(uuid.uuid4()), "source": "codi", "amount_satang": 5_500_000, "received_on": "2026-10-01", "reference": "พอช. งวด 1"}
    first = await books.post("/co-funding", body)
    assert first.status_code == 201 and "idempotency-replayed" not in first.headers
    replay = await books.post("/co-funding", body)
    assert replay.status_code == 200 and replay.headers["idempotency-replayed"] == "true"
    assert replay.json() == first.json()
    changed = await books.post("/co-funding", {**body, "amount_satang": 5_500_001})
    assert changed.status_code == 409 and changed.json()["code"] == "idempotency.key_reused"
    other_caller = await books.post("/co-funding", body, books.admin | {"Authorization": books.fund.tokens.headers(Role.fund_admin, fund_id=books.id)["Authorization"]})
    assert other_caller.status_code == 409 and other_caller.json()["code"] == "movement.id_taken"
    bank = (await books.get("/accounts", kind="bank")).json()[0]
    assert bank["balance_satang"] == 5_500_000, "posted once"


async def test_a_money_request_id_is_the_funds_own(service_client, tokens) -> None:
    """The same client id in two funds is two requests: each fund posts its own."""
    first, second = await make_books(service_client, tokens, 0), await make_books(service_client, tokens, 0)
    body = {"id": str(uuid.uuid4()), "source": "codi", "amount_satang": 10_000, "received_on": NOW.date().isoformat()}
    here, there = await first.post("/co-funding", body), await second.post("/co-funding", {**body, "amount_satang": 20_000})
    assert (here.status_code, there.status_code) == (201, 201), there.text
    assert here.json()["entry_id"] != there.json()["entry_id"]
    assert [(await b.get("/accounts", kind="bank")).json()[0]["balance_satang"] for b in (first, second)] == [10_000, 20_000]


def test_code_refuses_an_unbalanced_entry_before_the_database() -> None:
    from services.ledger.posting import check_balanced
    from shared.errors import SajjaError

    a, b = uuid.uuid4(), uuid.uuid4()
    check_balanced([(a, 100), (b, -100)])
    check_balanced([(a, 100), (b, -60), (a, -40)])
    for legs in ([], [(a, 100)], [(a, 100), (b, -99)], [(a, 0), (b, 0)], [(a, 100), (b, -100), (b, 0)]):
        with pytest.raises(SajjaError) as refused:
            check_balanced(legs)
        assert (refused.value.code, refused.value.status_code) == ("entry.unbalanced", 422), legs


# --- 4. Deposits -----------------------------------------------------------------------------------------


async def test_a_deposit_gets_a_receipt_and_replays_exactly(books: Books) -> None:
    body = books.deposit(amount=3000)
    first = await books.post("/deposits", body, books.collector_headers)
    assert first.status_code == 201, first.text
    receipt = first.json()
    assert receipt["receipt_no"] == 1 and receipt["collector_id"] == books.collector
    assert receipt["collected_at"] and receipt["posted_at"] and receipt["business_date"] == NOW.date().isoformat()
    replay = await books.post("/deposits", body, books.collector_headers)
    assert replay.status_code == 200 and replay.headers["idempotency-replayed"] == "true"
    assert replay.json()["receipt_no"] == 1 and replay.json()["status"] == "duplicate"
    conflict = await books.post("/deposits", {**body, "amount_satang": 3001}, books.collector_headers)
    assert conflict.status_code == 409 and conflict.json()["code"] == "deposit.id_conflict"
    assert await balance(books) == 3000
    cash = (await books.get("/accounts", kind="collector_cash")).json()
    assert [a["balance_satang"] for a in cash] == [3000]
    member_view = await books.ledger.get(f"{books.base}/deposits/{body['id']}", headers=books.fund.as_(Role.member, member_id=books.member_ids[0]))
    assert member_view.status_code == 200 and member_view.json()["receipt_no"] == 1
    neighbour = await books.ledger.get(f"{books.base}/deposits/{body['id']}", headers=books.fund.as_(Role.member, member_id=books.member_ids[1]))
    assert neighbour.status_code == 403
    taker = await books.ledger.get(f"{books.base}/deposits/{body['id']}", headers=books.collector_headers)
    other_collector = await books.ledger.get(f"{books.base}/deposits/{body['id']}", headers=books.fund.as_(Role.collector))
    assert (taker.status_code, other_collector.status_code) == (200, 403)
    # Another fund's people cannot tell a deposit that exists from one that does not.
    elsewhere = str(uuid.uuid4())
    for outsider in (books.fund.as_(Role.committee, fund_id=elsewhere), books.fund.as_(Role.collector, fund_id=elsewhere),
                     books.fund.as_(Role.member, fund_id=elsewhere, member_id=books.member_ids[0])):
        for deposit_id in (body["id"], str(uuid.uuid4())):
            asked = await books.ledger.get(f"{books.base}/deposits/{deposit_id}", headers=outsider)
            assert asked.status_code == 403, (outsider, asked.text)
    assert (await books.get(f"/deposits/{uuid.uuid4()}")).status_code == 404
    # Both times are kept: when the phone took the money (its business date) and when it was posted.
    taken = NOW - dt.timedelta(days=2, hours=3)
    late = books.deposit(member=1, amount=100, at=taken)
    assert (await books.post("/deposits", late, books.collector_headers)).status_code == 201
    stored = (await books.get(f"/deposits/{late['id']}")).json()
    assert dt.datetime.fromisoformat(stored["collected_at"]) == taken
    assert stored["business_date"] == taken.date().isoformat()
    assert abs(dt.datetime.fromisoformat(stored["posted_at"]) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


async def test_a_synced_batch_reports_each_item_and_keeps_the_good_ones(books: Books) -> None:
    known = books.deposit(member=0, amount=100)
    await books.post("/deposits", known, books.collector_headers)
    repeated = books.deposit(member=1, amount=100)
    items = [
        books.deposit(member=0, amount=100, at=NOW - dt.timedelta(days=1)),
        known,
        books.deposit(member=1, amount=200),
        {**books.deposit(), "member_id": str(uuid.uuid4())},
        books.deposit(member=2, amount=100, at=NOW - dt.timedelta(days=30)),
        books.deposit(member=2, amount=100, at=NOW + dt.timedelta(hours=2)),
        repeated,
        repeated,
        {**books.deposit(member=2, amount=100), "collector_id": str(uuid.uuid4())},
        books.deposit(member=2, amount=50),
    ]
    response = await books.post("/deposits/batch", {"deposits": items}, books.collector_headers)
    assert response.status_code == 200, response.text
    out = response.json()
    assert [(r["status"], r["code"]) for r in out["results"]] == [
        ("created", None), ("duplicate", None), ("created", None), ("rejected", "deposit.member_unknown"),
        ("rejected", "deposit.too_late"), ("rejected", "deposit.in_future"), ("created", None),
        ("rejected", "deposit.repeated_in_batch"), ("rejected", "deposit.not_own"), ("created", None),
    ]
    assert (out["created"], out["duplicates"], out["rejected"]) == (4, 1, 5)
    assert all(r["reason"] for r in out["results"] if r["status"] == "rejected")
    assert out["results"][3]["reason"] == "ไม่พบสมาชิกนี้ในกองทุน"
    receipts = [r["receipt_no"] for r in out["results"] if r["status"] == "created"]
    assert receipts == [2, 3, 4, 5], "sequential, no gaps, in the phone's order"
    again = (await books.post("/deposits/batch", {"deposits": items}, books.collector_headers)).json()
    assert (again["created"], again["duplicates"]) == (0, 5)
    # A sync may carry 500 deposits (501 is refused whole: test_bad_deposits_are_refused_with_problems).
    full = [books.deposit(member=i % 3, amount=1) for i in range(500)]
    synced = await books.post("/deposits/batch", {"deposits": full}, books.collector_headers)
    assert synced.status_code == 200 and synced.json()["created"] == 500, synced.text[:300]
    assert await balance(books, 0) + await balance(books, 1) + await balance(books, 2) == 100 + 100 + 200 + 100 + 50 + 500
    await trial_balance_is_zero(books)


async def test_whose_money_a_caller_may_post(books: Books) -> None:
    """A collector posts their own money, named or not; the committee posts any collector's and
    must name one; a collector's token whose subject is no user id as the gateway writes them owns
    no money (no 500)."""
    mine = books.deposit(member=0, collector_id=books.collector)
    unnamed = books.deposit(member=1)
    other = books.deposit(member=1, collector_id=str(uuid.uuid4()))
    out = (await books.post("/deposits/batch", {"deposits": [mine, unnamed, other]}, books.collector_headers)).json()
    assert [(r["status"], r["code"]) for r in out["results"]] == [
        ("created", None), ("created", None), ("rejected", "deposit.not_own")]
    by_committee = [books.deposit(member=2), books.deposit(member=2, collector_id=books.collector)]
    out = (await books.post("/deposits/batch", {"deposits": by_committee}, books.committee)).json()
    assert [(r["status"], r["code"]) for r in out["results"]] == [
        ("rejected", "deposit.collector_required"), ("created", None)]
    for odd in ("not-a-user-id", books.collector.upper()):  # nor one written otherwise than the gateway writes it
        headers = books.fund.as_(Role.collector, sub=odd)
        out = (await books.post("/deposits/batch", {"deposits": [books.deposit(member=2), mine]}, headers)).json()
        assert [r["code"] for r in out["results"]] == ["deposit.collector_required", "deposit.not_own"]
    await trial_balance_is_zero(books)


async def test_late_window_is_the_funds_own(books: Books) -> None:
    late = books.deposit(at=NOW - dt.timedelta(days=20))
    assert (await books.post("/deposits", late, books.collector_headers)).json()["code"] == "deposit.too_late"
    assert (await books.ledger.patch(f"{books.base}/rules", json={"late_window_days": 31}, headers=books.committee)).status_code == 403
    changed = await books.ledger.patch(f"{books.base}/rules", json={"late_window_days": 31}, headers=books.admin)
    assert changed.status_code == 200 and changed.json()["late_window_days"] == 31
    assert (await books.post("/deposits", late, books.collector_headers)).status_code == 201


async def test_bad_deposits_are_refused_with_problems(books: Books) -> None:
    for bad, field in (({"amount_satang": 10.5}, "body.amount_satang"), ({"amount_satang": 0}, "body.amount_satang"),
                       ({"amount_satang": "100"}, "body.amount_satang"), ({"collected_at": "2026-11-01T10:00:00"}, "body.collected_at"),
                       ({"tip": 1}, "body.tip")):
        response = await books.post("/deposits", {**books.deposit(), **bad}, books.collector_headers)
        assert response.status_code == 422, bad
        assert field in [e["field"] for e in response.json()["errors"]]
    too_many = await books.post("/deposits/batch", {"deposits": [books.deposit() for _ in range(501)]}, books.collector_headers)
    assert too_many.status_code == 422
    huge = await books.post("/deposits", books.deposit(amount=10_000_001), books.collector_headers)
    assert huge.status_code == 422 and huge.json()["code"] == "deposit.too_large"
    resigned = books.member_ids[2]
    await books.members.post(f"/v1/members/funds/{books.id}/members/{resigned}/status", headers=books.committee,
                             json={"status": "resigned", "effective_on": "2020-01-01"})
    gone = await books.post("/deposits", books.deposit(member=2), books.collector_headers)
    assert gone.status_code == 422 and gone.json()["code"] == "deposit.member_not_current"
    assert await balance(books, 2) == 0


async def test_a_deposit_posted_under_an_older_limit_is_still_its_duplicate(books: Books) -> None:
    posted = books.deposit(amount=5000)
    assert (await books.post("/deposits", posted, books.collector_headers)).status_code == 201
    settings = books.ledger._transport.app.state.settings
    limit, settings.deposit_max_satang = settings.deposit_max_satang, 1000
    try:
        again = await books.post("/deposits", posted, books.collector_headers)
        assert again.status_code == 200 and again.headers["Idempotency-Replayed"] == "true"
        synced = await books.post("/deposits/batch", {"deposits": [posted, books.deposit(amount=5000)]}, books.collector_headers)
        assert [(r["status"], r["code"]) for r in synced.json()["results"]] == [("duplicate", None), ("rejected", "deposit.too_large")]
    finally:
        settings.deposit_max_satang = limit


async def test_member_facts_are_trusted_for_the_ttl_then_asked_again(books: Books) -> None:
    first = books.deposit(member=1)
    assert (await books.post("/deposits", first, books.collector_headers)).status_code == 201
    await books.members.post(f"/v1/members/funds/{books.id}/members/{books.member_ids[1]}/status", headers=books.committee,
                             json={"status": "resigned", "effective_on": NOW.date().isoformat()})
    # Within the TTL the ledger goes by what members said last (it does not ask for every deposit).
    assert (await books.post("/deposits", books.deposit(member=1), books.collector_headers)).status_code == 201
    settings = books.ledger._transport.app.state.settings
    ttl, settings.member_facts_ttl_seconds = settings.member_facts_ttl_seconds, 0
    try:
        refused = await books.post("/deposits", books.deposit(member=1), books.collector_headers)
        assert refused.status_code == 422 and refused.json()["code"] == "deposit.member_not_current"
        # A deposit already posted is still answered as the duplicate it is.
        again = await books.post("/deposits", first, books.collector_headers)
        assert again.status_code == 200 and again.headers["Idempotency-Replayed"] == "true"
    finally:
        settings.member_facts_ttl_seconds = ttl


# --- 5. Handover and reconciliation ----------------------------------------------------------------------


async def test_cash_handover_and_the_collectors_day(books: Books) -> None:
    for member, amount in ((0, 3000), (1, 3000), (2, 1500)):
        assert (await books.post("/deposits", books.deposit(member=member, amount=amount), books.collector_headers)).status_code == 201
    handed = await books.post("/handovers", {"id": str(uuid.uuid4()), "collector_id": books.collector, "amount_satang": 7000,
                                             "handed_over_on": NOW.date().isoformat()})
    assert handed.status_code == 201, handed.text
    too_much = await books.post("/handovers", {"id": str(uuid.uuid4()), "collector_id": books.collector, "amount_satang": 501,
                                               "handed_over_on": NOW.date().isoformat()})
    assert too_much.status_code == 422 and too_much.json()["code"] == "entry.balance_would_go_negative"
    day = (await books.get("/reports/collections", date=NOW.date().isoformat())).json()
    assert day == [{"collector_id": books.collector, "business_date": NOW.date().isoformat(), "deposits": 3,
                    "collected_satang": 7500, "handed_over_satang": 7000, "difference_satang": 500, "cash_in_hand_satang": 500}]
    cash = (await books.get("/accounts", kind="fund_cash")).json()[0]
    assert cash["balance_satang"] == 7000
    # A second collector's day: the committee sees both, each collector only their own.
    other = str(uuid.uuid4())
    made = await books.members.post(f"/v1/members/funds/{books.id}/collectors", headers=books.fund.committee,
                                    json={"user_id": other, "display_name": "อาสาสอง"})
    assert made.status_code == 201, made.text
    other_headers = books.fund.as_(Role.collector, sub=other)
    assert (await books.post("/deposits", books.deposit(member=1, amount=2000), other_headers)).status_code == 201
    both = (await books.get("/reports/collections")).json()
    assert sorted((d["collector_id"], d["collected_satang"]) for d in both) == sorted([(books.collector, 7500), (other, 2000)])
    own = (await books.get("/reports/collections", books.collector_headers)).json()
    assert [(d["collector_id"], d["collected_satang"]) for d in own] == [(books.collector, 7500)]
    assert [d["collector_id"] for d in (await books.get("/reports/collections", other_headers)).json()] == [other]
    theirs = await books.get("/reports/collections", books.collector_headers, collector_id=other)
    assert theirs.status_code == 403 and theirs.json()["code"] == "auth.out_of_scope"
    # A collector's token whose subject is not a user id owns no day: a 403, not a server error.
    for odd in ("not-a-user", books.collector.upper()):
        nobody = await books.get("/reports/collections", books.fund.as_(Role.collector, sub=odd))
        assert nobody.status_code == 403 and nobody.json()["code"] == "auth.out_of_scope"
    # A reversed handover was not handed over: the day shows the cash back in the collector's hand.
    undone = await books.post_confirmed(f"/entries/{handed.json()['entry_id']}/reverse", {"id": str(uuid.uuid4()), "reason": "นับเงินผิด"})
    assert undone.status_code == 200, undone.text
    day = (await books.get("/reports/collections", collector_id=books.collector, date=NOW.date().isoformat())).json()
    assert [(d["handed_over_satang"], d["difference_satang"], d["cash_in_hand_satang"]) for d in day] == [(0, 7500, 7500)]
    assert (await books.get("/accounts", kind="fund_cash")).json()[0]["balance_satang"] == 0
    await trial_balance_is_zero(books)


# --- 6. Plans and standing ----------------------------------------------------------------------------------


async def test_contribution_plan_standing_and_arrears(service_client, tokens) -> None:
    books = await make_books(service_client, tokens, members_count=0)
    today = NOW.date()
    joined = today - dt.timedelta(days=9)  # ten days due, counting today
    for i in range(3):
        created = await books.fund.register(person(600 + i, joined_on=joined.isoformat()))
        books.member_ids.append(created.json()["id"])
    plan = await books.post("/plans", {"name": "สัจจะวันละบาท", "period": "day", "amount_satang": 100,
                                       "effective_from": "2000-01-01", "grace_periods": 3})
    assert plan.status_code == 201
    await books.post("/deposits", books.deposit(member=0, amount=1000), books.collector_headers)  # all ten days
    await books.post("/deposits", books.deposit(member=1, amount=700), books.collector_headers)   # three behind
    standing = (await books.get(f"/members/{books.member_ids[0]}/standing")).json()
    assert standing["paid_through"] == today.isoformat() and standing["periods_in_arrears"] == 0
    behind = (await books.get(f"/members/{books.member_ids[1]}/standing")).json()
    assert behind["paid_through"] == (joined + dt.timedelta(days=6)).isoformat()
    assert (behind["periods_in_arrears"], behind["arrears_satang"], behind["in_arrears"]) == (3, 300, False)
    arrears = (await books.get("/arrears")).json()
    assert [(s["member_id"], s["arrears_satang"]) for s in arrears["items"]] == [(books.member_ids[2], 1000)]
    later = (await books.get("/arrears", as_of=(today + dt.timedelta(days=1)).isoformat())).json()
    assert [s["member_id"] for s in later["items"]] == [books.member_ids[2], books.member_ids[1]]
    own = await books.get(f"/members/{books.member_ids[1]}/standing", books.fund.as_(Role.member, member_id=books.member_ids[1]))
    assert own.status_code == 200
    # Standing on a past day (a benefit's event) counts only money collected by then, however
    # late it was synced: member 0 paid today, member 2 now syncs what was collected 3 days ago.
    assert (await books.post("/deposits", books.deposit(member=2, amount=300, at=NOW - dt.timedelta(days=3)),
                             books.collector_headers)).status_code == 201
    # ...and a deposit collected then but found today not to be theirs, reversed today, never counts.
    wrong = books.deposit(member=2, amount=200, at=NOW - dt.timedelta(days=3))
    assert (await books.post("/deposits", wrong, books.collector_headers)).status_code == 201
    assert (await books.post_confirmed(f"/deposits/{wrong['id']}/reverse", {"id": str(uuid.uuid4()), "reason": "ผิดคน"})).status_code == 200
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    then = [(await books.get(f"/members/{books.member_ids[i]}/standing", as_of=yesterday)).json() for i in (0, 2)]
    assert [(s["contributed_satang"], s["paid_through"], s["periods_in_arrears"]) for s in then] == [
        (0, None, 9), (300, (joined + dt.timedelta(days=2)).isoformat(), 6)]
    assert (await books.get(f"/members/{books.member_ids[0]}/standing")).json()["contributed_satang"] == 1000
    past = (await books.get("/arrears", as_of=yesterday)).json()  # member 1's 700 came today too
    assert [(s["member_id"], s["contributed_satang"]) for s in past["items"]] == [
        *sorted((books.member_ids[i], 0) for i in (0, 1)), (books.member_ids[2], 300)]


@pytest.mark.parametrize(
    ("period", "joined", "as_of", "amount", "contributed", "due", "paid_through"),
    [
        # Calendar periods: every month (year) begun is due, and one paid covers it to its end.
        ("month", dt.date(2026, 1, 31), dt.date(2026, 4, 15), 3000, 6000, 12000, dt.date(2026, 2, 28)),
        ("year", dt.date(2024, 6, 1), dt.date(2026, 1, 1), 36500, 36500, 109500, dt.date(2024, 12, 31)),
        ("month", dt.date(2026, 1, 15), dt.date(2026, 1, 20), 3000, 3000, 3000, dt.date(2026, 1, 31)),
        ("day", dt.date(2026, 1, 1), dt.date(2026, 1, 31), 100, 0, 3100, None),
    ],
)
def test_standing_worked_examples(period, joined, as_of, amount, contributed, due, paid_through) -> None:
    from services.ledger.models import ContributionPlan
    from services.ledger.plans.service import standing

    plan = ContributionPlan(id=uuid.uuid4(), name="p", period=period, amount_satang=amount, effective_from=dt.date(2000, 1, 1), grace_periods=0)
    result = standing(member_id=uuid.uuid4(), joined_on=joined, contributed=contributed, all_plans=[plan], as_of=as_of)
    assert (result.due_satang, result.paid_through) == (due, paid_through)


def _plan(period: str, amount: int, start: dt.date, grace: int, name: str | None = None) -> Any:
    from services.ledger.models import ContributionPlan

    return ContributionPlan(id=uuid.uuid4(), name=name or f"{period} {amount}", period=period, amount_satang=amount,
                            effective_from=start, grace_periods=grace)


@pytest.mark.parametrize(
    ("joined", "contributed", "due", "paid_through", "behind"),
    [
        # 59 days of January and February at 1 baht, then March and April at 30 baht a month.
        (dt.date(2026, 1, 1), 11_900, 11_900, dt.date(2026, 4, 30), 0),
        (dt.date(2026, 1, 1), 14_900, 11_900, dt.date(2026, 5, 31), 0),  # a month ahead, under the plan in force
        # 50 days paid; 9 days (900 satang: one period of the plan in force) and two months behind
        (dt.date(2026, 1, 1), 5_000, 11_900, dt.date(2026, 2, 19), 3),
        (dt.date(2026, 1, 1), 8_000, 11_900, dt.date(2026, 2, 28), 2),  # the days paid, 2,100 short of two months
        (dt.date(2026, 3, 10), 3_000, 6_000, dt.date(2026, 3, 31), 1),  # joined under the second plan only
        (dt.date(2025, 12, 31), 0, 12_000, None, 4),  # 60 days (two months' worth) and two months
    ],
)
def test_standing_when_the_fund_changed_its_plan(joined, contributed, due, paid_through, behind) -> None:
    """Each plan is due in its own time: a change of plan neither forgives what was owed before
    nor counts the old plan's savings as years paid ahead under the new one."""
    from services.ledger.plans.service import standing

    plans = [_plan("year", 36_500, dt.date(2027, 1, 1), 0), _plan("month", 3000, dt.date(2026, 3, 1), 1, "เดือนละ 30"),
             _plan("day", 100, dt.date(2000, 1, 1), 3)]
    result = standing(member_id=uuid.uuid4(), joined_on=joined, contributed=contributed, all_plans=plans, as_of=dt.date(2026, 4, 15))
    assert (result.due_satang, result.paid_through, result.periods_in_arrears) == (due, paid_through, behind)
    assert result.arrears_satang == max(0, due - contributed) and result.plan.name == "เดือนละ 30"
    assert result.in_arrears is (behind > 1)


@pytest.mark.parametrize(
    ("contributed", "paid_through", "behind"),
    [(6_500, dt.date(2026, 3, 5), 0), (7_000, dt.date(2026, 3, 10), 0), (3_000, dt.date(2026, 1, 31), 35)],
)
def test_a_plan_changed_within_a_period_leaves_no_day_due_twice(contributed, paid_through, behind) -> None:
    """30 baht a month until 1 baht a day took effect on 10 February: February, begun, is due under
    the monthly plan in full, and the daily plan takes over on 1 March."""
    from services.ledger.plans.service import standing

    plans = [_plan("month", 3000, dt.date(2000, 1, 1), 1), _plan("day", 100, dt.date(2026, 2, 10), 3)]
    result = standing(member_id=uuid.uuid4(), joined_on=dt.date(2026, 1, 20), contributed=contributed, all_plans=plans,
                      as_of=dt.date(2026, 3, 5))
    assert result.due_satang == 2 * 3000 + 5 * 100
    assert (result.paid_through, result.periods_in_arrears, result.in_arrears) == (paid_through, behind, behind > 3)


@pytest.mark.parametrize(
    ("plans", "joined", "as_of", "contributed", "expected"),
    [
        # 1 baht a day, then 30 a month from 15 April: the month plan takes over on 1 May, so no
        # April day is due twice; on 30 April the daily plan still covers the member.
        ([("day", 100, "2000-01-01", 3), ("month", 3000, "2026-04-15", 1)], "2026-04-01", "2026-04-30", 1400,
         (3000, "2026-04-14", 16, True, "day")),
        # A year, then months from March, then days from June: 2026 is the yearly plan's (begun),
        # and the later plans take over in 2027; a member who paid the year owes nothing.
        ([("year", 36_500, "2000-01-01", 0), ("month", 3000, "2026-03-01", 1), ("day", 100, "2026-06-01", 3)],
         "2026-01-01", "2026-06-30", 36_500, (36_500, "2026-12-31", 0, False, "year")),
        # 30 a month, then 1 a day from 10 February: February stays monthly; a member paid through
        # January is one month behind on 15 February, within the monthly plan's grace.
        ([("month", 3000, "2000-01-01", 1), ("day", 100, "2026-02-10", 3)], "2025-01-01", "2026-02-15", 39_000,
         (42_000, "2026-01-31", 1, False, "month")),
        # A yearly plan entered by mistake and corrected by a daily one the next day: the correction
        # takes over from the daily plan before it, as if the mistake had not been made.
        ([("day", 100, "2000-01-01", 3), ("year", 36_500, "2026-01-05", 0), ("day", 50, "2026-01-06", 3)],
         "2025-01-01", "2026-06-30", 0, (36_500 + 500 + 176 * 50, None, 916, True, "day")),
        # A change already decided ends the covering plan: paid ahead only to its last day.
        ([("day", 100, "2000-01-01", 3), ("month", 3000, "2026-04-15", 1)], "2026-04-01", "2026-04-14", 100_000,
         (1400, "2026-04-30", 0, False, "day")),
    ],
)
def test_standing_across_plan_changes(plans, joined, as_of, contributed, expected) -> None:
    from services.ledger.plans.service import standing

    day = dt.date.fromisoformat
    result = standing(member_id=uuid.uuid4(), joined_on=day(joined), contributed=contributed, as_of=day(as_of),
                      all_plans=[_plan(period, amount, day(start), grace) for period, amount, start, grace in plans])
    due, paid_through, behind, in_arrears, period = expected
    assert (result.due_satang, result.paid_through, result.periods_in_arrears, result.in_arrears, result.plan.period) == (
        due, paid_through and day(paid_through), behind, in_arrears, period)


def test_standing_paid_past_the_calendar_does_not_fail() -> None:
    """A plan of 1 satang a day and 30,000 baht paid: paid through the last day there is, not a 500
    for the whole fund's arrears list."""
    from services.ledger.plans.service import standing

    result = standing(member_id=uuid.uuid4(), joined_on=dt.date(2026, 1, 1), contributed=3_000_000, as_of=dt.date(2026, 6, 30),
                      all_plans=[_plan("day", 1, dt.date(2000, 1, 1), 0), _plan("year", 100, dt.date(9999, 6, 1), 0)])
    assert result.paid_through.year == 9999 and result.periods_in_arrears == 0


# --- 7. Co-funding and matching ---------------------------------------------------------------------------------


async def test_matching_what_co_funders_owe_against_what_they_sent(books: Books) -> None:
    year = NOW.year
    await books.post("/deposits", books.deposit(member=0, amount=50_000), books.collector_headers)
    await books.post("/deposits", books.deposit(member=1, amount=20_000), books.collector_headers)
    rule = await books.ledger.put(f"{books.base}/matching-rules", headers=books.committee,
                                  json={"source": "codi", "ratio_bp": 10_000, "cap_per_member_year_satang": 36_500})
    assert rule.status_code == 200, rule.text
    await books.ledger.put(f"{books.base}/matching-rules", headers=books.committee,
                           json={"source": "local_government", "ratio_bp": 5_000})
    await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": "codi", "amount_satang": 30_000, "received_on": NOW.date().isoformat()})
    report = (await books.get("/reports/matching", year=year)).json()
    assert report["member_contributions_satang"] == 70_000 and report["year_be"] == year + 543
    lines = {line["source"]: line for line in report["lines"]}
    # 1:1 capped at 365 baht a member: min(500, 365) + min(200, 365) = 565 baht.
    assert (lines["codi"]["due_satang"], lines["codi"]["received_satang"], lines["codi"]["outstanding_satang"]) == (56_500, 30_000, 26_500)
    assert lines["local_government"]["due_satang"] == 35_000
    # Money recorded by mistake and reversed was not received: it is owed again.
    wrong = await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": "codi", "amount_satang": 20_000,
                                            "received_on": NOW.date().isoformat()})
    assert wrong.status_code == 201, wrong.text
    undone = await books.post_confirmed(f"/entries/{wrong.json()['entry_id']}/reverse", {"id": str(uuid.uuid4()), "reason": "บันทึกซ้ำ"})
    assert undone.status_code == 200, undone.text
    codi = next(line for line in (await books.get("/reports/matching", year=year)).json()["lines"] if line["source"] == "codi")
    assert (codi["received_satang"], codi["outstanding_satang"]) == (30_000, 26_500)


# --- 8. Administration cap -------------------------------------------------------------------------------------------


async def test_administration_expense_is_capped_at_a_share_of_the_years_income(books: Books) -> None:
    day = NOW.date().isoformat()
    await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": "donors", "amount_satang": 90_000, "received_on": day})
    await books.post("/deposits", books.deposit(amount=10_000), books.collector_headers)
    ok = await books.post_confirmed("/expenses/administration", {"id": str(uuid.uuid4()), "amount_satang": 15_000, "paid_on": day, "memo": "ค่าเครื่องเขียน"})
    assert ok.status_code == 200, ok.text
    over = await books.post("/expenses/administration", {"id": str(uuid.uuid4()), "amount_satang": 5_001, "paid_on": day, "memo": "ค่าเดินทาง"})
    assert over.status_code == 422 and over.json()["code"] == "expense.admin_cap_exceeded"
    assert "5000" in over.json()["detail"]
    await books.ledger.patch(f"{books.base}/rules", json={"admin_cap_bp": 3000}, headers=books.admin)
    assert (await books.post_confirmed("/expenses/administration", {"id": str(uuid.uuid4()), "amount_satang": 5_001, "paid_on": day, "memo": "ค่าเดินทาง"})).status_code == 200
    await trial_balance_is_zero(books)


# --- 9. Reads -----------------------------------------------------------------------------------------------------------------


async def test_statement_pages_newest_first(books: Books) -> None:
    for amount in (100, 200, 300, 400, 500):
        await books.post("/deposits", books.deposit(amount=amount), books.collector_headers)
    lines, last = await statement_pages(books, 0, limit=2)
    assert [line["amount_satang"] for line in lines] == [500, 400, 300, 200, 100]
    assert last["balance_satang"] == 1500
    assert [line["receipt_no"] for line in (await books.get(f"/members/{books.member_ids[0]}/statement")).json()["lines"]] == [5, 4, 3, 2, 1]


async def test_a_statement_cursor_from_before_the_upgrade_goes_on_where_it_was(books: Books) -> None:
    """Before revision 0008 a statement cursor was (posted_at, entry) of an entry of one deposit;
    a phone holding one across the upgrade continues after that entry, and a broken one is a 400."""
    from shared.pagination import encode_cursor

    for amount in (100, 200, 300):
        await books.post("/deposits", books.deposit(amount=amount), books.collector_headers)
    path = f"/members/{books.member_ids[0]}/statement"
    newest = (await books.get(path, limit=1)).json()["lines"][0]
    old_cursor = encode_cursor(dt.datetime.fromisoformat(newest["posted_at"]).isoformat(), newest["entry_id"])
    rest = (await books.get(path, cursor=old_cursor)).json()
    assert [line["amount_satang"] for line in rest["lines"]] == [200, 100]
    broken = await books.get(path, cursor=encode_cursor("yesterday", newest["entry_id"]))
    assert broken.status_code == 400 and broken.json()["code"] == "request.cursor_invalid"


async def test_who_may_read_and_post(books: Books) -> None:
    member = books.fund.as_(Role.member, member_id=books.member_ids[0])
    assert (await books.get(f"/members/{books.member_ids[0]}/balance", member)).status_code == 200
    assert (await books.get(f"/members/{books.member_ids[1]}/balance", member)).status_code == 403
    assert (await books.get("/trial-balance", member)).status_code == 403
    assert (await books.post("/deposits", books.deposit(), member)).status_code == 403
    assert (await books.get("/trial-balance", books.collector_headers)).status_code == 403
    assert (await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": "codi", "amount_satang": 1, "received_on": "2026-01-01"},
                             books.collector_headers)).status_code == 403
    other_fund = books.tokens.headers(Role.committee, fund_id=uuid.uuid4())
    assert (await books.get("/trial-balance", other_fund)).status_code == 403
    assert (await books.post("/deposits", {**books.deposit(), "collector_id": books.collector}, other_fund)).status_code == 403
    officer = books.tokens.headers(Role.network_officer, network_id=uuid.uuid4())
    assert (await books.get("/trial-balance", officer)).status_code == 403
    unknown_fund = await books.ledger.get(f"/v1/ledger/funds/{uuid.uuid4()}/accounts", headers=books.tokens.headers())
    assert unknown_fund.status_code == 404


# --- 13. Ban Song's 2019 income, the worked example --------------------------------------------------------------------


async def test_ban_songs_2019_income_by_source(service_client, tokens) -> None:
    """The Ban Song case study: members 1,312,175; local government 500,000; CODI 1,008,384; networks and donors
    348,200 baht. Posted through the API, the report gives those amounts and 41.41, 15.78, 31.82
    and 10.99 percent."""
    from tools.demo import load_facts

    facts = load_facts()
    income = facts["ban_song"]["income_sources_2019"]
    baht = {k: int(v) for k, v in income.items() if k != "year_be"}
    books = await make_books(service_client, tokens, members_count=14)
    await books.ledger.patch(f"{books.base}/rules", json={"late_window_days": 3650}, headers=books.admin)
    members_satang = baht["members"] * 100
    deposits, left = [], members_satang
    for i in range(14):
        amount = min(left, 10_000_000)
        deposits.append(books.deposit(member=i, amount=amount, at=dt.datetime(2019, 3, 1 + i, 17, 0, tzinfo=BANGKOK)))
        left -= amount
    assert left == 0
    synced = (await books.post("/deposits/batch", {"deposits": deposits}, books.collector_headers)).json()
    assert synced["created"] == 14, synced
    for source, key in (("local_government", "local_government"), ("codi", "codi"), ("donors", "network_and_donors")):
        posted = await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": source, "amount_satang": baht[key] * 100,
                                                  "received_on": "2019-06-30"})
        assert posted.status_code == 201, posted.text
    await books.post("/co-funding", {"id": str(uuid.uuid4()), "source": "codi", "amount_satang": 99, "received_on": "2020-01-01"})
    report = (await books.get("/reports/sources", **{"from": "2019-01-01", "to": "2019-12-31"})).json()
    assert report["from"] == "2019-01-01" and report["to"] == "2019-12-31"
    assert report["total_satang"] == 316_875_900
    assert [(s["source"], s["amount_satang"], s["share_pct"]) for s in report["sources"]] == [
        ("members", 131_217_500, 41.41),
        ("codi", 100_838_400, 31.82),
        ("local_government", 50_000_000, 15.78),
        ("donors", 34_820_000, 10.99),
    ]
    backwards = await books.get("/reports/sources", **{"from": "2019-12-31", "to": "2019-01-01"})
    assert backwards.status_code == 422 and backwards.json()["code"] == "report.range_invalid"
    await trial_balance_is_zero(books)


async def test_the_latest_ledger_revisions_go_down_and_up_again(pg_url: str) -> None:
    """Each recent revision's downgrade runs and restores what the one before made (functions,
    columns, the reversal index), and the upgrade then runs again."""
    from alembic import command
    from sqlalchemy.ext.asyncio import create_async_engine

    from shared.migrate import alembic_config, function_of, migrate

    url = await migrate("ledger", pg_url, db_name="sajja_ledger_roundtrip")
    engine = create_async_engine(url)

    async def shape() -> tuple[Any, ...]:
        async with engine.connect() as conn:
            return (await conn.execute(text(
                "SELECT (SELECT pronargs FROM pg_proc WHERE proname = 'ledger_post_entry'),"
                " (SELECT count(*) FROM information_schema.columns WHERE column_name IN ('entry_line', 'reverses_line')),"
                " (SELECT indexdef LIKE '%NULLS NOT DISTINCT%' FROM pg_indexes WHERE indexname = 'uq_journal_entries_reverses'),"
                " (SELECT proconfig FROM pg_proc WHERE proname = 'ledger_post_deposits'),"
                " (SELECT prosrc FROM pg_proc WHERE proname = 'ledger_post_deposits'),"
                " (SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass('money_proposals'))"
                " + (SELECT count(*) FROM pg_proc WHERE proname = 'ledger_proposal_decided_once')"))).one()

    versions = Path(alembic_config("ledger").get_main_option("script_location")) / "versions"

    def post_deposits_of(revision_file: str) -> str:
        """The body of ``ledger_post_deposits`` as a revision file writes it (what ``prosrc`` holds)."""
        created = function_of(versions / revision_file, "ledger_post_deposits")
        return created[created.index("AS $$") + len("AS $$"):-len("$$")]

    def post_deposits_of_fiscal_years() -> str:
        """The body revision 0016 makes (by changing 0009's text)."""
        import importlib.util

        spec = importlib.util.spec_from_file_location("fiscal_years", versions / "20261207_0016_fiscal_years.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        created = module._post_deposits()
        return created[created.index("AS $$") + len("AS $$"):-len("$$")]

    async def step_on(conn: Any, step: Any, revision: str) -> None:
        def run(sync_conn: Any) -> None:
            config = alembic_config("ledger", url)
            config.attributes["connection"] = sync_conn
            step(config, revision)
        await conn.run_sync(run)

    async def move(step: Any, revision: str) -> None:
        async with engine.connect() as conn:
            await step_on(conn, step, revision)
            await conn.commit()

    try:
        head = await shape()
        assert head[:3] == (10, 2, True) and "enable_seqscan=off" in head[3]
        assert head[4] == post_deposits_of_fiscal_years() and "v_closed" in head[4]
        assert head[5] == 3, "money_proposals' two triggers and their function"
        await move(command.downgrade, "20261207_0015_aggregates_by_key")
        assert (await shape())[:4] == head[:4] and (await shape())[4] == post_deposits_of("20261203_0009_postings_first.py")
        await move(command.downgrade, "20261203_0009_postings_first")
        postings_first = await shape()
        assert postings_first[:4] == head[:4] and postings_first[5] == 0
        assert postings_first[4] == post_deposits_of("20261203_0009_postings_first.py")
        await move(command.downgrade, "20261203_0008_sync_entries")
        sync_entries = await shape()
        assert sync_entries[:4] == head[:4] and sync_entries[4] == post_deposits_of("20261203_0008_sync_entries.py")
        # With a deposit on line 3 of an entry (an entry of several deposits) the downgrade refuses.
        async with engine.connect() as conn:
            await conn.execute(text(
                "INSERT INTO deposits (fund_id, id, member_id, collector_id, amount_satang, collected_at, business_date,"
                " posted_at, receipt_no, entry_id, entry_line, request_hash, posted_by) VALUES (gen_random_uuid(),"
                " gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), 100, now(), current_date, now(), 1,"
                " gen_random_uuid(), 3, '\\x00', 'test')"))
            with pytest.raises(DBAPIError, match="revision 0008 cannot be undone"):
                await step_on(conn, command.downgrade, "20261203_0007_set_based_keys")
            await conn.rollback()
        await move(command.downgrade, "20261203_0007_set_based_keys")
        before = await shape()
        assert before[:3] == (9, 0, False) and "enable_seqscan=off" in before[3]
        assert before[4] == post_deposits_of("20261122_0005_deposit_checks.py")
        await move(command.downgrade, "20261122_0006_cheaper_checks")
        await move(command.upgrade, "head")
        assert await shape() == head
    finally:
        await engine.dispose()


@pytest.mark.parametrize("lang", ["th", "en"])
def test_the_batch_answer_is_what_pydantic_would_write(lang: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.ledger.deposits import endpoints
    from services.ledger.deposits.service import Outcome
    from services.ledger.schemas import DepositBatchOut, DepositResult

    moment = dt.datetime(2026, 12, 3, 10, 0, 0, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(endpoints, "utcnow", lambda: moment)
    outcomes = [
        Outcome(id=uuid.uuid4(), status="created", receipt_no=1, entry_id=uuid.uuid4(), posted_at=moment),
        Outcome(id=uuid.uuid4(), status="created", receipt_no=2, posted_at=moment.replace(microsecond=123456)),
        Outcome(id=uuid.uuid4(), status="duplicate", receipt_no=10**12, posted_at=moment.replace(microsecond=500)),
        Outcome(id=uuid.uuid4(), status="rejected", code="deposit.too_late", params={"days": 7}),
        Outcome(id=uuid.uuid4(), status="rejected", code="deposit.id_conflict", params={"id": "x\"y"}),
        Outcome(id=uuid.uuid4(), status="rejected", code="deposit.not_own"),
    ]
    results = [DepositResult(id=o.id, status=o.status, receipt_no=o.receipt_no, posted_at=o.posted_at, code=o.code,
                             reason=o.reason(lang)) for o in outcomes]
    expected = DepositBatchOut(results=results, created=2, duplicates=1, rejected=3, server_time=moment).model_dump_json()
    assert endpoints.batch_answer(outcomes, lang) == expected.encode()


@pytest.mark.parametrize("status", ["created", "duplicate"])
def test_the_receipt_made_without_validation_is_what_a_validated_one_writes(status: str) -> None:
    from asyncpg.pgproto.pgproto import UUID as PgUUID

    from services.ledger.deposits import endpoints
    from services.ledger.deposits.service import Outcome
    from services.ledger.schemas import DepositIn, DepositOut

    item = DepositIn.model_validate_json(
        f'{{"id":"{uuid.uuid4()}","member_id":"{uuid.uuid4()}","amount_satang":12345,'
        f'"collected_at":"{dt.datetime.now(BANGKOK).replace(microsecond=120).isoformat()}"}}')
    outcome = Outcome(id=item.id, status=status, receipt_no=10**12, entry_id=PgUUID(str(uuid.uuid4())),
                      posted_at=dt.datetime.now(dt.UTC), item=item, collector_id=uuid.uuid4(),
                      business_date=dt.date(2026, 12, 3))
    made = endpoints._out(outcome)
    validated = DepositOut(**{name: getattr(made, name) for name in DepositOut.model_fields})
    assert made.model_dump_json() == validated.model_dump_json()
    assert made == validated


async def test_a_deposit_whose_entry_was_reversed_whole_is_not_reversed_again(books: Books) -> None:
    """Before revision 0008 a deposit's entry was its own and was reversed whole: such a deposit
    counts as reversed (here the whole-entry reversal is posted the way the old endpoint did)."""
    created = (await books.post("/deposits", books.deposit(amount=900, collector_id=books.collector))).json()
    async with books.ledger._transport.app.state.db.sessionmaker() as session:
        legs = (await session.execute(text(
            "SELECT account_id, amount_satang FROM postings WHERE fund_id = :f AND entry_id = :e ORDER BY line"),
            {"f": books.id, "e": created["entry_id"]})).all()
        await session.execute(text(
            "SELECT ledger_post_entry(:f, gen_random_uuid(), 'reversal', current_date, 'old', 'test', :e, :a, :m)"),
            {"f": books.id, "e": uuid.UUID(created["entry_id"]), "a": [a for a, _ in legs], "m": [-m for _, m in legs]})
        await session.commit()
    assert await balance(books) == 0
    again = await books.post(f"/deposits/{created['id']}/reverse", {"id": str(uuid.uuid4()), "reason": "ซ้ำ"})
    assert again.status_code == 409 and again.json()["code"] == "deposit.already_reversed"
    assert await balance(books) == 0
    await trial_balance_is_zero(books)
