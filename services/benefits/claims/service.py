"""Claims: an immediate eligibility judgement, committee review with maker-checker, documents,
and payout through the ledger (by the payout worker, exactly once)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

from sqlalchemy import func, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.benefits.catalog import service as catalog
from services.benefits.models import (
    Claim,
    ClaimApproval,
    ClaimDocument,
    ClaimEvent,
    RuleVersion,
)
from services.benefits.rules import Judgement, MemberFacts, PastClaim, Rules, judge
from services.benefits.schemas import (
    CheckIn,
    ClaimEventOut,
    ClaimIn,
    ClaimListItem,
    ClaimOut,
    DocumentOut,
    Eligibility,
    Reason,
)
from shared.auth import Principal, Role
from shared.errors import (
    Conflict,
    Forbidden,
    NotFound,
    SajjaError,
    register_messages,
    render_message,
)
from shared.ledger_client import LedgerClient
from shared.members_client import MembersDirectory
from shared.pagination import after_key, split_page
from shared.timeutil import utcnow

register_messages(
    {
        "claim.not_eligible": {
            "th": ("ยังไม่มีสิทธิ์", "คำขอนี้ยังไม่มีสิทธิ์: {summary}"),
            "en": ("Not eligible", "This claim does not qualify: {summary}"),
        },
        "claim.not_found": {
            "th": ("ไม่พบคำขอ", "ไม่พบคำขอสวัสดิการนี้"),
            "en": ("Claim not found", "No such claim"),
        },
        "claim.member_unknown": {
            "th": ("ไม่พบสมาชิก", "ไม่พบสมาชิกนี้ในกองทุน"),
            "en": ("Unknown member", "No such member in this fund"),
        },
        "claim.id_conflict": {
            "th": ("รหัสคำขอซ้ำ", "รหัสคำขอนี้เคยใช้กับคำขอที่ต่างกัน"),
            "en": ("Claim id reused", "This claim id was used for a different claim"),
        },
        "claim.transition": {
            "th": ("ทำรายการนี้ไม่ได้", "คำขอสถานะ {status} ทำรายการ {action} ไม่ได้"),
            "en": ("Not allowed now", "A {status} claim cannot be {action}"),
        },
        "claim.self_approval": {
            "th": ("อนุมัติคำขอของตนเองไม่ได้", "ผู้อนุมัติต้องไม่ใช่ผู้ยื่นคำขอ"),
            "en": ("Cannot approve own claim", "The approver must not be the one who submitted the claim"),
        },
        "claim.already_approved_by_you": {
            "th": ("อนุมัติไปแล้ว", "คุณอนุมัติคำขอนี้ไปแล้ว ต้องให้กรรมการอีกคนอนุมัติ"),
            "en": ("Already approved by you", "You already approved this claim; another committee member must"),
        },
        "claim.documents_missing": {
            "th": ("เอกสารไม่ครบ", "ยังต้องแนบ: {documents}"),
            "en": ("Documents missing", "Still needed: {documents}"),
        },
        "claim.not_held": {
            "th": ("ไม่ได้ระงับการจ่าย", "คำขอนี้ไม่ได้ถูกระงับการจ่าย"),
            "en": ("Not held", "This claim's payout is not held"),
        },
    }
)

COUNTING = ("submitted", "under_review", "approved", "paid")
OPEN = ("submitted", "under_review")
STAFF = frozenset({Role.committee, Role.fund_admin, Role.platform_admin})


def reasons_out(items: list[tuple[str, dict[str, Any]]], lang: str) -> list[Reason]:
    return [Reason(code=code, message=render_message(code, lang, params)[1], params=params) for code, params in items]


async def _member_facts(
    directory: MembersDirectory, ledger: LedgerClient, fund_id: uuid.UUID, member_id: uuid.UUID, rules: Rules, event_date: dt.date
) -> MemberFacts:
    facts = (await directory.members(fund_id, [member_id])).get(member_id)
    if facts is None:
        raise SajjaError("claim.member_unknown", status_code=422)
    arrears = None
    start_month = fiscal_start_months.get(fund_id)
    yearly = rules.per_year_count is not None or rules.per_year_satang is not None or (
        rules.amount.model == "per_day" and rules.amount.max_days_per_year is not None)
    if rules.max_periods_in_arrears is not None or (yearly and start_month is None):
        standing = await ledger.standing(fund_id, member_id, event_date.isoformat())
        arrears = standing["periods_in_arrears"] if rules.max_periods_in_arrears is not None else None
        start_month = int(standing.get("fiscal_year_start_month", 1))
        fiscal_start_months.put(fund_id, start_month)
    # The status history, so the judge goes by the status on the event date, not today's.
    history = tuple((dt.date.fromisoformat(c["effective_on"]), c["status"]) for c in facts.get("status_history") or ())
    return MemberFacts(
        status=facts["status"], joined_on=dt.date.fromisoformat(facts["joined_on"]),
        birth_date=dt.date.fromisoformat(facts["birth_date"]) if facts.get("birth_date") else None,
        sex=facts["sex"], periods_in_arrears=arrears, history=history, fiscal_year_start_month=start_month or 1,
    )


class FiscalStartMonths:
    """Each fund's fiscal year start month as the ledger last said (in a member's standing), kept
    for ``ttl`` seconds: it changes at most once in a fund's life, before its first closing
    (docs/fiscal-years.md)."""

    def __init__(self, ttl: float = 300.0) -> None:
        self.ttl = ttl
        self._months: dict[uuid.UUID, tuple[float, int]] = {}

    def get(self, fund_id: uuid.UUID) -> int | None:
        kept = self._months.get(fund_id)
        if kept is None or time.monotonic() - kept[0] > self.ttl:
            return None
        return kept[1]

    def put(self, fund_id: uuid.UUID, month: int) -> None:
        if len(self._months) > 100_000:
            self._months.clear()
        self._months[fund_id] = (time.monotonic(), month)


fiscal_start_months = FiscalStartMonths()


async def past_claims(session: AsyncSession, fund_id: uuid.UUID, member_id: uuid.UUID, code: str, exclude: uuid.UUID | None) -> list[PastClaim]:
    rows = (await session.scalars(select(Claim).where(
        Claim.fund_id == fund_id, Claim.member_id == member_id, Claim.benefit_code == code, Claim.status.in_(COUNTING),
        *([Claim.id != exclude] if exclude else [])))).all()
    return [PastClaim(r.event_date, r.event_end_date, r.days, r.amount_satang) for r in rows]


async def documents_of(session: AsyncSession, fund_id: uuid.UUID, claim_id: uuid.UUID) -> list[ClaimDocument]:
    return list((await session.scalars(select(ClaimDocument).where(
        ClaimDocument.fund_id == fund_id, ClaimDocument.claim_id == claim_id).order_by(ClaimDocument.uploaded_at))).all())


async def evaluate(
    *, session: AsyncSession, directory: MembersDirectory, ledger: LedgerClient, fund_id: uuid.UUID, principal: Principal,
    data: CheckIn | ClaimIn, exclude: uuid.UUID | None = None, documents: set[str] | None = None,
) -> tuple[Judgement, int | None, str]:
    """Judge a claim by the rules in force on its event date; returns (judgement, version, category)."""
    benefit = await catalog.get_benefit(session, fund_id, data.benefit_code)
    version = await catalog.version_on(session, fund_id, data.benefit_code, data.event_date)
    if version is None:
        raise SajjaError("benefit.no_rules_on_date", status_code=422,
                         params={"code": data.benefit_code, "date": data.event_date.isoformat()})
    rules = Rules.model_validate(version.rules)
    member = await _member_facts(directory, ledger, fund_id, data.member_id, rules, data.event_date)
    past = await past_claims(session, fund_id, data.member_id, data.benefit_code, exclude)
    judgement = judge(
        rules=rules, member=member, event_date=data.event_date, event_end_date=data.event_end_date, days=data.days,
        past=past, applicant_is_member=principal.role is Role.member, documents=documents or set(),
    )
    return judgement, version.version, benefit.category


def eligibility(judgement: Judgement, version: int | None, lang: str) -> Eligibility:
    return Eligibility(
        eligible=judgement.eligible, amount_satang=judgement.amount_satang, days=judgement.days, rule_version=version,
        reasons=reasons_out(judgement.reasons, lang), pending=reasons_out(judgement.pending, lang),
        qualifies_on=judgement.qualifies_on,
    )


def ensure_may_claim_for(principal: Principal, member_id: uuid.UUID) -> None:
    """A member claims only for themself. The member is named in the body, so this is the route's
    to check; who may claim at all (members and staff) its signature says (``access.Claimant``)."""
    if principal.role is Role.member and principal.member_id != member_id:
        raise Forbidden("auth.out_of_scope")


async def record_event(session: AsyncSession, claim: Claim, *, from_status: str | None, to_status: str, action: str,
                       actor: str, actor_role: str, note: str | None) -> None:
    """The claim's next event (by anyone: a person, or the payout worker)."""
    seq = await session.scalar(select(func.coalesce(func.max(ClaimEvent.seq), 0)).where(
        ClaimEvent.fund_id == claim.fund_id, ClaimEvent.claim_id == claim.id))
    assert seq is not None  # coalesce
    session.add(ClaimEvent(fund_id=claim.fund_id, claim_id=claim.id, seq=int(seq) + 1, from_status=from_status,
                           to_status=to_status, action=action, actor=actor, actor_role=actor_role, note=note))


