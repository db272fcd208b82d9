"""``/v1/benefits/funds/{fund_id}/reports``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.benefits.access import AggregateReader, ReportReader
from services.benefits.reports import service
from services.benefits.schemas import PaidLine, PaidReport, PendingReport
from shared.db import DbSession
from shared.errors import SajjaError, register_messages
from shared.schemas import QueryDate

register_messages(
    {
        "report.period_required": {
            "th": ("ต้องระบุช่วงเวลา", "ระบุ year หรือทั้ง from และ to (from ไม่หลัง to)"),
            "en": ("Period required", "Give year, or both from and to (from not after to)"),
        },
    }
)

router = APIRouter(prefix="/v1/benefits/funds/{fund_id}/reports", tags=["benefits"])
aggregates_router = APIRouter(prefix="/v1/benefits/aggregates", tags=["benefits"])


@router.get("/paid", response_model=PaidReport)
async def paid(
    fund_id: ReportReader, session: DbSession,
    year: Annotated[int | None, Query(ge=2000, le=2200)] = None,
    date_from: Annotated[QueryDate | None, Query(alias="from")] = None,
    date_to: Annotated[QueryDate | None, Query(alias="to")] = None,
) -> Any:
    """Benefits paid by category and month, and how many members they helped: in a calendar
    ``year``, or between the Bangkok dates ``from`` and ``to`` (inclusive)."""
    if date_from is not None and date_to is not None and date_from <= date_to:
        return await service.paid(session, fund_id, date_from.year, start=date_from, end=date_to)
    if year is None or date_from is not None or date_to is not None:
        raise SajjaError("report.period_required", status_code=422)
    return await service.paid(session, fund_id, year)


@router.get("/pending", response_model=PendingReport)
async def pending(fund_id: ReportReader, session: DbSession) -> Any:
    """How long claims have waited, for a decision and for payout."""
    return await service.pending(session, fund_id)


class PendingTotal(BaseModel):
    status: str
    claims: int
    oldest_days: int


class PaidTotals(BaseModel):
    total_satang: int
    claims: int
    members_helped: int
    by_category: list[PaidLine]


class BenefitsAggregates(BaseModel):
    as_of: dt.datetime
    paid: PaidTotals
    pending: list[PendingTotal]


@aggregates_router.post("", response_model=BenefitsAggregates)
async def aggregates(scope: AggregateReader, session: DbSession) -> Any:
    """Benefits paid by category over the period and claims waiting, summed over the funds named
    (all of them when none are). A read: a POST only for the size of its list of funds."""
    return await service.aggregates(session, scope.fund_ids, scope.start, scope.end)
