"""``/v1/benefits/funds/{fund_id}/catalog``: the benefits a fund offers."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from services.benefits.catalog.schemas import BenefitOut, Catalog
from services.benefits.models import Benefit
from shared.auth import CurrentPrincipal, ensure_fund_access
from shared.db import DbSession

router = APIRouter(prefix="/v1/benefits/funds/{fund_id}", tags=["benefits"])


@router.get("/catalog", response_model=Catalog)
async def catalog(fund_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Any:
    """The fund's benefits; every member and officer of the fund may read it."""
    ensure_fund_access(principal, fund_id)
    rows = (await session.scalars(select(Benefit).where(Benefit.fund_id == fund_id).order_by(Benefit.code))).all()
    return Catalog(items=[BenefitOut.model_validate(b) for b in rows])
