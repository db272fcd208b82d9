"""Collectors and their rounds: the members a volunteer visits, by village or by name."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.members.models import (
    CURRENT_STATUSES,
    Collector,
    Fund,
    Member,
    RoundMember,
)
from services.members.schemas import CollectorCreate, RoundItem, RoundUpdate
from shared.auth import Principal, Role
from shared.errors import Conflict, NotFound, SajjaError, register_messages
from shared.pagination import after_key, split_page

register_messages(
    {
        "collector.not_found": {
            "th": ("ไม่พบอาสาสมัคร", "ไม่พบอาสาสมัครเก็บเงินนี้ในกองทุน"),
            "en": ("Collector not found", "No such collector in this fund"),
        },
        "collector.exists": {
            "th": ("มีอาสาสมัครนี้แล้ว", "ผู้ใช้นี้เป็นอาสาสมัครของกองทุนอยู่แล้ว"),
            "en": ("Collector exists", "This user is already a collector of this fund"),
        },
        "collector.members_not_in_fund": {
            "th": ("สมาชิกไม่อยู่ในกองทุน", "มีสมาชิก {count} คนในรายการที่ไม่ได้อยู่ในกองทุนนี้"),
            "en": ("Members not in fund", "{count} listed member(s) are not in this fund"),
        },
    }
)


async def _check_members(session: AsyncSession, fund_id: uuid.UUID, member_ids: list[uuid.UUID]) -> None:
    if not member_ids:
        return
    found = set((await session.scalars(
        select(Member.id).where(Member.fund_id == fund_id, Member.id.in_(member_ids))
    )).all())
    missing = set(member_ids) - found
    if missing:
        raise SajjaError("collector.members_not_in_fund", status_code=422, params={"count": len(missing)})


async def _set_round_members(session: AsyncSession, collector: Collector, member_ids: list[uuid.UUID]) -> None:
    await session.execute(delete(RoundMember).where(RoundMember.collector_id == collector.id))
    if member_ids:
        await session.execute(
            insert(RoundMember).values(
                [{"collector_id": collector.id, "member_id": m, "fund_id": collector.fund_id} for m in set(member_ids)]
            )
        )


async def create(*, session: AsyncSession, fund: Fund, data: CollectorCreate) -> Collector:
    await _check_members(session, fund.id, data.member_ids)
    collector = Collector(
        id=uuid.uuid4(), fund_id=fund.id, user_id=data.user_id, display_name=data.display_name, phone=data.phone,
        villages=data.villages, round_version=1,
    )
    try:
        async with session.begin_nested():
            session.add(collector)
            await session.flush()
    except IntegrityError:
        raise Conflict("collector.exists") from None
    await _set_round_members(session, collector, data.member_ids)
    return collector


async def list_for_fund(session: AsyncSession, fund: Fund) -> list[Collector]:
    return list((await session.scalars(
        select(Collector).where(Collector.fund_id == fund.id).order_by(Collector.display_name)
    )).all())


async def get(session: AsyncSession, fund: Fund, collector_id: uuid.UUID) -> Collector:
    collector = await session.get(Collector, collector_id)
    if collector is None or collector.fund_id != fund.id:
        raise NotFound("collector.not_found")
    return collector


async def for_user(session: AsyncSession, fund: Fund, user_id: uuid.UUID) -> Collector:
    collector = await session.scalar(
        select(Collector).where(Collector.fund_id == fund.id, Collector.user_id == user_id)
    )
    if collector is None:
        raise NotFound("collector.not_found")
    return collector


def ensure_may_read_round(principal: Principal, collector: Collector) -> None:
    """Staff of the fund read any round; a collector reads only their own."""
    if principal.role is Role.collector and str(collector.user_id) != principal.subject:
        raise NotFound("collector.not_found")
    if principal.role is Role.member:
        raise NotFound("collector.not_found")


async def update_round(*, session: AsyncSession, collector: Collector, data: RoundUpdate) -> Collector:
    await _check_members(session, collector.fund_id, data.member_ids)
    collector.villages = data.villages
    collector.round_version += 1
    await _set_round_members(session, collector, data.member_ids)
    await session.flush()
    return collector


async def round_page(
    *, session: AsyncSession, collector: Collector, limit: int, cursor: str | None
) -> tuple[list[RoundItem], str | None]:
    """Members on the round who still pay (active or suspended), in Thai name order."""
    listed = select(RoundMember.member_id).where(RoundMember.collector_id == collector.id)
    query = select(Member).where(
        Member.fund_id == collector.fund_id,
        Member.status.in_(CURRENT_STATUSES),
        or_(Member.village_no.in_(collector.villages or [-1]), Member.id.in_(listed)),
    )
    key = after_key(cursor, str, uuid.UUID)
    if key is not None:
        query = query.where(tuple_(Member.name_sort_key, Member.id) > key)
    rows = (await session.scalars(query.order_by(Member.name_sort_key, Member.id).limit(limit + 1))).all()
    page, next_cursor = split_page(rows, limit, lambda m: (m.name_sort_key, m.id))
    items = [
        RoundItem(
            id=m.id, member_no=m.member_no, name=" ".join(p for p in (m.title, m.first_name, m.last_name) if p),
            village=m.village_no, house_no=m.house_no, phone=m.phone, status=m.status,
        )
        for m in page
    ]
    return items, next_cursor
