"""``/v1/grants``: programs, applications, screening, decisions, tranches, reports, webhooks."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select, tuple_

from services.grants import service
from services.grants.access import (
    ApplicationForReviewers,
    ApplicationToChange,
    Decider,
    Disburser,
    FundSummaryReader,
    GrantsAggregateReader,
    GrantOfficer,
    MatchingReader,
    OwnDelivery,
    OwnSubscription,
    PlatformAdmin,
    ProgramForFundStaff,
    RollupReader,
    SignedIn,
    VisibleApplication,
    WebhookOwner,
)
from services.grants.models import (
    Application,
    Grantor,
    Program,
    Tranche,
    WebhookDelivery,
)
from services.grants.schemas import (
    ApplicationCreate,
    ApplicationOut,
    ApplicationPage,
    DecisionIn,
    DeliveryOut,
    DisbursementIn,
    FundGrants,
    GrantorIn,
    GrantorOut,
    MatchingDue,
    ProgramCreate,
    ProgramOut,
    ProgramPage,
    Reconciliation,
    ReviewIn,
    ReviewOut,
    GrantsRollup,
    GrantsRollupLine,
    SubscriptionIn,
    SubscriptionOut,
    TrancheOut,
    UseReportIn,
    UseReportOut,
)
from shared.audit import audit
from shared.auth import FUND_ROLES, Principal, Role
from shared.db import DbSession
from shared.errors import SajjaError
from shared.pagination import Cursor, Limit, after_key, split_page
from shared.schemas import QUERIES, Year
from shared.timeutil import bangkok_today, utcnow

router = APIRouter(prefix="/v1/grants", tags=["grants"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


@router.post("/grantors", response_model=GrantorOut, status_code=201)
async def create_grantor(body: GrantorIn, session: DbSession, principal: PlatformAdmin) -> Any:
    """Register a grantor organisation (platform admins); its kind picks the ledger income source."""
    grantor = await service.create_grantor(session, principal, body)
    await audit(session, principal, "grants.grantor_create", object_type="grantor", object_id=grantor.id,
                details={"kind": grantor.kind, "name": grantor.name})
    return GrantorOut.model_validate(grantor)


@router.get("/grantors", response_model=list[GrantorOut])
async def list_grantors(session: DbSession, _: SignedIn) -> Any:
    """Grantor organisations, by name."""
    return [GrantorOut.model_validate(g) for g in (await session.scalars(select(Grantor).order_by(Grantor.name, Grantor.id))).all()]


@router.post("/programs", response_model=ProgramOut, status_code=201)
async def create_program(body: ProgramCreate, session: DbSession, principal: GrantOfficer) -> Any:
    """Open a program with its envelope, splits, ceiling and eligibility (grant officers)."""
    program = await service.create_program(session, principal, body)
    await audit(session, principal, "grants.program_create", object_type="program", object_id=program.id,
                details={"grantor_id": program.grantor_id, "name": program.name})
    return service.program_out(program)


@router.get("/programs", response_model=ProgramPage)
async def list_programs(session: DbSession, principal: SignedIn, limit: Limit = 50, cursor: Cursor = None) -> Any:
    """Programs, newest fiscal year first; every signed-in caller may read them, but a grant
    officer or system sees only its grantor's (a narrowed client, its programs)."""
    query = select(Program).where(*service.visible_programs(principal)).order_by(Program.fiscal_year_be.desc(), Program.id).limit(limit + 1)
    key = after_key(cursor, int, uuid.UUID)
    if key is not None:
        query = query.where(tuple_(-Program.fiscal_year_be, Program.id) > (-key[0], key[1]))
    rows, next_cursor = split_page((await session.scalars(query)).all(), limit, lambda p: (p.fiscal_year_be, p.id))
    return ProgramPage(items=[service.program_out(p) for p in rows], next_cursor=next_cursor)


@router.get("/programs/{program_id}", response_model=ProgramOut)
async def get_program(program_id: uuid.UUID, session: DbSession, principal: SignedIn) -> Any:
    return service.program_out(await service.get_visible_program(session, principal, program_id))


@router.post("/programs/{program_id}/applications", response_model=ApplicationOut, status_code=201)
async def create_application(
    program: ProgramForFundStaff, body: ApplicationCreate, request: Request, session: DbSession, principal: SignedIn
) -> Any:
    """A fund's proposal with budget lines (its committee or fund admin); starts as a draft."""
    application = await service.create_application(session, request.app.state.directory, principal, program, body)
    return await service.describe(session, application)


