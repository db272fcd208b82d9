"""Grants: programs and envelopes, applications and screening, awards in tranches, disbursements
posted exactly once to the fund's ledger, reports of use, and the events grant systems hear about."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from collections import defaultdict
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.grants.models import (
    Application,
    Grantor,
    GrantTotals,
    Idempotency,
    Program,
    Review,
    Tranche,
    UseReport,
    WebhookDelivery,
    WebhookSubscription,
)
from services.grants.schemas import (
    ApplicationCreate,
    ApplicationOut,
    DecisionIn,
    GrantorIn,
    ProgramCreate,
    ProgramOut,
    Reconciliation,
    ReviewIn,
    ReviewOut,
    SplitOut,
    SubscriptionIn,
    TrancheIn,
    TrancheOut,
    UseReportIn,
)
from shared.auth import FUND_ROLES, Principal, Role
from shared.errors import Conflict, Forbidden, NotFound, SajjaError, register_messages
from shared.fiscal import BE_OFFSET, year_bounds
from shared.members_client import MembersDirectory
from shared.outbound import TargetPolicy, TargetRefused
from shared.timeutil import bangkok_date, bangkok_today, utcnow

register_messages(
    {
        "fund.not_found": {"th": ("ไม่พบกองทุน", "ไม่พบกองทุนนี้"), "en": ("Fund not found", "No such fund")},
        "grantor.not_found": {"th": ("ไม่พบผู้ให้ทุน", "ไม่พบผู้ให้ทุนนี้"), "en": ("Grantor not found", "No such grantor")},
        "program.grantor_required": {
            "th": ("ต้องระบุผู้ให้ทุน", "โครงการต้องเป็นของผู้ให้ทุนรายหนึ่ง: ระบุ grantor_id"),
            "en": ("Grantor required", "A program belongs to one grantor: give grantor_id"),
        },
        "program.grantor_kind": {
            "th": ("ประเภทผู้ให้ทุนไม่ตรง", "ผู้ให้ทุนของโครงการนี้เป็นประเภท {kind}"),
            "en": ("Grantor kind differs", "The program's grantor is of kind {kind}"),
        },
        "program.not_found": {"th": ("ไม่พบโครงการ", "ไม่พบโครงการนี้"), "en": ("Program not found", "No such program")},
        "program.closed": {"th": ("โครงการปิดรับแล้ว", "โครงการนี้ไม่เปิดรับคำขอ"), "en": ("Program closed", "This program takes no applications")},
        "application.not_found": {"th": ("ไม่พบคำขอ", "ไม่พบคำขอนี้"), "en": ("Application not found", "No such application")},
        "application.exists": {
            "th": ("ยื่นแล้ว", "กองทุนนี้ยื่นคำขอในโครงการ (หมวดนี้) แล้ว"),
            "en": ("Already applied", "This fund already applied to this program (and split)"),
        },
        "application.province_not_eligible": {
            "th": ("จังหวัดไม่อยู่ในโครงการ", "โครงการนี้สำหรับจังหวัด {provinces}"),
            "en": ("Province not eligible", "This program is for {provinces}"),
        },
        "application.fund_too_young": {
            "th": ("กองทุนยังใหม่เกินไป", "กองทุนต้องก่อตั้งมาแล้วอย่างน้อย {years} ปี"),
            "en": ("Fund too young", "The fund must be at least {years} years old"),
        },
        "application.split_unknown": {
            "th": ("ไม่พบหมวดงบ", "โครงการนี้มีหมวด {splits}"),
            "en": ("Unknown split", "This program's splits are {splits}"),
        },
        "application.over_ceiling": {
            "th": ("เกินเพดานต่อกองทุน", "ขอได้ไม่เกิน {ceiling_satang} สตางค์ต่อกองทุน"),
            "en": ("Over the ceiling", "At most {ceiling_satang} satang per fund"),
        },
        "application.transition": {
            "th": ("ทำรายการนี้ไม่ได้", "คำขอสถานะ {status} ทำรายการ {action} ไม่ได้"),
            "en": ("Not allowed now", "A {status} application cannot be {action}"),
        },
        "application.reviews_needed": {
            "th": ("ต้องมีผู้กลั่นกรองอย่างน้อยสองคน", "มีผลกลั่นกรอง {count} คน ต้องมีอย่างน้อย 2 คนก่อนตัดสิน"),
            "en": ("Two reviews needed", "{count} review(s); a decision needs at least two"),
        },
        "application.own_fund_review": {
            "th": ("กลั่นกรองคำขอของกองทุนตนเองไม่ได้", "ผู้กลั่นกรองต้องไม่ได้มาจากกองทุนที่ยื่นคำขอ"),
            "en": ("Own fund", "A reviewer may not review their own fund's application"),
        },
        "application.not_a_reviewer": {
            "th": ("ไม่ได้เป็นผู้กลั่นกรองของโครงการนี้", "โครงการนี้ไม่ได้กำหนดให้ท่านเป็นผู้กลั่นกรอง"),
            "en": ("Not a reviewer", "This program does not name you among its reviewers"),
        },
        "application.reviewed_already": {
            "th": ("กลั่นกรองแล้ว", "ท่านกลั่นกรองคำขอนี้แล้ว ผลกลั่นกรองสองรายการต้องมาจากสองคน"),
            "en": ("Reviewed already", "You reviewed this application already; the two reviews come from two people"),
        },
        "application.decider_reviewed": {
            "th": ("ผู้กลั่นกรองตัดสินไม่ได้", "ท่านเป็นผู้กลั่นกรองคำขอนี้ จึงตัดสินคำขอนี้ไม่ได้"),
            "en": ("Reviewer may not decide", "You reviewed this application, so you may not decide it"),
        },
        "award.envelope_exceeded": {
            "th": ("เกินวงเงินโครงการ", "วงเงินคงเหลือของโครงการ {available_satang} สตางค์ ไม่พอ"),
            "en": ("Envelope exceeded", "The program has only {available_satang} satang left"),
        },
        "award.split_exceeded": {
            "th": ("เกินวงเงินหมวด", "วงเงินคงเหลือของหมวด {split} มี {available_satang} สตางค์ ไม่พอ"),
            "en": ("Split exceeded", "Split {split} has only {available_satang} satang left"),
        },
        "award.amount_invalid": {
            "th": ("ยอดอนุมัติไม่ถูกต้อง", "ยอดอนุมัติต้องไม่เกินยอดที่ขอ และงวดเงินต้องรวมได้เท่ายอดอนุมัติ"),
            "en": ("Invalid amount", "The award may not exceed the request, and tranches must add up to it"),
        },
        "program.not_matching": {
            "th": ("ไม่ใช่โครงการสมทบ", "โครงการนี้ไม่ได้คำนวณเงินสมทบตามเงินสัจจะของสมาชิก"),
            "en": ("Not a matching program", "This program does not match members' contributions"),
        },
        "webhook.not_found": {"th": ("ไม่พบการแจ้งเตือน", "ไม่พบรายการนี้"), "en": ("Not found", "No such subscription or delivery")},
        "tranche.not_found": {"th": ("ไม่พบงวดเงิน", "ไม่พบงวดเงินนี้"), "en": ("Tranche not found", "No such tranche")},
        "tranche.held": {
            "th": ("งวดเงินถูกระงับ", "ระงับไว้: {reason}"),
            "en": ("Tranche held", "Held: {reason}"),
        },
        "tranche.out_of_order": {
            "th": ("ข้ามงวดไม่ได้", "ต้องโอนงวดที่ {seq} ก่อน"),
            "en": ("Out of order", "Tranche {seq} must be disbursed first"),
        },
        "use_report.line_unknown": {
            "th": ("ไม่พบรายการงบ", "ไม่มีรายการงบ {line} ในคำขอ"),
            "en": ("Unknown budget line", "The application has no budget line {line}"),
        },
        "idempotency.key_reused": {
            "th": ("ใช้รหัสคำขอซ้ำกับข้อมูลอื่น", "รหัสคำขอ {key} เคยใช้กับข้อมูลที่ต่างจากครั้งนี้"),
            "en": ("Idempotency key reused", "Key {key} was used before with a different request"),
        },
    }
)

#: Which income source of the fund's ledger a grantor's money is.
LEDGER_SOURCE = {"codi": "codi", "state": "codi", "provincial_office": "provincial_office", "local_government": "local_government",
                 "other": "other"}
OFFICERS = frozenset({Role.grant_officer, Role.platform_admin})
REVIEWERS = frozenset({Role.grant_officer, Role.network_officer, Role.committee, Role.fund_admin, Role.platform_admin})


#: The Thai government's fiscal year, which every program belongs to, starts in October.
GOVERNMENT_FISCAL_YEAR_START_MONTH = 10


def fiscal_year_bounds(year_be: int) -> tuple[dt.date, dt.date]:
    """Thai fiscal year B.E. N runs from 1 October of C.E. N-544 to 30 September of C.E. N-543."""
    return year_bounds(year_be - BE_OFFSET, GOVERNMENT_FISCAL_YEAR_START_MONTH)


def matching_window(program: Program, calendar_year: int | None = None) -> tuple[dt.date, dt.date]:
    """The days whose contributions a matching program pays on: the program's own fiscal year,
    which the grantor pays every fund of the program by. ``calendar_year`` is the deprecated
    choice of the caller (``year`` of the matching query), kept for clients that still send it."""
    if calendar_year is not None:
        return year_bounds(calendar_year)
    return fiscal_year_bounds(program.fiscal_year_be)


def program_out(program: Program) -> ProgramOut:
    starts, ends = fiscal_year_bounds(program.fiscal_year_be)
    return ProgramOut(
        id=program.id, grantor_id=program.grantor_id, grantor=program.grantor, name=program.name, fiscal_year_be=program.fiscal_year_be,
        fiscal_year_starts=starts, fiscal_year_ends=ends, envelope_satang=program.envelope_satang,
        allocated_satang=program.allocated_satang, available_satang=program.envelope_satang - program.allocated_satang,
        per_fund_ceiling_satang=program.per_fund_ceiling_satang,
        allocation_splits=[SplitOut(name=s["name"], pct_bp=s["pct_bp"], amount_satang=program.envelope_satang * s["pct_bp"] // 10_000)
                           for s in program.allocation_splits],
        eligible_provinces=list(program.eligible_provinces), min_fund_age_years=program.min_fund_age_years,
        matching_ratio_bp=program.matching_ratio_bp, matching_cap_per_member_satang=program.matching_cap_per_member_satang,
        report_due_days=program.report_due_days, status=program.status, reviewers=list(program.reviewers),
    )


async def create_grantor(session: AsyncSession, principal: Principal, data: GrantorIn) -> Grantor:
    grantor = Grantor(id=uuid.uuid4(), kind=data.kind, name=data.name, created_by=principal.subject)
    session.add(grantor)
    await session.flush()
    return grantor


async def create_program(session: AsyncSession, principal: Principal, data: ProgramCreate) -> Program:
    """A program of the caller's grantor (a grant officer's own; a platform admin names it)."""
    if principal.role is Role.grant_officer:
        if principal.grantor_id is None:
            raise Forbidden("auth.out_of_scope")
        if data.grantor_id is not None and data.grantor_id != principal.grantor_id:
            raise Forbidden("auth.out_of_scope")
        grantor_id = principal.grantor_id
    elif data.grantor_id is None:
        raise SajjaError("program.grantor_required", status_code=422)
    else:
        grantor_id = data.grantor_id
    grantor = await session.get(Grantor, grantor_id)
    if grantor is None:
        raise NotFound("grantor.not_found")
    if data.grantor is not None and data.grantor != grantor.kind:
        raise SajjaError("program.grantor_kind", status_code=422, params={"kind": grantor.kind})
    fields = data.model_dump(exclude={"grantor_id", "grantor"})
    program = Program(id=uuid.uuid4(), created_by=principal.subject, allocated_satang=0, grantor_id=grantor.id, grantor=grantor.kind,
                      **{**fields, "allocation_splits": [s.model_dump() for s in data.allocation_splits],
                         "reviewers": list(dict.fromkeys(str(r) for r in data.reviewers))})
    session.add(program)
    await session.flush()
    return program


async def get_program(session: AsyncSession, program_id: uuid.UUID, *, lock: bool = False) -> Program:
    program = await session.get(Program, program_id, with_for_update=lock, populate_existing=lock)
    if program is None:
        raise NotFound("program.not_found")
    return program


def acts_for_program(principal: Principal, program: Program) -> bool:
    """Whether a grant officer or a grant system's client acts for the program: its grantor's, and
    for a client holding a scope, one of the programs it is narrowed to (when it is); platform
    admins act for every program. Nobody else acts for a grantor."""
    if principal.role is Role.platform_admin:
        return True
    if principal.role is Role.grant_officer:
        return principal.grantor_id is not None and principal.grantor_id == program.grantor_id
    if principal.role is Role.integration:
        return (bool(principal.scopes) and principal.grantor_id is not None and principal.grantor_id == program.grantor_id
                and (principal.program_ids is None or program.id in principal.program_ids))
    return False


GRANTOR_SIDE = frozenset({Role.grant_officer, Role.integration})


async def get_visible_program(session: AsyncSession, principal: Principal, program_id: uuid.UUID) -> Program:
    """The program, for everyone but an officer or client of another grantor (or a client not
    narrowed to it, or holding no scope), to whom it is a 404 as if it did not exist."""
    program = await get_program(session, program_id)
    if principal.role in GRANTOR_SIDE and not acts_for_program(principal, program):
        raise NotFound("program.not_found")
    return program


def visible_programs(principal: Principal) -> list[Any]:
    """Conditions on ``Program`` for the programs a grantor's officer or client may see (none for
    anyone else: programs are public to them)."""
    if principal.role not in GRANTOR_SIDE:
        return []
    if principal.grantor_id is None or (principal.role is Role.integration and not principal.scopes):
        return [Program.id.is_(None)]
    conditions = [Program.grantor_id == principal.grantor_id]
    if principal.role is Role.integration and principal.program_ids is not None:
        conditions.append(Program.id.in_(sorted(principal.program_ids)))
    return conditions


# --- Who may see an application -------------------------------------------------------------------


def client_sees_application(client: Principal, application: Application) -> bool:
    """A grant system's client: nothing without a scope; bound to a fund or a network by its
    token, only that fund's (that network's) applications."""
    if not client.scopes:
        return False
    if client.fund_id is not None and client.fund_id != application.fund_id:
        return False
    if client.network_id is not None and client.network_id != application.network_id:
        return False
    return True


def may_see(principal: Principal, application: Application, program: Program) -> bool:
    if principal.role in OFFICERS:
        return acts_for_program(principal, program)
    if principal.role is Role.integration:
        return acts_for_program(principal, program) and client_sees_application(principal, application)
    if principal.role in FUND_ROLES:
        return principal.fund_id == application.fund_id
    if principal.role is Role.network_officer:
        return application.network_id is not None and application.network_id == principal.network_id
    return False


def may_see_program(owner: Principal, program: Program, application: Application | None = None) -> bool:
    """Whether ``owner`` may see ``program`` (and, for an event about one of its applications, that
    application): the one rule webhook events are filtered by, when written and again when sent.

    Officers and clients see their grantor's programs only (a client narrowed to some programs,
    those), a client with no scope nothing; a client whose token binds it to a fund or a network
    hears only of that fund's, or that network's, applications."""
    if owner.role not in OFFICERS and owner.role is not Role.integration:
        return False
    if not acts_for_program(owner, program):
        return False
    return owner.role is not Role.integration or application is None or client_sees_application(owner, application)


async def get_application(session: AsyncSession, principal: Principal, application_id: uuid.UUID, *, lock: bool = False) -> Application:
    application = await session.get(Application, application_id, with_for_update=lock, populate_existing=lock)
    if application is None or not may_see(principal, application, await get_program(session, application.program_id)):
        raise NotFound("application.not_found")
    return application


async def fund_applied_to_grantor(session: AsyncSession, fund_id: uuid.UUID, program: Program) -> bool:
    """Whether the fund has an application beyond a draft to a program of ``program``'s grantor."""
    found = await session.scalar(select(Application.id).join(Program, Program.id == Application.program_id).where(
        Application.fund_id == fund_id, Application.status != "draft", Program.grantor_id == program.grantor_id).limit(1))
    return found is not None


