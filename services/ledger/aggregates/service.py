"""The ledger's figures over many funds, from the per-fund aggregates it keeps: income by source
and deposits per fund and day (``income_days``, ``deposit_days``: any period is a sum), holdings
from the account balances kept current by every posting, and arrears per fund counted by the
ledger itself (``fund_arrears``). One query per figure, whatever the number of funds."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import Any, cast

from sqlalchemy import Table, exists, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.models import (
    Account,
    ContributionPlan,
    DepositDay,
    FundArrears,
    IncomeDay,
    JournalEntry,
    LedgerFund,
    Watermark,
)
from services.ledger.plans import service as plans
from services.ledger.reports.service import HELD_KINDS
from shared import metrics
from shared.db import Database
from shared.figures import share_pct
from shared.members_client import MembersDirectory
from shared.timeutil import bangkok_today, utcnow

log = logging.getLogger("sajja.ledger.aggregates")

#: A fund's arrears are counted again after this long even when nothing said they changed: a
#: backstop against a change of the roll no notice carried (``ROLL_CHANGES``: a members database
#: restored from a backup, stamps written by hand into the past, triggers turned off for a load), so
#: such a count is wrong for at most this long. Counts are made every day anyway (arrears depend on
#: the date), so this is four counts a fund a day, not the 96 of a 15-minute age.
ARREARS_MAX_AGE = dt.timedelta(hours=6)
#: The worker counts a fund's arrears again at most this often while its books keep changing: every
#: refresh that adds a deposit of the fund marks its count stale, and a count reads the fund's roll
#: from the members service and every member's contributions, far more than the refresh itself.
#: The reads say how old each count is (``funds_stale``, ``counted_since``); ``POST
#: /aggregates/refresh`` counts every stale fund at once.
ARREARS_MIN_AGE = dt.timedelta(minutes=1)


#: The members service's feed of the funds whose rolls changed (``/internal/roll-changes``), by
#: the permission it is read with; its watermark is kept in ``watermarks`` under this name.
ROLL_CHANGES = "members.roll_changes"
#: How long after its stamp a change of a member row may still be committing: the members
#: service stamps a row at its write (the trigger of its revision 0007) and commits within the same
#: short transaction (a registration, a status, an anonymisation), or after the rest of one bulk
#: statement (an import, of a bounded file). A change is acted on once it is this old by the members
#: database's clock, so the count it causes starts after it committed and is its only one; and a
#: count that started less than this after a change may have missed it, so the change marks it.
ROLL_CHANGE_SETTLE = dt.timedelta(minutes=1)
#: Each ask goes back this far before the last answer's ``as_of``: a change stamped before that
#: ``as_of`` but committed after it was not in that answer and must be in the next one, and a change
#: not yet ``ROLL_CHANGE_SETTLE`` old when seen is seen again. Five times the settling time, so a
#: stamp-to-commit gap well past it (a busy database, a pass that waited) is still caught; a wider
#: window only lists more funds, it marks none twice (a fund is marked only when its change is
#: later than its count).
ROLL_CHANGE_OVERLAP = dt.timedelta(minutes=5)


async def refresh(session: AsyncSession) -> dt.datetime:
    """Add the entries committed since the last refresh to the day totals; when they are up to date."""
    refreshed: dt.datetime = await session.scalar(text("SELECT ledger_refresh_aggregates()"))
    return refreshed


async def aggregates(session: AsyncSession, fund_ids: list[uuid.UUID] | None, start: dt.date,
                     end: dt.date) -> dict[str, Any]:
    """Every figure of the scope, each fund's holdings and arrears, and when each was brought up to date."""
    as_of = await refresh(session)
    scope = (lambda column: ()) if fund_ids is None else (lambda column: (column.in_(fund_ids),))
    held = {
        fund: (int(total), kinds)
        for fund, total, kinds in (await session.execute(
            select(Account.fund_id, func.sum(Account.balance_satang), func.count())
            .where(Account.kind.in_(HELD_KINDS), *scope(Account.fund_id)).group_by(Account.fund_id)
        )).all()
    }
    with_books = set((await session.scalars(
        select(LedgerFund.fund_id).where(
            *scope(LedgerFund.fund_id),
            exists().where(JournalEntry.fund_id == LedgerFund.fund_id))
    )).all())
    income = [
        (source, int(total)) for source, total in (await session.execute(
            select(IncomeDay.source, func.sum(IncomeDay.amount_satang))
            .where(IncomeDay.business_date >= start, IncomeDay.business_date <= end, *scope(IncomeDay.fund_id))
            .group_by(IncomeDay.source)
        )).all() if total
    ]
    income_total = sum(a for _, a in income)
    month = func.to_char(DepositDay.business_date, "YYYY-MM")
    months = [
        {"month": m, "deposits": int(n), "amount_satang": int(a)}
        for m, n, a in (await session.execute(
            select(month, func.sum(DepositDay.deposits), func.sum(DepositDay.amount_satang))
            .where(DepositDay.business_date >= start, DepositDay.business_date <= end, *scope(DepositDay.fund_id))
            .group_by(month).order_by(month)
        )).all() if n
    ]
    arrears = {a.fund_id: a for a in (await session.scalars(select(FundArrears).where(*scope(FundArrears.fund_id)))).all()}
    with_plans = set((await session.scalars(
        select(ContributionPlan.fund_id).where(*scope(ContributionPlan.fund_id)).distinct())).all())
    counted = [a for f, a in arrears.items() if f in with_plans]
    funds = sorted(set(held) | with_books | set(arrears), key=str)
    return {
        "as_of": as_of,
        "funds": [
            {"fund_id": f, "has_books": f in with_books,
             "accumulated_satang": held.get(f, (0, 0))[0] if f in with_books else None,
             "arrears_members": arrears[f].members if f in arrears and f in with_plans else 0,
             "arrears_satang": arrears[f].amount_satang if f in arrears and f in with_plans else 0}
            for f in funds
        ],
        "income_by_source": {
            "total_satang": income_total,
            "sources": [{"source": s, "amount_satang": a, "share_pct": share_pct(a, income_total)}
                        for s, a in sorted(income, key=lambda kv: (-kv[1], kv[0]))],
        },
        "deposits_by_month": {"deposits": sum(m["deposits"] for m in months),
                              "amount_satang": sum(m["amount_satang"] for m in months), "months": months},
        "arrears": {
            "members": sum(a.members for a in counted), "amount_satang": sum(a.amount_satang for a in counted),
            "funds_with_plans": len(with_plans), "funds_counted": len(counted),
            "funds_stale": sum(1 for a in counted if a.stale or a.as_of < bangkok_today()),
            "counted_since": min((a.counted_at for a in counted), default=None),
        },
    }


