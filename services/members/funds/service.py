"""Funds: create, read, list within the caller's scope."""

from __future__ import annotations

import uuid

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.members.funds.schemas import FundCreate, FundOut
from services.members.models import Fund, Network
from shared.auth import Principal, Role
from shared.errors import Forbidden, NotFound, SajjaError, register_messages
from shared.pagination import decode_cursor, encode_cursor

register_messages(
    {
        "fund.not_found": {
            "th": ("ไม่พบกองทุน", "ไม่พบกองทุนนี้ หรือคุณไม่มีสิทธิ์เห็น"),
            "en": ("Fund not found", "No such fund, or you may not see it"),
        },
        "network.not_found": {
            "th": ("ไม่พบเครือข่าย", "ไม่พบเครือข่ายที่ระบุ"),
            "en": ("Network not found", "No such network"),
        },
    }
)


def to_out(fund: Fund) -> FundOut:
    return FundOut.model_validate(
        {**{c: getattr(fund, c) for c in FundOut.model_fields if c != "founded_year_be"},
         "founded_year_be": fund.founded_on.year + 543}
    )


def may_read(principal: Principal, fund: Fund) -> bool:
    if principal.is_global or principal.may_act_in_fund(fund.id):
        return True
    return principal.role is Role.network_officer and fund.network_id is not None and fund.network_id == principal.network_id


async def create(*, session: AsyncSession, principal: Principal, data: FundCreate) -> Fund:
    """Platform admins create any fund; network officers create funds in their own network."""
    network_id = data.network_id
    if principal.role is Role.network_officer:
        network_id = network_id or principal.network_id
        if network_id != principal.network_id:
            raise Forbidden("auth.out_of_scope")
    elif principal.role is not Role.platform_admin:
        raise Forbidden()
    if network_id is not None and await session.get(Network, network_id) is None:
        raise SajjaError("network.not_found", status_code=422)
    fund = Fund(id=uuid.uuid4(), **data.model_dump(exclude={"network_id"}), network_id=network_id)
    session.add(fund)
    await session.flush()
    return fund


async def get(*, session: AsyncSession, principal: Principal, fund_id: uuid.UUID) -> Fund:
    """The fund, if the caller may see it; 404 either way otherwise, so ids cannot be probed."""
    fund = await session.get(Fund, fund_id)
    if fund is None or not may_read(principal, fund):
        raise NotFound("fund.not_found")
    return fund


async def list_visible(
    *, session: AsyncSession, principal: Principal, limit: int, cursor: str | None
) -> tuple[list[Fund], str | None]:
    query = select(Fund).order_by(Fund.name, Fund.id).limit(limit + 1)
    if principal.role is Role.network_officer:
        query = query.where(Fund.network_id == principal.network_id)
    elif not principal.is_global:
        query = query.where(Fund.id == principal.fund_id)
    key = decode_cursor(cursor, 2)
    if key is not None:
        try:
            query = query.where(tuple_(Fund.name, Fund.id) > (key[0], uuid.UUID(key[1])))
        except ValueError:
            raise SajjaError("request.cursor_invalid", status_code=400) from None
    rows = list((await session.scalars(query)).all())
    next_cursor = encode_cursor(rows[limit - 1].name, rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor
