"""``/v1/ledger/aggregates``: the ledger's figures over many funds in one call (docs/aggregates.md)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from services.ledger import deps
from services.ledger.access import AggregateReader, AggregatesKeeper
from services.ledger.aggregates import service
from services.ledger.schemas import DepositMonth, SourceShare
from shared.db import DbSession

router = APIRouter(prefix="/v1/ledger/aggregates", tags=["ledger"])


class FundFigures(BaseModel):
    fund_id: uuid.UUID
    has_books: bool
    accumulated_satang: int | None = Field(description="Fund cash + bank + collectors' cash; null before any entry")
    arrears_members: int
    arrears_satang: int


class IncomeTotals(BaseModel):
    total_satang: int
    sources: list[SourceShare]


class DepositsByMonthTotals(BaseModel):
    deposits: int
    amount_satang: int
    months: list[DepositMonth] = Field(description="Months with deposits only, oldest first")


class ArrearsTotals(BaseModel):
    members: int
    amount_satang: int
    funds_with_plans: int
    funds_counted: int = Field(description="Funds with a plan whose arrears have been counted")
    funds_stale: int = Field(description="Of those, counted before their books or plans last changed, or on an earlier day")
    counted_since: dt.datetime | None = Field(description="When the oldest count was made")


class LedgerAggregates(BaseModel):
    """Sums over the scope's funds; ``funds`` lists each fund the ledger has books or arrears for."""

    as_of: dt.datetime = Field(description="The day totals include every entry committed before this")
    funds: list[FundFigures]
    income_by_source: IncomeTotals
    deposits_by_month: DepositsByMonthTotals
    arrears: ArrearsTotals


@router.post("", response_model=LedgerAggregates)
async def aggregates(scope: AggregateReader, session: DbSession) -> Any:
    """Holdings and arrears of each fund, income by source and deposits by month over the period,
    summed over the funds named (all of them when none are). A read: a POST only for the size of
    its list of funds."""
    return await service.aggregates(session, scope.fund_ids, scope.start, scope.end)


class Refreshed(BaseModel):
    as_of: dt.datetime
    arrears_counted: int


@router.post("/refresh", response_model=Refreshed)
async def refresh(request: Request, session: DbSession, _: AggregatesKeeper) -> Any:
    """Bring the day totals up to date and count the arrears that are due a count, now."""
    as_of = await service.refresh(session)
    counted = await service.recount_arrears(session, deps.directory(request), limit=10_000)
    return Refreshed(as_of=as_of, arrears_counted=counted)
