"""``/v1/benefits/funds/{fund_id}/reports``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.benefits.reports import service
from services.benefits.schemas import PaidReport, PendingReport
from shared.auth import CurrentPrincipal, Role, ensure_fund_access
from shared.db import DbSession

router = APIRouter(prefix="/v1/benefits/funds/{fund_id}/reports", tags=["benefits"])
READERS = (Role.committee, Role.fund_admin)


@router.get("/paid", response_model=PaidReport)
async def paid(fund_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal, year: Annotated[int, Query(ge=2000, le=2200)]) -> Any:
    """Benefits paid in a year by category and month, and how many members they helped."""
    ensure_fund_access(principal, fund_id, roles=READERS)
    return await service.paid(session, fund_id, year)


@router.get("/pending", response_model=PendingReport)
async def pending(fund_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Any:
    """How long claims have waited, for a decision and for payout."""
    ensure_fund_access(principal, fund_id, roles=READERS)
    return await service.pending(session, fund_id)
