"""Contribution plans (1 baht a day, 30 a month, 365 a year, or the fund's own), each member's
standing against the plan, and what co-funders owe under the fund's matching rules."""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.models import (
    LedgerFund,
    Account,
    ContributionPlan,
    FundArrears,
    JournalEntry,
    LedgerMember,
    MatchingRule,
    Movement,
    Posting,
)
from services.ledger.posting import stands
from services.ledger.schemas import (
    MatchingLine,
    MatchingReport,
    PlanIn,
    PlanOut,
    Standing,
)
from shared.errors import Conflict, register_messages
from shared.members_client import MembersDirectory
from shared.figures import BE_OFFSET
from shared.fiscal import year_bounds
from shared.timeutil import bangkok_today

register_messages(
    {
        "plan.exists_on_date": {
            "th": ("มีแผนในวันที่นี้แล้ว", "มีแผนการออมที่เริ่มวันที่ {date} อยู่แล้ว"),
            "en": ("Plan exists", "A contribution plan already starts on {date}"),
        },
    }
)


async def add_plan(session: AsyncSession, fund_id: uuid.UUID, data: PlanIn) -> ContributionPlan:
    plan = ContributionPlan(fund_id=fund_id, id=uuid.uuid4(), **data.model_dump())
    existing = await session.scalar(select(ContributionPlan.id).where(
        ContributionPlan.fund_id == fund_id, ContributionPlan.effective_from == data.effective_from))
    if existing is not None:
        raise Conflict("plan.exists_on_date", params={"date": data.effective_from.isoformat()})
    session.add(plan)
    await session.flush()
    # A new plan changes what every member owes: the fund's arrears are counted again.
    await session.execute(update(FundArrears).where(FundArrears.fund_id == fund_id).values(stale=True))
    return plan


async def plans(session: AsyncSession, fund_id: uuid.UUID) -> list[ContributionPlan]:
    return list((await session.scalars(
        select(ContributionPlan).where(ContributionPlan.fund_id == fund_id).order_by(ContributionPlan.effective_from)
    )).all())


def periods_between(start: dt.date, end: dt.date, period: str) -> int:
    """Calendar periods (days, months, years) from the one ``start`` falls in to the one ``end``
    falls in, both counted: a plan is due for every period it has begun."""
    if end < start:
        return 0
    if period == "day":
        return (end - start).days + 1
    if period == "month":
        return (end.year - start.year) * 12 + end.month - start.month + 1
    return end.year - start.year + 1


def _period_end(start: dt.date, count: int, period: str) -> dt.date:
    """The last day of the ``count``-th calendar period, counting the one ``start`` falls in as the
    first (``count`` >= 1); the last day there is when that is past the calendar (a plan of 1
    satang and a large sum paid ahead, or dates near the year 9999)."""
    try:
        if period == "day":
            return start + dt.timedelta(days=count - 1)
        if period == "year":
            return dt.date(start.year + count - 1, 12, 31)
        month_index = start.month - 1 + count - 1
        year, month = start.year + month_index // 12, month_index % 12 + 1
        return dt.date(year, month, calendar.monthrange(year, month)[1])
    except (OverflowError, ValueError):
        return dt.date.max


#: Calendar periods, shortest first: a boundary of a longer one is a boundary of each shorter one.
PERIODS = ("day", "month", "year")


def _windows(ordered: list[ContributionPlan]) -> list[tuple[ContributionPlan, dt.date, dt.date | None]]:
    """Each plan with the days it covers, [begin, end): one plan for every day. A new plan takes
    over from the plan covering the days before it at the first boundary, on or after its start,
    of the longer of their two periods (so the old plan keeps every period it has begun, and the
    new one starts with a whole period of its own). A plan overtaken before it took over covers
    nothing, and the one after it takes over from the plan before it (a correction of a plan
    entered by mistake applies as if the mistake had not been made)."""
    taken: list[tuple[ContributionPlan, dt.date]] = [(ordered[0], ordered[0].effective_from)]
    for plan in ordered[1:]:
        while True:
            before, since = taken[-1]
            longer = max(before.period, plan.period, key=PERIODS.index)
            last_before = _period_end(plan.effective_from - dt.timedelta(days=1), 1, longer)
            start = last_before + dt.timedelta(days=1) if last_before < dt.date.max else dt.date.max
            if start > since or len(taken) == 1:
                break
            taken.pop()  # overtaken before it took over
        taken.append((plan, start))
    ends: list[dt.date | None] = [since for _, since in taken[1:]]
    return [(plan, since, end) for (plan, since), end in zip(taken, [*ends, None])]