async def _event(session: AsyncSession, claim: Claim, to_status: str, action: str, principal: Principal, note: str | None = None,
                 from_status: str | None = None) -> None:
    await record_event(session, claim, from_status=from_status, to_status=to_status, action=action,
                       actor=principal.subject, actor_role=principal.role.value, note=note)
    await session.flush()


async def submit(
    *, session: AsyncSession, directory: MembersDirectory, ledger: LedgerClient, fund_id: uuid.UUID, principal: Principal,
    data: ClaimIn, lang: str,
) -> tuple[Claim, bool]:
    """Submit a claim if it qualifies; returns (claim, replayed)."""
    ensure_may_claim_for(principal, data.member_id)
    claim_id = data.id or uuid.uuid4()
    # One member's claims are judged one at a time, so two claims for one event cannot both pass.
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"claims:{fund_id}:{data.member_id}"})
    earlier = await session.get(Claim, (fund_id, claim_id))
    if earlier is not None:
        same = (earlier.member_id, earlier.benefit_code, earlier.event_date, earlier.event_end_date, earlier.details) == (
            data.member_id, data.benefit_code, data.event_date, data.event_end_date, data.details)
        if not same:
            raise Conflict("claim.id_conflict")
        return earlier, True
    judgement, version, category = await evaluate(
        session=session, directory=directory, ledger=ledger, fund_id=fund_id, principal=principal, data=data)
    if not judgement.eligible:
        reasons = reasons_out(judgement.reasons, lang)
        raise SajjaError("claim.not_eligible", status_code=422, params={"summary": "; ".join(r.message for r in reasons)},
                         extra={"reasons": [r.model_dump() for r in reasons],
                                "qualifies_on": judgement.qualifies_on.isoformat() if judgement.qualifies_on else None})
    settings = await catalog.settings_of(session, fund_id)
    claim = Claim(
        fund_id=fund_id, id=claim_id, member_id=data.member_id, benefit_code=data.benefit_code, category=category,
        rule_version=version, event_date=data.event_date, event_end_date=data.event_end_date, days=judgement.days,
        details=data.details, amount_satang=judgement.amount_satang, status="submitted", submitted_by=principal.subject,
        submitted_role=principal.role.value,
        approvals_needed=2 if judgement.amount_satang > settings.two_approvers_above_satang else 1,
    )
    session.add(claim)
    await session.flush()
    await _event(session, claim, "submitted", "submit", principal)
    return claim, False


