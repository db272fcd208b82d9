"""Importing an existing member roll (CSV or XLSX) in one go.

Every row is validated first, with the same rules as a single registration; then the valid rows
are written in bulk. Importing is idempotent: a person already registered in this fund is counted
as a duplicate, never created twice, so uploading the same file again changes nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy import insert as core_insert
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.members.models import Fund, ImportRun, Member, MemberStatusChange
from services.members.people.service import (
    ensure_fund_open,
    household_ids,
    new_member,
    registration_conflicts,
    reserve_member_numbers,
)
from services.members.pii import PiiVault
from services.members.roll_file import RollRow
from services.members.schemas import ImportResult, MemberFields, RowProblem
from shared.auth import Principal
from shared.errors import field_errors, register_messages, render_message
from shared.timeutil import utcnow

register_messages(
    {
        "import.duplicate_in_file": {
            "th": ("ซ้ำในไฟล์", "เลขประจำตัวประชาชนนี้ซ้ำกับแถวที่ {line}"),
            "en": ("Repeated in the file", "The same national ID number is on line {line}"),
        },
    }
)



def _problem(line: int, code: str, lang: str, params: dict[str, Any] | None = None, field: str | None = None) -> RowProblem:
    _, detail = render_message(code, lang, params or {})
    return RowProblem(line=line, field=field, code=code, message=detail)


async def import_roll(
    *,
    session: AsyncSession,
    vault: PiiVault,
    fund: Fund,
    principal: Principal,
    rows: list[RollRow],
    raw: bytes,
    dry_run: bool,
    consent_version: str,
    lang: str,
) -> ImportResult:
    ensure_fund_open(fund)
    problems: list[RowProblem] = []
    valid: list[tuple[int, MemberFields, bytes]] = []
    first_line: dict[str, int] = {}
    for row in rows:
        values = {k: v for k, v in row.values.items() if v != ""}
        try:
            fields = MemberFields.model_validate(values)
        except ValidationError as exc:
            for err in field_errors(exc.errors(include_url=False), lang):
                problems.append(RowProblem(line=row.line, field=err["field"] or None, code=err["code"], message=err["message"]))
            continue
        if fields.national_id in first_line:
            problems.append(_problem(row.line, "import.duplicate_in_file", lang, {"line": first_line[fields.national_id]}, "national_id"))
            continue
        first_line[fields.national_id] = row.line
        valid.append((row.line, fields, vault.lookup_hash(fields.national_id)))

    conflicts = await registration_conflicts(session, fund.id, [h for _, _, h in valid])
    duplicates = 0
    to_create: list[tuple[int, MemberFields, bytes]] = []
    for line, fields, national_id_hash in valid:
        existing = conflicts.get(national_id_hash)
        if existing is None:
            to_create.append((line, fields, national_id_hash))
        elif existing.fund_id == fund.id:
            duplicates += 1
        else:
            code = "member.deceased" if existing.status == "deceased" else "member.active_elsewhere"
            problems.append(_problem(line, code, lang, field="national_id"))

    created = 0
    if to_create and not dry_run:
        created, raced = await _insert(session, vault, fund, principal, to_create, consent_version)
        duplicates += raced
    problems.sort(key=lambda p: p.line)
    run = ImportRun(
        id=uuid.uuid4(), fund_id=fund.id, file_sha256=hashlib.sha256(raw).hexdigest(), rows=len(rows),
        created=created, duplicates=duplicates, rejected=len({p.line for p in problems}), dry_run=dry_run,
        by=principal.subject,
    )
    session.add(run)
    await session.flush()
    return ImportResult(
        import_id=run.id, dry_run=dry_run, rows=len(rows), created=created, duplicates=duplicates,
        rejected=run.rejected, problems=problems,
    )


async def _insert(
    session: AsyncSession,
    vault: PiiVault,
    fund: Fund,
    principal: Principal,
    to_create: list[tuple[int, MemberFields, bytes]],
    consent_version: str,
) -> tuple[int, int]:
    """Bulk insert; returns (created, lost to a concurrent registration of the same person)."""
    addresses = {(f.village, f.house_no) for _, f, _ in to_create if f.village and f.house_no}
    households = await household_ids(session, fund.id, addresses)
    first_no = await reserve_member_numbers(session, fund.id, len(to_create))
    now = utcnow()
    values = [
        new_member(
            vault=vault, fund_id=fund.id, member_no=first_no + i, data=fields, national_id_hash=national_id_hash,
            household_id=households.get((fields.village, fields.house_no)) if fields.village and fields.house_no else None,
            consent_version=consent_version,
            by=principal.subject, now=now,
        )
        for i, (_, fields, national_id_hash) in enumerate(to_create)
    ]
    table = cast(Table, Member.__table__)  # declarative's Table (typed as any FromClause)
    inserted = (await session.execute(
        insert(table).on_conflict_do_nothing().returning(table.c.id, table.c.joined_on),
        values,
    )).all()
    if inserted:
        await session.execute(
            core_insert(cast(Table, MemberStatusChange.__table__)),
            [
                {"fund_id": fund.id, "member_id": member_id, "status": "active", "effective_on": joined_on,
                 "reason": "imported", "recorded_by": principal.subject}
                for member_id, joined_on in inserted
            ],
        )
    return len(inserted), len(values) - len(inserted)
