"""``/v1/benefits/funds/{fund_id}/claims``: members' claims, the committee's decisions, documents."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import select, tuple_

from services.benefits import deps
from services.benefits.access import (
    ClaimFeedReader,
    Claimant,
    ClaimForStaff,
    ClaimReader,
    ClaimToChange,
    VisibleClaim,
)
from services.benefits.claims import service
from services.benefits.documents import attach
from services.benefits.models import Claim, ClaimDocument, ClaimEvent
from services.benefits.rules import DocumentKind
from services.benefits.schemas import (
    CheckIn,
    ClaimIn,
    ClaimOut,
    ClaimPage,
    DocumentOut,
    Eligibility,
    ReasonIn,
)
from shared.auth import CurrentPrincipal, Principal
from shared.db import DbSession
from shared.errors import NotFound, SajjaError, request_language
from shared.pagination import Cursor, Limit, after_key, encode_cursor
from shared.schemas import QueryTime

router = APIRouter(prefix="/v1/benefits/funds/{fund_id}/claims", tags=["claims"])


@router.post("/check", response_model=Eligibility)
async def check(fund_id: Claimant, body: CheckIn, request: Request, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Would this claim qualify, for how much, and if not, why and from when? Nothing is written."""
    # The body names the member: a member may ask only about themself.
    service.ensure_may_claim_for(principal, body.member_id)
    judgement, version, _ = await service.evaluate(
        session=session, directory=deps.directory(request), ledger=deps.ledger(request), fund_id=fund_id,
        principal=principal, data=body)
    return service.eligibility(judgement, version, request_language(request))


