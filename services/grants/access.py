"""Who may call the grants routes, as dependencies named for whom they admit.

- grantors: registered by platform admins, read by every signed-in caller;
- programs: read by every signed-in caller, but a grant officer or a grant system's client sees only
  its grantor's (a client narrowed to some programs, those; with no scope, none): another
  grantor's program, its applications and tranches are a 404 to them; opened by grant officers for
  their own grantor (and platform admins, naming one);
- applications: drafted by a fund's committee and fund admins (for the fund the body names);
  seen by officers and grant systems holding a scope (their grantor's programs'), by a fund's own people and by its network's
  officers; reviewed by reviewers (never of their own fund); decided and disbursed by officers, or
  by a grant system whose client holds ``grants:decide`` or ``grants:disburse``;
- roll-ups: officers, and network officers (their network's);
- a fund's summary, and what a matching program owes it: the fund's own people, its network's
  officers, officers;
- webhooks: officers and grant systems subscribe; each reads and redelivers its own, and a
  grantor's officers those of its grantor's officers and systems.

No other Sajja service asks anything of grants (docs/service-calls.md), so a service token is
admitted by no route here.

An application, subscription or delivery the caller may not see is a 404, as one that does not
exist. What a route still checks in its body depends on the request (the fund a body or a query
names) or on the object (the application's own fund), and says so.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from services.grants import service
from services.grants.models import Application, Program, WebhookDelivery, WebhookSubscription
from shared.aggregates import Scoped, ScopeIn
from shared.audit import audit_reader
from shared.auth import FUND_ROLES, CurrentPrincipal, Principal, Role
from shared.db import DbSession
from shared.errors import Forbidden, NotFound
from shared.timeutil import bangkok_today

#: Those who draft and submit a fund's applications and report on their use.
FUND_STAFF = frozenset({Role.committee, Role.fund_admin, Role.platform_admin})
ROLLUP_READERS = service.OFFICERS | {Role.network_officer}
WEBHOOK_OWNERS = service.OFFICERS | {Role.integration}


def _ensure(principal: Principal, roles: frozenset[Role]) -> None:
    if principal.role not in roles:
        raise Forbidden()


async def signed_in(principal: CurrentPrincipal) -> Principal:
    """Every signed-in person and grant system (a route may still filter what each sees); not
    another Sajja service, which asks nothing of grants."""
    if principal.role is Role.service:
        raise Forbidden()
    return principal


SignedIn = Annotated[Principal, Depends(signed_in)]


async def platform_admin(principal: CurrentPrincipal) -> Principal:
    """Platform admins (who register grantors)."""
    _ensure(principal, frozenset({Role.platform_admin}))
    return principal


PlatformAdmin = Annotated[Principal, Depends(platform_admin)]


async def grant_officer(principal: CurrentPrincipal) -> Principal:
    """Grant officers and platform admins."""
    _ensure(principal, service.OFFICERS)
    return principal


GrantOfficer = Annotated[Principal, Depends(grant_officer)]


async def decider(principal: CurrentPrincipal) -> Principal:
    """Grant officers, or a grant system whose client holds ``grants:decide``."""
    service.ensure_officer(principal, "grants:decide")
    return principal


Decider = Annotated[Principal, Depends(decider)]


async def disburser(principal: CurrentPrincipal) -> Principal:
    """Grant officers, or a grant system whose client holds ``grants:disburse``."""
    service.ensure_officer(principal, "grants:disburse")
    return principal


Disburser = Annotated[Principal, Depends(disburser)]


async def program_for_fund_staff(program_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Program:
    """The program in the path (404 first, as programs are public), for a fund's committee and fund
    admins and platform admins; which fund, the body says, and ``service.create_application``
    holds it against the caller's own."""
    program = await service.get_program(session, program_id)
    if principal.role not in FUND_STAFF:
        raise Forbidden("auth.out_of_scope")
    return program


ProgramForFundStaff = Annotated[Program, Depends(program_for_fund_staff)]


