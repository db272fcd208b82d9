"""``/v1/ledger/funds/{fund_id}/deposits``: contributions from collectors' phones."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from typing import Any

import orjson

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select, tuple_

from services.ledger import deps
from services.ledger.access import DepositFeedReader, FundParty, FundPoster, ensure_own
from services.ledger.deposits import service
from services.ledger.deposits.service import Outcome
from services.ledger.models import Deposit
from services.ledger.posting import REPLAY_HEADER
from services.ledger.reports import service as reports
from services.ledger.schemas import (
    DepositBatchIn,
    DepositBatchOut,
    DepositIn,
    DepositOut,
)
from shared.auth import CurrentPrincipal
from shared.db import DbSession
from shared.errors import Conflict, SajjaError, request_language
from shared.lean import LeanRoute
from shared.pagination import Cursor, Limit, after_key, encode_cursor
from shared.timeutil import bangkok_date, utcnow
from shared.schemas import QueryTime

PREFIX = "/v1/ledger/funds/{fund_id}/deposits"
router = APIRouter(prefix=PREFIX, tags=["deposits"])
#: The two requests collectors' phones make all evening, on lean routes (``shared.lean``).
posting_router = APIRouter(prefix=PREFIX, tags=["deposits"], route_class=LeanRoute)


def _out(outcome: Outcome) -> DepositOut:
    """The receipt of a posted deposit, made without validating it again: every value is already
    of its type (the deposit as validated on the way in, the rest from the ledger's own tables and
    posting), and pydantic encodes it as it would a validated one (a test compares the two)."""
    item = outcome.item
    assert item is not None and outcome.collector_id is not None and outcome.business_date is not None
    assert outcome.posted_at is not None and outcome.receipt_no is not None and outcome.entry_id is not None
    return DepositOut.model_construct(
        id=outcome.id, status=outcome.status, member_id=item.member_id, collector_id=outcome.collector_id,  # type: ignore[arg-type]  # status: created or duplicate, those with a receipt
        amount_satang=item.amount_satang, collected_at=item.collected_at, business_date=outcome.business_date,
        posted_at=outcome.posted_at, receipt_no=outcome.receipt_no, entry_id=outcome.entry_id,
    )


@posting_router.post("", response_model=DepositOut, status_code=201, responses={200: {"description": "A replay"}})
async def post_deposit(fund_id: FundPoster, body: DepositIn, request: Request, principal: CurrentPrincipal) -> Any:
    """Post one deposit. The same ``id`` with the same content again is answered with the original
    receipt (200, ``Idempotency-Replayed: true``); with other content it is a 409."""
    [outcome] = await service.post_deposits(
        directory=deps.directory(request), poster=deps.poster(request), settings=deps.settings(request), fund_id=fund_id,
        principal=principal, items=[body],
    )
    if outcome.status == "rejected":
        if outcome.code == "deposit.id_conflict":
            raise Conflict(outcome.code, params=outcome.params)
        raise SajjaError(outcome.code, status_code=422, params=outcome.params)
    replayed = outcome.status == "duplicate"
    return Response(
        _out(outcome).model_dump_json(), status_code=200 if replayed else 201, media_type="application/json",
        headers={REPLAY_HEADER: "true"} if replayed else {},
    )


@posting_router.post("/batch", response_model=DepositBatchOut)
async def post_deposit_batch(fund_id: FundPoster, body: DepositBatchIn, request: Request, principal: CurrentPrincipal) -> Any:
    """A phone's day of offline deposits (up to 500): a result per item, ``created``, ``duplicate``
    or ``rejected`` with a reason; valid items are kept even when others are rejected."""
    outcomes = await service.post_deposits(
        directory=deps.directory(request), poster=deps.poster(request), settings=deps.settings(request), fund_id=fund_id,
        principal=principal, items=body.deposits,
    )
    return Response(batch_answer(outcomes, request_language(request)), media_type="application/json")


def batch_answer(outcomes: list[Outcome], lang: str) -> bytes:
    """``DepositBatchOut`` as JSON, byte for byte what pydantic would write (a test compares the
    two), without a model per deposit: a sync answers 500 of them."""
    results = [
        {"id": o.id, "status": o.status, "receipt_no": o.receipt_no, "posted_at": o.posted_at, "code": o.code,
         "reason": o.reason(lang)}
        for o in outcomes
    ]
    counts = Counter(o.status for o in outcomes)
    return orjson.dumps(
        {"results": results, "created": counts["created"], "duplicates": counts["duplicate"],
         "rejected": counts["rejected"], "server_time": utcnow()},
        option=orjson.OPT_UTC_Z,
    )


class DepositFeedItem(BaseModel):
    id: uuid.UUID
    member_id: uuid.UUID
    collector_id: uuid.UUID
    amount_satang: int
    receipt_no: int
    business_date: dt.date
    collected_at: dt.datetime
    posted_at: dt.datetime


class DepositFeed(BaseModel):
    items: list[DepositFeedItem]
    next_cursor: str = Field(description="Pass as ``after`` to continue; unchanged when nothing is new")


@router.get("/feed", response_model=DepositFeed)
async def feed(
    fund_id: DepositFeedReader, session: DbSession, after: Cursor = None, since: QueryTime | None = None, limit: Limit = 200,
) -> Any:
    """Deposits in the order they were posted, for notifiers (the gateway's LINE receipts); from a
    cursor, or from a moment when there is none yet."""
    query = select(Deposit).where(Deposit.fund_id == fund_id)
    key = after_key(after, dt.datetime.fromisoformat, uuid.UUID)
    if key is not None:
        query = query.where(tuple_(Deposit.posted_at, Deposit.id) > key)
    elif since is not None:
        query = query.where(Deposit.posted_at >= since)
    rows = (await session.scalars(query.order_by(Deposit.posted_at, Deposit.id).limit(limit))).all()
    items = [DepositFeedItem(id=r.id, member_id=r.member_id, collector_id=r.collector_id, amount_satang=r.amount_satang,
                      receipt_no=r.receipt_no, business_date=r.business_date, collected_at=r.collected_at, posted_at=r.posted_at)
             for r in rows]
    if rows:
        next_cursor = encode_cursor(rows[-1].posted_at.isoformat(), rows[-1].id)
    else:
        next_cursor = after or encode_cursor((since or dt.datetime.min.replace(tzinfo=dt.UTC)).isoformat(), uuid.UUID(int=0))
    return DepositFeed(items=items, next_cursor=next_cursor)


@router.get("/{deposit_id}", response_model=DepositOut)
async def get_deposit(fund_id: FundParty, deposit_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Response:
    """One deposit's receipt: for the member it belongs to, the collector who took it, and the books' readers."""
    row = await reports.deposit(session, fund_id, deposit_id)
    # Whose deposit it is (its member, its collector) is known only once it has been read.
    ensure_own(principal, row.member_id, row.collector_id)
    out = DepositOut(
        id=row.id, status="created", member_id=row.member_id, collector_id=row.collector_id, amount_satang=row.amount_satang,
        collected_at=row.collected_at, business_date=bangkok_date(row.collected_at), posted_at=row.posted_at,
        receipt_no=row.receipt_no, entry_id=row.entry_id,
    )
    return JSONResponse(out.model_dump(mode="json"))