@router.get("/programs/{program_id}/applications", response_model=ApplicationPage)
async def list_applications(
    program_id: uuid.UUID, session: DbSession, principal: SignedIn, status: str | None = None,
    province: str | None = None, limit: Limit = 50, cursor: Cursor = None,
) -> Any:
    """Applications to a program: its grantor's officers and systems see all (another grantor's
    program is a 404 to them), a network its funds', a fund only its own, a grant system's client
    with no scope none."""
    await service.get_visible_program(session, principal, program_id)
    query = select(Application).where(Application.program_id == program_id)
    # Every role may list; what each sees is filtered by who they are.
    if principal.role in FUND_ROLES:
        query = query.where(Application.fund_id == principal.fund_id)
    elif principal.role is Role.network_officer:
        query = query.where(Application.network_id == principal.network_id)
    elif principal.role is Role.integration:
        # A grant system's client: nothing without a scope; its fund's or network's when bound to one.
        if not principal.scopes:
            return ApplicationPage(items=[], next_cursor=None)
        if principal.fund_id is not None:
            query = query.where(Application.fund_id == principal.fund_id)
        if principal.network_id is not None:
            query = query.where(Application.network_id == principal.network_id)
    if status:
        query = query.where(Application.status == status)
    if province:
        query = query.where(Application.province == province)
    key = after_key(cursor, uuid.UUID)
    if key is not None:
        query = query.where(Application.id > key[0])
    rows, next_cursor = split_page((await session.scalars(query.order_by(Application.id).limit(limit + 1))).all(), limit, lambda a: (a.id,))
    return ApplicationPage(items=await service.describe_many(session, list(rows)), next_cursor=next_cursor)


@router.get("/applications/{application_id}", response_model=ApplicationOut)
async def get_application(application: VisibleApplication, session: DbSession) -> Any:
    return await service.describe(session, application)


@router.post("/applications/{application_id}/submit", response_model=ApplicationOut)
async def submit(application: ApplicationToChange, session: DbSession, principal: SignedIn) -> Any:
    return await service.describe(session, await service.submit(session, principal, application))


@router.post("/applications/{application_id}/reviews", response_model=ReviewOut)
async def review(application: ApplicationForReviewers, body: ReviewIn, session: DbSession, principal: SignedIn) -> Any:
    """A screening committee member's score and comment; never on their own fund's application."""
    return ReviewOut.model_validate(await service.review(session, principal, application, body))


async def _idempotent(session: Any, principal: Principal, key: str | None, payload: Any, work: Any) -> JSONResponse:
    earlier = await service.replay(session, principal.subject, key, payload)
    if earlier is not None:
        return JSONResponse(earlier.response, status_code=200, headers={"Idempotency-Replayed": "true"})
    status_code, body = await work()
    await service.remember(session, principal.subject, key, payload, status_code, body)
    return JSONResponse(body, status_code=status_code)


@router.post("/applications/{application_id}/decision", response_model=ApplicationOut)
async def decide(application_id: uuid.UUID, body: DecisionIn, session: DbSession, principal: Decider, key: IdempotencyKey = None) -> Any:
    """Approve (in full or in part, with tranches) or reject; by a grant officer or a grant system with
    scope ``grants:decide``. With an ``Idempotency-Key``, a repeated push is answered as the first."""

    async def work() -> tuple[int, dict[str, Any]]:
        # Read (and locked) only when the push is not a replay, which is answered before.
        application = await service.get_application(session, principal, application_id, lock=True)
        application = await service.decide(session, principal, application, body)
        return 200, (await service.describe(session, application)).model_dump(mode="json")

    return await _idempotent(session, principal, key, {"application": str(application_id), **body.model_dump(mode="json")}, work)


@router.post("/applications/{application_id}/tranches/{tranche_id}/disbursement", response_model=TrancheOut)
async def disburse(
    application_id: uuid.UUID, tranche_id: uuid.UUID, body: DisbursementIn, session: DbSession, principal: Disburser,
    key: IdempotencyKey = None,
) -> Any:
    """The grantor confirms a transfer (officer, or a grant system with scope ``grants:disburse``);
    it reaches the fund's ledger exactly once. A tranche whose report is missing or overdue is held."""

    async def work() -> tuple[int, dict[str, Any]]:
        # Read (and locked) only when the push is not a replay, which is answered before.
        application = await service.get_application(session, principal, application_id, lock=True)
        tranche = await service.disburse(session, principal, application, tranche_id, body.disbursed_on, body.reference)
        return 200, TrancheOut.model_validate(tranche).model_dump(mode="json")

    payload = {"application": str(application_id), "tranche": str(tranche_id), **body.model_dump(mode="json")}
    return await _idempotent(session, principal, key, payload, work)


