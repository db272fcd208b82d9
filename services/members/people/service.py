"""Members of a fund: registration, search, status history, beneficiaries, PDPA reads and erasure."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.members.access import may_see_fund
from services.members.models import (
    CURRENT_STATUSES,
    Beneficiary,
    Fund,
    Household,
    Member,
    MemberStatusChange,
    PiiAccess,
    RoundMember,
)
from services.members.erasures import service as erasures
from services.members.pii import PiiVault
from services.members.schemas import (
    BeneficiaryIn,
    BeneficiaryOut,
    MemberCreate,
    MemberFields,
    MemberListItem,
    MemberOut,
    MemberUpdate,
    StatusChange,
)
from services.members.thai import mask_national_id, thai_sort_key
from shared.auth import Principal
from shared.db import rowcount
from shared.errors import Conflict, SajjaError, register_messages
from shared.pagination import after_key, split_page
from shared.timeutil import utcnow

register_messages(
    {
        "member.already_registered": {
            "th": ("สมัครซ้ำ", "บุคคลนี้มีทะเบียนในกองทุนนี้แล้ว (เลขทะเบียน {member_no})"),
            "en": ("Already registered", "This person is already registered in this fund (member no. {member_no})"),
        },
        "member.active_elsewhere": {
            "th": ("เป็นสมาชิกกองทุนอื่นอยู่", "บุคคลนี้เป็นสมาชิกของกองทุนอื่นอยู่ ต้องลาออกจากกองทุนเดิมก่อน"),
            "en": ("Member of another fund", "This person belongs to another fund and must resign there first"),
        },
        "member.deceased": {
            "th": ("บุคคลนี้เสียชีวิตแล้ว", "มีบันทึกว่าบุคคลนี้เสียชีวิตแล้ว ไม่สามารถสมัครได้"),
            "en": ("Recorded as deceased", "This person is recorded as deceased and cannot be registered"),
        },
        "member.status_transition": {
            "th": ("เปลี่ยนสถานะไม่ได้", "เปลี่ยนสถานะจาก {from_status} เป็น {to_status} ไม่ได้"),
            "en": ("Invalid status change", "A member cannot go from {from_status} to {to_status}"),
        },
        "member.status_date": {
            "th": ("วันที่มีผลไม่ถูกต้อง", "วันที่มีผลต้องไม่ก่อนวันที่สมัครหรือวันที่เปลี่ยนสถานะครั้งก่อน ({since})"),
            "en": ("Invalid effective date", "The effective date cannot be before joining or the last change ({since})"),
        },
        "member.anonymise_not_resigned": {
            "th": ("ยังลบข้อมูลไม่ได้", "ลบข้อมูลส่วนบุคคลได้เฉพาะสมาชิกที่ลาออกแล้ว"),
            "en": ("Cannot anonymise yet", "Only a member who has resigned can be anonymised"),
        },
        "member.anonymised": {
            "th": ("ข้อมูลถูกลบแล้ว", "ข้อมูลส่วนบุคคลของสมาชิกนี้ถูกลบตามคำขอแล้ว"),
            "en": ("Anonymised", "This member's personal data was erased on request"),
        },
        "fund.not_active": {
            "th": ("กองทุนไม่เปิดรับสมาชิก", "กองทุนนี้ไม่ได้อยู่ในสถานะเปิดดำเนินการ"),
            "en": ("Fund not active", "This fund is not active"),
        },
    }
)

#: Which status may follow which. Deceased is final; a resigned member may rejoin.
TRANSITIONS: dict[str, frozenset[str]] = {
    "active": frozenset({"suspended", "resigned", "deceased"}),
    "suspended": frozenset({"active", "resigned", "deceased"}),
    "resigned": frozenset({"active"}),
    "deceased": frozenset(),
}


def masked(member: Member) -> str | None:
    return mask_national_id(member.national_id_tail) if member.national_id_tail else None


def to_out(member: Member, beneficiaries: Sequence[Beneficiary] = ()) -> MemberOut:
    return MemberOut(
        id=member.id,
        fund_id=member.fund_id,
        member_no=member.member_no,
        national_id_masked=masked(member),
        title=member.title,
        first_name=member.first_name,
        last_name=member.last_name,
        birth_date=member.birth_date,
        sex=member.sex,
        phone=member.phone,
        house_no=member.house_no,
        village=member.village_no,
        village_name=member.village_name,
        address=member.address,
        household_id=member.household_id,
        joined_on=member.joined_on,
        status=member.status,
        status_since=member.status_since,
        consent_at=member.consent_at,
        consent_version=member.consent_version,
        anonymised=member.anonymised_at is not None,
        beneficiaries=[BeneficiaryOut.model_validate(b) for b in beneficiaries],
    )


def to_item(member: Member) -> MemberListItem:
    return MemberListItem(
        id=member.id,
        member_no=member.member_no,
        national_id_masked=masked(member),
        title=member.title,
        first_name=member.first_name,
        last_name=member.last_name,
        sex=member.sex,
        phone=member.phone,
        village=member.village_no,
        house_no=member.house_no,
        status=member.status,
    )


def sort_key(first_name: str, last_name: str) -> str:
    return thai_sort_key(first_name) + "\x02" + thai_sort_key(last_name)


async def reserve_member_numbers(session: AsyncSession, fund_id: uuid.UUID, count: int) -> int:
    """The first of ``count`` consecutive registration numbers, reserved under the fund's row lock."""
    next_after = await session.scalar(
        update(Fund).where(Fund.id == fund_id).values(next_member_no=Fund.next_member_no + count)
        .returning(Fund.next_member_no)
    )
    assert next_after is not None, "the fund's row exists (the caller has it)"
    return int(next_after) - count