def standing(
    *, member_id: uuid.UUID, joined_on: dt.date, contributed: int, all_plans: list[ContributionPlan], as_of: dt.date
) -> Standing:
    """How far the member's contributions reach, and what they owe, under each plan in its time.

    Calendar periods (days, months, years). Each day falls under one plan (see ``_windows``), and
    a plan is due for every period of it that has begun, from the one the member joined in. The
    contributions (by the end of ``as_of``) pay the oldest periods first: the date paid through
    is the end of the last whole period paid, past ``as_of`` only under the plan covering
    ``as_of`` (paid ahead). What is still owed, in all, is counted in periods of that plan (the
    shortfall over its amount, rounded up: a period begun and not wholly paid is behind), and
    the member is in arrears when more periods are behind than its grace."""
    if not any(p.effective_from <= as_of for p in all_plans):
        return Standing(member_id=member_id, joined_on=joined_on, plan=None, contributed_satang=contributed, due_satang=0,
                        paid_through=None, periods_in_arrears=0, arrears_satang=0, in_arrears=False, as_of=as_of)
    # Plans still to come too: a change already decided ends the covering plan's window.
    windows = [w for w in _windows(sorted(all_plans, key=lambda p: p.effective_from)) if w[1] <= as_of]
    covering = windows[-1][0]
    remaining, due, short, paid_through = contributed, 0, False, None
    for plan, begin, end in windows:
        start = max(joined_on, begin)
        last = as_of if end is None else min(as_of, end - dt.timedelta(days=1))
        periods = periods_between(start, last, plan.period)
        if not periods:
            continue
        due += periods * plan.amount_satang
        if short:
            continue  # an older period is still unpaid: nothing later is paid
        paid = remaining // plan.amount_satang
        if plan is not covering:
            paid = min(periods, paid)
        remaining -= paid * plan.amount_satang
        if paid:
            paid_through = _period_end(start, paid, plan.period)
            if end is not None:
                paid_through = min(paid_through, end - dt.timedelta(days=1))
        short = paid < periods
    arrears = max(0, due - contributed)
    behind = -(-arrears // covering.amount_satang)
    return Standing(
        member_id=member_id, joined_on=joined_on, plan=PlanOut.model_validate(covering), contributed_satang=contributed,
        due_satang=due, paid_through=paid_through, periods_in_arrears=behind, arrears_satang=arrears,
        in_arrears=behind > covering.grace_periods, as_of=as_of,
    )


async def contributed_by_member(
    session: AsyncSession, fund_id: uuid.UUID, member_ids: list[uuid.UUID], as_of: dt.date
) -> dict[uuid.UUID, int]:
    """What each member had contributed by the end of ``as_of``. Today (or later): their
    contribution account's balance, kept on the account. A past day: their postings dated up to
    that day that stand (neither a reversal nor reversed, whenever the reversal was made), so
    money paid after an event, or a deposit later found not to be theirs, does not count towards
    it; only a past day reads a member's postings."""
    if as_of >= bangkok_today():
        contributed: Any = Account.balance_satang
    else:
        contributed = (
            select(func.coalesce(func.sum(Posting.amount_satang), 0))
            .join(JournalEntry, (JournalEntry.fund_id == Posting.fund_id) & (JournalEntry.id == Posting.entry_id))
            .where(Posting.fund_id == LedgerMember.fund_id, Posting.account_id == LedgerMember.account_id,
                   Posting.business_date <= as_of, JournalEntry.reverses_entry_id.is_(None),
                   stands(Posting.fund_id, Posting.entry_id, Posting.line))
            .scalar_subquery()
        )
    rows = await session.execute(
        select(LedgerMember.member_id, contributed)
        .join(Account, (Account.fund_id == LedgerMember.fund_id) & (Account.id == LedgerMember.account_id))
        .where(LedgerMember.fund_id == fund_id, LedgerMember.member_id.in_(member_ids))
    )
    return {m: -int(b) for m, b in rows}  # contributions are credits (negative balances)


async def in_arrears(session: AsyncSession, directory: MembersDirectory, fund_id: uuid.UUID,
                     day: dt.date) -> list[Standing]:
    """Current members behind their plan by more than its grace on ``day``, most behind first."""
    all_plans = await plans(session, fund_id)
    if not all_plans:
        # Nobody can be behind a plan the fund does not have: spare the members service the roll.
        return []
    members = await directory.current_members(fund_id)
    contributed = await contributed_by_member(session, fund_id, [uuid.UUID(m["member_id"]) for m in members], day)
    standings = [
        standing(member_id=uuid.UUID(m["member_id"]), joined_on=dt.date.fromisoformat(m["joined_on"]),
                 contributed=contributed.get(uuid.UUID(m["member_id"]), 0), all_plans=all_plans, as_of=day)
        for m in members
    ]
    return sorted((s for s in standings if s.in_arrears), key=lambda s: (-s.arrears_satang, str(s.member_id)))


async def set_matching_rule(session: AsyncSession, fund_id: uuid.UUID, source: str, ratio_bp: int, cap: int | None) -> MatchingRule:
    stmt = insert(MatchingRule).values(fund_id=fund_id, source=source, ratio_bp=ratio_bp, cap_per_member_year_satang=cap)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["fund_id", "source"], set_={"ratio_bp": ratio_bp, "cap_per_member_year_satang": cap}))
    rule = await session.get(MatchingRule, (fund_id, source), populate_existing=True)
    assert rule is not None
    return rule