async def count_arrears(session: AsyncSession, directory: MembersDirectory, fund_id: uuid.UUID,
                        day: dt.date) -> tuple[int, int]:
    """How many current members of the fund are in arrears on ``day``, and by how much in all
    (what ``/arrears`` lists, counted)."""
    behind = await plans.in_arrears(session, directory, fund_id, day)
    return len(behind), sum(s.arrears_satang for s in behind)


async def arrears_due(session: AsyncSession, *, limit: int = 200,
                      min_age: dt.timedelta = ARREARS_MIN_AGE) -> list[uuid.UUID]:
    """Up to ``limit`` funds with a plan whose arrears count is missing, of an earlier day, older
    than ``ARREARS_MAX_AGE`` (the backstop), or stale (new entries, a new plan, a change of the
    roll: :func:`take_roll_changes`) and at least ``min_age`` old."""
    today, now = bangkok_today(), utcnow()
    return list((await session.scalars(
        select(ContributionPlan.fund_id).distinct()
        .outerjoin(FundArrears, FundArrears.fund_id == ContributionPlan.fund_id)
        .where(FundArrears.fund_id.is_(None) | (FundArrears.as_of < today)
               | (FundArrears.stale & (FundArrears.counted_at <= now - min_age))
               | (FundArrears.counted_at < now - ARREARS_MAX_AGE))
        .order_by(ContributionPlan.fund_id)
        .limit(limit)
    )).all())


