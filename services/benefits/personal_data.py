"""A member's personal data in the benefits service: erased at the members service's request, and
gathered for the member's download (docs/personal-data.md).

``POST /v1/benefits/internal/funds/{fund_id}/members/{member_id}/erase`` (the members service's
erasure worker, ``benefits.member_erase``): the free text of the member's claims (details, the
committee's reason, the notes of their events) is cleared and their documents are marked erased
(the file name goes). Amounts, dates, statuses, rule versions and the payout's entry stay: the books
and the fund's reports rely on them, and none of them names the person. Idempotent: asked again it
answers what was left to erase (nothing). A document's wrapped data key goes with the erase (its
object no longer opens, in any copy of the store); the object is deleted by the documents worker
(``services.benefits.documents.sweep_erased``), outside the request's transaction, so a rolled-back
erase never loses an object it kept.

``GET .../export`` (the gateway, ``benefits.member_export``): every claim of the member, with its
history and every document's metadata (never the files).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from sqlalchemy import select, update

from services.benefits.access import MemberEraser, MemberExporter
from services.benefits.claims import service as claims
from services.benefits.documents import DocumentStore, sweep_erased
from services.benefits.models import Claim, ClaimDocument, ClaimEvent
from shared.auth import Principal, Role
from shared.db import Database, DbSession, rowcount
from shared.timeutil import utcnow

router = APIRouter(prefix="/v1/benefits/internal/funds/{fund_id}/members/{member_id}", tags=["internal"])

ERASED_FILENAME = "erased"


@router.post("/erase")
async def erase_member(fund_id: uuid.UUID, member_id: uuid.UUID, session: DbSession, _: MemberEraser) -> dict[str, Any]:
    """Erase the member's claim text and documents; answers the counts erased, by kind."""
    of_member = select(Claim.id).where(Claim.fund_id == fund_id, Claim.member_id == member_id)
    texts = await session.execute(
        update(Claim).where(Claim.fund_id == fund_id, Claim.member_id == member_id,
                            (Claim.details.is_not(None)) | (Claim.reason.is_not(None)))
        .values(details=None, reason=None))
    notes = await session.execute(
        update(ClaimEvent).where(ClaimEvent.fund_id == fund_id, ClaimEvent.claim_id.in_(of_member),
                                 ClaimEvent.note.is_not(None))
        .values(note=None))
    documents = await session.execute(
        update(ClaimDocument).where(ClaimDocument.fund_id == fund_id, ClaimDocument.claim_id.in_(of_member),
                                    ClaimDocument.erased_at.is_(None))
        .values(erased_at=utcnow(), filename=ERASED_FILENAME, wrapped_key=None))
    return {"erased": {"claim_texts": rowcount(texts), "claim_event_notes": rowcount(notes),
                       "documents": rowcount(documents)}}


@router.get("/export")
async def export_member(fund_id: uuid.UUID, member_id: uuid.UUID, session: DbSession, _: MemberExporter) -> Any:
    """Every claim of the member, with its events and documents' metadata."""
    rows = (await session.scalars(select(Claim).where(Claim.fund_id == fund_id, Claim.member_id == member_id)
                                  .order_by(Claim.created_at, Claim.id))).all()
    exporter = Principal(subject="svc-gateway", role=Role.service)
    described = [await claims.describe(session, exporter, claim, "th", every_document=True) for claim in rows]
    return jsonable_encoder({"claims": [c.model_dump(exclude={"pending"}) for c in described]})


async def sweep_documents(db: Database, store: DocumentStore, limit: int = 200) -> int:
    """Erased documents' objects deleted (kept under this name for callers from before the blob
    store; services/benefits/documents.py)."""
    return await sweep_erased(db, store, limit)