async def get_claim(session: AsyncSession, principal: Principal, fund_id: uuid.UUID, claim_id: uuid.UUID, *, lock: bool = False) -> Claim:
    claim = await session.get(Claim, (fund_id, claim_id), with_for_update=lock, populate_existing=lock)
    if claim is None:
        raise NotFound("claim.not_found")
    if principal.role is Role.member and principal.member_id != claim.member_id:
        raise NotFound("claim.not_found")
    if principal.role not in STAFF | {Role.member}:
        raise NotFound("claim.not_found")
    return claim


async def describe(session: AsyncSession, principal: Principal, claim: Claim, lang: str, rules_documents: list[str] | None = None,
                   *, every_document: bool = False) -> ClaimOut:
    """The claim as answered; medical documents only for staff, or ``every_document`` (a member's
    own download of their data)."""
    events = (await session.scalars(select(ClaimEvent).where(
        ClaimEvent.fund_id == claim.fund_id, ClaimEvent.claim_id == claim.id).order_by(ClaimEvent.seq))).all()
    approvals = (await session.scalars(select(ClaimApproval.approver).where(
        ClaimApproval.fund_id == claim.fund_id, ClaimApproval.claim_id == claim.id).order_by(ClaimApproval.at))).all()
    documents = await documents_of(session, claim.fund_id, claim.id)
    visible = [d for d in documents if every_document or not d.is_medical or principal.role in STAFF]
    pending: list[Reason] = []
    if claim.status in OPEN:
        missing = await missing_documents(session, claim, documents)
        if missing:
            pending = reasons_out([("eligibility.documents_missing", {"documents": ", ".join(missing)})], lang)
    return ClaimOut(
        id=claim.id, fund_id=claim.fund_id, member_id=claim.member_id, benefit_code=claim.benefit_code,
        category=claim.category, rule_version=claim.rule_version, event_date=claim.event_date,
        event_end_date=claim.event_end_date, days=claim.days, details=claim.details, amount_satang=claim.amount_satang,
        status=claim.status, reason=claim.reason, submitted_by=claim.submitted_by, submitted_role=claim.submitted_role,
        approvals_needed=claim.approvals_needed, approvals=list(approvals), payout_status=claim.payout_status,
        payout_error=claim.payout_error, paid_at=claim.paid_at, created_at=claim.created_at, decided_at=claim.decided_at,
        events=[ClaimEventOut.model_validate(e) for e in events],
        documents=[DocumentOut.model_validate(d) for d in visible], pending=pending,
    )


