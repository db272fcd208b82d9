"""Who may touch which fund and member, decided in one place for the whole members service.

| caller            | funds                 | members                         |
|-------------------|-----------------------|---------------------------------|
| platform_admin    | all, write            | all, write                      |
| service           | all, read             | all, read (facts)               |
| network_officer   | their network, read   | their network's funds, read     |
| fund_admin        | their fund, write     | their fund, write               |
| committee         | their fund, read      | their fund, write               |
| collector         | their fund, read      | their round only                |
| member            | their fund, read      | themself only                   |

Anything a caller may not see is a 404, so ids cannot be probed across funds.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from services.members.models import Fund, Member
from shared.auth import CurrentPrincipal, Principal, Role
from shared.db import DbSession
from shared.errors import Forbidden, NotFound, register_messages

register_messages(
    {
        "fund.not_found": {
            "th": ("ไม่พบกองทุน", "ไม่พบกองทุนนี้ หรือคุณไม่มีสิทธิ์เห็น"),
            "en": ("Fund not found", "No such fund, or you may not see it"),
        },
        "member.not_found": {
            "th": ("ไม่พบสมาชิก", "ไม่พบสมาชิกนี้ในกองทุน หรือคุณไม่มีสิทธิ์เห็น"),
            "en": ("Member not found", "No such member in this fund, or you may not see them"),
        },
    }
)

MEMBER_WRITERS = frozenset({Role.committee, Role.fund_admin, Role.platform_admin})
FUND_WRITERS = frozenset({Role.fund_admin, Role.platform_admin})
ROLL_READERS = frozenset({Role.committee, Role.fund_admin, Role.platform_admin, Role.service, Role.network_officer})


def may_see_fund(principal: Principal, fund: Fund) -> bool:
    if principal.is_global or principal.may_act_in_fund(fund.id):
        return True
    return principal.role is Role.network_officer and fund.network_id is not None and fund.network_id == principal.network_id


def ensure_role(principal: Principal, roles: frozenset[Role]) -> None:
    if principal.role not in roles:
        raise Forbidden()


async def get_fund(session: AsyncSession, principal: Principal, fund_id: uuid.UUID) -> Fund:
    fund = await session.get(Fund, fund_id)
    if fund is None or not may_see_fund(principal, fund):
        raise NotFound("fund.not_found")
    return fund


async def valid_fund(fund_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Fund:
    """The fund in the path, if the caller may see it at all."""
    return await get_fund(session, principal, fund_id)


VisibleFund = Annotated[Fund, Depends(valid_fund)]


async def get_member(session: AsyncSession, principal: Principal, fund: Fund, member_id: uuid.UUID) -> Member:
    """A member of this fund whom the caller may see: the roll readers, or the member themself."""
    member = await session.get(Member, member_id)
    if member is None or member.fund_id != fund.id:
        raise NotFound("member.not_found")
    if principal.role in ROLL_READERS:
        return member
    if principal.role is Role.member and principal.member_id == member.id:
        return member
    raise NotFound("member.not_found")
