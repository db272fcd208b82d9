"""Claim documents: photos and PDFs, checked by their first bytes, encrypted with a key of their own
and kept in a blob store (a local directory or an S3-compatible store; docs/documents.md).

- Written so that a rolled-back row leaves no object for good: the object is written under a key
  naming its claim and document (``claims/<fund>/<claim>/<document>``) before the row, in the
  request's transaction, is committed; an object whose row never committed is an orphan, and the
  documents worker deletes orphans older than a grace (:func:`sweep_orphans`).
- A quota per claim, in count and bytes, checked under the claim row's lock (problem+json 409
  ``document.quota_exceeded``).
- Erased documents (docs/personal-data.md) lose their wrapped key in the erase's transaction, and
  their object with the sweep (:func:`sweep_erased`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import and_, exists, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from services.benefits.envelope import DecryptionError, KeyRing
from services.benefits.models import Claim, ClaimDocument
from services.benefits.rules import MEDICAL_DOCUMENTS
from services.benefits.storage import BlobNotFound, BlobStore, LocalBlobStore, S3BlobStore
from shared.db import Database
from shared.errors import SajjaError, register_messages
from shared.timeutil import utcnow

log = logging.getLogger("sajja.benefits.documents")

register_messages(
    {
        "document.unsupported_type": {
            "th": ("ชนิดไฟล์ไม่รองรับ", "รับเฉพาะรูปภาพ JPEG, PNG หรือไฟล์ PDF"),
            "en": ("Unsupported file", "Only JPEG or PNG photos and PDF files are accepted"),
        },
        "document.too_large": {
            "th": ("ไฟล์ใหญ่เกินไป", "ไฟล์ต้องไม่เกิน {limit} ไบต์"),
            "en": ("File too large", "A file may be at most {limit} bytes"),
        },
        "document.erased": {
            "th": ("เอกสารถูกลบแล้ว", "เอกสารนี้ถูกลบตามคำขอลบข้อมูลส่วนบุคคลของสมาชิก"),
            "en": ("Document erased", "This document was erased with the member's personal data"),
        },
        "document.empty": {
            "th": ("ไม่มีไฟล์", "ต้องแนบไฟล์ในช่อง file"),
            "en": ("No file", "Attach the file in the 'file' field"),
        },
        "document.quota_exceeded": {
            "th": ("เอกสารของคำขอนี้เกินโควตา",
                   "คำขอหนึ่งแนบเอกสารได้ไม่เกิน {max_count} ไฟล์ รวมไม่เกิน {max_bytes} ไบต์"
                   " (มีแล้ว {count} ไฟล์ {bytes} ไบต์)"),
            "en": ("Document quota of the claim exceeded",
                   "A claim may have at most {max_count} documents of at most {max_bytes} bytes in all"
                   " (it has {count} documents, {bytes} bytes)"),
        },
    }
)

#: What a file must start with, by the type it will be stored as.
MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png", b"%PDF-": "application/pdf"}
#: Every encrypted document's object key starts with this; the orphan sweep looks under it only.
PREFIX = "claims/"


def sniff(data: bytes) -> str:
    for prefix, content_type in MAGIC.items():
        if data.startswith(prefix):
            return content_type
    raise SajjaError("document.unsupported_type", status_code=415)


def object_key_of(fund_id: uuid.UUID, claim_id: uuid.UUID, document_id: uuid.UUID) -> str:
    return f"{PREFIX}{fund_id}/{claim_id}/{document_id}"


def legacy_key(sha256: str) -> str:
    """Where a document written before encryption is (plaintext, by checksum, shared by copies)."""
    return f"{sha256[:2]}/{sha256}"


class DocumentStore:
    """The blob store, the key ring and the limits."""

    def __init__(self, blobs: BlobStore, keys: KeyRing, *, max_bytes: int, max_count_per_claim: int = 20,
                 max_bytes_per_claim: int = 50 * 1024 * 1024, orphan_grace: dt.timedelta = dt.timedelta(hours=1)) -> None:
        self.blobs, self.keys, self.max_bytes = blobs, keys, max_bytes
        self.max_count_per_claim, self.max_bytes_per_claim = max_count_per_claim, max_bytes_per_claim
        self.orphan_grace = orphan_grace
        #: Where the next orphan sweep goes on listing (each pass looks at a bounded number).
        self.orphan_cursor = ""

    @classmethod
    def from_settings(cls, settings: Any) -> DocumentStore:
        if settings.documents_backend == "s3":
            blobs: BlobStore = S3BlobStore(
                bucket=settings.documents_s3_bucket, endpoint_url=settings.documents_s3_endpoint,
                region=settings.documents_s3_region, access_key=settings.documents_s3_access_key,
                secret_key=settings.documents_s3_secret_key, prefix=settings.documents_s3_prefix,
                addressing_style=settings.documents_s3_addressing_style)
        else:
            blobs = LocalBlobStore(settings.documents_dir)
        return cls(blobs, KeyRing(settings.document_key_ring(), settings.document_key_current or None),
                   max_bytes=settings.document_max_bytes, max_count_per_claim=settings.document_max_count_per_claim,
                   max_bytes_per_claim=settings.document_max_bytes_per_claim,
                   orphan_grace=dt.timedelta(seconds=settings.document_orphan_grace_seconds))

    async def read(self, document: ClaimDocument) -> bytes:
        """The document's bytes, checked against its checksum."""
        key = document.object_key or legacy_key(document.sha256)
        try:
            stored = await self.blobs.get(key)
            if document.wrapped_key is None:
                data = stored
            else:
                assert document.key_id is not None  # written with its wrapped key, and kept when erased
                data = self.keys.open(stored, document.key_id, document.wrapped_key, key)
        except (BlobNotFound, DecryptionError) as error:
            log.error("document %s does not read: %s", document.id, error)
            raise SajjaError("internal_error", status_code=500, params={"request_id": "document unreadable"}) from None
        if hashlib.sha256(data).hexdigest() != document.sha256:
            raise SajjaError("internal_error", status_code=500, params={"request_id": "document checksum mismatch"})
        return data

    async def close(self) -> None:
        await self.blobs.close()


