"""Reads: balances (kept current, so O(1)), statements, trial balance, income by source, and each
collector's day."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import ColumnElement, extract, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.models import (
    Account,
    ContributionPlan,
    Deposit,
    JournalEntry,
    LedgerCollector,
    LedgerFund,
    LedgerMember,
    Movement,
    Posting,
)
from services.ledger.posting import not_flowless, stands
from services.ledger.schemas import (
    AccountIn,
    AccountOut,
    CollectorDay,
    DepositMonth,
    DepositsByMonth,
    Holdings,
    MemberBalance,
    SourceShare,
    SourcesReport,
    Statement,
    StatementLine,
    TrialBalance,
)
from shared.errors import Conflict, NotFound, SajjaError, register_messages
from shared.figures import share_pct
from shared.pagination import after_key, split_page

register_messages(
    {
        "report.range_invalid": {
            "th": ("ช่วงวันที่ไม่ถูกต้อง", "วันที่เริ่มต้องไม่หลังวันที่สิ้นสุด"),
            "en": ("Invalid range", "The start date must not be after the end date"),
        },
        "account.code_taken": {
            "th": ("รหัสบัญชีซ้ำ", "มีบัญชีรหัส {code} ในกองทุนนี้แล้ว"),
            "en": ("Code taken", "Account code {code} already exists in this fund"),
        },
        "deposit.not_found": {
            "th": ("ไม่พบรายการฝาก", "ไม่พบรายการฝากนี้ในกองทุน"),
            "en": ("Deposit not found", "No such deposit in this fund"),
        },
        "account.not_found": {
            "th": ("ไม่พบบัญชี", "ไม่พบบัญชีนี้ในกองทุน"),
            "en": ("Account not found", "No such account in this fund"),
        },
    }
)


async def trial_balance(session: AsyncSession, fund_id: uuid.UUID) -> TrialBalance:
    rows = (await session.scalars(select(Account).where(Account.fund_id == fund_id).order_by(Account.code))).all()
    debit = sum(a.balance_satang for a in rows if a.balance_satang > 0)
    credit = -sum(a.balance_satang for a in rows if a.balance_satang < 0)
    return TrialBalance(
        fund_id=fund_id, accounts=[AccountOut.model_validate(a) for a in rows],
        debit_total_satang=debit, credit_total_satang=credit, balanced=debit == credit,
    )


def _standing() -> ColumnElement[bool]:
    """A deposit that stands: not reversed (on its own, or with its whole entry)."""
    return stands(Deposit.fund_id, Deposit.entry_id, Deposit.entry_line)


async def member_balance(session: AsyncSession, fund_id: uuid.UUID, member_id: uuid.UUID) -> MemberBalance:
    row = (await session.execute(
        select(Account.balance_satang)
        .join(LedgerMember, (LedgerMember.fund_id == Account.fund_id) & (LedgerMember.account_id == Account.id))
        .where(LedgerMember.fund_id == fund_id, LedgerMember.member_id == member_id)
    )).first()
    count, last = (await session.execute(
        select(func.count(), func.max(Deposit.collected_at))
        .where(Deposit.fund_id == fund_id, Deposit.member_id == member_id, _standing())
    )).one()
    return MemberBalance(member_id=member_id, contributed_satang=-(row[0] if row else 0), deposits=count, last_deposit_at=last)


#: Below every line of an entry (lines count from 1): pages go newest first, so a key with it
#: continues after the whole entry.
_BELOW_ANY_LINE = 0


def _statement_key(cursor: str | None) -> tuple[Any, ...] | None:
    """Where a statement page starts: after (posted_at, entry, line). A cursor handed out before
    revision 0008 names (posted_at, entry) of an entry of one deposit, and continues after that
    whole entry, so a phone paging across the upgrade goes on where it was."""
    try:
        return after_key(cursor, dt.datetime.fromisoformat, uuid.UUID, int)
    except SajjaError:
        earlier = after_key(cursor, dt.datetime.fromisoformat, uuid.UUID)  # else the same 400
        assert earlier is not None
        return (*earlier, _BELOW_ANY_LINE)


async def statement(
    session: AsyncSession, fund_id: uuid.UUID, member_id: uuid.UUID, limit: int, cursor: str | None
) -> Statement:
    """The member's contribution account, newest first: deposits (with receipts) and reversals."""
    account_id = await session.scalar(select(LedgerMember.account_id).where(
        LedgerMember.fund_id == fund_id, LedgerMember.member_id == member_id))
    if account_id is None:
        return Statement(member_id=member_id, balance_satang=0, lines=[], next_cursor=None)
    balance = await session.scalar(select(Account.balance_satang).where(Account.fund_id == fund_id, Account.id == account_id))
    # A deposit is its member's line of its collector's entry (one member may have two lines in
    # one entry); the member's own deposits are found by the member's index. A deposit's line
    # shows the deposit's own posting time (as its receipt does) and sorts by it: receipt order.
    posted_at = func.coalesce(Deposit.posted_at, JournalEntry.posted_at)
    query = (
        select(Posting.entry_id, Posting.line, Posting.amount_satang, JournalEntry.kind, JournalEntry.business_date,
               posted_at.label("posted_at"), JournalEntry.memo, Deposit.receipt_no,
               Deposit.business_date.label("collected_on"))
        .join(JournalEntry, (JournalEntry.fund_id == Posting.fund_id) & (JournalEntry.id == Posting.entry_id))
        .outerjoin(Deposit, (Deposit.fund_id == Posting.fund_id) & (Deposit.member_id == member_id)
                   & (Deposit.entry_id == Posting.entry_id) & (Deposit.entry_line == Posting.line))
        .where(Posting.fund_id == fund_id, Posting.account_id == account_id)
    )
    key = _statement_key(cursor)
    if key is not None:
        query = query.where(tuple_(posted_at, Posting.entry_id, Posting.line) < key)
    rows = (await session.execute(query.order_by(
        posted_at.desc(), Posting.entry_id.desc(), Posting.line.desc()).limit(limit + 1))).all()
    page, next_cursor = split_page(rows, limit, lambda r: (r.posted_at.isoformat(), r.entry_id, r.line))
    lines = [
        StatementLine(entry_id=r.entry_id, kind=r.kind, business_date=r.business_date, posted_at=r.posted_at,
                      amount_satang=-r.amount_satang, receipt_no=r.receipt_no, memo=r.memo, collected_on=r.collected_on,
                      late=r.collected_on is not None and r.collected_on < r.business_date)
        for r in page
    ]
    return Statement(member_id=member_id, balance_satang=-(balance or 0), lines=lines, next_cursor=next_cursor)