def ensure_fund_staff(principal: Principal, fund_id: uuid.UUID) -> None:
    if principal.role is Role.platform_admin:
        return
    if principal.role not in (Role.committee, Role.fund_admin) or principal.fund_id != fund_id:
        raise Forbidden("auth.out_of_scope")


def ensure_officer(principal: Principal, scope: str) -> None:
    """Grant officers, or a grant system whose client holds ``scope``."""
    if principal.role in OFFICERS:
        return
    if principal.role is Role.integration and scope in principal.scopes:
        return
    raise Forbidden()


# --- Events for grant systems (an outbox in the same transaction) -----------------------------------------


async def subscribe(session: AsyncSession, principal: Principal, data: SubscriptionIn, targets: TargetPolicy) -> WebhookSubscription:
    """A subscription of ``principal`` (who is kept with it, as its token says), to a target the
    policy lets through (a 422 on ``url`` otherwise) and a program it may see (404 otherwise)."""
    try:
        await targets.check(str(data.url))
    except TargetRefused as refused:
        raise RequestValidationError([refused.field_error(("body", "url"))]) from None
    if data.program_id is not None and not may_see_program(principal, await get_program(session, data.program_id)):
        raise NotFound("program.not_found")
    subscription = WebhookSubscription(
        id=uuid.uuid4(), owner=principal.subject, url=str(data.url), secret=secrets.token_urlsafe(32), events=list(data.events),
        program_id=data.program_id, owner_role=principal.role.value, owner_fund_id=principal.fund_id,
        owner_network_id=principal.network_id, owner_scopes=sorted(principal.scopes), owner_grantor_id=principal.grantor_id,
        owner_program_ids=sorted(principal.program_ids) if principal.program_ids is not None else None)
    session.add(subscription)
    await session.flush()
    return subscription


