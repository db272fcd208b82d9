"""``/v1/members/internal/funds/{fund_id}/members/{member_id}/export``: what the members service holds
about one member, for the gateway's download of a member's data (PDPA's rights of access and
portability; docs/personal-data.md). The gateway alone may ask (``members.member_export``) and
decides who may download."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from sqlalchemy import select

from services.members.access import MemberExporter
from services.members.erasures import service as erasures
from services.members.models import Member, PiiAccess
from services.members.people import service as people
from services.members.schemas import StatusChangeOut
from shared.db import DbSession
from shared.errors import NotFound

router = APIRouter(prefix="/v1/members/internal/funds/{fund_id}", tags=["internal"])


@router.get("/members/{member_id}/export")
async def export_member(fund_id: uuid.UUID, member_id: uuid.UUID, session: DbSession, _: MemberExporter) -> Any:
    """The member's record (the national ID masked: the whole number has its own logged route),
    beneficiaries, status history, who read their whole national ID and why, and their erasure."""
    member = await session.get(Member, member_id)
    if member is None or member.fund_id != fund_id:
        raise NotFound("member.not_found")
    reads = (await session.scalars(
        select(PiiAccess).where(PiiAccess.member_id == member.id).order_by(PiiAccess.id))).all()
    erasure = await erasures.of_member(session, member)
    return jsonable_encoder({
        "member": people.to_out(member, await people.beneficiaries_of(session, member)),
        "status_history": [StatusChangeOut.model_validate(c) for c in await people.status_history(session, member)],
        "national_id_reads": [{"at": r.at, "actor_role": r.actor_role, "purpose": r.purpose} for r in reads],
        "erasure": None if erasure is None else erasures.to_out(erasure),
    })