async def sources(session: AsyncSession, fund_id: uuid.UUID, start: dt.date, end: dt.date) -> SourcesReport:
    """Income by source between two Bangkok dates (inclusive): members' contributions and each co-funder."""
    if start > end:
        raise SajjaError("report.range_invalid", status_code=422)
    rows = (await session.execute(
        select(Account.source, func.sum(Posting.amount_satang))
        .join(Account, (Account.fund_id == Posting.fund_id) & (Account.id == Posting.account_id))
        .where(Posting.fund_id == fund_id, Account.type == "income", Posting.business_date >= start,
               Posting.business_date <= end, not_flowless(Posting.fund_id, Posting.entry_id))
        .group_by(Account.source)
    )).all()
    # Every income account has a source ('' stands for none, as in the day totals).
    amounts = {source or "": -int(total) for source, total in rows if total}
    total = sum(amounts.values())
    ordered = sorted(amounts.items(), key=lambda kv: (-kv[1], kv[0]))
    return SourcesReport(
        fund_id=fund_id, date_from=start, date_to=end, total_satang=total,
        sources=[SourceShare(source=s, amount_satang=a, share_pct=share_pct(a, total)) for s, a in ordered],
    )


async def collector_days(
    session: AsyncSession, fund_id: uuid.UUID, day: dt.date, collector_id: uuid.UUID | None
) -> list[CollectorDay]:
    """Per collector for one day: deposits collected, cash handed over, the difference, and cash in hand now."""
    collected = {
        c: (n, s) for c, n, s in (await session.execute(
            select(Deposit.collector_id, func.count(), func.sum(Deposit.amount_satang))
            .where(Deposit.fund_id == fund_id, Deposit.business_date == day, _standing(),
                   *([Deposit.collector_id == collector_id] if collector_id else []))
            .group_by(Deposit.collector_id)
        )).all()
    }
    handed = {
        c: s for c, s in (await session.execute(
            select(Movement.collector_id, func.sum(Movement.amount_satang))
            .where(Movement.fund_id == fund_id, Movement.kind == "handover", Movement.business_date == day,
                   stands(Movement.fund_id, Movement.entry_id),
                   *([Movement.collector_id == collector_id] if collector_id else []))
            .group_by(Movement.collector_id)
        )).all() if c is not None  # a handover always names its collector
    }
    cash = {
        c: b for c, b in (await session.execute(
            select(LedgerCollector.collector_id, Account.balance_satang)
            .join(Account, (Account.fund_id == LedgerCollector.fund_id) & (Account.id == LedgerCollector.account_id))
            .where(LedgerCollector.fund_id == fund_id)
        )).all()
    }
    collectors = sorted(set(collected) | set(handed) | ({collector_id} if collector_id else set()), key=str)
    days = []
    for c in collectors:
        n, total = collected.get(c, (0, 0))
        total, out = int(total or 0), int(handed.get(c, 0) or 0)
        days.append(CollectorDay(collector_id=c, business_date=day, deposits=n, collected_satang=total,
                                 handed_over_satang=out, difference_satang=total - out, cash_in_hand_satang=int(cash.get(c, 0))))
    return days