@router.post("/applications/{application_id}/reports", response_model=UseReportOut, status_code=201)
async def report_use(application: ApplicationToChange, body: UseReportIn, session: DbSession, principal: SignedIn) -> Any:
    """The fund reports how it used the money, against its budget lines."""
    return UseReportOut.model_validate(await service.report_use(session, principal, application, body))


@router.get("/applications/{application_id}/reconciliation", response_model=Reconciliation)
async def reconciliation(application: VisibleApplication, session: DbSession) -> Any:
    """Awarded, disbursed by the grantor, received by the fund's ledger, and reported spent."""
    return await service.reconciliation(session, application)


@router.get("/programs/{program_id}/matching", response_model=MatchingDue)
async def matching_due(
    reading: MatchingReader, request: Request,
    year: Annotated[Year | None, Query(deprecated=True, description=(
        "Deprecated: leave it out, and the figure is counted over the program's own fiscal year (October to "
        "September, `fiscal_year_be`), the year the grantor pays on. When given, a calendar year (January to "
        "December), as before."))] = None,
) -> Any:
    """For a matching program: what it owes a fund (``fund_id`` in the query) for the program's
    fiscal year (1 October to 30 September, ``fiscal_year_be``: the window the grantor pays every
    fund of the program by, read from the program, never chosen by the caller), from the members'
    contributions in the fund's ledger (ratio of each member's baht, capped per member). The answer
    names the window it counted (``period_start``, ``period_end``, ``counted_through``). The
    grants service reads the contributions with its own token, so it answers only whom
    ``access.MatchingReader`` admits for that fund (docs/grantors.md): the fund's committee
    and fund admins, its network's officers, the grantor's officers for a fund that applied to the
    grantor's programs, platform admins."""
    program, fund_id = reading
    program_id = program.id
    if program.matching_ratio_bp is None:
        raise SajjaError("program.not_matching", status_code=422)
    start, end = service.matching_window(program, year)
    # Nothing is collected ahead of today, nor before the ledger's first day: the ledger is asked
    # only about days it may hold, and not at all before the window begins.
    through = min(end, bangkok_today())
    since = max(start, QUERIES.earliest)
    per_member = (await request.app.state.ledger.member_contributions(fund_id, since.isoformat(), through.isoformat())
                  if since <= through else {})
    due = 0
    for amount in per_member.values():
        owed = max(0, amount) * program.matching_ratio_bp // 10_000
        if program.matching_cap_per_member_satang is not None:
            owed = min(owed, program.matching_cap_per_member_satang)
        due += owed
    return MatchingDue(program_id=program_id, fund_id=fund_id, year=end.year,
                       fiscal_year_be=program.fiscal_year_be, period_start=start, period_end=end, counted_through=through,
                       member_contributions_satang=sum(per_member.values()), due_satang=due)


@router.get("/reports/rollup", response_model=GrantsRollup)
async def rollup(session: DbSession, principal: RollupReader, program_id: uuid.UUID | None = None, province: str | None = None) -> Any:
    """Applications and money by province and program: national for officers, a network's own for its officers."""
    disbursed = (select(Tranche.application_id, func.sum(Tranche.amount_satang).label("disbursed"))
                 .where(Tranche.status == "disbursed").group_by(Tranche.application_id).subquery())
    query = (
        select(Application.province, Program.id, Program.name, func.count(),
               func.count().filter(Application.approved_satang.is_not(None)),
               func.sum(Application.requested_satang), func.coalesce(func.sum(Application.approved_satang), 0),
               func.coalesce(func.sum(disbursed.c.disbursed), 0))
        .join(Program, Program.id == Application.program_id)
        .outerjoin(disbursed, disbursed.c.application_id == Application.id)
        .where(Application.status != "draft")
        .group_by(Application.province, Program.id, Program.name).order_by(Application.province, Program.name)
    )
    if principal.role is Role.network_officer:
        query = query.where(Application.network_id == principal.network_id)
    query = query.where(*service.visible_programs(principal))
    if program_id:
        query = query.where(Program.id == program_id)
    if province:
        query = query.where(Application.province == province)
    lines = [GrantsRollupLine(province=p, program_id=i, program=n, applications=c, approved=a, requested_satang=int(r),
                        awarded_satang=int(w), disbursed_satang=int(d)) for p, i, n, c, a, r, w, d in (await session.execute(query)).all()]
    return GrantsRollup(lines=lines, total_awarded_satang=sum(line.awarded_satang for line in lines),
                  total_disbursed_satang=sum(line.disbursed_satang for line in lines))


