"""Reads: chart of accounts, trial balance, member balance and statement, income by source,
collectors' days, and the fund's money rules."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.ledger import deps
from services.ledger.access import ensure_member_reader, ensure_reader
from services.ledger.chart import ensure_fund
from services.ledger.models import LedgerFund
from services.ledger.reports import service
from services.ledger.schemas import (
    AccountIn,
    AccountOut,
    CollectorDay,
    DepositsByMonth,
    FundRulesIn,
    FundRulesOut,
    Holdings,
    MemberBalance,
    MemberContribution,
    MemberContributions,
    SourcesReport,
    Statement,
    TrialBalance,
)
from shared.auth import CurrentPrincipal, Role, ensure_fund_access
from shared.db import DbSession
from shared.errors import Forbidden
from shared.pagination import Cursor, Limit
from shared.timeutil import bangkok_today

router = APIRouter(prefix="/v1/ledger/funds/{fund_id}", tags=["ledger"])


@router.get("/accounts", response_model=list[AccountOut])
async def accounts(
    fund_id: uuid.UUID, request: Request, session: DbSession, principal: CurrentPrincipal,
    kind: Annotated[str | None, Query(max_length=32)] = None,
) -> Any:
    """The chart of accounts with balances (kept current: no summing at read time)."""
    await ensure_reader(principal, fund_id, deps.directory(request))
    await ensure_fund(session, deps.directory(request), fund_id)
    return await service.accounts(session, fund_id, kind)


@router.post("/accounts", response_model=AccountOut, status_code=201)
async def add_account(fund_id: uuid.UUID, body: AccountIn, request: Request, session: DbSession, principal: CurrentPrincipal) -> Any:
    """A fund admin adds an account of their own; its type decides which balances are allowed."""
    ensure_fund_access(principal, fund_id, roles=(Role.fund_admin,))
    await ensure_fund(session, deps.directory(request), fund_id)
    return await service.add_account(session, fund_id, body)


@router.get("/trial-balance", response_model=TrialBalance)
async def trial_balance(fund_id: uuid.UUID, request: Request, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Every account with its balance; debits always equal credits."""
    await ensure_reader(principal, fund_id, deps.directory(request))
    return await service.trial_balance(session, fund_id)


@router.get("/members/{member_id}/balance", response_model=MemberBalance)
async def member_balance(fund_id: uuid.UUID, member_id: uuid.UUID, request: Request, session: DbSession, principal: CurrentPrincipal) -> Any:
    """What the member has contributed, in O(1)."""
    await ensure_member_reader(principal, fund_id, member_id, deps.directory(request))
    return await service.member_balance(session, fund_id, member_id)


@router.get("/members/{member_id}/statement", response_model=Statement)
async def member_statement(
    fund_id: uuid.UUID, member_id: uuid.UUID, request: Request, session: DbSession, principal: CurrentPrincipal,
    limit: Limit = 50, cursor: Cursor = None,
) -> Any:
    """The member's deposits (with receipt numbers) and corrections, newest first."""
    await ensure_member_reader(principal, fund_id, member_id, deps.directory(request))
    return await service.statement(session, fund_id, member_id, limit, cursor)


@router.get("/reports/sources", response_model=SourcesReport, response_model_by_alias=True)
async def sources(
    fund_id: uuid.UUID, request: Request, session: DbSession, principal: CurrentPrincipal,
    date_from: Annotated[dt.date, Query(alias="from")], date_to: Annotated[dt.date, Query(alias="to")],
) -> Any:
    """Income by source between two dates (inclusive), with each source's share of the total."""
    await ensure_reader(principal, fund_id, deps.directory(request))
    return await service.sources(session, fund_id, date_from, date_to)


@router.get("/reports/holdings", response_model=Holdings)
async def holdings(fund_id: uuid.UUID, request: Request, session: DbSession, principal: CurrentPrincipal) -> Any:
    """The accumulated fund: fund cash, bank and collectors' cash in hand (null before any entry)."""
    await ensure_reader(principal, fund_id, deps.directory(request))
    return await service.holdings(session, fund_id)


@router.get("/reports/deposits-by-month", response_model=DepositsByMonth, response_model_by_alias=True)
async def deposits_by_month(
    fund_id: uuid.UUID, request: Request, session: DbSession, principal: CurrentPrincipal,
    date_from: Annotated[dt.date, Query(alias="from")], date_to: Annotated[dt.date, Query(alias="to")],
) -> Any:
    """Deposits collected per month between two dates (inclusive): how many, and how much."""
    await ensure_reader(principal, fund_id, deps.directory(request))
    return await service.deposits_by_month(session, fund_id, date_from, date_to)


@router.get("/reports/member-contributions", response_model=MemberContributions)
async def member_contributions(
    fund_id: uuid.UUID, request: Request, session: DbSession, principal: CurrentPrincipal,
    date_from: Annotated[dt.date, Query(alias="from")], date_to: Annotated[dt.date, Query(alias="to")],
) -> Any:
    """Each member's contributions in a date range: what matching co-funders owe is computed from it."""
    await ensure_reader(principal, fund_id, deps.directory(request))
    rows = await service.member_contributions(session, fund_id, date_from, date_to)
    return MemberContributions(members=[MemberContribution(member_id=m, amount_satang=a) for m, a in rows],
                               total_satang=sum(a for _, a in rows))


@router.get("/reports/collections", response_model=list[CollectorDay])
async def collections(
    fund_id: uuid.UUID, request: Request, session: DbSession, principal: CurrentPrincipal,
    day: Annotated[dt.date | None, Query(alias="date")] = None, collector_id: uuid.UUID | None = None,
) -> Any:
    """Each collector's day: collected, handed over, the difference, and cash in hand. A collector
    sees only their own."""
    if principal.role is Role.collector and principal.fund_id == fund_id:
        own = principal.user_id
        if own is None or (collector_id is not None and collector_id != own):
            raise Forbidden("auth.out_of_scope")
        collector_id = own
    else:
        await ensure_reader(principal, fund_id, deps.directory(request))
    return await service.collector_days(session, fund_id, day or bangkok_today(), collector_id)


@router.get("/rules", response_model=FundRulesOut)
async def rules(fund_id: uuid.UUID, request: Request, session: DbSession, principal: CurrentPrincipal) -> Any:
    """The fund's money rules: late-deposit window and administration cap."""
    await ensure_reader(principal, fund_id, deps.directory(request))
    return FundRulesOut.model_validate(await ensure_fund(session, deps.directory(request), fund_id))


@router.patch("/rules", response_model=FundRulesOut)
async def set_rules(fund_id: uuid.UUID, body: FundRulesIn, request: Request, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Change the late-deposit window or the administration cap (fund admins)."""
    ensure_fund_access(principal, fund_id, roles=(Role.fund_admin,))
    fund: LedgerFund = await ensure_fund(session, deps.directory(request), fund_id)
    for name, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(fund, name, value)
    await session.flush()
    return FundRulesOut.model_validate(fund)