async def accounts(session: AsyncSession, fund_id: uuid.UUID, kind: str | None) -> list[AccountOut]:
    query = select(Account).where(Account.fund_id == fund_id)
    if kind:
        query = query.where(Account.kind == kind)
    return [AccountOut.model_validate(a) for a in (await session.scalars(query.order_by(Account.code))).all()]


async def add_account(session: AsyncSession, fund_id: uuid.UUID, data: AccountIn) -> AccountOut:
    row = (await session.execute(
        insert(Account).values(fund_id=fund_id, id=uuid.uuid4(), kind="custom", balance_satang=0, **data.model_dump())
        .on_conflict_do_nothing().returning(Account)
    )).scalar_one_or_none()
    if row is None:
        raise Conflict("account.code_taken", params={"code": data.code})
    return AccountOut.model_validate(row)


async def deposit(session: AsyncSession, fund_id: uuid.UUID, deposit_id: uuid.UUID) -> Deposit:
    row = await session.get(Deposit, (fund_id, deposit_id))
    if row is None:
        raise NotFound("deposit.not_found")
    return row




async def member_contributions(session: AsyncSession, fund_id: uuid.UUID, start: dt.date, end: dt.date) -> list[tuple[uuid.UUID, int]]:
    """Each member's contributions between two dates (inclusive), net of reversals."""
    if start > end:
        raise SajjaError("report.range_invalid", status_code=422)
    rows = (await session.execute(
        select(LedgerMember.member_id, func.sum(Posting.amount_satang))
        .join(Posting, (Posting.fund_id == LedgerMember.fund_id) & (Posting.account_id == LedgerMember.account_id))
        .where(LedgerMember.fund_id == fund_id, Posting.business_date >= start, Posting.business_date <= end)
        .group_by(LedgerMember.member_id)
    )).all()
    return [(member_id, -int(total)) for member_id, total in rows]


#: Accounts whose balances make up the accumulated fund: money the fund holds, wherever it is.
HELD_KINDS = ("fund_cash", "bank", "collector_cash")


