"""Maker-checker: administration expenses and reversals (of an entry, of a deposit) are proposed by
one person of the fund and posted only when another confirms them (docs/maker-checker.md).

A proposal's id is the client's request id, and the movement's once confirmed. Proposing judges
the request as posting would (the same codes), without posting; confirming takes the fund's
posting lock, judges it again against the books of that moment, posts it, and marks the proposal
confirmed in the same transaction, so a refusal leaves the proposal open and nothing written.
Each step is idempotent: the same proposal again is answered as it stands; a decision again, with
the decision already made.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.chart import ensure_fund
from services.ledger.models import LedgerFund, Proposal
from services.ledger.movements import service as movements
from services.ledger.posting import ensure_open, lock_fund, request_hash
from services.ledger.schemas import ExpenseIn, ProposalOut, ProposalPage, ReversalIn
from shared.auth import Principal
from shared.errors import Conflict, Forbidden, NotFound, register_messages
from shared.members_client import MembersDirectory
from shared.pagination import after_key, split_page
from shared.timeutil import utcnow

register_messages(
    {
        "proposal.not_found": {
            "th": ("ไม่พบคำขอ", "ไม่พบคำขอรายการเงินนี้ในกองทุน"),
            "en": ("Proposal not found", "No such proposal in this fund"),
        },
        "proposal.persons_of_the_fund_only": {
            "th": ("เฉพาะกรรมการของกองทุน",
                   "ค่าใช้จ่ายบริหารและการกลับรายการ เสนอ ยืนยัน หรือถอนได้เฉพาะกรรมการหรือผู้ดูแลของกองทุนนี้เท่านั้น"),
            "en": ("Persons of the fund only",
                   "Administration expenses and reversals are proposed, confirmed and withdrawn only by this fund's own "
                   "committee and fund admins"),
        },
        "proposal.confirm_own": {
            "th": ("ยืนยันคำขอของตนเองไม่ได้", "คุณเป็นผู้เสนอคำขอนี้ ต้องให้กรรมการหรือผู้ดูแลกองทุนอีกคนหนึ่งเป็นผู้ยืนยัน"),
            "en": ("Cannot confirm your own proposal", "You proposed this; another person of the fund must confirm it"),
        },
        "proposal.withdrawn": {
            "th": ("คำขอถูกถอนแล้ว", "คำขอ {id} ถูกถอนแล้ว จึงยืนยันไม่ได้"),
            "en": ("Proposal withdrawn", "Proposal {id} was withdrawn and cannot be confirmed"),
        },
        "proposal.already_confirmed": {
            "th": ("คำขอได้รับการยืนยันแล้ว", "คำขอ {id} ได้รับการยืนยันและบันทึกบัญชีแล้ว จึงถอนไม่ได้ ให้เสนอกลับรายการแทน"),
            "en": ("Already confirmed", "Proposal {id} was confirmed and posted, so it cannot be withdrawn; propose a reversal instead"),
        },
        "proposal.id_taken": {
            "th": ("รหัสคำขอถูกใช้แล้ว", "รหัส {id} เป็นคำขอที่ผู้อื่นเสนอไว้แล้ว"),
            "en": ("Id already used", "Id {id} is already another person's proposal"),
        },
    }
)

EXPENSE, ENTRY_REVERSAL, DEPOSIT_REVERSAL = "admin_expense", "entry_reversal", "deposit_reversal"

Answer = tuple[int, dict[str, Any], bool]


def to_out(proposal: Proposal) -> dict[str, Any]:
    return ProposalOut(
        id=proposal.id, kind=proposal.kind, status=proposal.status, amount_satang=proposal.amount_satang,
        reason=proposal.reason,
        reverses_entry_id=proposal.target_id if proposal.kind == ENTRY_REVERSAL else None,
        reverses_deposit_id=proposal.target_id if proposal.kind == DEPOSIT_REVERSAL else None,
        request=proposal.body, proposed_by=proposal.proposed_by, proposed_role=proposal.proposed_role,
        proposed_at=proposal.proposed_at, decided_by=proposal.decided_by, decided_role=proposal.decided_role,
        decided_at=proposal.decided_at, movement=proposal.result,
    ).model_dump(mode="json")


def _plan(session: AsyncSession, fund_id: uuid.UUID, kind: str, target_id: uuid.UUID | None, data: Any, by: str) -> movements.Plan:
    """What the proposal posts, as ``services.ledger.movements`` plans it."""
    if kind == EXPENSE:
        return movements.admin_expense(session=session, fund_id=fund_id, data=data, by=by)
    assert target_id is not None
    if kind == ENTRY_REVERSAL:
        return movements.reverse(session=session, fund_id=fund_id, entry_id=target_id, data=data, by=by)
    return movements.reverse_deposit(session=session, fund_id=fund_id, deposit_id=target_id, data=data, by=by)


def _request(proposal: Proposal) -> Any:
    return (ExpenseIn if proposal.kind == EXPENSE else ReversalIn).model_validate(proposal.body)


async def _get(session: AsyncSession, fund_id: uuid.UUID, proposal_id: uuid.UUID, *, lock: bool = False) -> Proposal:
    query = select(Proposal).where(Proposal.fund_id == fund_id, Proposal.id == proposal_id)
    if lock:
        query = query.with_for_update()
    proposal = await session.scalar(query.execution_options(populate_existing=True))
    if proposal is None:
        raise NotFound("proposal.not_found")
    return proposal


def _again(proposal: Proposal, principal: Principal, fingerprint: bytes) -> Answer:
    """A proposal made with this id before: the same one from the same person is answered as it is
    now (a replay); anything else is a conflict."""
    if proposal.proposed_by != principal.subject:
        raise Conflict("proposal.id_taken", params={"id": str(proposal.id)})
    if proposal.request_hash != fingerprint:
        raise Conflict("idempotency.key_reused", params={"key": str(proposal.id)})
    return 200, to_out(proposal), True


async def propose(
    *, session: AsyncSession, directory: MembersDirectory, fund_id: uuid.UUID, principal: Principal, kind: str,
    data: ExpenseIn | ReversalIn, target_id: uuid.UUID | None = None,
) -> Answer:
    """Record a proposal, judged as posting would judge it now (nothing is posted); (status, body, replayed)."""
    await ensure_fund(session, directory, fund_id)
    body = data.model_dump(mode="json")
    fingerprint = request_hash({"kind": kind, "target": target_id, "body": body})
    earlier = await session.get(Proposal, (fund_id, data.id), populate_existing=True)
    if earlier is not None:
        return _again(earlier, principal, fingerprint)
    await movements.ensure_movement_id_free(session, fund_id, data.id)
    # Judged without the fund's lock, and judged again under it when confirmed.
    fund = await session.get(LedgerFund, fund_id)
    assert fund is not None
    movement, legs, _, _ = await _plan(session, fund_id, kind, target_id, data, principal.subject)(fund)
    await ensure_open(session, fund_id, movement.business_date)
    await movements.ensure_balances_allow(session, fund_id, legs)
    made = await session.scalar(insert(Proposal).values(
        fund_id=fund_id, id=data.id, kind=kind, target_id=target_id, body=body, request_hash=fingerprint,
        amount_satang=movement.amount_satang, reason=data.memo if isinstance(data, ExpenseIn) else data.reason,
        proposed_by=principal.subject, proposed_role=principal.role.value, proposed_at=utcnow(), status="proposed",
    ).on_conflict_do_nothing().returning(Proposal.id))
    proposal = await _get(session, fund_id, data.id)
    if made is None:  # the same id proposed at the same moment, and committed first
        return _again(proposal, principal, fingerprint)
    return 202, to_out(proposal), False


async def confirm(*, session: AsyncSession, fund_id: uuid.UUID, principal: Principal, proposal_id: uuid.UUID) -> Answer:
    """A second person of the fund confirms: the money is posted and the proposal confirmed, in this
    transaction. Confirmed already: the first answer again, never a second posting."""
    proposal = await _get(session, fund_id, proposal_id)
    if proposal.proposed_by == principal.subject:
        raise Forbidden("proposal.confirm_own")
    fund: LedgerFund | None = None
    if proposal.status == "proposed":
        fund = await lock_fund(session, fund_id)
        proposal = await _get(session, fund_id, proposal_id, lock=True)
    if proposal.status == "confirmed":
        return 200, to_out(proposal), True
    if proposal.status == "withdrawn":
        raise Conflict("proposal.withdrawn", params={"id": str(proposal.id)})
    assert fund is not None
    await movements.ensure_movement_id_free(session, fund_id, proposal.id)
    plan = _plan(session, fund_id, proposal.kind, proposal.target_id, _request(proposal), principal.subject)
    posted = await movements.post_movement(session, fund_id=fund_id, fund=fund, by=principal.subject, plan=plan)
    proposal.status, proposal.entry_id, proposal.result = "confirmed", uuid.UUID(posted["entry_id"]), posted
    _decided(proposal, principal)
    await session.flush()
    return 200, to_out(proposal), False


async def withdraw(*, session: AsyncSession, fund_id: uuid.UUID, principal: Principal, proposal_id: uuid.UUID) -> Answer:
    """The proposer, or another bookkeeper of the fund, withdraws a proposal still open. Withdrawn
    already: the same answer again."""
    proposal = await _get(session, fund_id, proposal_id, lock=True)
    if proposal.status == "withdrawn":
        return 200, to_out(proposal), True
    if proposal.status == "confirmed":
        raise Conflict("proposal.already_confirmed", params={"id": str(proposal.id)})
    proposal.status = "withdrawn"
    _decided(proposal, principal)
    await session.flush()
    return 200, to_out(proposal), False


def _decided(proposal: Proposal, principal: Principal) -> None:
    proposal.decided_by, proposal.decided_role, proposal.decided_at = principal.subject, principal.role.value, utcnow()


async def proposal(session: AsyncSession, fund_id: uuid.UUID, proposal_id: uuid.UUID) -> dict[str, Any]:
    return to_out(await _get(session, fund_id, proposal_id))


async def proposals(
    session: AsyncSession, fund_id: uuid.UUID, *, status: str | None, kind: str | None, limit: int, cursor: str | None,
) -> ProposalPage:
    """The fund's proposals, newest first, by status and kind when given."""
    query = select(Proposal).where(Proposal.fund_id == fund_id)
    if status is not None:
        query = query.where(Proposal.status == status)
    if kind is not None:
        query = query.where(Proposal.kind == kind)
    key = after_key(cursor, dt.datetime.fromisoformat, uuid.UUID)
    if key is not None:
        query = query.where(tuple_(Proposal.proposed_at, Proposal.id) < key)
    rows = (await session.scalars(query.order_by(Proposal.proposed_at.desc(), Proposal.id.desc()).limit(limit + 1))).all()
    page, next_cursor = split_page(rows, limit, lambda p: (p.proposed_at.isoformat(), p.id))
    return ProposalPage(items=[ProposalOut.model_validate(to_out(p)) for p in page], next_cursor=next_cursor)
