"""Who may touch a fund's benefits, as dependencies named for whom they admit.

- the catalog and its rules: read by anyone acting in the fund, written by its fund admins;
- the settings (reserve floor, two approvers): read by its committee and fund admins, written by
  its fund admins;
- claims: asked about and submitted by the fund's members (each for themself) and staff (committee,
  fund admins); listed and read by anyone acting in the fund but its collectors (a member sees
  their own); decided by its staff; withdrawn by whoever submitted them, or by its staff;
- reports (counts and sums, no member named): its committee and fund admins, and officers of the
  fund's network; the sustainability projection too, and the ledger and gateway services
  (``benefits.projection``).

Platform admins pass every fund check, as ``shared.auth.ensure_fund_access`` has it. Other Sajja
services pass none by their role: the gateway's LINE notifier reads the claim feed, as
``shared.service_calls`` grants it (``benefits.claim_feed``), and no service does more here.

Each dependency gives the route the fund's id from the path (or the claim in it) once it has
admitted the caller, so a route's signature says who may call it and the route does not declare
``fund_id`` again. A claim someone may not see is a 404, as one that does not exist. What a route
still checks in its body depends on the request body (the member a claim is for) or on an object's
state (a medical document, who submitted a claim), and says so.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from services.benefits import deps
from services.benefits.claims import service as claims
from services.benefits.models import Claim
from shared.aggregates import Scoped, ScopeIn, scoped_funds
from shared.audit import audit_reader
from shared.auth import CurrentPrincipal, Principal, Role, ensure_fund_access
from shared.db import DbSession
from shared.errors import Forbidden, NotFound
from shared.members_client import MembersDirectory
from shared.service_calls import ServiceMay, admits_services, ensure_service_may
from shared.timeutil import bangkok_today

ADMINS = (Role.fund_admin,)
COMMITTEE = (Role.committee, Role.fund_admin)
#: Who decides claims (and reads their events): the fund's committee and admins, platform admins.
STAFF_ROLES = tuple(claims.STAFF)
#: Who may ask about or submit a claim: the member (for themself), and the fund's staff.
CLAIMANTS = claims.STAFF | {Role.member}


async def fund_actor(fund_id: uuid.UUID, principal: CurrentPrincipal) -> uuid.UUID:
    """Anyone who acts in the fund (its members, collectors, committee, fund admins) and global roles."""
    ensure_fund_access(principal, fund_id)
    return fund_id


FundActor = Annotated[uuid.UUID, Depends(fund_actor)]


async def fund_admin(fund_id: uuid.UUID, principal: CurrentPrincipal) -> uuid.UUID:
    """The fund's own fund admins, and global roles: its catalog, rules and settings."""
    ensure_fund_access(principal, fund_id, roles=ADMINS)
    return fund_id


FundAdmin = Annotated[uuid.UUID, Depends(fund_admin)]


async def fund_committee(fund_id: uuid.UUID, principal: CurrentPrincipal) -> uuid.UUID:
    """The fund's committee and fund admins, and global roles."""
    ensure_fund_access(principal, fund_id, roles=COMMITTEE)
    return fund_id


FundCommittee = Annotated[uuid.UUID, Depends(fund_committee)]


async def claims_staff(fund_id: uuid.UUID, principal: CurrentPrincipal) -> uuid.UUID:
    """Those who decide the fund's claims: its committee and fund admins, platform admins."""
    ensure_fund_access(principal, fund_id, roles=STAFF_ROLES)
    return fund_id


ClaimsStaff = Annotated[uuid.UUID, Depends(claims_staff)]


@admits_services("benefits.claim_feed")
async def claim_feed_reader(fund_id: uuid.UUID, principal: CurrentPrincipal) -> uuid.UUID:
    """Those who decide the fund's claims, and the gateway's LINE notifier (``benefits.claim_feed``)."""
    if principal.role is Role.service:
        ensure_service_may(principal, "benefits.claim_feed")
        return fund_id
    ensure_fund_access(principal, fund_id, roles=STAFF_ROLES)
    return fund_id


ClaimFeedReader = Annotated[uuid.UUID, Depends(claim_feed_reader)]


