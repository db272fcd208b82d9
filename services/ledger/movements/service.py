"""Money that moves other than deposits: co-funding received, cash handed over, administration
expenses (within the fund's cap), and reversals. Each is idempotent by its client ``id``.
Expenses and reversals are planned here and posted when a second person of the fund confirms
them (``services.ledger.proposals``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.chart import account_of_kind, collector_cash_account, ensure_fund
from services.ledger.models import Account, Deposit, IdempotencyRecord, JournalEntry, LedgerFund, Movement, Posting
from services.ledger.posting import (
    FLOWLESS_KINDS,
    Reversed,
    lock_fund,
    not_flowless,
    post_entry,
    remember,
    replay,
    request_hash,
    reverses,
)
from services.ledger.schemas import MovementOut
from shared.auth import Principal
from shared.errors import Conflict, NotFound, SajjaError, register_messages
from shared.fiscal import fiscal_year_of, year_bounds
from shared.members_client import MembersDirectory
from shared.timeutil import bangkok_today

register_messages(
    {
        "movement.id_taken": {
            "th": ("รหัสรายการถูกใช้แล้ว", "รหัสรายการ {id} ถูกใช้กับรายการอื่นแล้ว"),
            "en": ("Id already used", "Id {id} is already used by another movement"),
        },
        "entry.balance_would_go_negative": {
            "th": ("ยอดเงินไม่พอ", "บัญชี {code} ({name}) มียอดไม่พอสำหรับรายการนี้"),
            "en": ("Insufficient balance", "Account {code} ({name}) does not have enough for this"),
        },
        "expense.admin_cap_exceeded": {
            "th": ("เกินเพดานค่าบริหาร", "ค่าใช้จ่ายบริหารปี {year} จะเกิน {cap_pct}% ของรายรับ (ใช้ได้อีก {available_satang} สตางค์)"),
            "en": ("Administration cap exceeded", "Administration expense for {year} would exceed {cap_pct}% of income ({available_satang} satang left)"),
        },
        "entry.not_found": {
            "th": ("ไม่พบรายการ", "ไม่พบรายการบัญชีนี้ในกองทุน"),
            "en": ("Entry not found", "No such journal entry in this fund"),
        },
        "entry.already_reversed": {
            "th": ("กลับรายการแล้ว", "รายการนี้ถูกกลับรายการไปแล้ว"),
            "en": ("Already reversed", "This entry has already been reversed"),
        },
        "entry.holds_deposits": {
            "th": ("กลับรายการฝากทีละรายการ", "รายการนี้รวมเงินฝากของสมาชิก ให้กลับรายการฝากทีละใบเสร็จ"),
            "en": ("Reverse deposits one by one", "This entry holds members' deposits: reverse each deposit on its own"),
        },
        "entry.is_year_closing": {
            "th": ("กลับรายการปิดบัญชีไม่ได้", "รายการปิดบัญชีประจำปีจะยกเลิกได้โดยการเปิดปีบัญชีใหม่เท่านั้น"),
            "en": ("A closing entry", "A year's closing entry is undone only by reopening the year"),
        },
        "deposit.already_reversed": {
            "th": ("กลับรายการฝากแล้ว", "รายการฝากใบเสร็จเลขที่ {receipt_no} ถูกกลับรายการไปแล้ว"),
            "en": ("Deposit already reversed", "The deposit of receipt {receipt_no} has already been reversed"),
        },
        "entry.is_reversal": {
            "th": ("กลับรายการซ้อนไม่ได้", "รายการนี้เป็นการกลับรายการอยู่แล้ว"),
            "en": ("Cannot reverse a reversal", "This entry is itself a reversal"),
        },
        "payout.below_reserve": {
            "th": ("ต่ำกว่าเงินสำรอง", "จ่ายแล้วเงินสดและเงินฝากจะเหลือ {after_satang} สตางค์ ต่ำกว่าเงินสำรองขั้นต่ำ {floor_satang} สตางค์"),
            "en": ("Below the reserve", "After paying, cash and bank would hold {after_satang} satang, below the reserve of {floor_satang}"),
        },
        "handover.collector_unknown": {
            "th": ("ไม่พบอาสาสมัคร", "ผู้ส่งมอบเงินไม่ใช่อาสาสมัครของกองทุนนี้"),
            "en": ("Unknown collector", "This is not a collector of this fund"),
        },
    }
)

Legs = list[tuple[uuid.UUID, int]]


def balance_allowed(account: Account, balance: int) -> bool:
    """The rule the database checks: normal-side balances only, unless the account allows negatives."""
    if account.allow_negative:
        return True
    return balance >= 0 if account.type in ("asset", "expense") else balance <= 0


async def ensure_balances_allow(session: AsyncSession, fund_id: uuid.UUID, legs: Legs) -> None:
    """Refuse, with a clear 422, what the balance check would refuse at the database."""
    deltas: dict[uuid.UUID, int] = {}
    for account_id, amount in legs:
        deltas[account_id] = deltas.get(account_id, 0) + amount
    accounts = (await session.scalars(
        select(Account).where(Account.fund_id == fund_id, Account.id.in_(list(deltas)))
        .execution_options(populate_existing=True)
    )).all()
    for account in accounts:
        if not balance_allowed(account, account.balance_satang + deltas[account.id]):
            raise SajjaError("entry.balance_would_go_negative", status_code=422,
                             params={"code": account.code, "name": account.name_th})


def to_out(movement: Movement, posted_at: dt.datetime) -> MovementOut:
    return MovementOut(
        id=movement.id, kind=movement.kind, amount_satang=movement.amount_satang, business_date=movement.business_date,
        source=movement.source, collector_id=movement.collector_id, reference=movement.reference,
        entry_id=movement.entry_id, posted_at=posted_at,
    )


#: What a movement posts: the movement, its legs, the entry's memo, and what it reverses if anything.
Planned = tuple[Movement, Legs, str | None, Reversed | None]
Plan = Callable[[LedgerFund], Awaitable[Planned]]


async def record(
    *,
    session: AsyncSession,
    fund_id: uuid.UUID,
    principal: Principal,
    movement_id: uuid.UUID,
    payload: dict[str, Any],
    plan: Plan,
) -> tuple[int, dict[str, Any], bool]:
    """Run one idempotent money movement; returns (status, body, replayed)."""
    fund = await lock_fund(session, fund_id)
    key = f"movement:{movement_id}"
    fingerprint = request_hash(payload)
    earlier = await replay(session, fund_id=fund_id, caller=principal.subject, key=key, payload_hash=fingerprint)
    if earlier is not None:
        return earlier.status_code, earlier.response, True
    await ensure_movement_id_free(session, fund_id, movement_id)
    body = await post_movement(session, fund_id=fund_id, fund=fund, by=principal.subject, plan=plan)
    await remember(session, fund_id=fund_id, caller=principal.subject, key=key, payload_hash=fingerprint,
                   status_code=201, response=body)
    return 201, body, False


async def ensure_movement_id_free(session: AsyncSession, fund_id: uuid.UUID, movement_id: uuid.UUID) -> None:
    if await session.get(Movement, (fund_id, movement_id)) is not None:
        raise Conflict("movement.id_taken", params={"id": str(movement_id)})


async def post_movement(
    session: AsyncSession, *, fund_id: uuid.UUID, fund: LedgerFund, by: str, plan: Plan
) -> dict[str, Any]:
    """Judge ``plan`` against the books now (under the fund's lock) and post it; the movement as
    answered. Anything it refuses raises before a row is written."""
    movement, legs, memo, reverses = await plan(fund)
    await ensure_balances_allow(session, fund_id, legs)
    entry_id, posted_at = await post_entry(
        session, fund_id=fund_id, kind=movement.kind, business_date=movement.business_date, legs=legs,
        by=by, memo=memo, reverses=reverses,
    )
    movement.entry_id = entry_id
    session.add(movement)
    await session.flush()
    return to_out(movement, posted_at).model_dump(mode="json")


def _movement(fund_id: uuid.UUID, movement_id: uuid.UUID, kind: str, amount: int, date: dt.date, by: str, **extra: Any) -> Movement:
    return Movement(fund_id=fund_id, id=movement_id, kind=kind, amount_satang=amount, business_date=date, created_by=by, **extra)


async def co_funding(*, session: AsyncSession, directory: MembersDirectory, fund_id: uuid.UUID, principal: Principal, data: Any) -> tuple[int, dict[str, Any], bool]:
    """Money from a co-funder: into bank (or cash), income of its source."""
    await ensure_fund(session, directory, fund_id)

    async def plan(fund: LedgerFund) -> Planned:
        into = await account_of_kind(session, fund_id, data.into)
        income = await account_of_kind(session, fund_id, "income", data.source)
        movement = _movement(fund_id, data.id, "co_funding", data.amount_satang, data.received_on, principal.subject,
                             source=data.source, reference=data.reference)
        return movement, [(into.id, data.amount_satang), (income.id, -data.amount_satang)], data.reference, None

    return await record(session=session, fund_id=fund_id, principal=principal, movement_id=data.id,
                        payload=data.model_dump(mode="json"), plan=plan)


async def handover(
    *, session: AsyncSession, directory: MembersDirectory, fund_id: uuid.UUID, principal: Principal, data: Any, ttl: int
) -> tuple[int, dict[str, Any], bool]:
    """Cash a collector hands to the treasurer: out of their cash in hand, into fund cash or bank."""
    await ensure_fund(session, directory, fund_id)
    cash_in_hand = await collector_cash_account(session, directory, fund_id, data.collector_id, ttl)
    if cash_in_hand is None:
        raise SajjaError("handover.collector_unknown", status_code=422)

    async def plan(fund: LedgerFund) -> Planned:
        into = await account_of_kind(session, fund_id, data.into)
        movement = _movement(fund_id, data.id, "handover", data.amount_satang, data.handed_over_on, principal.subject,
                             collector_id=data.collector_id, reference=data.reference)
        return movement, [(into.id, data.amount_satang), (cash_in_hand, -data.amount_satang)], data.reference, None

    return await record(session=session, fund_id=fund_id, principal=principal, movement_id=data.id,
                        payload=data.model_dump(mode="json"), plan=plan)


#: What identifies a payout: a payout of the same claim is the same payout if these agree.
PAYOUT_IDENTITY = ("id", "category", "amount_satang")


async def benefit_payout(
    *, session: AsyncSession, directory: MembersDirectory, fund_id: uuid.UUID, principal: Principal, data: Any
) -> tuple[int, dict[str, Any], bool]:
    """Pay an approved benefit claim: benefit expense of its category, out of bank or cash. The
    claim id is the key, so a retry after a lost answer never pays twice.

    A payout is recognised again by (fund, claim id), whoever posted it first, and compared only on
    what identifies it (``PAYOUT_IDENTITY``): the benefits worker sends the day it sends and the
    fund's current settings, so a retry after midnight or after a change of settings differs in
    ``paid_on``, ``paid_from``, ``reference`` or the floor, and gets the first answer all the same
    (before the floor is judged again). Another amount or category is 409."""
    await ensure_fund(session, directory, fund_id)
    await lock_fund(session, fund_id)  # held to the end of the transaction; ``record`` takes it again
    paid = await session.get(Movement, (fund_id, data.id), populate_existing=True)
    if paid is not None:
        return await _payout_replay(session, fund_id, paid, data)

    async def plan(fund: LedgerFund) -> Planned:
        if data.reserve_floor_satang is not None:
            available = await session.scalar(select(func.coalesce(func.sum(Account.balance_satang), 0)).where(
                Account.fund_id == fund_id, Account.kind.in_(("fund_cash", "bank"))))
            after = int(available or 0) - data.amount_satang
            if after < data.reserve_floor_satang:
                raise Conflict("payout.below_reserve", params={"after_satang": after, "floor_satang": data.reserve_floor_satang})
        expense = await account_of_kind(session, fund_id, "benefit_expense", data.category)
        paid_from = await account_of_kind(session, fund_id, data.paid_from)
        movement = _movement(fund_id, data.id, "benefit_payout", data.amount_satang, data.paid_on, principal.subject,
                             source=data.category, reference=data.reference)
        return movement, [(expense.id, data.amount_satang), (paid_from.id, -data.amount_satang)], data.reference, None

    identity = data.model_dump(mode="json", include=set(PAYOUT_IDENTITY))
    return await record(session=session, fund_id=fund_id, principal=principal, movement_id=data.id,
                        payload=identity, plan=plan)


async def _payout_replay(session: AsyncSession, fund_id: uuid.UUID, paid: Movement, data: Any) -> tuple[int, dict[str, Any], bool]:
    """The first answer for a claim already paid, if this payout is the same one; 409 if not."""
    if paid.kind != "benefit_payout":
        raise Conflict("movement.id_taken", params={"id": str(paid.id)})
    if (paid.amount_satang, paid.source) != (data.amount_satang, data.category):
        raise Conflict("idempotency.key_reused", params={"key": f"movement:{paid.id}"})
    first = await session.get(IdempotencyRecord, (fund_id, paid.created_by, f"movement:{paid.id}"))
    if first is not None:
        return first.status_code, first.response, True
    posted_at = await session.scalar(select(JournalEntry.posted_at).where(
        JournalEntry.fund_id == fund_id, JournalEntry.id == paid.entry_id))
    assert posted_at is not None, "a paid movement has its journal entry"
    return 201, to_out(paid, posted_at).model_dump(mode="json"), True


async def _sum_postings(session: AsyncSession, fund_id: uuid.UUID, kinds: tuple[str, ...], start: dt.date, end: dt.date) -> int:
    total = await session.scalar(
        select(func.coalesce(func.sum(Posting.amount_satang), 0))
        .join(Account, (Account.fund_id == Posting.fund_id) & (Account.id == Posting.account_id))
        .where(Posting.fund_id == fund_id, Account.kind.in_(kinds), Posting.business_date >= start,
               Posting.business_date <= end, not_flowless(Posting.fund_id, Posting.entry_id))
    )
    return int(total or 0)


#: Income accounts of every kind: by source, each member's, and the members' contra (which moves
#: only with a member's account, so a correction of a closed year nets to nothing here).
INCOME_KINDS = ("income", "member_contribution", "contribution_closed")


async def year_income(session: AsyncSession, fund_id: uuid.UUID, start: dt.date, end: dt.date) -> int:
    """A fiscal year's income (all sources, member contributions included), as a positive number."""
    return -await _sum_postings(session, fund_id, INCOME_KINDS, start, end)


# Administration expenses and reversals are proposed by one person of the fund and posted when
# another confirms (``services.ledger.proposals``): what each posts is planned here, judged when
# proposed and again, under the fund's lock, when confirmed.


def admin_expense(*, session: AsyncSession, fund_id: uuid.UUID, data: Any, by: str) -> Plan:
    """An administration expense, refused when the year's administration would pass the fund's cap
    (default 20% of the income of the fund's fiscal year of the expense's date)."""

    async def plan(fund: LedgerFund) -> Planned:
        year = fiscal_year_of(data.paid_on, fund.fiscal_year_start_month)
        start, end = year_bounds(year, fund.fiscal_year_start_month)
        income = await year_income(session, fund_id, start, end)
        spent = await _sum_postings(session, fund_id, ("admin_expense",), start, end)
        cap = income * fund.admin_cap_bp // 10_000
        if spent + data.amount_satang > cap:
            raise SajjaError("expense.admin_cap_exceeded", status_code=422, params={
                "year": year, "cap_pct": f"{fund.admin_cap_bp / 100:g}", "available_satang": max(0, cap - spent)})
        expense = await account_of_kind(session, fund_id, "admin_expense")
        paid_from = await account_of_kind(session, fund_id, data.paid_from)
        movement = _movement(fund_id, data.id, "admin_expense", data.amount_satang, data.paid_on, by,
                             reference=data.memo[:200])
        return movement, [(expense.id, data.amount_satang), (paid_from.id, -data.amount_satang)], data.memo, None

    return plan


def reverse(*, session: AsyncSession, fund_id: uuid.UUID, entry_id: uuid.UUID, data: Any, by: str) -> Plan:
    """Correct a mistake with an entry that undoes another, at most once per entry. An entry of
    deposits is not reversed whole (it may hold many members' money): see ``reverse_deposit``."""

    async def plan(fund: LedgerFund) -> Planned:
        original = await session.get(JournalEntry, (fund_id, entry_id))
        if original is None:
            raise NotFound("entry.not_found")
        if original.reverses_entry_id is not None:
            raise Conflict("entry.is_reversal")
        if original.kind == "deposit":
            raise Conflict("entry.holds_deposits")
        if original.kind in FLOWLESS_KINDS:
            raise Conflict("entry.is_year_closing")
        if await _reversal_of(session, fund_id, entry_id) is not None:
            raise Conflict("entry.already_reversed")
        postings = (await session.scalars(select(Posting).where(
            Posting.fund_id == fund_id, Posting.entry_id == entry_id).order_by(Posting.line))).all()
        legs = await prior_year_legs(session, fund, original.business_date,
                                     [(p.account_id, -p.amount_satang) for p in postings])
        amount = sum(p.amount_satang for p in postings if p.amount_satang > 0)
        movement = _movement(fund_id, data.id, "reversal", amount, bangkok_today(), by, reference=f"reverses {entry_id}")
        return movement, legs, data.reason, Reversed(entry_id)

    return plan


def reverse_deposit(*, session: AsyncSession, fund_id: uuid.UUID, deposit_id: uuid.UUID, data: Any, by: str) -> Plan:
    """Undo one deposit, at most once: its member's contribution debited back and its collector's
    cash in hand credited, by an entry naming the deposit's entry and line."""

    async def plan(fund: LedgerFund) -> Planned:
        deposit = await session.get(Deposit, (fund_id, deposit_id))
        if deposit is None:
            raise NotFound("deposit.not_found")
        # A deposit of the earlier shape (an entry of its own) may have been reversed whole.
        if await _reversal_of(session, fund_id, deposit.entry_id, deposit.entry_line) is not None:
            raise Conflict("deposit.already_reversed", params={"receipt_no": deposit.receipt_no})
        accounts = dict((await session.execute(select(Posting.line, Posting.account_id).where(
            Posting.fund_id == fund_id, Posting.entry_id == deposit.entry_id,
            Posting.line.in_((1, deposit.entry_line))))).all())
        # line 1 is the collector's cash in hand, the deposit's own line its member's contribution
        legs = [(accounts[deposit.entry_line], deposit.amount_satang), (accounts[1], -deposit.amount_satang)]
        dated = await session.scalar(select(Posting.business_date).where(
            Posting.fund_id == fund_id, Posting.entry_id == deposit.entry_id, Posting.line == 1))
        legs = await prior_year_legs(session, fund, dated, legs)
        movement = _movement(fund_id, data.id, "reversal", deposit.amount_satang, bangkok_today(), by,
                             reference=f"reverses receipt {deposit.receipt_no}")
        return movement, legs, data.reason, Reversed(deposit.entry_id, deposit.entry_line)

    return plan


async def prior_year_legs(session: AsyncSession, fund: LedgerFund, dated: dt.date | None, legs: Legs) -> Legs:
    """A correction of an entry of a closed year, posted in the open year (docs/fiscal-years.md):
    its income and expense legs go to the accumulated fund, which the closing carried them into,
    not to this year's income and expenditure. A member's contribution leg stays on the member's
    account (their total is what it is) and is matched by the members' contra, so the open
    year's income does not move either. An entry of an open year: the legs as they are."""
    if fund.closed_through is None or dated is None or dated > fund.closed_through:
        return legs
    accounts = {a.id: a for a in (await session.scalars(select(Account).where(
        Account.fund_id == fund.fund_id, Account.id.in_([a for a, _ in legs])))).all()}
    accumulated = await account_of_kind(session, fund.fund_id, "accumulated_fund")
    contra = await account_of_kind(session, fund.fund_id, "contribution_closed")
    moved: dict[uuid.UUID, int] = {}
    for account_id, amount in legs:
        kind, type_ = accounts[account_id].kind, accounts[account_id].type
        if kind == "member_contribution":
            moved[account_id] = moved.get(account_id, 0) + amount
            moved[contra.id] = moved.get(contra.id, 0) - amount
            moved[accumulated.id] = moved.get(accumulated.id, 0) + amount
        elif type_ in ("income", "expense"):
            moved[accumulated.id] = moved.get(accumulated.id, 0) + amount
        else:
            moved[account_id] = moved.get(account_id, 0) + amount
    return [(a, m) for a, m in moved.items() if m != 0]


async def _reversal_of(session: AsyncSession, fund_id: uuid.UUID, entry_id: uuid.UUID, line: int | None = None) -> uuid.UUID | None:
    """The entry that reversed ``entry_id`` whole or, when given, its ``line``."""
    return await session.scalar(select(JournalEntry.id).where(
        JournalEntry.fund_id == fund_id, reverses(entry_id, line)).limit(1))