@router.post("", response_model=ClaimOut, status_code=201)
async def submit(fund_id: Claimant, body: ClaimIn, request: Request, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Submit a claim (the member, or the committee on their behalf). One that does not qualify is
    refused with 422 ``claim.not_eligible`` and every reason; the same client ``id`` again returns
    the same claim."""
    claim, replayed = await service.submit(
        session=session, directory=deps.directory(request), ledger=deps.ledger(request), fund_id=fund_id,
        principal=principal, data=body, lang=request_language(request))
    out = await service.describe(session, principal, claim, request_language(request))
    return JSONResponse(out.model_dump(mode="json"), status_code=200 if replayed else 201,
                        headers={"Idempotency-Replayed": "true"} if replayed else {})


@router.get("", response_model=ClaimPage)
async def list_claims(
    fund_id: ClaimReader, session: DbSession, principal: CurrentPrincipal,
    status: Literal["submitted", "under_review", "approved", "rejected", "paid", "cancelled"] | None = None,
    member_id: uuid.UUID | None = None, limit: Limit = 50, cursor: Cursor = None,
) -> Any:
    """Claims, newest first: members see their own, the committee the fund's."""
    items, next_cursor = await service.listing(session, principal, fund_id, status, member_id, limit, cursor)
    return ClaimPage(items=items, next_cursor=next_cursor)


class ClaimFeedItem(BaseModel):
    claim_id: uuid.UUID
    seq: int
    member_id: uuid.UUID
    benefit_code: str
    amount_satang: int
    action: str
    to_status: str
    note: str | None
    at: dt.datetime


class ClaimFeed(BaseModel):
    items: list[ClaimFeedItem]
    next_cursor: str


@router.get("/feed", response_model=ClaimFeed)
async def feed(
    fund_id: ClaimFeedReader, session: DbSession, after: Cursor = None, since: QueryTime | None = None, limit: Limit = 200,
) -> Any:
    """Claim events in order (decisions, payouts), for notifiers such as the gateway's LINE messages."""
    query = (select(ClaimEvent, Claim).join(Claim, (Claim.fund_id == ClaimEvent.fund_id) & (Claim.id == ClaimEvent.claim_id))
             .where(ClaimEvent.fund_id == fund_id))
    key = after_key(after, dt.datetime.fromisoformat, uuid.UUID, int)
    if key is not None:
        query = query.where(tuple_(ClaimEvent.at, ClaimEvent.claim_id, ClaimEvent.seq) > key)
    elif since is not None:
        query = query.where(ClaimEvent.at >= since)
    rows = (await session.execute(query.order_by(ClaimEvent.at, ClaimEvent.claim_id, ClaimEvent.seq).limit(limit))).all()
    items = [ClaimFeedItem(claim_id=c.id, seq=e.seq, member_id=c.member_id, benefit_code=c.benefit_code, amount_satang=c.amount_satang,
                      action=e.action, to_status=e.to_status, note=e.note, at=e.at) for e, c in rows]
    if rows:
        last = rows[-1][0]
        next_cursor = encode_cursor(last.at.isoformat(), last.claim_id, last.seq)
    else:
        next_cursor = after or encode_cursor((since or dt.datetime.min.replace(tzinfo=dt.UTC)).isoformat(), uuid.UUID(int=0), 0)
    return ClaimFeed(items=items, next_cursor=next_cursor)


@router.get("/{claim_id}", response_model=ClaimOut)
async def get_claim(claim: VisibleClaim, request: Request, session: DbSession, principal: CurrentPrincipal) -> Any:
    """A claim with its history, approvals and documents (medical ones for the committee only)."""
    return await service.describe(session, principal, claim, request_language(request))


async def _decide(request: Request, session: Any, principal: Principal, claim: Claim, action: Any, **kw: Any) -> ClaimOut:
    claim = await action(session=session, claim=claim, principal=principal, **kw)
    return await service.describe(session, principal, claim, request_language(request))


@router.post("/{claim_id}/review", response_model=ClaimOut)
async def review(claim: ClaimForStaff, request: Request, session: DbSession, principal: CurrentPrincipal) -> Any:
    """The committee takes the claim up."""
    return await _decide(request, session, principal, claim, service.review)


@router.post("/{claim_id}/approve", response_model=ClaimOut)
async def approve(claim: ClaimForStaff, request: Request, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Approve: never by whoever submitted it; above the fund's threshold, two different approvers.
    Once approved, the payout worker pays it through the ledger."""
    return await _decide(request, session, principal, claim, service.approve)


@router.post("/{claim_id}/reject", response_model=ClaimOut)
async def reject(claim: ClaimForStaff, body: ReasonIn, request: Request, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Reject, with the reason the member will read."""
    return await _decide(request, session, principal, claim, service.reject, reason=body.reason)


@router.post("/{claim_id}/cancel", response_model=ClaimOut)
async def cancel(claim: ClaimToChange, body: ReasonIn, request: Request, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Withdraw an open claim (its submitter or the committee), or cancel a held payout (the committee)."""
    # Whether the caller is its submitter is the claim's to say: ``service.cancel`` checks it.
    return await _decide(request, session, principal, claim, service.cancel, reason=body.reason)


@router.post("/{claim_id}/release", response_model=ClaimOut)
async def release(claim: ClaimForStaff, request: Request, session: DbSession, principal: CurrentPrincipal) -> Any:
    """The committee decides to pay a claim held by the reserve floor."""
    return await _decide(request, session, principal, claim, service.release)


@router.post("/{claim_id}/documents", response_model=DocumentOut, status_code=201)
async def upload(
    claim: VisibleClaim, request: Request, session: DbSession, principal: CurrentPrincipal,
    kind: Annotated[DocumentKind, Query()],
) -> Any:
    """Attach a photo (JPEG, PNG) or PDF as the ``file`` field of a multipart form, or as the body."""
    if claim.status not in service.OPEN:
        raise SajjaError("claim.transition", status_code=409, params={"status": claim.status, "action": "given documents"})
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    filename = "document"
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=3)
        upload_file = form.get("file")
        if upload_file is None or isinstance(upload_file, str):
            raise SajjaError("document.empty", status_code=422)
        data, filename = await upload_file.read(), upload_file.filename or filename
    else:
        data = await request.body()
    document = await attach(session=session, store=deps.store(request), fund_id=claim.fund_id, claim_id=claim.id, kind=kind,
                            filename=filename, data=data, by=principal.subject)
    return DocumentOut.model_validate(document)


@router.get("/{claim_id}/documents/{document_id}", response_class=Response)
async def download(claim: VisibleClaim, document_id: uuid.UUID, request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    """The file, checked against its checksum. Medical documents are for the committee only."""
    document = await session.get(ClaimDocument, (claim.fund_id, claim.id, document_id))
    # Whether a document is medical is the document's to say, once it has been read.
    if document is None or (document.is_medical and principal.role not in service.STAFF):
        raise NotFound("claim.not_found")
    if document.erased_at is not None:
        raise SajjaError("document.erased", status_code=410)
    return Response(await deps.store(request).read(document), media_type=document.content_type,
                    headers={"Content-Disposition": f'attachment; filename="{document.id}"', "Cache-Control": "private, no-store"})
