"""``/v1/ledger/funds/{fund_id}/trial-balance``."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from services.ledger.accounts import service
from services.ledger.accounts.schemas import TrialBalance
from shared.auth import CurrentPrincipal, Role, ensure_fund_access
from shared.db import DbSession

router = APIRouter(prefix="/v1/ledger/funds/{fund_id}", tags=["ledger"])

BOOKKEEPERS = (Role.committee, Role.fund_admin)


@router.get("/trial-balance", response_model=TrialBalance)
async def trial_balance(fund_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Every account of the fund with its balance; debits always equal credits."""
    ensure_fund_access(principal, fund_id, roles=BOOKKEEPERS)
    return await service.trial_balance(session=session, fund_id=fund_id)
