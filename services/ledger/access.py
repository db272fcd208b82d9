"""Who may touch a fund's ledger.

| caller            | post deposits | co-funding, handovers | expenses, reversals (**) | read the fund's books | a member's balance |
|-------------------|---------------|-----------------------|--------------------------|-----------------------|--------------------|
| collector         | their own     | no                    | no                       | their own day         | no                 |
| committee         | yes           | yes                   | propose / confirm        | yes                   | yes                |
| fund_admin        | yes           | yes                   | propose / confirm        | yes                   | yes                |
| member            | no            | no                    | no                       | no                    | their own          |
| network_officer   | no            | no                    | no                       | their network's funds | yes, read only     |
| platform_admin    | yes           | yes                   | no                       | yes                   | yes                |

Benefit payouts: the benefits service alone posts them, for an approved claim
(``PayoutPoster``); every person gets 403, platform admins included.
(**) Proposed by one person of the fund, confirmed by another (``FundSignatory``, maker-checker).

Other Sajja services pass no fund check by their role: each is admitted only where
``shared.service_calls`` grants its ``service:<name>`` scope the route's permission (benefits:
payouts, a member's standing; grants: co-funding, members' contributions; the gateway: the
deposit feed). See docs/service-calls.md.

What a route always checks is a dependency here, named for whom it admits, so the route's
signature says who may call it. Each gives the route the fund's id from the path once it has
admitted the caller (``fund_id: FundReader``); the route does not declare ``fund_id`` again, which
would validate the path twice and report a bad id twice. What stays in a route's body depends on
what the request names or on an object's state (whose deposit it is), and says so.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, NamedTuple

from fastapi import Depends, Request

from services.ledger import deps
from shared.aggregates import Scoped, ScopeIn, scoped_funds
from shared.audit import audit_reader
from shared.auth import CurrentPrincipal, Principal, Role, ensure_fund_access
from shared.errors import Forbidden, register_messages
from shared.members_client import MembersDirectory
from shared.service_calls import ServiceMay, admits_services, ensure_service_may
from shared.timeutil import bangkok_today

register_messages(
    {
        "year.committee_only": {
            "th": ("เฉพาะคณะกรรมการกองทุน", "การปิดบัญชีประจำปีทำได้เฉพาะคณะกรรมการของกองทุนนี้ ตามมติที่ประชุมใหญ่"),
            "en": ("The fund's committee only", "A year is closed only by this fund's committee, as its general meeting approved"),
        },
        "year.platform_admin_only": {
            "th": ("เฉพาะผู้ดูแลระบบ", "การเปิดปีบัญชีที่ปิดแล้วใหม่ทำได้เฉพาะผู้ดูแลระบบ พร้อมเหตุผล"),
            "en": ("Platform admins only", "Only a platform admin reopens a closed year, with a reason"),
        },
    }
)

POSTERS = (Role.collector, Role.committee, Role.fund_admin)
BOOKKEEPERS = (Role.committee, Role.fund_admin)


def ensure_poster(principal: Principal, fund_id: uuid.UUID) -> None:
    ensure_fund_access(principal, fund_id, roles=POSTERS)


def ensure_bookkeeper(principal: Principal, fund_id: uuid.UUID) -> None:
    ensure_fund_access(principal, fund_id, roles=BOOKKEEPERS)


async def ensure_reader(principal: Principal, fund_id: uuid.UUID, directory: MembersDirectory) -> None:
    """Bookkeepers of the fund, global roles, and officers of the fund's network."""
    if principal.role is Role.network_officer:
        await directory.ensure_in_network(principal.network_id, fund_id)
        return
    ensure_bookkeeper(principal, fund_id)


async def ensure_member_reader(principal: Principal, fund_id: uuid.UUID, member_id: uuid.UUID, directory: MembersDirectory) -> None:
    """The member themself, or whoever may read the fund's books."""
    if principal.role is Role.member:
        if principal.fund_id != fund_id or principal.member_id != member_id:
            raise Forbidden("auth.out_of_scope")
        return
    await ensure_reader(principal, fund_id, directory)


async def ensure_party(principal: Principal, fund_id: uuid.UUID, directory: MembersDirectory) -> None:
    """Who may ask for one object of the fund at all (then each object says whose it is): the
    fund's own members and collectors, and whoever may read its books. Checked before the object
    is looked up, so an outsider cannot tell an object that exists (403) from one that does not
    (404)."""
    if principal.role in (Role.member, Role.collector):
        if principal.fund_id != fund_id:
            raise Forbidden("auth.out_of_scope")
        return
    await ensure_reader(principal, fund_id, directory)


def ensure_own(principal: Principal, member_id: uuid.UUID, collector_id: uuid.UUID | None) -> None:
    """After ``ensure_party``, for one object of a member (and the collector who took it): a member
    may read only their own and a collector only what they took; the fund's readers, anything."""
    if principal.role is Role.member and principal.member_id != member_id:
        raise Forbidden("auth.out_of_scope")
    if principal.role is Role.collector and principal.user_id != collector_id:
        raise Forbidden()  # not one of the books' readers


