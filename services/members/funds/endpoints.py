"""``/v1/members/networks`` and ``/v1/members/funds``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.members.access import FundCreator, FundWriter, PlatformAdmin, SignedIn, VisibleFund
from services.members.funds import service
from services.members.schemas import (
    FundCreate,
    FundOut,
    FundPage,
    FundsOverview,
    FundSummary,
    FundUpdate,
    NetworkCreate,
    NetworkOut,
)
from shared.audit import audit
from shared.auth import CurrentPrincipal
from shared.db import DbSession
from shared.pagination import Cursor, Limit
from shared.timeutil import utcnow

router = APIRouter(prefix="/v1/members", tags=["funds"])


@router.post("/networks", response_model=NetworkOut, status_code=201)
async def create_network(body: NetworkCreate, session: DbSession, principal: PlatformAdmin) -> Any:
    """Register a provincial network of funds (platform admins)."""
    network = await service.create_network(session=session, data=body)
    await audit(session, principal, "network.create", object_type="network", object_id=network.id)
    return NetworkOut.model_validate(network)


@router.post("/funds", response_model=FundOut, status_code=201)
async def create_fund(body: FundCreate, session: DbSession, principal: FundCreator) -> Any:
    """Register a fund (platform admins; network officers within their network)."""
    fund = await service.create(session=session, principal=principal, data=body)
    await audit(session, principal, "fund.create", fund_id=fund.id, object_type="fund", object_id=fund.id)
    return service.to_out(fund)


@router.get("/funds", response_model=FundPage)
async def list_funds(session: DbSession, principal: SignedIn, limit: Limit = 50, cursor: Cursor = None) -> Any:
    """The funds the caller may see, by name."""
    rows, next_cursor = await service.list_visible(session=session, principal=principal, limit=limit, cursor=cursor)
    return FundPage(items=[service.to_out(f) for f in rows], next_cursor=next_cursor)


@router.get("/funds-overview", response_model=FundsOverview)
async def funds_overview(
    session: DbSession, principal: SignedIn,
    province: Annotated[str | None, Query(max_length=100)] = None, network_id: uuid.UUID | None = None,
) -> Any:
    """Every fund the caller may see, narrowed to a province or a network, with its members
    counted: what a roll-up and the funds table need from here, in one call."""
    funds = await service.overview(session=session, principal=principal, province=province, network_id=network_id)
    return FundsOverview(funds=funds, as_of=utcnow())


@router.get("/funds/{fund_id}", response_model=FundOut)
async def get_fund(fund: VisibleFund) -> Any:
    """One fund."""
    return service.to_out(fund)


@router.patch("/funds/{fund_id}", response_model=FundOut)
async def update_fund(body: FundUpdate, fund: FundWriter, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Change a fund's names, codes, population or status (its fund admins, platform admins)."""
    fund = await service.update(session=session, fund=fund, data=body)
    await audit(session, principal, "fund.update", fund_id=fund.id, object_type="fund", object_id=fund.id,
                details={"fields": sorted(body.model_fields_set)})
    return service.to_out(fund)


@router.get("/funds/{fund_id}/summary", response_model=FundSummary)
async def fund_summary(fund: VisibleFund, session: DbSession) -> Any:
    """Members, coverage of the area's population, and counts by status, sex, age band and year joined."""
    return await service.summary(session=session, fund=fund)