async def _used(session: AsyncSession, fund_id: uuid.UUID, claim_id: uuid.UUID) -> tuple[int, int]:
    count, size = (await session.execute(
        select(func.count(), func.coalesce(func.sum(ClaimDocument.size_bytes), 0)).where(
            ClaimDocument.fund_id == fund_id, ClaimDocument.claim_id == claim_id, ClaimDocument.erased_at.is_(None)))).one()
    return int(count), int(size)


def _check_quota(store: DocumentStore, used: tuple[int, int], adding: int) -> None:
    count, size = used
    if count + 1 > store.max_count_per_claim or size + adding > store.max_bytes_per_claim:
        raise SajjaError("document.quota_exceeded", status_code=409, params={
            "max_count": store.max_count_per_claim, "max_bytes": store.max_bytes_per_claim, "count": count, "bytes": size})


async def attach(
    *, session: AsyncSession, store: DocumentStore, fund_id: uuid.UUID, claim_id: uuid.UUID, kind: str, filename: str,
    data: bytes, by: str,
) -> ClaimDocument:
    if not data:
        raise SajjaError("document.empty", status_code=422)
    if len(data) > store.max_bytes:
        raise SajjaError("document.too_large", status_code=413, params={"limit": store.max_bytes})
    content_type = sniff(data)
    # A first look without a lock, so a claim at its quota costs no upload to the store.
    _check_quota(store, await _used(session, fund_id, claim_id), len(data))
    document_id = uuid.uuid4()
    key = object_key_of(fund_id, claim_id, document_id)
    sealed, key_id, wrapped = store.keys.seal(data, key)
    await store.blobs.put(key, sealed)
    # Then again under the claim's lock (two uploads at once cannot both take the last place);
    # the lock is taken after the upload, so no row lock is held across the store's network call.
    await session.execute(select(Claim.id).where(Claim.fund_id == fund_id, Claim.id == claim_id).with_for_update())
    try:
        _check_quota(store, await _used(session, fund_id, claim_id), len(data))
    except SajjaError:
        await store.blobs.delete(key)  # and if this fails, the orphan sweep deletes it
        raise
    document = ClaimDocument(
        fund_id=fund_id, claim_id=claim_id, id=document_id, kind=kind, is_medical=kind in MEDICAL_DOCUMENTS,
        filename=Path(filename or "document").name[:200], content_type=content_type, size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(), uploaded_by=by, object_key=key, key_id=key_id, wrapped_key=wrapped,
    )
    session.add(document)
    await session.flush()
    return document