@router.get("/funds/{fund_id}/summary", response_model=FundGrants)
async def fund_summary(fund_id: FundSummaryReader, session: DbSession, principal: SignedIn) -> Any:
    """One fund's applications and money across programs: the fund itself, its network's officers,
    grant officers (their grantor's programs only)."""
    mine: tuple[Any, ...] = (Application.fund_id == fund_id, Application.status != "draft")
    ours = service.visible_programs(principal)
    if ours:
        mine = (*mine, Application.program_id.in_(select(Program.id).where(*ours)))
    by_status = dict((await session.execute(
        select(Application.status, func.count()).where(*mine).group_by(Application.status))).all())
    requested, awarded, awarded_satang = (await session.execute(
        select(func.coalesce(func.sum(Application.requested_satang), 0), func.count(Application.approved_satang),
               func.coalesce(func.sum(Application.approved_satang), 0)).where(*mine))).one()
    disbursed, received = (await session.execute(
        select(func.coalesce(func.sum(Tranche.amount_satang).filter(Tranche.status == "disbursed"), 0),
               func.coalesce(func.sum(Tranche.amount_satang).filter(Tranche.ledger_status == "posted"), 0))
        .where(Tranche.fund_id == fund_id, Tranche.application_id.in_(select(Application.id).where(*mine))))).one()
    assert awarded_satang is not None  # coalesce
    return FundGrants(
        fund_id=fund_id, applications=sum(by_status.values()), by_status=by_status, requested_satang=int(requested),
        awarded=int(awarded), awarded_satang=int(awarded_satang), disbursed_satang=int(disbursed),
        received_satang=int(received), in_transit_satang=int(disbursed) - int(received),
    )


class GrantsAggregates(BaseModel):
    """The same figures as a fund's summary, summed over the funds named, of what the caller may see."""

    funds_with_applications: int
    applications: int
    awarded: int
    requested_satang: int
    awarded_satang: int
    disbursed_satang: int
    received_satang: int = Field(description="Posted to the funds' ledgers")
    in_transit_satang: int
    as_of: dt.datetime


@router.post("/aggregates", response_model=GrantsAggregates)
async def aggregates(caller: GrantsAggregateReader, session: DbSession) -> Any:
    """Applications and money over many funds in one call (all funds when none are named): a
    network officer's network's, a grantor's own programs'. A read: a POST only for its list."""
    principal, scope = caller
    return await service.aggregates(session, principal, scope.fund_ids)


@router.post("/webhooks", response_model=SubscriptionOut, status_code=201)
async def subscribe(body: SubscriptionIn, request: Request, session: DbSession, principal: WebhookOwner) -> Any:
    """Hear about status changes at ``url``; the secret that signs every delivery is shown once.
    The target must be https and public (``shared.outbound``: a 422 on ``url``); the events heard
    are those of programs the caller may see."""
    subscription = await service.subscribe(session, principal, body, request.app.state.webhook_targets)
    return SubscriptionOut(id=subscription.id, url=subscription.url, events=subscription.events, program_id=subscription.program_id,
                           secret=subscription.secret)


@router.get("/webhooks/{subscription_id}/deliveries", response_model=list[DeliveryOut])
async def deliveries(subscription: OwnSubscription, session: DbSession, limit: Limit = 50) -> Any:
    """The delivery log of one subscription, newest first."""
    rows = (await session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
                                  .order_by(WebhookDelivery.created_at.desc()).limit(limit))).all()
    return [DeliveryOut.model_validate(d) for d in rows]


@router.post("/webhooks/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut)
async def redeliver(delivery: OwnDelivery, session: DbSession) -> Any:
    """Send a delivery again (by hand), whatever became of it."""
    delivery.status, delivery.next_attempt_at = "pending", utcnow()
    await session.flush()
    return DeliveryOut.model_validate(delivery)