# --- As dependencies: the fund's id from the path, for the callers each is named for -----------------


async def fund_poster(fund_id: uuid.UUID, principal: CurrentPrincipal) -> uuid.UUID:
    """The fund's collectors, committee and fund admins, and platform admins: who post deposits.
    (Its parameters are a path id and the caller only, so a lean route can call it too.)"""
    ensure_poster(principal, fund_id)
    return fund_id


FundPoster = Annotated[uuid.UUID, Depends(fund_poster)]


async def fund_bookkeeper(fund_id: uuid.UUID, principal: CurrentPrincipal) -> uuid.UUID:
    """The fund's committee and fund admins, and global roles: who record other money."""
    ensure_bookkeeper(principal, fund_id)
    return fund_id


FundBookkeeper = Annotated[uuid.UUID, Depends(fund_bookkeeper)]


@admits_services("ledger.payout")
async def payout_poster(fund_id: uuid.UUID, principal: CurrentPrincipal) -> uuid.UUID:
    """The benefits service alone, paying a claim it approved (``ledger.payout``): no person, not
    even a platform admin, pays a benefit without a claim; another service's token gets 403 too."""
    if principal.role is not Role.service:
        raise Forbidden()
    ensure_service_may(principal, "ledger.payout")
    return fund_id


PayoutPoster = Annotated[uuid.UUID, Depends(payout_poster)]


@admits_services("ledger.co_funding")
async def co_funding_recorder(fund_id: uuid.UUID, principal: CurrentPrincipal) -> uuid.UUID:
    """The fund's committee and fund admins, platform admins, and the grants service, which posts
    each disbursed tranche (``ledger.co_funding``)."""
    if principal.role is Role.service:
        ensure_service_may(principal, "ledger.co_funding")
    else:
        ensure_bookkeeper(principal, fund_id)
    return fund_id


CoFundingRecorder = Annotated[uuid.UUID, Depends(co_funding_recorder)]


async def fund_admin(fund_id: uuid.UUID, principal: CurrentPrincipal) -> uuid.UUID:
    """The fund's own fund admins, and global roles: its accounts and money rules."""
    ensure_fund_access(principal, fund_id, roles=(Role.fund_admin,))
    return fund_id


FundAdmin = Annotated[uuid.UUID, Depends(fund_admin)]


async def fund_signatory(fund_id: uuid.UUID, principal: CurrentPrincipal) -> uuid.UUID:
    """The fund's own committee and fund admins, and no one else: who propose, confirm and withdraw
    its administration expenses and reversals (maker-checker, docs/maker-checker.md). Platform
    admins and services are not persons of the fund and may do none of it (403
    ``proposal.persons_of_the_fund_only``): platform staff do not move a fund's money, and one
    platform account would otherwise be maker and checker of every fund. That the checker is not
    the maker, the proposal's own state decides (``services.ledger.proposals``)."""
    if principal.role in (Role.platform_admin, Role.service):
        raise Forbidden("proposal.persons_of_the_fund_only")
    if principal.role not in BOOKKEEPERS:
        raise Forbidden()
    if principal.fund_id != fund_id:
        raise Forbidden("auth.out_of_scope")
    return fund_id


FundSignatory = Annotated[uuid.UUID, Depends(fund_signatory)]


async def year_closer(fund_id: uuid.UUID, principal: CurrentPrincipal) -> uuid.UUID:
    """The fund's own committee, and no one else: who close its fiscal year, with the general
    meeting's approval recorded (docs/fiscal-years.md). Platform admins and services are not
    persons of the fund; fund admins keep the accounts but the meeting's decision is carried out
    by its committee."""
    if principal.role in (Role.platform_admin, Role.service):
        raise Forbidden("year.committee_only")
    if principal.role is not Role.committee:
        raise Forbidden()
    if principal.fund_id != fund_id:
        raise Forbidden("auth.out_of_scope")
    return fund_id


YearCloser = Annotated[uuid.UUID, Depends(year_closer)]


async def year_reopener(fund_id: uuid.UUID, principal: CurrentPrincipal) -> uuid.UUID:
    """Platform admins only: reopening a closed year undoes what the general meeting approved, so
    it is not the fund's own act (docs/fiscal-years.md); the reason is recorded."""
    if principal.role is not Role.platform_admin:
        raise Forbidden("year.platform_admin_only")
    return fund_id


YearReopener = Annotated[uuid.UUID, Depends(year_reopener)]


async def fund_actor(fund_id: uuid.UUID, principal: CurrentPrincipal) -> uuid.UUID:
    """Anyone who acts in the fund (its members, collectors, committee, fund admins) and global roles."""
    ensure_fund_access(principal, fund_id)
    return fund_id


FundActor = Annotated[uuid.UUID, Depends(fund_actor)]


