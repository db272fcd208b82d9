"""Contribution plans (1 baht a day, 30 a month, 365 a year, or the fund's own), each member's
standing against the plan, and what co-funders owe under the fund's matching rules."""

from __future__ import annotations

import calendar
import datetime as dt
import uuid

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.models import (
    Account,
    ContributionPlan,
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
from shared.figures import BE_OFFSET

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
    return plan


async def plans(session: AsyncSession, fund_id: uuid.UUID) -> list[ContributionPlan]:
    return list((await session.scalars(
        select(ContributionPlan).where(ContributionPlan.fund_id == fund_id).order_by(ContributionPlan.effective_from)
    )).all())


def periods_between(start: dt.date, end: dt.date, period: str) -> int:
    """Periods that have begun from ``start`` up to and including ``end``."""
    if end < start:
        return 0
    if period == "day":
        return (end - start).days + 1
    if period == "month":
        return (end.year - start.year) * 12 + end.month - start.month + 1
    return end.year - start.year + 1


def add_periods(start: dt.date, count: int, period: str) -> dt.date:
    """The first day after ``count`` periods from ``start``."""
    if period == "day":
        return start + dt.timedelta(days=count)
    months = count if period == "month" else 12 * count
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def standing(
    *, member_id: uuid.UUID, joined_on: dt.date, contributed: int, all_plans: list[ContributionPlan], as_of: dt.date
) -> Standing:
    """How far the member's contributions reach, and what they owe, under each plan in its time.

    Each plan is due from when it took effect (or the member joined) until the next one took
    effect; the one in force on ``as_of`` from its start on. Contributions pay the oldest periods
    first, so the date paid through falls in the first plan with a period not paid; only under
    the plan in force can it run past ``as_of`` (paid ahead). A period that had begun when the
    plan changed is due in full under the plan it began under."""
    ordered = sorted((p for p in all_plans if p.effective_from <= as_of), key=lambda p: p.effective_from)
    if not ordered:
        return Standing(member_id=member_id, joined_on=joined_on, plan=None, contributed_satang=contributed, due_satang=0,
                        paid_through=None, periods_in_arrears=0, arrears_satang=0, in_arrears=False, as_of=as_of)
    current = ordered[-1]
    remaining, due, behind, paid_through = contributed, 0, 0, None
    for plan, following in zip(ordered, [*ordered[1:], None]):
        start = max(joined_on, plan.effective_from)
        last = as_of if following is None else following.effective_from - dt.timedelta(days=1)
        if last < start:
            continue  # the member joined after this plan gave way to the next
        periods = periods_between(start, last, plan.period)
        due += periods * plan.amount_satang
        paid = remaining // plan.amount_satang if following is None else min(periods, remaining // plan.amount_satang)
        if behind:
            paid = 0  # an earlier period is still unpaid: nothing later is paid
        remaining -= paid * plan.amount_satang
        if paid:
            through = add_periods(start, paid, plan.period) - dt.timedelta(days=1)
            paid_through = through if following is None else min(through, last)
        behind += max(0, periods - paid)
    return Standing(
        member_id=member_id, joined_on=joined_on, plan=PlanOut.model_validate(current), contributed_satang=contributed,
        due_satang=due, paid_through=paid_through, periods_in_arrears=behind,
        arrears_satang=max(0, due - contributed), in_arrears=behind > current.grace_periods, as_of=as_of,
    )


async def contributed_by_member(session: AsyncSession, fund_id: uuid.UUID, member_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = await session.execute(
        select(LedgerMember.member_id, Account.balance_satang)
        .join(Account, (Account.fund_id == LedgerMember.fund_id) & (Account.id == LedgerMember.account_id))
        .where(LedgerMember.fund_id == fund_id, LedgerMember.member_id.in_(member_ids))
    )
    return {m: -b for m, b in rows}


async def set_matching_rule(session: AsyncSession, fund_id: uuid.UUID, source: str, ratio_bp: int, cap: int | None) -> MatchingRule:
    stmt = insert(MatchingRule).values(fund_id=fund_id, source=source, ratio_bp=ratio_bp, cap_per_member_year_satang=cap)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["fund_id", "source"], set_={"ratio_bp": ratio_bp, "cap_per_member_year_satang": cap}))
    rule = await session.get(MatchingRule, (fund_id, source), populate_existing=True)
    assert rule is not None
    return rule


async def matching(session: AsyncSession, fund_id: uuid.UUID, year: int) -> MatchingReport:
    """For one calendar year: what each co-funder owes under its rule, against what it sent.

    Due is computed per member (ratio of what they contributed that year, capped per member),
    then summed, so one large saver cannot use up a cap meant for everyone.
    """
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
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
    return MatchingReport(fund_id=fund_id, year=year, year_be=year + BE_OFFSET, member_contributions_satang=sum(contributions), lines=lines)