async def count_one(session: AsyncSession, directory: MembersDirectory, fund_id: uuid.UUID) -> None:
    """Count one fund's arrears (the roll read from the members service first, while nothing is
    written) and keep the count; the caller commits at once."""
    today = bangkok_today()
    # When the count began, by the database's clock (the clock a roll change is compared with):
    # it includes every change of the roll committed before then.
    started = await session.scalar(select(func.clock_timestamp()))
    members, amount = await count_arrears(session, directory, fund_id, today)
    values = {"as_of": today, "members": members, "amount_satang": amount, "counted_at": started, "stale": False}
    await session.execute(insert(FundArrears).values(fund_id=fund_id, **values)
                          .on_conflict_do_update(index_elements=["fund_id"], set_=values))


async def recount_arrears(session: AsyncSession, directory: MembersDirectory, *, limit: int = 200) -> int:
    """Count again the arrears of the funds due a count (:func:`arrears_due`), every stale one
    however recently counted, in the caller's transaction; how many were counted."""
    due = await arrears_due(session, limit=limit, min_age=dt.timedelta(0))
    for fund_id in due:
        await count_one(session, directory, fund_id)
    return len(due)


async def mark_arrears_stale(session: AsyncSession, fund_id: uuid.UUID) -> None:
    """The fund's plans changed: its arrears are counted again."""
    await session.execute(cast(Table, FundArrears.__table__).update().where(FundArrears.fund_id == fund_id).values(stale=True))


async def take_roll_changes(db: Database, directory: MembersDirectory) -> int | None:
    """Ask the members service which funds' rolls changed since the watermark (less
    ``ROLL_CHANGE_OVERLAP``), mark stale the counts of those whose settled change is later than the
    count began (less ``ROLL_CHANGE_SETTLE``), and move the watermark to the answer's ``as_of``, in
    one transaction; how many counts were marked. When the members service does not answer, the
    failure is logged and counted, nothing is written, and None is answered: the pass goes on.
    Two replicas at once both mark (the same funds) and the watermark keeps the later ``as_of``."""
    async with db.sessionmaker() as session:
        # Never asked before: back to the oldest count, which no change since then may be missing from.
        seen = (await session.scalar(select(Watermark.as_of).where(Watermark.feed == ROLL_CHANGES))
                or await session.scalar(select(func.min(FundArrears.counted_at)))
                or cast(dt.datetime, await session.scalar(select(func.now()))))
    since = seen - ROLL_CHANGE_OVERLAP
    try:
        as_of, changed = await directory.roll_changes(since)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - whatever it was, counts due for other reasons go on; the next pass asks again
        log.exception("aggregates: the members service did not say which funds' rolls changed since %s", since.isoformat())
        metrics.ROLL_CHANGES_FAILED.inc()
        return None
    settled = {fund: at for fund, at in changed.items() if at <= as_of - ROLL_CHANGE_SETTLE}
    async with db.sessionmaker() as session, session.begin():
        marked = 0
        if settled:
            result = await session.execute(text(
                "UPDATE fund_arrears a SET stale = true"
                " FROM unnest(CAST(:funds AS uuid[]), CAST(:ats AS timestamptz[])) AS c(fund_id, changed_at)"
                " WHERE a.fund_id = c.fund_id AND NOT a.stale AND c.changed_at > a.counted_at - CAST(:settle AS interval)"),
                {"funds": list(settled), "ats": list(settled.values()), "settle": ROLL_CHANGE_SETTLE})
            marked = cast(Any, result).rowcount
        kept = insert(Watermark).values(feed=ROLL_CHANGES, as_of=as_of)
        await session.execute(kept.on_conflict_do_update(
            index_elements=["feed"], set_={"as_of": func.greatest(Watermark.as_of, kept.excluded.as_of)}))
    return marked


async def keep_up(db: Database, directory: MembersDirectory) -> None:
    """One pass of the ledger's aggregates worker: day totals, the funds whose rolls changed, then
    arrears due a count."""
    async with db.sessionmaker() as session, session.begin():
        await refresh(session)
    await take_roll_changes(db, directory)
    # Each fund in a transaction of its own, its count written only after the members service has
    # answered: no row lock is held across the call, and two replicas at once only count twice.
    async with db.sessionmaker() as session:
        due = await arrears_due(session)
    for fund_id in due:
        async with db.sessionmaker() as session, session.begin():
            await count_one(session, directory, fund_id)

