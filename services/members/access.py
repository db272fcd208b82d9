"""Who may touch which fund and member, decided in one place for the whole members service.

| caller            | funds                 | members                         |
|-------------------|-----------------------|---------------------------------|
| platform_admin    | all, write            | all, write                      |
| service           | facts, as granted     | facts, as granted               |
| network_officer   | their network, read   | their network's funds, read     |
| fund_admin        | their fund, write     | their fund, write               |
| committee         | their fund, read      | their fund, write               |
| collector         | their fund, read      | their round only                |
| member            | their fund, read      | themself only                   |

Anything a caller may not see is a 404, so ids cannot be probed across funds. Another Sajja
service reads only the facts ``shared.service_calls`` grants its ``service:<name>`` scope (a
fund's, a member's, a collector's, a fund's current members), each route naming its permission;
its role passes no fund check (docs/service-calls.md).

Each check a route always makes is a dependency here, named for whom it admits, so a route's
signature says who may call it: the fund in the path (``VisibleFund``), then the role
(``FundWriter``, ``RollWriter``...), then the member or collector in the path (``VisibleMember``,
``MemberForRollWriters``...), in that order, each step a 404 or a 403 as before. FastAPI solves a
dependency once per request, so a chain looks the fund up once.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from services.members.collectors import service as collectors
from services.members.models import Collector, Fund, Member
from services.members.pii import WHOLE_ID_ROLES
from shared.audit import audit_reader
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.db import DbSession
from shared.errors import Forbidden, NotFound, register_messages
from shared.service_calls import ServiceMay

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
ROLL_READERS = frozenset({Role.committee, Role.fund_admin, Role.platform_admin, Role.network_officer})
#: Who reads a fund's list of collectors: its writers and the network's officers.
COLLECTOR_READERS = MEMBER_WRITERS | {Role.network_officer}
#: Who may register a fund: platform admins, and network officers (within their own network,
#: which the request body names: checked in ``funds.service.create``).
FUND_CREATORS = frozenset({Role.platform_admin, Role.network_officer})


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


async def signed_in(principal: CurrentPrincipal) -> Principal:
    """Every signed-in caller: the route itself shows each only what they may see."""
    return principal


SignedIn = Annotated[Principal, Depends(signed_in)]
PlatformAdmin = Annotated[Principal, Depends(require_roles(Role.platform_admin))]
# ``/v1/members/internal``: the services ``shared.service_calls`` grants each permission, and
# platform admins.
#: A member's facts, alone or in a batch (``members.member_facts``).
ServiceCaller = Annotated[Principal, Depends(ServiceMay("members.member_facts", Role.platform_admin))]
#: Whether a fund exists, its network and status (``members.fund_facts``).
FundFactsReader = Annotated[Principal, Depends(ServiceMay("members.fund_facts", Role.platform_admin))]
#: Whether a user is a collector of the fund (``members.collector_facts``).
CollectorFactsReader = Annotated[Principal, Depends(ServiceMay("members.collector_facts", Role.platform_admin))]
#: Every current member of the fund (``members.current_members``).
CurrentMembersReader = Annotated[Principal, Depends(ServiceMay("members.current_members", Role.platform_admin))]
#: The whole roll in a compact form, no one named (``members.roll``): the benefits projection.
ProjectionRollReader = Annotated[Principal, Depends(ServiceMay("members.roll", Role.platform_admin))]
#: The funds whose rolls changed since an instant (``members.roll_changes``): the ledger's arrears.
RollChangesReader = Annotated[Principal, Depends(ServiceMay("members.roll_changes", Role.platform_admin))]


async def fund_creator(principal: CurrentPrincipal) -> Principal:
    """Platform admins and network officers (the fund's network is checked against the body)."""
    ensure_role(principal, FUND_CREATORS)
    return principal


FundCreator = Annotated[Principal, Depends(fund_creator)]


async def fund_writer(fund: VisibleFund, principal: CurrentPrincipal) -> Fund:
    """The fund in the path, for its fund admins and platform admins (404 before 403)."""
    ensure_role(principal, FUND_WRITERS)
    return fund


FundWriter = Annotated[Fund, Depends(fund_writer)]


async def roll_writer(fund: VisibleFund, principal: CurrentPrincipal) -> Fund:
    """The fund in the path, for those who change its roll: committee, fund admins, platform admins."""
    ensure_role(principal, MEMBER_WRITERS)
    return fund


RollWriter = Annotated[Fund, Depends(roll_writer)]


async def roll_reader(fund: VisibleFund, principal: CurrentPrincipal) -> Fund:
    """The fund in the path, for those who read its whole roll (not members, not collectors)."""
    ensure_role(principal, ROLL_READERS)
    return fund


RollReader = Annotated[Fund, Depends(roll_reader)]


async def collector_reader(fund: VisibleFund, principal: CurrentPrincipal) -> Fund:
    """The fund in the path, for those who list its collectors: its writers and network officers."""
    ensure_role(principal, COLLECTOR_READERS)
    return fund


CollectorReader = Annotated[Fund, Depends(collector_reader)]


async def valid_member(member_id: uuid.UUID, fund: VisibleFund, session: DbSession, principal: CurrentPrincipal) -> Member:
    """The member in the path, of the fund in the path, if the caller may see them."""
    return await get_member(session, principal, fund, member_id)


VisibleMember = Annotated[Member, Depends(valid_member)]


async def member_for_roll_writers(
    member_id: uuid.UUID, fund: RollWriter, session: DbSession, principal: CurrentPrincipal
) -> Member:
    """The member in the path, for those who change the roll (the role is checked before the member
    is looked up, as it always was)."""
    return await get_member(session, principal, fund, member_id)


MemberForRollWriters = Annotated[Member, Depends(member_for_roll_writers)]


async def member_for_fund_writers(
    member_id: uuid.UUID, fund: FundWriter, session: DbSession, principal: CurrentPrincipal
) -> Member:
    """The member in the path, for the fund's admins and platform admins (erasing personal data)."""
    return await get_member(session, principal, fund, member_id)


MemberForFundWriters = Annotated[Member, Depends(member_for_fund_writers)]


async def member_for_id_readers(member: VisibleMember, principal: CurrentPrincipal) -> Member:
    """The member in the path, for those who may read a whole national ID: the committee, fund
    admins, platform admins, and the member themself (a 404 for whom they may not see, first)."""
    if principal.role not in WHOLE_ID_ROLES and not (principal.role is Role.member and principal.member_id == member.id):
        raise Forbidden()
    return member


MemberForIdReaders = Annotated[Member, Depends(member_for_id_readers)]


async def valid_collector(collector_id: uuid.UUID, fund: VisibleFund, session: DbSession) -> Collector:
    """The collector in the path, if they are the fund's."""
    return await collectors.get(session, fund, collector_id)


FundCollector = Annotated[Collector, Depends(valid_collector)]


async def collector_for_roll_writers(collector_id: uuid.UUID, fund: RollWriter, session: DbSession) -> Collector:
    """The fund's collector in the path, for those who change rounds (the role checked first)."""
    return await collectors.get(session, fund, collector_id)


CollectorForRollWriters = Annotated[Collector, Depends(collector_for_roll_writers)]


async def round_reader(collector: FundCollector, principal: CurrentPrincipal) -> Collector:
    """The fund's collector in the path, for the fund's staff and for that collector themself; a
    404 for anyone else, as for a collector who does not exist."""
    collectors.ensure_may_read_round(principal, collector)
    return collector


CollectorForRoundReaders = Annotated[Collector, Depends(round_reader)]


async def collector_of_fund(fund: VisibleFund, session: DbSession, principal: CurrentPrincipal) -> Collector:
    """The caller, as a collector of the fund in the path: 404 for anyone else."""
    if principal.role is not Role.collector or principal.user_id is None:
        raise NotFound("collector.not_found")
    return await collectors.for_user(session, fund, principal.user_id)


CollectorOfFund = Annotated[Collector, Depends(collector_of_fund)]

#: The gateway gathering one member's data for their download (``members.member_export``).
MemberExporter = Annotated[Principal, Depends(ServiceMay("members.member_export"))]

#: The gateway reading this process's audit events for ``GET /v1/audit`` (docs/audit.md).
AuditReader = audit_reader("members")
