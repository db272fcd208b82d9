"""Co-funding, cash handovers and benefit payouts: idempotent by ``id``. Administration expenses and
reversals are proposed and confirmed by two persons of the fund: ``services.ledger.proposals``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.ledger import deps
from services.ledger.access import CoFundingRecorder, FundBookkeeper, PayoutPoster
from services.ledger.movements import service
from services.ledger.posting import REPLAY_HEADER
from services.ledger.schemas import (
    CoFundingIn,
    HandoverIn,
    MovementOut,
    PayoutIn,
)
from shared.auth import CurrentPrincipal
from shared.db import DbSession

router = APIRouter(prefix="/v1/ledger/funds/{fund_id}", tags=["movements"])


def _answer(result: tuple[int, dict[str, Any], bool]) -> JSONResponse:
    status, body, replayed = result
    return JSONResponse(body, status_code=200 if replayed else status, headers={REPLAY_HEADER: "true"} if replayed else {})


@router.post("/co-funding", response_model=MovementOut, status_code=201)
async def co_funding(fund_id: CoFundingRecorder, body: CoFundingIn, request: Request, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Money received from local government, CODI and the state, donors and networks, community enterprises."""
    return _answer(await service.co_funding(
        session=session, directory=deps.directory(request), fund_id=fund_id, principal=principal, data=body))


@router.post("/handovers", response_model=MovementOut, status_code=201)
async def handover(fund_id: FundBookkeeper, body: HandoverIn, request: Request, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Cash a collector hands to the treasurer, from their cash in hand into fund cash or bank."""
    return _answer(await service.handover(
        session=session, directory=deps.directory(request), fund_id=fund_id, principal=principal, data=body,
        ttl=deps.settings(request).member_facts_ttl_seconds))


@router.post("/payouts", response_model=MovementOut, status_code=201)
async def benefit_payout(fund_id: PayoutPoster, body: PayoutIn, request: Request, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Pay a benefit claim the benefits service approved: that service alone may (every person gets
    403). Refused with 409 ``payout.below_reserve`` when cash and bank would fall below the reserve
    floor it sends. The claim's id is the key: a payout of the claim again, with the same amount and
    category, is answered with the first answer whatever its date, account, reference or floor."""
    return _answer(await service.benefit_payout(
        session=session, directory=deps.directory(request), fund_id=fund_id, principal=principal, data=body))