async def visible_application(application_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Application:
    """The application in the path, if the caller may see it (``service.may_see``)."""
    return await service.get_application(session, principal, application_id)


VisibleApplication = Annotated[Application, Depends(visible_application)]


async def application_to_change(application_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Application:
    """As ``VisibleApplication``, locked for the change the route makes."""
    return await service.get_application(session, principal, application_id, lock=True)


ApplicationToChange = Annotated[Application, Depends(application_to_change)]


async def application_for_reviewers(application_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> Application:
    """The application in the path (any, so a reviewer outside its network may screen it), locked,
    for reviewers: grant officers, network officers, committees and fund admins, platform admins.
    (Never of their own fund: the application says which that is, so ``service.review`` checks.)
    The role first: whoever may review no application is refused alike for one that exists and
    one that does not, so they cannot tell which ids are applications."""
    _ensure(principal, service.REVIEWERS)
    application = await session.get(Application, application_id, with_for_update=True)
    if application is None:
        raise NotFound("application.not_found")
    return application


ApplicationForReviewers = Annotated[Application, Depends(application_for_reviewers)]


async def rollup_reader(principal: CurrentPrincipal) -> Principal:
    """Officers (the country) and network officers (their network)."""
    _ensure(principal, ROLLUP_READERS)
    return principal


RollupReader = Annotated[Principal, Depends(rollup_reader)]


async def fund_summary_reader(fund_id: uuid.UUID, request: Request, principal: CurrentPrincipal) -> uuid.UUID:
    """The fund in the path (or, for what a matching program owes it, the query), for its own
    people, its network's officers and officers."""
    if principal.role in FUND_ROLES:
        if principal.fund_id != fund_id:
            raise Forbidden("auth.out_of_scope")
    elif principal.role is Role.network_officer:
        fund = await request.app.state.directory.fund(fund_id)
        if fund is None or fund.get("network_id") != str(principal.network_id):
            raise Forbidden("auth.out_of_scope")
    elif principal.role not in service.OFFICERS:
        raise Forbidden()
    return fund_id


FundSummaryReader = Annotated[uuid.UUID, Depends(fund_summary_reader)]

#: Who reads a fund's matching figures for themselves: its committee and fund admins.
MATCHING_FUND_STAFF = frozenset({Role.committee, Role.fund_admin})


async def matching_reader(
    program_id: uuid.UUID, fund_id: uuid.UUID, request: Request, session: DbSession, principal: CurrentPrincipal
) -> tuple[Program, uuid.UUID]:
    """The program in the path and the fund in the query, for who may see that fund's matching
    figures (docs/grantors.md): the fund's committee and fund admins, its network's officers,
    platform admins, and grant officers for a fund that applied (beyond a draft) to a program of
    this program's grantor. The figures are read from the ledger with the grants service's own
    token, so this is checked before anything is read: the service lends its rights to no one."""
    program = await service.get_visible_program(session, principal, program_id)
    if principal.role is Role.platform_admin:
        return program, fund_id
    if principal.role in MATCHING_FUND_STAFF:
        if principal.fund_id != fund_id:
            raise Forbidden("auth.out_of_scope")
    elif principal.role is Role.network_officer:
        fund = await request.app.state.directory.fund(fund_id)
        if fund is None or fund.get("network_id") != str(principal.network_id):
            raise Forbidden("auth.out_of_scope")
    elif principal.role is Role.grant_officer:
        # The program is its grantor's (another grantor's is a 404 above).
        if not await service.fund_applied_to_grantor(session, fund_id, program):
            raise Forbidden("auth.out_of_scope")
    else:
        raise Forbidden()
    return program, fund_id


MatchingReader = Annotated[tuple[Program, uuid.UUID], Depends(matching_reader)]


async def webhook_owner(principal: CurrentPrincipal) -> Principal:
    """Officers and grant systems, who subscribe to webhooks (a client with no scope sees nothing,
    so it is refused)."""
    _ensure(principal, WEBHOOK_OWNERS)
    if principal.role is Role.integration and not principal.scopes:
        raise Forbidden()
    return principal


WebhookOwner = Annotated[Principal, Depends(webhook_owner)]


def _may_manage(principal: Principal, subscription: WebhookSubscription) -> bool:
    """Whoever made the subscription, the officers of its owner's grantor, and platform admins."""
    if subscription.owner == principal.subject or principal.role is Role.platform_admin:
        return True
    return (principal.role is Role.grant_officer and principal.grantor_id is not None
            and subscription.owner_grantor_id == principal.grantor_id)


async def own_subscription(subscription_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> WebhookSubscription:
    """The subscription in the path, for whoever made it, its grantor's officers and platform admins."""
    subscription = await session.get(WebhookSubscription, subscription_id)
    if subscription is None or not _may_manage(principal, subscription):
        raise NotFound("webhook.not_found")
    return subscription


OwnSubscription = Annotated[WebhookSubscription, Depends(own_subscription)]


async def own_delivery(delivery_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> WebhookDelivery:
    """The delivery in the path, locked, for whoever made its subscription, its grantor's officers
    and platform admins."""
    delivery = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
    subscription = await session.get(WebhookSubscription, delivery.subscription_id) if delivery else None
    if delivery is None or subscription is None or not _may_manage(principal, subscription):
        raise NotFound("webhook.not_found")
    return delivery


OwnDelivery = Annotated[WebhookDelivery, Depends(own_delivery)]

#: The gateway reading this process's audit events for ``GET /v1/audit`` (docs/audit.md).
AuditReader = audit_reader("grants")


# --- Aggregates over many funds ------------------------------------------------------------------


async def aggregate_reader(body: ScopeIn, principal: CurrentPrincipal) -> tuple[Principal, Scoped]:
    """Officers and network officers, as for the roll-up: the funds named (all when none are),
    and of those what the caller may see (``service.aggregates`` narrows: a network officer to
    their network's applications, a grantor's officer or client to its programs)."""
    _ensure(principal, ROLLUP_READERS | {Role.integration})
    return principal, Scoped(body.fund_ids, *body.period(bangkok_today()))


GrantsAggregateReader = Annotated[tuple[Principal, Scoped], Depends(aggregate_reader)]
