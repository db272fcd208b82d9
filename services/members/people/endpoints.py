"""``/v1/members/funds/{fund_id}/members``: the fund's roll."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from services.members.access import (
    MemberForFundWriters,
    MemberForIdReaders,
    MemberForRollWriters,
    RollReader,
    RollWriter,
    VisibleMember,
)
from services.members.erasures import service as erasures
from services.members.people import importer, service
from services.members.pii import PiiVault
from services.members.roll_file import RollFileError, read_roll
from services.members.schemas import (
    AnonymiseRequest,
    BeneficiariesIn,
    ErasureOut,
    BeneficiaryOut,
    ImportResult,
    MemberCreate,
    MemberOut,
    MemberPage,
    MemberUpdate,
    NationalIdOut,
    StatusChange,
    StatusChangeOut,
)
from services.members.thai import format_national_id
from shared.audit import audit
from shared.auth import CurrentPrincipal
from shared.db import DbSession
from shared.errors import SajjaError, register_messages, request_language
from shared.pagination import Cursor, Limit

register_messages(
    {
        "import.unsupported_type": {
            "th": ("ชนิดไฟล์ไม่รองรับ", "รับเฉพาะไฟล์ CSV หรือ Excel (.xlsx) ไม่รับ {content_type}"),
            "en": ("Unsupported file type", "Only CSV or Excel (.xlsx) files are accepted, not {content_type}"),
        },
        "import.undecodable": {
            "th": ("อ่านไฟล์ไม่ได้", "อ่านไฟล์ไม่ได้ ต้องเป็น CSV (UTF-8 หรือ TIS-620) หรือ Excel (.xlsx)"),
            "en": ("Unreadable file", "The file cannot be read; use CSV (UTF-8 or TIS-620) or Excel (.xlsx)"),
        },
        "import.empty": {
            "th": ("ไฟล์ว่าง", "ไม่มีข้อมูลสมาชิกในไฟล์"),
            "en": ("Empty file", "The file has no member rows"),
        },
        "import.missing_columns": {
            "th": ("ขาดคอลัมน์", "ไฟล์ขาดคอลัมน์ที่จำเป็น: {columns}"),
            "en": ("Missing columns", "The file lacks required columns: {columns}"),
        },
        "import.too_many_rows": {
            "th": ("แถวมากเกินไป", "นำเข้าได้ครั้งละไม่เกิน {limit} แถว"),
            "en": ("Too many rows", "At most {limit} rows can be imported at once"),
        },
        "import.consent_not_attested": {
            "th": ("ต้องยืนยันความยินยอม", "ยืนยัน consent_attested=true ว่ากองทุนมีหนังสือยินยอมของสมาชิกทุกคนในไฟล์"),
            "en": ("Consent not attested", "Set consent_attested=true to confirm the fund holds every listed member's signed consent"),
        },
        "pii.purpose_required": {
            "th": ("ต้องระบุวัตถุประสงค์", "การดูเลขประจำตัวประชาชนเต็มต้องระบุวัตถุประสงค์"),
            "en": ("Purpose required", "Reading a whole national ID number needs a stated purpose"),
        },
    }
)

router = APIRouter(prefix="/v1/members/funds/{fund_id}/members", tags=["members"])


def _vault(request: Request) -> PiiVault:
    vault: PiiVault = request.app.state.pii
    return vault


@router.post("", response_model=MemberOut, status_code=201)
async def register_member(
    body: MemberCreate, fund: RollWriter, request: Request, session: DbSession, principal: CurrentPrincipal
) -> Any:
    """Register a person in this fund (committee, fund admins). The national ID is checked, kept
    encrypted, and one person may belong to only one fund at a time."""
    member, beneficiaries = await service.register(
        session=session, vault=_vault(request), fund=fund, principal=principal, data=body,
        consent_version=request.app.state.settings.consent_version,
    )
    return service.to_out(member, beneficiaries)


@router.get("", response_model=MemberPage)
async def search_members(
    fund: RollReader,
    request: Request,
    session: DbSession,
    q: Annotated[str | None, Query(max_length=100, description="Name (partial), phone, or national ID (exact)")] = None,
    village: Annotated[int | None, Query(ge=1, le=99)] = None,
    status: Literal["active", "suspended", "resigned", "deceased"] | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Any:
    """The roll, in Thai alphabetical order, searchable."""
    rows, next_cursor = await service.search(
        session=session, vault=_vault(request), fund=fund, q=q, village=village, status=status, limit=limit, cursor=cursor
    )
    return MemberPage(items=[service.to_item(m) for m in rows], next_cursor=next_cursor)


@router.post("/import", response_model=ImportResult)
async def import_members(
    fund: RollWriter,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    consent_attested: Annotated[bool, Query(description="The fund holds each member's signed consent")] = False,
    dry_run: Annotated[bool, Query(description="Validate and report only")] = False,
) -> Any:
    """Import an existing roll: CSV (UTF-8, UTF-8 with BOM, TIS-620) or XLSX, as the request body or
    as the ``file`` field of a multipart form. Every row is validated and every bad row reported;
    valid rows are imported, idempotently."""
    if not consent_attested and not dry_run:
        raise SajjaError("import.consent_not_attested", status_code=422)
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower() or None
    filename = None
    if content_type == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise SajjaError("import.empty", status_code=422)
        raw = await upload.read()
        filename, content_type = upload.filename, (upload.content_type or None)
    else:
        raw = await request.body()
    settings = request.app.state.settings
    try:
        rows = await asyncio.to_thread(
            read_roll, raw, filename=filename, content_type=content_type, max_rows=settings.import_max_rows
        )
    except RollFileError as exc:
        status = 415 if exc.code == "import.unsupported_type" else 422
        raise SajjaError(exc.code, status_code=status, params=exc.params) from None
    return await importer.import_roll(
        session=session, vault=_vault(request), fund=fund, principal=principal, rows=rows, raw=raw, dry_run=dry_run,
        consent_version=settings.consent_version, lang=request_language(request),
    )


@router.get("/{member_id}", response_model=MemberOut)
async def get_member_detail(member: VisibleMember, session: DbSession) -> Any:
    """One member, with beneficiaries; members see only themselves. The national ID is masked."""
    return service.to_out(member, await service.beneficiaries_of(session, member))


@router.patch("/{member_id}", response_model=MemberOut)
async def update_member(body: MemberUpdate, member: MemberForRollWriters, session: DbSession) -> Any:
    """Correct names, phone or address (committee, fund admins)."""
    member = await service.update_member(session=session, member=member, data=body)
    return service.to_out(member, await service.beneficiaries_of(session, member))


@router.put("/{member_id}/beneficiaries", response_model=list[BeneficiaryOut])
async def set_beneficiaries(body: BeneficiariesIn, member: MemberForRollWriters, session: DbSession) -> Any:
    """Replace who receives the member's death benefit; shares add up to 100%."""
    service.ensure_not_anonymised(member)
    rows = await service.replace_beneficiaries(session=session, member=member, beneficiaries=body.beneficiaries)
    return [BeneficiaryOut.model_validate(b) for b in rows]