async def household_ids(session: AsyncSession, fund_id: uuid.UUID, addresses: set[tuple[int, str]]) -> dict[tuple[int, str], uuid.UUID]:
    """Households by (village, house number), made when missing."""
    if not addresses:
        return {}
    # executemany of one cached statement (SQLAlchemy batches it into multi-row INSERTs).
    await session.execute(
        insert(cast(Table, Household.__table__)).on_conflict_do_nothing(index_elements=["fund_id", "village_no", "house_no"]),
        [{"id": uuid.uuid4(), "fund_id": fund_id, "village_no": v, "house_no": h} for v, h in addresses],
    )
    villages = sorted({v for v, _ in addresses})
    rows = await session.execute(
        select(Household.village_no, Household.house_no, Household.id)
        .where(Household.fund_id == fund_id, Household.village_no.in_(villages))
    )
    return {(v, h): i for v, h, i in rows if (v, h) in addresses}


async def registration_conflicts(session: AsyncSession, fund_id: uuid.UUID, hashes: list[bytes]) -> dict[bytes, Member]:
    """For each hash, the row that stops a new registration: same fund, current elsewhere, or deceased."""
    rows = (await session.scalars(select(Member).where(Member.national_id_hash.in_(hashes)))).all()
    found: dict[bytes, Member] = {}
    for row in rows:
        blocking = row.fund_id == fund_id or row.status in CURRENT_STATUSES or row.status == "deceased"
        assert row.national_id_hash is not None  # it is one of ``hashes``
        if blocking and (row.national_id_hash not in found or row.fund_id == fund_id):
            found[row.national_id_hash] = row
    return found


def conflict_error(principal: Principal, fund_id: uuid.UUID, existing: Member, other_fund: Fund | None) -> SajjaError:
    if existing.fund_id == fund_id:
        return Conflict(
            "member.already_registered",
            params={"member_no": existing.member_no},
            extra={"member_id": str(existing.id), "member_no": existing.member_no},
        )
    if existing.status == "deceased":
        return Conflict("member.deceased")
    extra: dict[str, Any] = {}
    if other_fund is not None and may_see_fund(principal, other_fund):
        extra = {"other_fund_id": str(other_fund.id), "other_fund_name": other_fund.name}
    return Conflict("member.active_elsewhere", extra=extra)


