"""Reads: chart of accounts, trial balance, member balance and statement, income by source,
collectors' days, and the fund's money rules."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.ledger import deps
from services.ledger.access import ContributionsReader, FundAdmin, FundReader, FundReaderOrCollector, MemberReader, ProjectionInputsReader
from services.ledger.chart import ensure_fund
from services.ledger.models import LedgerFund
from services.ledger.posting import lock_fund
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
    ProjectionInputs,
    SourcesReport,
    Statement,
    TrialBalance,
)
from shared.audit import audit
from shared.auth import CurrentPrincipal, Role
from shared.db import DbSession
from shared.errors import Conflict, Forbidden
from shared.pagination import Cursor, Limit
from shared.timeutil import bangkok_today
from shared.schemas import QueryDate

router = APIRouter(prefix="/v1/ledger/funds/{fund_id}", tags=["ledger"])


@router.get("/accounts", response_model=list[AccountOut])
async def accounts(
    fund_id: FundReader, request: Request, session: DbSession, kind: Annotated[str | None, Query(max_length=32)] = None,
) -> Any:
    """The chart of accounts with balances (kept current: no summing at read time)."""
    await ensure_fund(session, deps.directory(request), fund_id)
    return await service.accounts(session, fund_id, kind)


@router.post("/accounts", response_model=AccountOut, status_code=201)
async def add_account(fund_id: FundAdmin, body: AccountIn, request: Request, session: DbSession,
                      principal: CurrentPrincipal) -> Any:
    """A fund admin adds an account of their own; its type decides which balances are allowed."""
    await ensure_fund(session, deps.directory(request), fund_id)
    account = await service.add_account(session, fund_id, body)
    await audit(session, principal, "ledger.account_create", fund_id=fund_id, object_type="account",
                object_id=body.code, details=body.model_dump(mode="json"))
    return account


@router.get("/trial-balance", response_model=TrialBalance)
async def trial_balance(fund_id: FundReader, session: DbSession) -> Any:
    """Every account with its balance; debits always equal credits."""
    return await service.trial_balance(session, fund_id)


@router.get("/members/{member_id}/balance", response_model=MemberBalance)
async def member_balance(member: MemberReader, session: DbSession) -> Any:
    """What the member has contributed, in O(1)."""
    return await service.member_balance(session, member.fund_id, member.member_id)


@router.get("/members/{member_id}/statement", response_model=Statement)
async def member_statement(
    member: MemberReader, session: DbSession, limit: Limit = 50, cursor: Cursor = None,
) -> Any:
    """The member's deposits (with receipt numbers) and corrections, newest first."""
    return await service.statement(session, member.fund_id, member.member_id, limit, cursor)


@router.get("/reports/sources", response_model=SourcesReport, response_model_by_alias=True)
async def sources(
    fund_id: FundReader, session: DbSession,
    date_from: Annotated[QueryDate, Query(alias="from")], date_to: Annotated[QueryDate, Query(alias="to")],
) -> Any:
    """Income by source between two dates (inclusive), with each source's share of the total."""
    return await service.sources(session, fund_id, date_from, date_to)


@router.get("/reports/holdings", response_model=Holdings)
async def holdings(fund_id: FundReader, session: DbSession) -> Any:
    """The accumulated fund: fund cash, bank and collectors' cash in hand (null before any entry)."""
    return await service.holdings(session, fund_id)


@router.get("/reports/deposits-by-month", response_model=DepositsByMonth, response_model_by_alias=True)
async def deposits_by_month(
    fund_id: FundReader, session: DbSession,
    date_from: Annotated[QueryDate, Query(alias="from")], date_to: Annotated[QueryDate, Query(alias="to")],
) -> Any:
    """Deposits collected per month between two dates (inclusive): how many, and how much."""
    return await service.deposits_by_month(session, fund_id, date_from, date_to)


@router.get("/reports/member-contributions", response_model=MemberContributions)
async def member_contributions(
    fund_id: ContributionsReader, session: DbSession,
    date_from: Annotated[QueryDate, Query(alias="from")], date_to: Annotated[QueryDate, Query(alias="to")],
) -> Any:
    """Each member's contributions in a date range: what matching co-funders owe is computed from it."""
    rows = await service.member_contributions(session, fund_id, date_from, date_to)
    return MemberContributions(members=[MemberContribution(member_id=m, amount_satang=a) for m, a in rows],
                               total_satang=sum(a for _, a in rows))


@router.get("/reports/projection-inputs", response_model=ProjectionInputs)
async def projection_inputs(
    fund_id: ProjectionInputsReader, session: DbSession, years: Annotated[int, Query(ge=1, le=20)] = 5,
) -> Any:
    """What a sustainability projection needs of the books: the reserve (fund cash and bank, as a
    payout compares it with the floor), income by calendar year and source from ``years`` back,
    and the contribution plan in force."""
    return await service.projection_inputs(session, fund_id, bangkok_today(), years)


@router.get("/reports/collections", response_model=list[CollectorDay])
async def collections(
    fund_id: FundReaderOrCollector, session: DbSession, principal: CurrentPrincipal,
    day: Annotated[QueryDate | None, Query(alias="date")] = None, collector_id: uuid.UUID | None = None,
) -> Any:
    """Each collector's day: collected, handed over, the difference, and cash in hand. A collector
    sees only their own."""
    if principal.role is Role.collector:
        # The query names the collector: one of the fund's collectors may name only themself.
        own = principal.user_id
        if own is None or (collector_id is not None and collector_id != own):
            raise Forbidden("auth.out_of_scope")
        collector_id = own
    return await service.collector_days(session, fund_id, day or bangkok_today(), collector_id)


@router.get("/rules", response_model=FundRulesOut)
async def rules(fund_id: FundReader, request: Request, session: DbSession) -> Any:
    """The fund's money rules: late-deposit window and administration cap."""
    return FundRulesOut.model_validate(await ensure_fund(session, deps.directory(request), fund_id))


@router.patch("/rules", response_model=FundRulesOut)
async def set_rules(fund_id: FundAdmin, body: FundRulesIn, request: Request, session: DbSession,
                    principal: CurrentPrincipal) -> Any:
    """Change the late-deposit window, the administration cap or the fiscal year (fund admins); the
    fiscal year only while no year of the fund is closed (docs/fiscal-years.md)."""
    fund: LedgerFund = await ensure_fund(session, deps.directory(request), fund_id)
    if body.fiscal_year_start_month is not None and body.fiscal_year_start_month != fund.fiscal_year_start_month:
        fund = await lock_fund(session, fund_id)
        if fund.closed_through is not None:
            raise Conflict("fiscal_year.change_after_closing", params={"closed_through": fund.closed_through.isoformat()})
    changes = body.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    for name, value in body.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(fund, name, value)
    await session.flush()
    await audit(session, principal, "ledger.rules_update", fund_id=fund_id, object_type="fund_rules",
                object_id=fund_id, details=changes)
    return FundRulesOut.model_validate(fund)