async def missing_documents(session: AsyncSession, claim: Claim, documents: list[ClaimDocument] | None = None) -> list[str]:
    """Documents the claim's own rule version requires and that are not attached yet."""
    version = await session.get(RuleVersion, (claim.fund_id, claim.benefit_code, claim.rule_version))
    required = Rules.model_validate(version.rules).required_documents if version else []
    have = {d.kind for d in (documents if documents is not None else await documents_of(session, claim.fund_id, claim.id))}
    return [d for d in required if d not in have]


def _ensure_status(claim: Claim, allowed: tuple[str, ...], action: str) -> None:
    if claim.status not in allowed:
        raise Conflict("claim.transition", params={"status": claim.status, "action": action})


async def review(*, session: AsyncSession, claim: Claim, principal: Principal) -> Claim:
    _ensure_status(claim, ("submitted",), "reviewed")
    claim.status = "under_review"
    await _event(session, claim, "under_review", "review", principal, from_status="submitted")
    return claim


async def approve(*, session: AsyncSession, claim: Claim, principal: Principal) -> Claim:
    """Maker-checker: never the submitter; above the fund's threshold, two different approvers."""
    _ensure_status(claim, OPEN, "approved")
    if principal.subject == claim.submitted_by:
        raise Forbidden("claim.self_approval")
    if await session.get(ClaimApproval, (claim.fund_id, claim.id, principal.subject)) is not None:
        raise Conflict("claim.already_approved_by_you")
    missing = await missing_documents(session, claim)
    if missing:
        raise SajjaError("claim.documents_missing", status_code=422, params={"documents": ", ".join(missing)})
    session.add(ClaimApproval(fund_id=claim.fund_id, claim_id=claim.id, approver=principal.subject))
    await session.flush()
    count = await session.scalar(select(func.count()).select_from(ClaimApproval).where(
        ClaimApproval.fund_id == claim.fund_id, ClaimApproval.claim_id == claim.id))
    assert count is not None  # count(*)
    before = claim.status
    if count >= claim.approvals_needed:
        claim.status, claim.decided_at = "approved", utcnow()
        claim.payout_status, claim.next_attempt_at = "pending", utcnow()
        await _event(session, claim, "approved", "approve", principal, from_status=before)
    else:
        claim.status = "under_review"
        await _event(session, claim, "under_review", "first_approval", principal, note=f"{count}/{claim.approvals_needed}",
                     from_status=before)
    return claim


