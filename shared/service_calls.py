"""What each Sajja service may ask of which other: one table, checked by every route services call.

A service token (role ``service``, subject ``svc-<name>``, scope ``service:<name>``) passes no fund
check by itself. A route that services call admits one only if ``GRANTS`` gives its service the
permission the route names, with ``ServiceMay(permission)`` as its dependency or
``ensure_service_may`` inside one that also admits people. docs/service-calls.md holds the same
table, and a test checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from shared.auth import CurrentPrincipal, Principal, Role, service_client_id
from shared.errors import Forbidden, register_messages

register_messages(
    {
        "auth.service_not_allowed": {
            "th": ("บริการนี้ไม่มีสิทธิ์", "บริการที่เรียกไม่ได้รับสิทธิ์ {permission}"),
            "en": ("Not allowed for this service", "The calling service is not granted {permission}"),
        },
    }
)

Dependency = TypeVar("Dependency", bound=Callable[..., Any])

#: Every process that calls another with a service token of its own.
CALLERS: tuple[str, ...] = ("gateway", "members", "ledger", "benefits", "grants")

#: permission -> the service it is asked of.
PERMISSIONS: dict[str, str] = {
    "members.fund_facts": "members",
    "members.member_facts": "members",
    "members.collector_facts": "members",
    "members.current_members": "members",
    "members.roll": "members",
    "members.roll_changes": "members",
    "ledger.payout": "ledger",
    "ledger.co_funding": "ledger",
    "ledger.standing": "ledger",
    "ledger.member_contributions": "ledger",
    "ledger.deposit_feed": "ledger",
    "ledger.projection_inputs": "ledger",
    "benefits.claim_feed": "benefits",
    "benefits.projection": "benefits",
    "members.audit": "members",
    "ledger.audit": "ledger",
    "benefits.audit": "benefits",
    "grants.audit": "grants",
    "auth.revocations": "gateway",
    "auth.member_erase": "gateway",
    "ledger.member_erase": "ledger",
    "benefits.member_erase": "benefits",
    "members.member_export": "members",
    "ledger.member_export": "ledger",
    "benefits.member_export": "benefits",
}

#: calling service -> what it may ask.
GRANTS: dict[str, frozenset[str]] = {
    "gateway": frozenset({"members.member_facts", "ledger.deposit_feed", "benefits.claim_feed",
                          "members.audit", "ledger.audit", "benefits.audit", "grants.audit",
                          "members.member_export", "ledger.member_export", "benefits.member_export",
                          "benefits.projection"}),
    "members": frozenset({"auth.revocations", "auth.member_erase", "ledger.member_erase", "benefits.member_erase"}),
    "ledger": frozenset({"auth.revocations", "members.fund_facts", "members.member_facts", "members.collector_facts", "members.current_members",
                         "members.roll_changes", "benefits.projection"}),
    "benefits": frozenset({"auth.revocations", "members.fund_facts", "members.member_facts", "ledger.payout", "ledger.standing",
                           "members.roll", "ledger.projection_inputs"}),
    "grants": frozenset({"auth.revocations", "members.fund_facts", "ledger.co_funding", "ledger.member_contributions"}),
}


def calling_service(principal: Principal) -> str | None:
    """The Sajja service a token speaks for: role ``service``, one ``service:<name>`` scope naming a
    known caller, and the subject ``svc-<name>`` to match. None for anyone else."""
    if principal.role is not Role.service:
        return None
    names = [scope.removeprefix("service:") for scope in principal.scopes if scope.startswith("service:")]
    if len(names) != 1 or names[0] not in GRANTS or principal.subject != service_client_id(names[0]):
        return None
    return names[0]


def service_may(principal: Principal, permission: str) -> bool:
    """True when the caller is a Sajja service the table grants ``permission``."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown service permission {permission!r}")
    name = calling_service(principal)
    return name is not None and permission in GRANTS[name]


def ensure_service_may(principal: Principal, permission: str) -> None:
    """403 ``auth.service_not_allowed`` unless the caller is a service granted ``permission``."""
    if not service_may(principal, permission):
        raise Forbidden("auth.service_not_allowed", params={"permission": permission})


def admits_services(permission: str) -> Callable[[Dependency], Dependency]:
    """Marks an access dependency that admits services by ``permission`` (with
    ``ensure_service_may`` in its body) as well as people, so tests that walk the routes see it."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown service permission {permission!r}")

    def mark(dependency: Dependency) -> Dependency:
        dependency.permission = permission  # type: ignore[attr-defined]
        return dependency

    return mark


def ServiceMay(permission: str, *roles: Role) -> Callable[..., Awaitable[Principal]]:  # noqa: N802 - named as the type it stands for
    """A dependency admitting a Sajja service granted ``permission`` and, when given, people of
    these roles (no fund check: a route that also admits a fund's people checks them in a
    dependency of its own, and services there with ``ensure_service_may``). Anyone else gets 403.
    The dependency carries its ``permission``, for tests that walk the routes."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown service permission {permission!r}")
    if Role.service in roles:
        raise ValueError("a service is admitted by its permission, not by its role")
    people = frozenset(roles)

    async def service_may_dependency(principal: CurrentPrincipal) -> Principal:
        if principal.role is Role.service:
            ensure_service_may(principal, permission)
        elif principal.role not in people:
            raise Forbidden()
        return principal

    service_may_dependency.permission = permission  # type: ignore[attr-defined]
    service_may_dependency.__qualname__ = f"ServiceMay({permission!r})"
    return service_may_dependency