async def matching(session: AsyncSession, fund_id: uuid.UUID, year: int) -> MatchingReport:
    """For one fiscal year of the fund (docs/fiscal-years.md): what each co-funder owes under its
    rule, against what it sent.

    Due is computed per member (ratio of what they contributed that year, capped per member),
    then summed, so one large saver cannot use up a cap meant for everyone.
    """
    fund = await session.get(LedgerFund, fund_id)
    start, end = year_bounds(year, fund.fiscal_year_start_month if fund is not None else 1)
    per_member = (await session.execute(
        select(Posting.account_id, func.sum(Posting.amount_satang))
        .join(Account, (Account.fund_id == Posting.fund_id) & (Account.id == Posting.account_id))
        .where(Posting.fund_id == fund_id, Account.kind == "member_contribution",
               Posting.business_date >= start, Posting.business_date <= end)
        .group_by(Posting.account_id)
    )).all()
    contributions = [-int(total) for _, total in per_member if total]
    received = dict((await session.execute(
        select(Movement.source, func.sum(Movement.amount_satang))
        .where(Movement.fund_id == fund_id, Movement.kind == "co_funding", Movement.business_date >= start,
               Movement.business_date <= end, stands(Movement.fund_id, Movement.entry_id))
        .group_by(Movement.source)
    )).all())
    rules = (await session.scalars(select(MatchingRule).where(MatchingRule.fund_id == fund_id).order_by(MatchingRule.source))).all()
    return MatchingReport(fund_id=fund_id, year=year, year_be=year + BE_OFFSET, member_contributions_satang=sum(contributions),
                          lines=match_due(contributions, rules, received))


def match_due(contributions: Sequence[int], rules: Sequence[MatchingRule], received: Mapping[str | None, int | None]) -> list[MatchingLine]:
    """The arithmetic of ``matching``: one line per rule, in the order given, with what its
    co-funder owes for the year and what is still outstanding. ``contributions`` holds each
    member's net contribution in the year, one number a member: nothing is owed for a net of zero
    or less, and each member's share is rounded down to the satang and capped before the sum.
    ``received`` is what each source sent (a source with no rule has no line; more than is due
    leaves nothing outstanding, and no credit)."""
    lines = []
    for rule in rules:
        due = 0
        for contributed in contributions:
            owed = max(0, contributed) * rule.ratio_bp // 10_000
            if rule.cap_per_member_year_satang is not None:
                owed = min(owed, rule.cap_per_member_year_satang)
            due += owed
        got = int(received.get(rule.source, 0) or 0)
        lines.append(MatchingLine(source=rule.source, ratio_bp=rule.ratio_bp,
                                  cap_per_member_year_satang=rule.cap_per_member_year_satang,
                                  due_satang=due, received_satang=got, outstanding_satang=max(0, due - got)))
    return lines
