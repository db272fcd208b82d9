"""``/v1/members/funds``."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from services.members.funds import service
from services.members.funds.schemas import FundCreate, FundOut, FundPage
from shared.auth import CurrentPrincipal
from shared.db import DbSession
from shared.pagination import Cursor, Limit

router = APIRouter(prefix="/v1/members/funds", tags=["funds"])


@router.post("", response_model=FundOut, status_code=201)
async def create_fund(body: FundCreate, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Register a fund (platform admins; network officers within their network)."""
    return service.to_out(await service.create(session=session, principal=principal, data=body))


@router.get("", response_model=FundPage)
async def list_funds(session: DbSession, principal: CurrentPrincipal, limit: Limit = 50, cursor: Cursor = None) -> Any:
    """The funds the caller may see, by name."""
    rows, next_cursor = await service.list_visible(session=session, principal=principal, limit=limit, cursor=cursor)
    return FundPage(items=[service.to_out(f) for f in rows], next_cursor=next_cursor)


@router.get("/{fund_id}", response_model=FundOut)
async def get_fund(fund_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Any:
    """One fund."""
    return service.to_out(await service.get(session=session, principal=principal, fund_id=fund_id))