@router.post("/{member_id}/status", response_model=MemberOut)
async def change_status(
    body: StatusChange, member: MemberForRollWriters, session: DbSession, principal: CurrentPrincipal
) -> Any:
    """Suspend, reinstate, record a resignation or a death (committee, fund admins)."""
    before = member.status
    member = await service.change_status(session=session, member=member, data=body, by=principal.subject)
    await audit(session, principal, "member.status", fund_id=member.fund_id, object_type="member", object_id=member.id,
                details={"from": str(before), "to": body.status, "effective_on": body.effective_on})
    return service.to_out(member, await service.beneficiaries_of(session, member))


@router.get("/{member_id}/status-history", response_model=list[StatusChangeOut])
async def status_history(member: VisibleMember, session: DbSession) -> Any:
    """Every status the member has had, with dates, reasons and who recorded them."""
    return [StatusChangeOut.model_validate(c) for c in await service.status_history(session, member)]


@router.get("/{member_id}/national-id", response_model=NationalIdOut)
async def national_id(
    member: MemberForIdReaders,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    purpose: Annotated[str | None, Query(max_length=200, description="Why the whole number is needed")] = None,
) -> Any:
    """The whole national ID (committee, fund admins, the member themself); every read is logged
    with who, when and what for."""
    if not purpose or len(purpose.strip()) < 3:
        raise SajjaError("pii.purpose_required", status_code=422)
    number = await service.reveal_national_id(
        session=session, vault=_vault(request), member=member, principal=principal, purpose=purpose.strip(),
        request_id=getattr(request.state, "request_id", None),
    )
    await audit(session, principal, "member.national_id_read", fund_id=member.fund_id, object_type="member",
                object_id=member.id, details={"purpose": purpose.strip()})
    return NationalIdOut(member_id=member.id, national_id=number, formatted=format_national_id(number))


@router.post("/{member_id}/anonymise", response_model=MemberOut)
async def anonymise_member(
    body: AnonymiseRequest, member: MemberForFundWriters, session: DbSession, principal: CurrentPrincipal
) -> Any:
    """Erase a resigned member's personal data at their request, keeping what the ledger needs, and
    record the erasure, which the erasure worker carries to the gateway, the ledger and benefits
    (``GET .../erasure`` shows how far it has come; docs/personal-data.md). Asked again, it answers
    the member as erased and changes nothing (a member anonymised before erasures were recorded gets
    one, so the other processes are reached too)."""
    erasure = await erasures.of_member(session, member)
    if member.anonymised_at is not None and erasure is not None:
        return service.to_out(member)
    if member.anonymised_at is None:
        erased = await service.anonymise(session=session, member=member, reason=body.reason, by=principal.subject)
    else:
        erased = {}
    erasure = await erasures.record(session, member, principal, erased)
    await audit(session, principal, "member.anonymise", fund_id=member.fund_id, object_type="member", object_id=member.id,
                details={"erasure_id": erasure.id, "erased": erased})
    return service.to_out(member)


@router.get("/{member_id}/erasure", response_model=ErasureOut | None)
async def member_erasure(member: MemberForFundWriters, session: DbSession) -> Any:
    """The member's erasure: who asked and when, and each process's step (pending or done, its
    attempts and last error, what it erased by kind); null when the member has not been erased.
    The fund's admins and platform admins."""
    erasure = await erasures.of_member(session, member)
    return None if erasure is None else erasures.to_out(erasure)