async def reject(*, session: AsyncSession, claim: Claim, principal: Principal, reason: str) -> Claim:
    _ensure_status(claim, OPEN, "rejected")
    before = claim.status
    claim.status, claim.reason, claim.decided_at = "rejected", reason, utcnow()
    await _event(session, claim, "rejected", "reject", principal, note=reason, from_status=before)
    return claim


async def cancel(*, session: AsyncSession, claim: Claim, principal: Principal, reason: str) -> Claim:
    """The submitter or the committee withdraws an open claim; a held payout may be cancelled too."""
    held = claim.status == "approved" and claim.payout_status == "held"
    if not held:
        _ensure_status(claim, OPEN, "cancelled")
    if principal.role not in STAFF and principal.subject != claim.submitted_by:
        raise Forbidden()
    before = claim.status
    claim.status, claim.reason, claim.decided_at = "cancelled", reason, utcnow()
    if held:
        claim.payout_status = "none"
    await _event(session, claim, "cancelled", "cancel", principal, note=reason, from_status=before)
    return claim


async def release(*, session: AsyncSession, claim: Claim, principal: Principal) -> Claim:
    """The committee decides to pay a held claim despite the reserve floor."""
    if not (claim.status == "approved" and claim.payout_status == "held"):
        raise Conflict("claim.not_held")
    claim.reserve_override, claim.payout_status, claim.next_attempt_at, claim.payout_error = True, "pending", utcnow(), None
    await _event(session, claim, "approved", "release", principal, note="paid despite the reserve floor", from_status="approved")
    return claim


async def listing(
    session: AsyncSession, principal: Principal, fund_id: uuid.UUID, status: str | None, member_id: uuid.UUID | None,
    limit: int, cursor: str | None,
) -> tuple[list[ClaimListItem], str | None]:
    query = select(Claim).where(Claim.fund_id == fund_id)
    if principal.role is Role.member:
        query = query.where(Claim.member_id == principal.member_id)
    elif member_id is not None:
        query = query.where(Claim.member_id == member_id)
    if status:
        query = query.where(Claim.status == status)
    key = after_key(cursor, dt.datetime.fromisoformat, uuid.UUID)
    if key is not None:
        query = query.where(tuple_(Claim.created_at, Claim.id) < key)
    rows, next_cursor = split_page((await session.scalars(query.order_by(Claim.created_at.desc(), Claim.id.desc()).limit(limit + 1))).all(),
                                   limit, lambda c: (c.created_at.isoformat(), c.id))
    items = [ClaimListItem(id=c.id, member_id=c.member_id, benefit_code=c.benefit_code, event_date=c.event_date,
                           amount_satang=c.amount_satang, status=c.status, payout_status=c.payout_status,
                           created_at=c.created_at) for c in rows]
    return items, next_cursor

