"""Who may call the gateway's own routes, as dependencies named for whom they admit.

The gateway forwards ``/v1/<service>/...`` to the services, which decide there. Its own routes:

- ``/v1/auth``: signing in is open; ``/me`` is for every signed-in caller; users are created by
  fund admins (in their fund, as the body is checked) and platform admins; API clients and key
  rotation by platform admins;
- ``/v1/auth/line...`` and ``/v1/line/...``: a member sets their own LINE preferences; the fund's
  committee and fund admins send arrears reminders (for the fund the body names);
- ``/v1/dashboard``: a fund's figures and downloads are for every signed-in caller, because each
  figure is read from its service with the caller's own token and the service decides; roll-ups
  are for platform admins (the country, any network or province) and network officers (their
  network, and the provinces of its funds).

What a route still checks in its body depends on the request body (the fund or member it names),
and says so.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.errors import Forbidden, NotFound
from shared.service_calls import ServiceMay


async def signed_in(principal: CurrentPrincipal) -> Principal:
    """Every signed-in caller: what they may see is decided further on (by the body, or by the
    service each figure is read from)."""
    return principal


SignedIn = Annotated[Principal, Depends(signed_in)]
PlatformAdmin = Annotated[Principal, Depends(require_roles(Role.platform_admin))]
#: The services, each verifying tokens itself, read the revocation list (docs/accounts.md).
RevocationReader = Annotated[Principal, Depends(ServiceMay("auth.revocations", Role.platform_admin))]
#: Platform admins (every event) and fund admins (their own fund's, as the route forces): docs/audit.md.
AuditReader = Annotated[Principal, Depends(require_roles(Role.fund_admin))]
#: Fund admins and platform admins, who create users (a fund admin in their own fund only).
UserCreator = Annotated[Principal, Depends(require_roles(Role.fund_admin))]


async def member(principal: CurrentPrincipal) -> Principal:
    """A member, acting for themself."""
    if principal.role is not Role.member:
        raise Forbidden()
    return principal


Member = Annotated[Principal, Depends(member)]


async def fund_committee(principal: CurrentPrincipal) -> Principal:
    """A fund's committee and fund admins (which fund, the body says; it must be their own)."""
    if principal.role not in (Role.committee, Role.fund_admin):
        raise Forbidden("auth.out_of_scope")
    return principal


FundCommittee = Annotated[Principal, Depends(fund_committee)]


def ensure_rollup_reader(principal: Principal, network_id: uuid.UUID | None = None) -> None:
    """Platform admins see every roll-up; a network officer their own network's."""
    if principal.role is Role.platform_admin:
        return
    if principal.role is not Role.network_officer:
        raise Forbidden()
    if network_id is not None and network_id != principal.network_id:
        raise Forbidden("auth.out_of_scope")


async def rollup_reader(principal: CurrentPrincipal) -> Principal:
    """Platform admins and network officers."""
    ensure_rollup_reader(principal)
    return principal


RollupReader = Annotated[Principal, Depends(rollup_reader)]


async def network_rollup_reader(network_id: uuid.UUID, principal: CurrentPrincipal) -> uuid.UUID:
    """The network in the path, for platform admins and that network's officers."""
    ensure_rollup_reader(principal, network_id)
    return network_id


NetworkRollupReader = Annotated[uuid.UUID, Depends(network_rollup_reader)]


#: The members service's erasure worker, erasing a member's user rows and LINE data
#: (``auth.member_erase``; docs/personal-data.md).
MemberEraser = Annotated[Principal, Depends(ServiceMay("auth.member_erase"))]


async def data_subject(principal: CurrentPrincipal) -> Principal:
    """A member, downloading their own data (docs/personal-data.md)."""
    if principal.role is not Role.member or principal.fund_id is None or principal.member_id is None:
        raise Forbidden()
    return principal


DataSubject = Annotated[Principal, Depends(data_subject)]


async def member_data_reader(fund_id: uuid.UUID, principal: CurrentPrincipal) -> Principal:
    """The fund in the path, for its fund admins downloading a member's data on their behalf. The
    fund's other people (and platform admins, who are no fund's controller of its members' data) are
    refused; anyone else is told there is no such member (404), as for a member of another fund."""
    if principal.role is Role.fund_admin and principal.fund_id == fund_id:
        return principal
    if principal.role is Role.platform_admin or (principal.fund_id == fund_id and principal.role is not Role.service):
        raise Forbidden()
    raise NotFound("personal_data.member_not_found")


MemberDataReader = Annotated[Principal, Depends(member_data_reader)]