async def sweep_erased(db: Database, store: DocumentStore, limit: int = 200) -> int:
    """Delete the objects of erased documents (each object once no document that is not erased
    has it: documents from before encryption share one object per checksum). Returns the documents
    let go."""
    live = aliased(ClaimDocument)
    async with db.sessionmaker() as session:
        async with session.begin():
            erased = (await session.scalars(
                select(ClaimDocument).where(ClaimDocument.erased_at.is_not(None), ClaimDocument.file_released_at.is_(None))
                .limit(limit).with_for_update(skip_locked=True))).all()
            for document in erased:
                if document.object_key is None:
                    still_used = await session.scalar(select(exists().where(and_(
                        live.sha256 == document.sha256, live.object_key.is_(None), live.erased_at.is_(None)))))
                else:
                    still_used = False
                if not still_used:
                    await store.blobs.delete(document.object_key or legacy_key(document.sha256))
                document.file_released_at = utcnow()
            return len(erased)


def _ids_of(key: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID] | None:
    parts = key[len(PREFIX):].split("/")
    try:
        return (uuid.UUID(parts[0]), uuid.UUID(parts[1]), uuid.UUID(parts[2])) if len(parts) == 3 else None
    except ValueError:
        return None


async def sweep_orphans(db: Database, store: DocumentStore, *, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Delete objects that no document row names and that are older than the grace (the uploads of
    transactions that rolled back or never committed). Looks at up to ``limit`` objects a pass, going
    on from where the last pass stopped. Returns the objects deleted."""
    older_than = (now or utcnow()) - store.orphan_grace
    seen: list[tuple[str, tuple[uuid.UUID, uuid.UUID, uuid.UUID] | None]] = []
    async for info in store.blobs.list(PREFIX, start_after=store.orphan_cursor):
        if info.modified_at < older_than:
            seen.append((info.key, _ids_of(info.key)))
        store.orphan_cursor = info.key
        if len(seen) >= limit:
            break
    else:
        store.orphan_cursor = ""  # the whole store was looked at: from the start next time
    if not seen:
        return 0
    ids = [i for _, i in seen if i is not None]
    async with db.sessionmaker() as session:
        rows = set() if not ids else {tuple(found) for found in (await session.execute(
            select(ClaimDocument.fund_id, ClaimDocument.claim_id, ClaimDocument.id)
            .where(tuple_(ClaimDocument.fund_id, ClaimDocument.claim_id, ClaimDocument.id).in_(ids)))).all()}
    deleted = 0
    for key, document_ids in seen:
        if document_ids not in rows:
            await store.blobs.delete(key)
            deleted += 1
    if deleted:
        log.info("deleted %d orphaned document objects", deleted)
    return deleted


async def rewrap(db: Database, store: DocumentStore, limit: int = 200) -> int:
    """Wrap the data keys of documents under older KEKs with the current one, a batch a pass (rows
    locked ``SKIP LOCKED``, so replicas share the work). Returns the documents rewrapped."""
    async with db.sessionmaker() as session:
        async with session.begin():
            rows = (await session.scalars(
                select(ClaimDocument).where(ClaimDocument.key_id != store.keys.current, ClaimDocument.wrapped_key.is_not(None))
                .limit(limit).with_for_update(skip_locked=True))).all()
            for document in rows:
                # The query's filters; an encrypted document is stored under its object key.
                assert document.key_id is not None and document.wrapped_key is not None and document.object_key is not None
                document.key_id, document.wrapped_key = store.keys.rewrap(document.key_id, document.wrapped_key, document.object_key)
            return len(rows)


async def one_pass(db: Database, store: DocumentStore) -> dict[str, int]:
    """The documents worker's pass: erased documents' objects, orphans, rewrapping."""
    return {"erased": await sweep_erased(db, store), "orphans": await sweep_orphans(db, store),
            "rewrapped": await rewrap(db, store)}
