"""Who may touch a fund's ledger.

| caller            | post deposits | other money | read the fund's books | a member's balance |
|-------------------|---------------|-------------|-----------------------|--------------------|
| collector         | their own     | no          | their own day         | no                 |
| committee         | yes           | yes         | yes                   | yes                |
| fund_admin        | yes           | yes         | yes                   | yes                |
| member            | no            | no          | no                    | their own          |
| network_officer   | no            | no          | their network's funds | yes, read only     |
| service           | no            | yes         | yes                   | yes                |
| platform_admin    | yes           | yes         | yes                   | yes                |
"""

from __future__ import annotations

import uuid

from shared.auth import Principal, Role, ensure_fund_access
from shared.errors import Forbidden
from shared.members_client import MembersDirectory

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