async def fund_reader(fund_id: uuid.UUID, request: Request, principal: CurrentPrincipal) -> uuid.UUID:
    """Who may read the fund's books: ``ensure_reader``."""
    await ensure_reader(principal, fund_id, deps.directory(request))
    return fund_id


FundReader = Annotated[uuid.UUID, Depends(fund_reader)]


def fund_reader_or_service(permission: str) -> Callable[..., Awaitable[uuid.UUID]]:
    """Whoever may read the fund's books, and the services granted ``permission`` (which read
    what they need of it for their own work, and nothing else of the fund)."""

    @admits_services(permission)
    async def reader_or_service(fund_id: uuid.UUID, request: Request, principal: CurrentPrincipal) -> uuid.UUID:
        if principal.role is Role.service:
            ensure_service_may(principal, permission)
            return fund_id
        await ensure_reader(principal, fund_id, deps.directory(request))
        return fund_id

    return reader_or_service


#: The deposit feed: the fund's readers, and the gateway's LINE notifier (receipts to members).
DepositFeedReader = Annotated[uuid.UUID, Depends(fund_reader_or_service("ledger.deposit_feed"))]
#: Members' contributions: the fund's readers, and the grants service, which computes matching from them.
ContributionsReader = Annotated[uuid.UUID, Depends(fund_reader_or_service("ledger.member_contributions"))]
#: The projection's inputs (reserve, income by year and source, plan): the fund's readers, and the
#: benefits service's sustainability projection (``ledger.projection_inputs``).
ProjectionInputsReader = Annotated[uuid.UUID, Depends(fund_reader_or_service("ledger.projection_inputs"))]


async def fund_party(fund_id: uuid.UUID, request: Request, principal: CurrentPrincipal) -> uuid.UUID:
    """Who may ask for one object of the fund at all: ``ensure_party`` (whose object it is, the
    route checks once it has read it)."""
    await ensure_party(principal, fund_id, deps.directory(request))
    return fund_id


FundParty = Annotated[uuid.UUID, Depends(fund_party)]


async def fund_reader_or_collector(fund_id: uuid.UUID, request: Request, principal: CurrentPrincipal) -> uuid.UUID:
    """The fund's own collectors (each then sees only their own day, which the route holds the
    query to), and whoever may read the fund's books."""
    if principal.role is Role.collector and principal.fund_id == fund_id:
        return fund_id
    await ensure_reader(principal, fund_id, deps.directory(request))
    return fund_id


FundReaderOrCollector = Annotated[uuid.UUID, Depends(fund_reader_or_collector)]


class FundMember(NamedTuple):
    fund_id: uuid.UUID
    member_id: uuid.UUID


async def member_reader(
    fund_id: uuid.UUID, member_id: uuid.UUID, request: Request, principal: CurrentPrincipal
) -> FundMember:
    """The fund and member in the path, for that member and for whoever may read the fund's books."""
    await ensure_member_reader(principal, fund_id, member_id, deps.directory(request))
    return FundMember(fund_id, member_id)


MemberReader = Annotated[FundMember, Depends(member_reader)]


@admits_services("ledger.standing")
async def standing_reader(
    fund_id: uuid.UUID, member_id: uuid.UUID, request: Request, principal: CurrentPrincipal
) -> FundMember:
    """The fund and member in the path, for ``member_reader``'s callers and the benefits service,
    which judges claims by it (``ledger.standing``)."""
    if principal.role is Role.service:
        ensure_service_may(principal, "ledger.standing")
        return FundMember(fund_id, member_id)
    await ensure_member_reader(principal, fund_id, member_id, deps.directory(request))
    return FundMember(fund_id, member_id)


StandingReader = Annotated[FundMember, Depends(standing_reader)]

#: The gateway reading this process's audit events for ``GET /v1/audit`` (docs/audit.md).
AuditReader = audit_reader("ledger")

#: The members service's erasure worker, clearing free text about a member (``ledger.member_erase``).
MemberEraser = Annotated[Principal, Depends(ServiceMay("ledger.member_erase"))]
#: The gateway gathering a member's books for their download (``ledger.member_export``).
MemberExporter = Annotated[Principal, Depends(ServiceMay("ledger.member_export"))]

# --- Aggregates over many funds ------------------------------------------------------------------


async def aggregate_reader(body: ScopeIn, request: Request, principal: CurrentPrincipal) -> Scoped:
    """Platform admins, any funds; network officers, their network's funds only (403 for a list
    naming another fund); everyone else 403 (``shared.aggregates``)."""
    fund_ids = await scoped_funds(principal, body.fund_ids, deps.directory(request))
    return Scoped(fund_ids, *body.period(bangkok_today()))


AggregateReader = Annotated[Scoped, Depends(aggregate_reader)]


async def aggregates_keeper(principal: CurrentPrincipal) -> Principal:
    """Platform admins: bring the aggregates up to date now rather than at the worker's next pass."""
    if principal.role is not Role.platform_admin:
        raise Forbidden()
    return principal


AggregatesKeeper = Annotated[Principal, Depends(aggregates_keeper)]