def new_member(
    *,
    vault: PiiVault,
    fund_id: uuid.UUID,
    member_no: int,
    data: MemberFields,
    national_id_hash: bytes,
    household_id: uuid.UUID | None,
    consent_version: str,
    by: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """Column values of a new member row (used one at a time and in bulk)."""
    key_id, national_id_enc = vault.encrypt(data.national_id)
    return {
        "id": uuid.uuid4(),
        "fund_id": fund_id,
        "member_no": member_no,
        "national_id_hash": national_id_hash,
        "national_id_enc": national_id_enc,
        "national_id_key_id": key_id,
        "national_id_tail": data.national_id[-3:],
        "title": data.title,
        "first_name": data.first_name,
        "last_name": data.last_name,
        "name_sort_key": sort_key(data.first_name, data.last_name),
        "birth_date": data.birth_date,
        "sex": data.sex,
        "phone": data.phone,
        "house_no": data.house_no,
        "village_no": data.village,
        "village_name": data.village_name,
        "address": data.address,
        "household_id": household_id,
        "joined_on": data.joined_on,
        "status": "active",
        "status_since": data.joined_on,
        "consent_at": now,
        "consent_version": consent_version,
        "consent_recorded_by": by,
        "created_by": by,
    }


def ensure_fund_open(fund: Fund) -> None:
    if fund.status != "active":
        raise Conflict("fund.not_active")


async def register(
    *, session: AsyncSession, vault: PiiVault, fund: Fund, principal: Principal, data: MemberCreate, consent_version: str
) -> tuple[Member, list[Beneficiary]]:
    ensure_fund_open(fund)
    national_id_hash = vault.lookup_hash(data.national_id)
    conflicts = await registration_conflicts(session, fund.id, [national_id_hash])
    if national_id_hash in conflicts:
        existing = conflicts[national_id_hash]
        other = await session.get(Fund, existing.fund_id) if existing.fund_id != fund.id else None
        raise conflict_error(principal, fund.id, existing, other)
    address = {(data.village, data.house_no)} if data.village and data.house_no else set()
    households = await household_ids(session, fund.id, address)
    member_no = await reserve_member_numbers(session, fund.id, 1)
    values = new_member(
        vault=vault, fund_id=fund.id, member_no=member_no, data=data, national_id_hash=national_id_hash,
        household_id=households.get((data.village, data.house_no)) if data.village and data.house_no else None,
        consent_version=consent_version,
        by=principal.subject, now=utcnow(),
    )
    member = Member(**values)
    try:
        async with session.begin_nested():
            session.add(member)
            await session.flush()
    except IntegrityError:
        # Registered in another fund between our check and our insert.
        raise Conflict("member.active_elsewhere") from None
    session.add(MemberStatusChange(
        fund_id=fund.id, member_id=member.id, status="active", effective_on=data.joined_on,
        reason="registered", recorded_by=principal.subject,
    ))
    beneficiaries = await replace_beneficiaries(session=session, member=member, beneficiaries=data.beneficiaries)
    return member, beneficiaries


async def beneficiaries_of(session: AsyncSession, member: Member) -> list[Beneficiary]:
    return list((await session.scalars(
        select(Beneficiary).where(Beneficiary.member_id == member.id).order_by(Beneficiary.share_bp.desc(), Beneficiary.name)
    )).all())


async def replace_beneficiaries(*, session: AsyncSession, member: Member, beneficiaries: list[BeneficiaryIn]) -> list[Beneficiary]:
    await session.execute(delete(Beneficiary).where(Beneficiary.member_id == member.id))
    rows = [Beneficiary(id=uuid.uuid4(), fund_id=member.fund_id, member_id=member.id, **b.model_dump()) for b in beneficiaries]
    session.add_all(rows)
    await session.flush()
    return await beneficiaries_of(session, member)


def ensure_not_anonymised(member: Member) -> None:
    if member.anonymised_at is not None:
        raise SajjaError("member.anonymised", status_code=410)


async def update_member(*, session: AsyncSession, member: Member, data: MemberUpdate) -> Member:
    ensure_not_anonymised(member)
    changes = data.model_dump(exclude_unset=True)
    if "village" in changes:
        changes["village_no"] = changes.pop("village")
    for name, value in changes.items():
        setattr(member, name, value)
    if {"first_name", "last_name"} & changes.keys():
        member.name_sort_key = sort_key(member.first_name, member.last_name)
    if {"village_no", "house_no"} & changes.keys():
        address = {(member.village_no, member.house_no)} if member.village_no and member.house_no else set()
        member.household_id = (await household_ids(session, member.fund_id, address)).get(
            (member.village_no, member.house_no)
        ) if member.village_no and member.house_no else None
    await session.flush()
    return member


async def change_status(*, session: AsyncSession, member: Member, data: StatusChange, by: str) -> Member:
    ensure_not_anonymised(member)
    if data.status not in TRANSITIONS[member.status]:
        raise Conflict("member.status_transition", params={"from_status": member.status, "to_status": data.status})
    if data.effective_on < member.status_since or data.effective_on < member.joined_on:
        raise SajjaError("member.status_date", status_code=422, params={"since": member.status_since.isoformat()})
    member.status, member.status_since = data.status, data.effective_on
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        # Rejoining while a current member of another fund.
        raise Conflict("member.active_elsewhere") from None
    session.add(MemberStatusChange(
        fund_id=member.fund_id, member_id=member.id, status=data.status, effective_on=data.effective_on,
        reason=data.reason, recorded_by=by,
    ))
    if data.status not in CURRENT_STATUSES:
        await session.execute(delete(RoundMember).where(RoundMember.member_id == member.id))
    await session.flush()
    return member


async def status_history(session: AsyncSession, member: Member) -> list[MemberStatusChange]:
    return list((await session.scalars(
        select(MemberStatusChange).where(MemberStatusChange.member_id == member.id).order_by(MemberStatusChange.id)
    )).all())


async def reveal_national_id(
    *, session: AsyncSession, vault: PiiVault, member: Member, principal: Principal, purpose: str, request_id: str | None
) -> str:
    """The whole number, and a line in the PII access log saying who read it and why."""
    ensure_not_anonymised(member)
    assert member.national_id_enc is not None
    session.add(PiiAccess(
        fund_id=member.fund_id, member_id=member.id, actor=principal.subject, actor_role=principal.role.value,
        purpose=purpose, request_id=request_id,
    ))
    await session.flush()
    assert member.national_id_key_id is not None  # a CHECK: a ciphertext names its key
    return vault.decrypt(member.national_id_enc, member.national_id_key_id)


async def anonymise(*, session: AsyncSession, member: Member, reason: str, by: str) -> dict[str, int]:
    """Erase personal data on request (PDPA), keeping what the ledger relies on: id, fund,
    registration number, sex, dates and status history (its statuses and dates; the reasons, free
    text, are cleared). Answers what was erased, by kind (counts, never the data)."""
    ensure_not_anonymised(member)
    if member.status != "resigned":
        raise Conflict("member.anonymise_not_resigned")
    fields = ("national_id_hash", "national_id_enc", "national_id_tail", "title", "birth_date", "phone",
              "house_no", "village_no", "village_name", "address", "household_id", "consent_at",
              "consent_version", "consent_recorded_by")
    erased_fields = sum(1 for name in fields if getattr(member, name) is not None) + 2  # and the two names
    for name in fields:
        setattr(member, name, None)
    member.national_id_key_id = None  # with its ciphertext (the key it was under is no one's business now)
    member.first_name = member.last_name = "-"
    member.name_sort_key = ""
    member.anonymised_at = utcnow()
    beneficiaries = await session.execute(delete(Beneficiary).where(Beneficiary.member_id == member.id))
    rounds = await session.execute(delete(RoundMember).where(RoundMember.member_id == member.id))
    reasons = await erasures.clear_status_reasons(session, member)
    session.add(MemberStatusChange(
        fund_id=member.fund_id, member_id=member.id, status=member.status, effective_on=member.status_since,
        reason=f"anonymised: {reason}", recorded_by=by,
    ))
    await session.flush()
    return {"member_fields": erased_fields, "beneficiaries": rowcount(beneficiaries),
            "round_places": rowcount(rounds), "status_reasons": reasons}


def _like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


async def search(
    *,
    session: AsyncSession,
    vault: PiiVault,
    fund: Fund,
    q: str | None,
    village: int | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Member], str | None]:
    """Members by Thai name (partial), phone, national ID (exact, by hash) or village, in Thai order."""
    query = select(Member).where(Member.fund_id == fund.id)
    if q:
        digits = q.replace("-", "").replace(" ", "")
        if digits.isdigit() and len(digits) == 13:
            query = query.where(Member.national_id_hash == vault.lookup_hash(digits))
        elif digits.isdigit() and len(digits) >= 9:
            query = query.where(Member.phone == digits)
        else:
            full_name = func.lower(Member.first_name + text("' '") + Member.last_name)
            query = query.where(full_name.like(_like_pattern(q.strip()), escape="\\"))
    if village is not None:
        query = query.where(Member.village_no == village)
    if status is not None:
        query = query.where(Member.status == status)
    key = after_key(cursor, str, uuid.UUID)
    if key is not None:
        query = query.where(tuple_(Member.name_sort_key, Member.id) > key)
    rows = (await session.scalars(query.order_by(Member.name_sort_key, Member.id).limit(limit + 1))).all()
    return split_page(rows, limit, lambda m: (m.name_sort_key, m.id))
