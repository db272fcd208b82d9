"""``/v1/members/networks`` and ``/v1/members/funds``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.members.access import FundCreator, FundWriter, PlatformAdmin, SignedIn, VisibleFund
from services.members.funds import service
from services.members.schemas import (
    FundCreate,
    FundOut,
    FundPage,
    FundSummary,
    FundUpdate,
    NetworkCreate,
    NetworkOut,
)
from shared.db import DbSession
from shared.pagination import Cursor, Limit

router = APIRouter(prefix="/v1/members", tags=["funds"])


@router.post("/networks", response_model=NetworkOut, status_code=201)
async def create_network(body: NetworkCreate, session: DbSession, _: PlatformAdmin) -> Any:
    """Register a provincial network of funds (platform admins)."""
    return NetworkOut.model_validate(await service.create_network(session=session, data=body))


@router.post("/funds", response_model=FundOut, status_code=201)
async def create_fund(body: FundCreate, session: DbSession, principal: FundCreator) -> Any:
    """Register a fund (platform admins; network officers within their network)."""
    return service.to_out(await service.create(session=session, principal=principal, data=body))


@router.get("/funds", response_model=FundPage)
async def list_funds(session: DbSession, principal: SignedIn, limit: Limit = 50, cursor: Cursor = None) -> Any:
    """The funds the caller may see, by name."""
    rows, next_cursor = await service.list_visible(session=session, principal=principal, limit=limit, cursor=cursor)
    return FundPage(items=[service.to_out(f) for f in rows], next_cursor=next_cursor)


@router.get("/funds/{fund_id}", response_model=FundOut)
async def get_fund(fund: VisibleFund) -> Any:
    """One fund."""
    return service.to_out(fund)


@router.patch("/funds/{fund_id}", response_model=FundOut)
async def update_fund(body: FundUpdate, fund: FundWriter, session: DbSession) -> Any:
    """Change a fund's names, codes, population or status (its fund admins, platform admins)."""
    return service.to_out(await service.update(session=session, fund=fund, data=body))


@router.get("/funds/{fund_id}/summary", response_model=FundSummary)
async def fund_summary(fund: VisibleFund, session: DbSession) -> Any:
    """Members, coverage of the area's population, and counts by status, sex, age band and year joined."""
    return await service.summary(session=session, fund=fund)