def subscription_owner(subscription: WebhookSubscription) -> Principal | None:
    """The subscription's owner as it subscribed; None for one made before owners were kept."""
    if subscription.owner_role is None:
        return None
    return Principal(subject=subscription.owner, role=Role(subscription.owner_role), fund_id=subscription.owner_fund_id,
                     network_id=subscription.owner_network_id, scopes=frozenset(subscription.owner_scopes),
                     grantor_id=subscription.owner_grantor_id,
                     program_ids=frozenset(subscription.owner_program_ids) if subscription.owner_program_ids is not None else None)


def may_hear(subscription: WebhookSubscription, program: Program, application: Application) -> bool:
    owner = subscription_owner(subscription)
    return owner is not None and may_see_program(owner, program, application)


async def emit(session: AsyncSession, event: str, payload: dict[str, Any], application: Application) -> None:
    """Write the event's deliveries, one for each subscription to it whose owner may see it."""
    program = await get_program(session, application.program_id)
    subscriptions = (await session.scalars(select(WebhookSubscription).where(
        WebhookSubscription.is_active, WebhookSubscription.events.contains([event]),
        (WebhookSubscription.program_id.is_(None)) | (WebhookSubscription.program_id == program.id)))).all()
    body = {"event": event, "occurred_at": utcnow().isoformat(), "data": orjson.loads(orjson.dumps(payload, default=str))}
    for subscription in subscriptions:
        if not may_hear(subscription, program, application):
            continue
        session.add(WebhookDelivery(id=uuid.uuid4(), subscription_id=subscription.id, event=event, payload=body,
                                    status="pending", next_attempt_at=utcnow()))