async def claimant(fund_id: FundActor, principal: CurrentPrincipal) -> uuid.UUID:
    """The fund's members and staff, who may ask about or submit a claim (a member only for
    themself: the body names the member, so the route checks that)."""
    if principal.role not in CLAIMANTS:
        raise Forbidden()
    return fund_id


Claimant = Annotated[uuid.UUID, Depends(claimant)]


async def claim_reader(fund_id: FundActor, principal: CurrentPrincipal) -> uuid.UUID:
    """Who may list the fund's claims (members see their own): anyone acting in the fund but its
    collectors, who get a 404 as for claims that do not exist."""
    if principal.role is Role.collector:
        raise NotFound("claim.not_found")
    return fund_id


ClaimReader = Annotated[uuid.UUID, Depends(claim_reader)]


async def visible_claim(fund_id: FundActor, claim_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Claim:
    """The claim in the path, of the fund in the path, if the caller may see it (its member, the
    fund's staff): 404 otherwise."""
    return await claims.get_claim(session, principal, fund_id, claim_id)


VisibleClaim = Annotated[Claim, Depends(visible_claim)]


async def claim_to_change(fund_id: FundActor, claim_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Claim:
    """As ``VisibleClaim``, locked for the change the route makes."""
    return await claims.get_claim(session, principal, fund_id, claim_id, lock=True)


ClaimToChange = Annotated[Claim, Depends(claim_to_change)]


async def claim_for_staff(fund_id: ClaimsStaff, claim_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Claim:
    """The claim in the path, for those who decide it (the role is checked first), locked."""
    return await claims.get_claim(session, principal, fund_id, claim_id, lock=True)


ClaimForStaff = Annotated[Claim, Depends(claim_for_staff)]


async def ensure_report_reader(principal: Principal, fund_id: uuid.UUID, directory: MembersDirectory) -> None:
    """The fund's committee and admins, global roles, and officers of the fund's network (these
    reports are counts and sums, with no member named)."""
    if principal.role is Role.network_officer:
        await directory.ensure_in_network(principal.network_id, fund_id)
        return
    ensure_fund_access(principal, fund_id, roles=COMMITTEE)


async def report_reader(fund_id: uuid.UUID, request: Request, principal: CurrentPrincipal) -> uuid.UUID:
    """Who may read the fund's benefit reports: ``ensure_report_reader``."""
    await ensure_report_reader(principal, fund_id, deps.directory(request))
    return fund_id


ReportReader = Annotated[uuid.UUID, Depends(report_reader)]


@admits_services("benefits.projection")
async def projection_reader(fund_id: uuid.UUID, request: Request, principal: CurrentPrincipal) -> uuid.UUID:
    """Who may read the fund's sustainability projection: the readers of its benefit reports
    (``ensure_report_reader``), and the services granted ``benefits.projection`` (the ledger, for
    the annual report's page; the gateway, for the dashboard)."""
    if principal.role is Role.service:
        ensure_service_may(principal, "benefits.projection")
        return fund_id
    await ensure_report_reader(principal, fund_id, deps.directory(request))
    return fund_id


ProjectionReader = Annotated[uuid.UUID, Depends(projection_reader)]

#: The gateway reading this process's audit events for ``GET /v1/audit`` (docs/audit.md).
AuditReader = audit_reader("benefits")

#: The members service's erasure worker, erasing a member's claim text and documents
#: (``benefits.member_erase``; docs/personal-data.md).
MemberEraser = Annotated[Principal, Depends(ServiceMay("benefits.member_erase"))]
#: The gateway gathering a member's claims for their download (``benefits.member_export``).
MemberExporter = Annotated[Principal, Depends(ServiceMay("benefits.member_export"))]

# --- Aggregates over many funds ------------------------------------------------------------------


async def aggregate_reader(body: ScopeIn, request: Request, principal: CurrentPrincipal) -> Scoped:
    """Platform admins, any funds; network officers, their network's funds only (403 for a list
    naming another fund); everyone else 403 (``shared.aggregates``)."""
    fund_ids = await scoped_funds(principal, body.fund_ids, deps.directory(request))
    return Scoped(fund_ids, *body.period(bangkok_today()))


AggregateReader = Annotated[Scoped, Depends(aggregate_reader)]
