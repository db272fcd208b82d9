"""Claim documents: photos and PDFs, checked by their first bytes, stored on disk by SHA-256."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from services.benefits.models import ClaimDocument
from services.benefits.rules import MEDICAL_DOCUMENTS
from shared.errors import SajjaError, register_messages

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
    }
)

#: What a file must start with, by the type it will be stored as.
MAGIC = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png", b"%PDF-": "application/pdf"}


def sniff(data: bytes) -> str:
    for prefix, content_type in MAGIC.items():
        if data.startswith(prefix):
            return content_type
    raise SajjaError("document.unsupported_type", status_code=415)


class DocumentStore:
    """Files under ``root/ab/abcdef...`` (content-addressed: the same file is stored once).

    A file is on disk for good before its row can be committed: written to a temporary name,
    flushed to the disk, renamed into place, and the directory flushed too, so a crash leaves
    either no file (and no row) or the whole file. The disk work runs in a thread, never on the
    event loop that serves every other request."""

    def __init__(self, root: str | Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    async def put(self, data: bytes) -> str:
        return await asyncio.to_thread(self._put, data)

    async def get(self, sha256: str) -> bytes:
        data = await asyncio.to_thread(self.path(sha256).read_bytes)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise SajjaError("internal_error", status_code=500, params={"request_id": "document checksum mismatch"})
        return data

    def _put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.parent.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            _fsync_directory(target.parent.parent)  # the new ab/ itself
        if not target.exists():
            temporary = target.with_suffix(f".{uuid.uuid4().hex}.tmp")
            try:
                with open(temporary, "wb") as file:
                    file.write(data)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, target)
            finally:
                temporary.unlink(missing_ok=True)
        # Also when the file was there already: another upload of it may have renamed it into
        # place a moment ago without having flushed the directory yet.
        _fsync_directory(target.parent)
        return digest


def _fsync_directory(path: Path) -> None:
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


async def attach(
    *, session: AsyncSession, store: DocumentStore, fund_id: uuid.UUID, claim_id: uuid.UUID, kind: str, filename: str,
    data: bytes, by: str,
) -> ClaimDocument:
    if not data:
        raise SajjaError("document.empty", status_code=422)
    if len(data) > store.max_bytes:
        raise SajjaError("document.too_large", status_code=413, params={"limit": store.max_bytes})
    content_type = sniff(data)
    digest = await store.put(data)
    document = ClaimDocument(
        fund_id=fund_id, claim_id=claim_id, id=uuid.uuid4(), kind=kind, is_medical=kind in MEDICAL_DOCUMENTS,
        filename=Path(filename or "document").name[:200], content_type=content_type, size_bytes=len(data), sha256=digest,
        uploaded_by=by,
    )
    session.add(document)
    await session.flush()
    return document