async def _status(session: AsyncSession, application: Application, status: str) -> None:
    before, application.status = application.status, status
    await session.flush()
    await emit(session, "application.status_changed", {
        "application_id": application.id, "program_id": application.program_id, "fund_id": application.fund_id,
        "from": before, "to": status, "approved_satang": application.approved_satang}, application)


def _ensure_status(application: Application, allowed: tuple[str, ...], action: str) -> None:
    if application.status not in allowed:
        raise Conflict("application.transition", params={"status": application.status, "action": action})


# --- Applications ------------------------------------------------------------------------------------------------


async def create_application(
    session: AsyncSession, directory: MembersDirectory, principal: Principal, program: Program, data: ApplicationCreate
) -> Application:
    # The body names the fund: its staff only (the route admits only fund staff at all).
    ensure_fund_staff(principal, data.fund_id)
    if program.status != "open":
        raise Conflict("program.closed")
    fund = await directory.fund(data.fund_id)
    if fund is None:
        raise NotFound("fund.not_found")
    if program.eligible_provinces and fund["province"] not in program.eligible_provinces:
        raise SajjaError("application.province_not_eligible", status_code=422, params={"provinces": ", ".join(program.eligible_provinces)})
    founded = dt.date.fromisoformat(fund["founded_on"])
    if (bangkok_today() - founded).days < program.min_fund_age_years * 365:
        raise SajjaError("application.fund_too_young", status_code=422, params={"years": program.min_fund_age_years})
    splits = [s["name"] for s in program.allocation_splits]
    if (splits or data.split) and data.split not in splits:
        raise SajjaError("application.split_unknown", status_code=422, params={"splits": ", ".join(splits) or "-"})
    requested = sum(line.amount_satang for line in data.budget_lines)
    if program.per_fund_ceiling_satang is not None and requested > program.per_fund_ceiling_satang:
        raise SajjaError("application.over_ceiling", status_code=422, params={"ceiling_satang": program.per_fund_ceiling_satang})
    application = Application(
        id=uuid.uuid4(), program_id=program.id, fund_id=data.fund_id, fund_name=fund["name"], province=fund["province"],
        network_id=uuid.UUID(fund["network_id"]) if fund.get("network_id") else None, split=data.split, title=data.title,
        summary=data.summary, budget_lines=[line.model_dump() for line in data.budget_lines],
        documents=[d.model_dump(mode="json") for d in data.documents], requested_satang=requested, status="draft",
        created_by=principal.subject,
    )
    try:
        async with session.begin_nested():
            session.add(application)
            await session.flush()
    except IntegrityError:
        raise Conflict("application.exists") from None
    return application


