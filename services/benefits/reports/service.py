"""Benefits paid by category and month in a year, members helped, and how long claims wait."""

from __future__ import annotations

import datetime as dt
import statistics
import uuid
from typing import Any

from sqlalchemy import extract, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.benefits.models import BenefitHelpedDay, BenefitPaidDay, BenefitWaiting, Claim
from services.benefits.schemas import PaidLine, PaidReport, PendingAge, PendingReport
from shared.figures import BE_OFFSET
from shared.timeutil import BANGKOK, utcnow


async def paid(session: AsyncSession, fund_id: uuid.UUID, year: int, *, start: dt.date | None = None,
               end: dt.date | None = None) -> PaidReport:
    """Paid claims in a calendar year, or between two Bangkok dates (inclusive) when given."""
    paid_local = func.timezone("Asia/Bangkok", Claim.paid_at)
    paid_on = func.date(paid_local)
    year_of = extract("year", paid_local)
    period = (paid_on >= start, paid_on <= end) if start is not None and end is not None else (year_of == year,)
    paid_in_year = (Claim.fund_id == fund_id, Claim.status == "paid", *period)
    by_category = (await session.execute(
        select(Claim.category, func.count(), func.sum(Claim.amount_satang)).where(*paid_in_year)
        .group_by(Claim.category).order_by(Claim.category))).all()
    month = extract("month", paid_local)
    by_month = (await session.execute(
        select(year_of, month, func.count(), func.sum(Claim.amount_satang)).where(*paid_in_year)
        .group_by(year_of, month).order_by(year_of, month))).all()
    helped = await session.scalar(select(func.count(func.distinct(Claim.member_id))).where(*paid_in_year))
    return PaidReport(
        fund_id=fund_id, year=year, year_be=year + BE_OFFSET,
        total_satang=sum(int(s) for _, _, s in by_category), claims=sum(n for _, n, _ in by_category),
        members_helped=int(helped or 0),
        by_category=[PaidLine(key=c, claims=n, amount_satang=int(s)) for c, n, s in by_category],
        by_month=[PaidLine(key=f"{int(y)}-{int(m):02d}", claims=n, amount_satang=int(s)) for y, m, n, s in by_month],
    )


async def pending(session: AsyncSession, fund_id: uuid.UUID) -> PendingReport:
    """How old the claims still waiting are: for a decision, and for their payout."""
    now = utcnow()
    rows = (await session.execute(select(Claim.status, Claim.payout_status, Claim.created_at, Claim.decided_at).where(
        Claim.fund_id == fund_id, Claim.status.in_(("submitted", "under_review", "approved"))))).all()
    groups: dict[str, list[float]] = {}
    for status, payout, created, decided in rows:
        key = f"payout_{payout}" if status == "approved" else status
        since = decided if status == "approved" and decided else created
        groups.setdefault(key, []).append((now - since).total_seconds() / 86400)
    lines = [
        PendingAge(status=key, claims=len(ages), oldest_days=int(max(ages)), median_days=round(statistics.median(ages), 1),
                   over_7_days=sum(a > 7 for a in ages), over_30_days=sum(a > 30 for a in ages))
        for key, ages in sorted(groups.items())
    ]
    return PendingReport(fund_id=fund_id, as_of=now.astimezone(BANGKOK), lines=lines)


async def aggregates(session: AsyncSession, fund_ids: list[uuid.UUID] | None, start: dt.date, end: dt.date) -> dict[str, Any]:
    """Benefits paid by category over the period and claims still waiting, over many funds: what
    ``paid`` and ``pending`` say of each fund, summed (members helped: each fund's own, added),
    from the aggregates kept per fund with every change of a claim (docs/aggregates.md), one
    query per figure whatever the number of funds. They include every change committed before
    ``as_of``."""
    now = utcnow()

    def scope(column: Any) -> tuple[Any, ...]:
        return () if fund_ids is None else (column.in_(fund_ids),)

    in_period = (BenefitPaidDay.paid_on >= start, BenefitPaidDay.paid_on <= end, *scope(BenefitPaidDay.fund_id))
    by_category = [(c, int(n), int(s)) for c, n, s in (await session.execute(
        select(BenefitPaidDay.category, func.sum(BenefitPaidDay.claims), func.sum(BenefitPaidDay.amount_satang))
        .where(*in_period).group_by(BenefitPaidDay.category).order_by(BenefitPaidDay.category))).all() if n]
    # A member counts on their first day paid in the period: the day whose previous one is before it.
    helped = await session.scalar(select(func.coalesce(func.sum(BenefitHelpedDay.members), 0)).where(
        BenefitHelpedDay.paid_on >= start, BenefitHelpedDay.paid_on <= end, BenefitHelpedDay.previous_on < start,
        *scope(BenefitHelpedDay.fund_id)))
    assert helped is not None  # coalesce
    waiting = (await session.execute(
        select(BenefitWaiting.status, func.sum(BenefitWaiting.claims), func.min(BenefitWaiting.oldest))
        .where(BenefitWaiting.claims > 0, *scope(BenefitWaiting.fund_id))
        .group_by(BenefitWaiting.status).order_by(BenefitWaiting.status))).all()
    return {
        "as_of": now.astimezone(BANGKOK),
        "paid": {"total_satang": sum(s for _, _, s in by_category), "claims": sum(n for _, n, _ in by_category),
                 "members_helped": int(helped),
                 "by_category": [{"key": c, "claims": n, "amount_satang": s} for c, n, s in by_category]},
        "pending": [{"status": k, "claims": int(n), "oldest_days": int((now - oldest).total_seconds() / 86400)}
                    for k, n, oldest in waiting if oldest is not None],  # a state with claims has an oldest
    }
