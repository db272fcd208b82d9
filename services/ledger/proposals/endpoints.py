"""Administration expenses and reversals: proposed by one person of the fund, posted when another
confirms (maker-checker, docs/maker-checker.md).

The three routes that used to post at once now answer 202 with a proposal and move no money;
``POST proposals/{id}/confirm`` posts it. Every answer is the proposal (the movement is in it once
confirmed); a replay is 200 with ``Idempotency-Replayed: true``.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.ledger import deps
from services.ledger.access import FundReader, FundSignatory
from services.ledger.posting import REPLAY_HEADER
from services.ledger.proposals import service
from services.ledger.schemas import ExpenseIn, ProposalKind, ProposalOut, ProposalPage, ProposalStatus, ReversalIn
from shared.auth import CurrentPrincipal
from shared.db import DbSession
from shared.pagination import Cursor, Limit

router = APIRouter(prefix="/v1/ledger/funds/{fund_id}", tags=["proposals"])

PROPOSED: dict[int | str, dict[str, Any]] = {202: {"description": "Proposed: nothing is posted until another person of the fund confirms"},
            200: {"description": "A replay: the proposal as it stands (``Idempotency-Replayed: true``)"}}
DECIDED: dict[int | str, dict[str, Any]] = {200: {"description": "Decided now, or a replay of the decision (``Idempotency-Replayed: true``)"}}


def _answer(result: service.Answer, fund_id: uuid.UUID | None = None) -> JSONResponse:
    status, body, replayed = result
    headers = {REPLAY_HEADER: "true"} if replayed else {}
    if fund_id is not None:
        headers["Location"] = f"/v1/ledger/funds/{fund_id}/proposals/{body['id']}"
    return JSONResponse(body, status_code=200 if replayed else status, headers=headers)


@router.post("/expenses/administration", response_model=ProposalOut, status_code=202, responses=PROPOSED)
async def propose_admin_expense(
    fund_id: FundSignatory, body: ExpenseIn, request: Request, session: DbSession, principal: CurrentPrincipal,
) -> Any:
    """Propose an administration expense (its memo is the reason). Judged now as posting would judge
    it (within the fund's cap, default 20% of the year's income; the account's balance), and again
    when confirmed."""
    return _answer(await service.propose(
        session=session, directory=deps.directory(request), fund_id=fund_id, principal=principal,
        kind=service.EXPENSE, data=body), fund_id)


@router.post("/entries/{entry_id}/reverse", response_model=ProposalOut, status_code=202, responses=PROPOSED)
async def propose_reversal(
    fund_id: FundSignatory, entry_id: uuid.UUID, body: ReversalIn, request: Request, session: DbSession,
    principal: CurrentPrincipal,
) -> Any:
    """Propose to undo an entry with a linked reversing entry; an entry is reversed at most once."""
    return _answer(await service.propose(
        session=session, directory=deps.directory(request), fund_id=fund_id, principal=principal,
        kind=service.ENTRY_REVERSAL, data=body, target_id=entry_id), fund_id)


@router.post("/deposits/{deposit_id}/reverse", response_model=ProposalOut, status_code=202, responses=PROPOSED)
async def propose_deposit_reversal(
    fund_id: FundSignatory, deposit_id: uuid.UUID, body: ReversalIn, request: Request, session: DbSession,
    principal: CurrentPrincipal,
) -> Any:
    """Propose to undo one deposit (a wrong member or amount): at most once, by an entry linked to
    the deposit's line of its collector's entry; the receipt stays, marked reversed in the statement."""
    return _answer(await service.propose(
        session=session, directory=deps.directory(request), fund_id=fund_id, principal=principal,
        kind=service.DEPOSIT_REVERSAL, data=body, target_id=deposit_id), fund_id)


@router.get("/proposals", response_model=ProposalPage)
async def list_proposals(
    fund_id: FundReader, session: DbSession, status: ProposalStatus | None = None, kind: ProposalKind | None = None,
    limit: Limit = 50, cursor: Cursor = None,
) -> Any:
    """The fund's proposals, newest first (``status=proposed``: what waits for a second person)."""
    return await service.proposals(session, fund_id, status=status, kind=kind, limit=limit, cursor=cursor)


@router.get("/proposals/{proposal_id}", response_model=ProposalOut)
async def get_proposal(fund_id: FundReader, proposal_id: uuid.UUID, session: DbSession) -> Any:
    return JSONResponse(await service.proposal(session, fund_id, proposal_id))


@router.post("/proposals/{proposal_id}/confirm", response_model=ProposalOut, responses=DECIDED)
async def confirm(fund_id: FundSignatory, proposal_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Confirm a proposal of another person of the fund: judged again against the books now, posted,
    and marked confirmed in one transaction. Refused (403 ``proposal.confirm_own``) to its proposer;
    a refusal leaves it proposed and nothing posted."""
    return _answer(await service.confirm(session=session, fund_id=fund_id, principal=principal, proposal_id=proposal_id))


@router.post("/proposals/{proposal_id}/withdraw", response_model=ProposalOut, responses=DECIDED)
async def withdraw(fund_id: FundSignatory, proposal_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Withdraw a proposal still open: its proposer, or another bookkeeper of the fund."""
    return _answer(await service.withdraw(session=session, fund_id=fund_id, principal=principal, proposal_id=proposal_id))