async def submit(session: AsyncSession, principal: Principal, application: Application) -> Application:
    # Whose application it is, the application says: its own fund's staff submit it.
    ensure_fund_staff(principal, application.fund_id)
    _ensure_status(application, ("draft",), "submitted")
    application.submitted_at = utcnow()
    await _status(session, application, "submitted")
    return application


def program_names_reviewer(program: Program, principal: Principal) -> bool:
    """Whether the program names the caller among its reviewers, by role or as a person; platform
    admins always may."""
    if principal.role is Role.platform_admin or principal.subject in program.reviewers:
        return True
    if principal.role.value not in program.reviewers:
        return False
    # "grant_officer" names the program's grantor's own officers.
    return principal.role is not Role.grant_officer or acts_for_program(principal, program)


async def review(session: AsyncSession, principal: Principal, application: Application, data: ReviewIn) -> Review:
    """A reviewer's score (the route admits only ``REVIEWERS``: ``access.ApplicationForReviewers``).
    The program names who may review; nobody of the applying fund may, and each person reviews an
    application once (the two reviews a decision needs come from two people)."""
    # Which fund the application is from, the application says: no one reviews their own fund's.
    if principal.fund_id is not None and principal.fund_id == application.fund_id:
        raise Forbidden("application.own_fund_review")
    program = await get_program(session, application.program_id)
    if principal.role in GRANTOR_SIDE and not acts_for_program(principal, program) and not program_names_reviewer(program, principal):
        # Another grantor's officer: the application is not there for them.
        raise NotFound("application.not_found")
    if not program_names_reviewer(program, principal):
        raise Forbidden("application.not_a_reviewer")
    if await session.get(Review, (application.id, principal.subject)) is not None:
        raise Forbidden("application.reviewed_already")
    _ensure_status(application, ("submitted", "screening"), "reviewed")
    if application.status == "submitted":
        await _status(session, application, "screening")
    review = Review(application_id=application.id, reviewer=principal.subject, reviewer_role=principal.role.value, **data.model_dump())
    session.add(review)
    await session.flush()
    return review