async def holdings(session: AsyncSession, fund_id: uuid.UUID) -> Holdings:
    """Cash, bank and collectors' cash in hand (the accumulated fund), without creating any books:
    a fund whose ledger has no entry yet has ``accumulated_satang`` null, not 0."""
    by_kind = {
        kind: int(total or 0)
        for kind, total in (await session.execute(
            select(Account.kind, func.sum(Account.balance_satang))
            .where(Account.fund_id == fund_id, Account.kind.in_((*HELD_KINDS, "grants_receivable")))
            .group_by(Account.kind)
        )).all()
    }
    has_books = await session.get(LedgerFund, fund_id) is not None and await session.scalar(
        select(JournalEntry.id).where(JournalEntry.fund_id == fund_id).limit(1)) is not None
    return Holdings(
        fund_id=fund_id, has_books=has_books, fund_cash_satang=by_kind.get("fund_cash", 0),
        bank_satang=by_kind.get("bank", 0), collectors_cash_satang=by_kind.get("collector_cash", 0),
        grants_receivable_satang=by_kind.get("grants_receivable", 0),
        accumulated_satang=sum(by_kind.get(k, 0) for k in HELD_KINDS) if has_books else None,
    )


async def deposits_by_month(session: AsyncSession, fund_id: uuid.UUID, start: dt.date, end: dt.date) -> DepositsByMonth:
    """Deposits collected per month (by Bangkok business date) between two dates, inclusive."""
    if start > end:
        raise SajjaError("report.range_invalid", status_code=422)
    year, month = extract("year", Deposit.business_date), extract("month", Deposit.business_date)
    rows = (await session.execute(
        select(year, month, func.count(), func.sum(Deposit.amount_satang))
        .where(Deposit.fund_id == fund_id, Deposit.business_date >= start, Deposit.business_date <= end, _standing())
        .group_by(year, month).order_by(year, month)
    )).all()
    months = [DepositMonth(month=f"{int(y)}-{int(m):02d}", deposits=n, amount_satang=int(total)) for y, m, n, total in rows]
    return DepositsByMonth(fund_id=fund_id, date_from=start, date_to=end, months=months,
                           deposits=sum(m.deposits for m in months), amount_satang=sum(m.amount_satang for m in months))


async def projection_inputs(session: AsyncSession, fund_id: uuid.UUID, today: dt.date, years: int) -> dict[str, Any]:
    """What the benefits service's sustainability projection needs of the books: the reserve as a
    payout compares it with the floor (fund cash and bank, ``movements.service.benefit_payout``),
    the income of each calendar year by source (as ``sources`` sums it: members' contributions and
    each co-funder) from ``years`` years back to this one, and the contribution plan in force."""
    balances = {kind: int(total or 0) for kind, total in (await session.execute(
        select(Account.kind, func.sum(Account.balance_satang))
        .where(Account.fund_id == fund_id, Account.kind.in_(HELD_KINDS)).group_by(Account.kind))).all()}
    first = today.year - years
    year_of = extract("year", Posting.business_date)
    rows = (await session.execute(
        select(year_of, Account.source, func.sum(Posting.amount_satang))
        .join(Account, (Account.fund_id == Posting.fund_id) & (Account.id == Posting.account_id))
        .where(Posting.fund_id == fund_id, Account.type == "income", Posting.business_date >= dt.date(first, 1, 1),
               Posting.business_date <= today, not_flowless(Posting.fund_id, Posting.entry_id))
        .group_by(year_of, Account.source))).all()
    income: dict[int, dict[str, int]] = {}
    for year, source, total in rows:
        if total:
            income.setdefault(int(year), {})[source or "other"] = income.get(int(year), {}).get(source or "other", 0) - int(total)
    plan = (await session.scalars(
        select(ContributionPlan).where(ContributionPlan.fund_id == fund_id, ContributionPlan.effective_from <= today)
        .order_by(ContributionPlan.effective_from.desc()).limit(1))).first()
    return {
        "fund_id": fund_id, "as_of": today,
        "reserve_satang": balances.get("fund_cash", 0) + balances.get("bank", 0),
        "collectors_cash_satang": balances.get("collector_cash", 0),
        "income_by_year": [{"year": y, "sources": dict(sorted(income[y].items()))} for y in sorted(income)],
        "plan": None if plan is None else {"period": plan.period, "amount_satang": plan.amount_satang,
                                           "effective_from": plan.effective_from},
    }