async def decide(session: AsyncSession, principal: Principal, application: Application, data: DecisionIn) -> Application:
    """Approve (in full or in part) with a schedule of tranches, or reject; at least two reviews first.
    The award is taken from the program's envelope under the program row's lock (and a CHECK), so
    concurrent approvals can never over-commit it."""
    _ensure_status(application, ("screening",), "decided")
    if await session.get(Review, (application.id, principal.subject)) is not None:
        raise Forbidden("application.decider_reviewed")
    count = await session.scalar(select(func.count()).select_from(Review).where(Review.application_id == application.id))
    assert count is not None  # count(*)
    if count < 2:
        raise SajjaError("application.reviews_needed", status_code=409, params={"count": count})
    application.decided_by, application.decided_at, application.decision_note = principal.subject, utcnow(), data.note
    if data.decision == "reject":
        await _status(session, application, "rejected")
        return application
    amount = data.approved_satang or application.requested_satang
    tranches = data.tranches or []
    if amount > application.requested_satang or (tranches and sum(t.amount_satang for t in tranches) != amount):
        raise SajjaError("award.amount_invalid", status_code=422)
    program = await get_program(session, application.program_id, lock=True)
    if program.allocated_satang + amount > program.envelope_satang:
        raise Conflict("award.envelope_exceeded", params={"available_satang": program.envelope_satang - program.allocated_satang})
    split = next((s for s in program.allocation_splits if s["name"] == application.split), None)
    if split is not None:
        # Each split is a share of the envelope (e.g. 25% issue-based): awards stay within it too.
        split_cap = program.envelope_satang * split["pct_bp"] // 10_000
        split_used = await session.scalar(select(func.coalesce(func.sum(Application.approved_satang), 0)).where(
            Application.program_id == program.id, Application.split == application.split, Application.id != application.id))
        assert split_used is not None  # coalesce
        if int(split_used) + amount > split_cap:
            raise Conflict("award.split_exceeded", params={"split": split["name"], "available_satang": split_cap - int(split_used)})
    await session.execute(update(Program).where(Program.id == program.id).values(allocated_satang=Program.allocated_satang + amount))
    application.approved_satang = amount
    await _status(session, application, "approved")
    schedule = tranches or [TrancheIn(amount_satang=amount, due_on=bangkok_today())]
    for seq, tranche in enumerate(schedule, start=1):
        session.add(Tranche(id=uuid.uuid4(), application_id=application.id, fund_id=application.fund_id, seq=seq,
                            amount_satang=tranche.amount_satang, due_on=tranche.due_on, requires_report=tranche.requires_report))
    await _status(session, application, "awarded")
    return application


async def tranches_of(session: AsyncSession, application_id: uuid.UUID) -> list[Tranche]:
    return list((await session.scalars(select(Tranche).where(Tranche.application_id == application_id).order_by(Tranche.seq))).all())


async def reports_of(session: AsyncSession, application_id: uuid.UUID) -> list[UseReport]:
    return list((await session.scalars(select(UseReport).where(UseReport.application_id == application_id).order_by(UseReport.submitted_at))).all())


def hold_reason(tranche: Tranche, tranches: list[Tranche], reports: list[UseReport], report_due_days: int, today: dt.date) -> str | None:
    """Why a scheduled tranche may not be paid yet: a progress report it needs, or one overdue."""
    disbursed = [t for t in tranches if t.status == "disbursed" and t.seq < tranche.seq]
    if not disbursed:
        return None
    last = max(disbursed, key=lambda t: t.disbursed_on or dt.date.min)
    # Both Bangkok dates: a report sent before 07:00 in Bangkok has yesterday's UTC date.
    reported_since = [r for r in reports if bangkok_date(r.submitted_at) >= (last.disbursed_on or dt.date.min)]
    if reported_since:
        return None
    if tranche.requires_report:
        return f"progress report on tranche {last.seq} not yet submitted"
    if last.disbursed_on and today > last.disbursed_on + dt.timedelta(days=report_due_days):
        return f"report on tranche {last.seq} overdue since {last.disbursed_on + dt.timedelta(days=report_due_days)}"
    return None


async def disburse(
    session: AsyncSession, principal: Principal, application: Application, tranche_id: uuid.UUID, disbursed_on: dt.date, reference: str
) -> Tranche:
    """The grantor confirms a transfer. The tranche is then posted to the fund's ledger by the worker,
    exactly once (the tranche id is the ledger's idempotency key)."""
    tranches = await tranches_of(session, application.id)
    tranche = next((t for t in tranches if t.id == tranche_id), None)
    if tranche is None:
        raise NotFound("tranche.not_found")
    if tranche.status != "scheduled":
        raise Conflict("application.transition", params={"status": tranche.status, "action": "disbursed"})
    earlier = [t for t in tranches if t.seq < tranche.seq and t.status == "scheduled"]
    if earlier:
        raise Conflict("tranche.out_of_order", params={"seq": earlier[0].seq})
    program = await get_program(session, application.program_id)
    reason = hold_reason(tranche, tranches, await reports_of(session, application.id), program.report_due_days, bangkok_today())
    if reason:
        await emit(session, "tranche.held", {"application_id": application.id, "tranche_id": tranche.id, "reason": reason}, application)
        raise Conflict("tranche.held", params={"reason": reason})
    tranche.status, tranche.disbursed_on, tranche.grantor_reference = "disbursed", disbursed_on, reference
    tranche.confirmed_by, tranche.ledger_status, tranche.next_attempt_at = principal.subject, "pending", utcnow()
    await session.flush()
    await emit(session, "tranche.disbursed", {
        "application_id": application.id, "tranche_id": tranche.id, "fund_id": application.fund_id, "seq": tranche.seq,
        "amount_satang": tranche.amount_satang, "disbursed_on": disbursed_on, "reference": reference}, application)
    if all(t.status == "disbursed" for t in tranches):
        await _status(session, application, "closed")
    return tranche


async def report_use(session: AsyncSession, principal: Principal, application: Application, data: UseReportIn) -> UseReport:
    # Whose application it is, the application says: its own fund's staff report on it.
    ensure_fund_staff(principal, application.fund_id)
    _ensure_status(application, ("awarded", "closed"), "reported on")
    lines = {line["line"] for line in application.budget_lines}
    for line in data.lines:
        if line.line not in lines:
            raise SajjaError("use_report.line_unknown", status_code=422, params={"line": line.line})
    report = UseReport(id=uuid.uuid4(), application_id=application.id, lines=[line.model_dump() for line in data.lines],
                       narrative=data.narrative, submitted_by=principal.subject)
    session.add(report)
    await session.flush()
    return report


async def describe(session: AsyncSession, application: Application) -> ApplicationOut:
    return (await describe_many(session, [application]))[0]


async def describe_many(session: AsyncSession, applications: list[Application]) -> list[ApplicationOut]:
    """Applications with their reviews, tranches (and why a tranche is held) and program: one
    query per kind of row, however many applications (not one per application and kind)."""
    if not applications:
        return []
    ids = [a.id for a in applications]
    reviews: dict[uuid.UUID, list[Review]] = defaultdict(list)
    for r in (await session.scalars(select(Review).where(Review.application_id.in_(ids)).order_by(Review.at))).all():
        reviews[r.application_id].append(r)
    tranches: dict[uuid.UUID, list[Tranche]] = defaultdict(list)
    for t in (await session.scalars(select(Tranche).where(Tranche.application_id.in_(ids)).order_by(Tranche.seq))).all():
        tranches[t.application_id].append(t)
    reports: dict[uuid.UUID, list[UseReport]] = defaultdict(list)
    for u in (await session.scalars(select(UseReport).where(UseReport.application_id.in_(ids)).order_by(UseReport.submitted_at))).all():
        reports[u.application_id].append(u)
    programs = {p.id: p for p in (await session.scalars(select(Program).where(Program.id.in_({a.program_id for a in applications})))).all()}
    today = bangkok_today()
    described = []
    for application in applications:
        program, own = programs.get(application.program_id), tranches[application.id]
        if program is None:
            raise NotFound("program.not_found")
        tranche_out = []
        for t in own:
            reason = hold_reason(t, own, reports[application.id], program.report_due_days, today) if t.status == "scheduled" else None
            tranche_out.append(TrancheOut.model_validate(t).model_copy(update={"on_hold": reason is not None, "hold_reason": reason}))
        described.append(ApplicationOut(
            id=application.id, program_id=application.program_id, fund_id=application.fund_id, fund_name=application.fund_name,
            province=application.province, split=application.split, title=application.title, summary=application.summary,
            budget_lines=application.budget_lines, documents=application.documents, requested_satang=application.requested_satang,
            approved_satang=application.approved_satang, status=application.status, decision_note=application.decision_note,
            submitted_at=application.submitted_at, decided_at=application.decided_at,
            reviews=[ReviewOut.model_validate(r) for r in reviews[application.id]], tranches=tranche_out,
        ))
    return described


async def reconciliation(session: AsyncSession, application: Application) -> Reconciliation:
    tranches = await tranches_of(session, application.id)
    reports = await reports_of(session, application.id)
    disbursed = sum(t.amount_satang for t in tranches if t.status == "disbursed")
    received = sum(t.amount_satang for t in tranches if t.ledger_status == "posted")
    spent = sum(line["spent_satang"] for line in reports[-1].lines) if reports else 0
    return Reconciliation(
        application_id=application.id, fund_id=application.fund_id, program_id=application.program_id,
        awarded_satang=application.approved_satang or 0, disbursed_satang=disbursed, received_by_ledger_satang=received,
        in_transit_satang=disbursed - received, spent_reported_satang=spent,
    )


# --- Idempotent pushes ----------------------------------------------------------------------------------------


def request_hash(payload: Any) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


async def replay(session: AsyncSession, caller: str, key: str | None, payload: Any) -> Idempotency | None:
    if not key:
        return None
    # The same key arriving twice at once: the second waits here, then finds the first's answer.
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"grants:{caller}:{key}"})
    record = await session.get(Idempotency, (caller, key), populate_existing=True)
    if record is not None and record.request_hash != request_hash(payload):
        raise Conflict("idempotency.key_reused", params={"key": key})
    return record


async def remember(session: AsyncSession, caller: str, key: str | None, payload: Any, status_code: int, response: dict[str, Any]) -> None:
    if key:
        session.add(Idempotency(caller=caller, key=key, request_hash=request_hash(payload), status_code=status_code,
                                response=orjson.loads(orjson.dumps(response, default=str))))
        await session.flush()


# --- Aggregates over many funds ---------------------------------------------------------------------


async def aggregates(session: AsyncSession, principal: Principal, fund_ids: list[uuid.UUID] | None) -> dict[str, Any]:
    """What ``/funds/{id}/summary`` says of one fund, summed over the funds named (all when none
    are), of the applications the caller may see: one query of the totals kept per fund, program
    and network with every change (docs/aggregates.md), whatever the number of funds. They
    include every change committed before ``as_of``."""
    as_of = utcnow()
    mine: list[Any] = []
    if fund_ids is not None:
        mine.append(GrantTotals.fund_id.in_(fund_ids))
    if principal.role is Role.network_officer:
        mine.append(GrantTotals.network_id == principal.network_id)
    if principal.role is Role.integration:
        if principal.fund_id is not None:
            mine.append(GrantTotals.fund_id == principal.fund_id)
        if principal.network_id is not None:
            mine.append(GrantTotals.network_id == principal.network_id)
    ours = visible_programs(principal)
    if ours:
        mine.append(GrantTotals.program_id.in_(select(Program.id).where(*ours)))

    def total(column: Any) -> Any:
        return func.coalesce(func.sum(column), 0)

    funds, applications, requested, awarded, awarded_satang, disbursed, received = (await session.execute(
        select(func.count(func.distinct(GrantTotals.fund_id)).filter(GrantTotals.applications > 0),
               total(GrantTotals.applications), total(GrantTotals.requested_satang), total(GrantTotals.awarded),
               total(GrantTotals.awarded_satang), total(GrantTotals.disbursed_satang), total(GrantTotals.received_satang))
        .where(*mine))).one()
    return {"funds_with_applications": int(funds), "applications": int(applications), "awarded": int(awarded),
            "requested_satang": int(requested), "awarded_satang": int(awarded_satang), "disbursed_satang": int(disbursed),
            "received_satang": int(received), "in_transit_satang": int(disbursed) - int(received), "as_of": as_of}
