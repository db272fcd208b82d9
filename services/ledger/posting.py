"""Posting money: the fund's posting lock, balanced entries, and idempotent requests.

Every money-moving request of a fund takes the fund's row lock (``ledger_funds ... FOR UPDATE``)
before it moves a balance. That orders the fund's receipts and balance updates, so receipts have
no gaps, balances have no lost updates, checks like the administration cap see a settled ledger,
and two requests cannot deadlock on account rows. (A deposit sync writes its entries and
postings, new rows that wait on nobody, just before it takes the lock: migration 0009.) Funds do
not wait for each other.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson
from sqlalchemy import ColumnElement, and_, exists, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ledger.models import IdempotencyRecord, JournalEntry, LedgerFund
from shared.errors import Conflict, SajjaError, register_messages

register_messages(
    {
        "idempotency.key_reused": {
            "th": ("ใช้รหัสคำขอซ้ำกับข้อมูลอื่น", "รหัสคำขอ {key} เคยใช้กับข้อมูลที่ต่างจากครั้งนี้"),
            "en": ("Idempotency key reused", "Key {key} was used before with a different request"),
        },
        "period.closed": {
            "th": ("ปิดบัญชีปีนั้นแล้ว",
                   "บัญชีของกองทุนปิดถึงวันที่ {closed_through} แล้ว จึงบันทึกรายการลงวันที่ {date} ไม่ได้"
                   " ให้บันทึกในปีที่ยังเปิดอยู่ (การแก้ไขปีที่ปิดแล้ว ให้กลับรายการในปีที่เปิดอยู่)"),
            "en": ("Period closed",
                   "The fund's books are closed through {closed_through}: nothing can be dated {date}. Post it in the "
                   "open year (a correction to a closed year is a reversal in the open year)"),
        },
        "entry.unbalanced": {
            "th": ("รายการไม่สมดุล", "ยอดเดบิตและเครดิตต้องเท่ากัน และต้องมีอย่างน้อยสองบรรทัด"),
            "en": ("Unbalanced entry", "Debits must equal credits, over two or more postings"),
        },
    }
)

REPLAY_HEADER = "Idempotency-Replayed"

#: Entries that carry a year's result into the accumulated fund and undo that: transfers, left
#: out of every flow counted by date (income, expenditure, the administration cap).
FLOWLESS_KINDS = ("year_closing", "year_reopening")
#: The SQLSTATE ``ledger_post_entry`` raises for an entry dated into a closed year.
PERIOD_CLOSED_SQLSTATE = "SJ001"


def not_flowless(fund_id: Any, entry_id: Any) -> ColumnElement[bool]:
    """Postings (by their fund and entry) of entries that are flows: not a closing or reopening."""
    return ~exists().where(JournalEntry.fund_id == fund_id, JournalEntry.id == entry_id,
                           JournalEntry.kind.in_(FLOWLESS_KINDS)).correlate_except(JournalEntry)


async def ensure_open(session: AsyncSession, fund_id: uuid.UUID, day: dt.date) -> None:
    """409 ``period.closed`` when ``day`` lies in a closed year of the fund."""
    closed = await session.scalar(select(LedgerFund.closed_through).where(LedgerFund.fund_id == fund_id))
    if closed is not None and day <= closed:
        raise Conflict("period.closed", params={"date": day.isoformat(), "closed_through": closed.isoformat()})


def request_hash(payload: Any) -> bytes:
    """A stable hash of what a request asks for (sorted keys, ISO dates)."""
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str)).digest()


async def lock_fund(session: AsyncSession, fund_id: uuid.UUID) -> LedgerFund:
    """Take the fund's posting lock for the rest of the transaction."""
    fund: LedgerFund | None = await session.scalar(
        select(LedgerFund).where(LedgerFund.fund_id == fund_id).with_for_update().execution_options(populate_existing=True)
    )
    assert fund is not None, "ensure_fund first"
    return fund


def reverses(entry_id: Any, line: Any = None) -> ColumnElement[bool]:
    """Journal entries that reverse ``entry_id`` whole or, when given, its ``line`` (values or
    columns: a deposit is reversed by either; join on the fund as well)."""
    lines = JournalEntry.reverses_line.is_(None)
    if line is not None:
        lines = lines | (JournalEntry.reverses_line == line)
    return and_(JournalEntry.reverses_entry_id == entry_id, lines)


def stands(fund_id: Any, entry_id: Any, line: Any = None) -> ColumnElement[bool]:
    """Rows (a deposit, a movement, a posting) whose entry, or ``line`` of it, no journal entry of
    the fund reverses: what still counts in a report. A sum of postings over all time needs no
    such test (a reversal's postings cancel them); a sum up to a past day does, as the reversal
    may be dated later."""
    # The reversing entry is the subquery's own row, even inside a query that reads journal_entries.
    return ~exists().where(JournalEntry.fund_id == fund_id, reverses(entry_id, line)).correlate_except(JournalEntry)


class Reversed(NamedTuple):
    """What a reversal undoes: a whole entry (``line`` None), or one line of it (one deposit of a
    collector's entry). Each is undone at most once (a unique index)."""

    entry_id: uuid.UUID
    line: int | None = None


def check_balanced(legs: Sequence[tuple[uuid.UUID, int]]) -> None:
    """The rule the database enforces again at COMMIT: two or more non-zero legs summing to zero."""
    if len(legs) < 2 or any(amount == 0 for _, amount in legs) or sum(amount for _, amount in legs) != 0:
        raise SajjaError("entry.unbalanced", status_code=422)


async def post_entry(
    session: AsyncSession,
    *,
    fund_id: uuid.UUID,
    kind: str,
    business_date: dt.date,
    legs: Sequence[tuple[uuid.UUID, int]],
    by: str,
    memo: str | None = None,
    reverses: Reversed | None = None,
    entry_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, dt.datetime]:
    """Post one balanced entry (legs: account, signed satang, debit positive) and move balances."""
    check_balanced(legs)
    if kind not in FLOWLESS_KINDS:
        await ensure_open(session, fund_id, business_date)
    entry_id = entry_id or uuid.uuid4()
    # Callers hold the fund's lock (``lock_fund``), so ``ensure_open`` read what the function's
    # own check (SQLSTATE SJ001, the database's rule) will read.
    posted_at = await session.scalar(
        text("SELECT ledger_post_entry(:fund, :entry, :kind, :date, :memo, :by, :reverses, :accounts, :amounts, :line)"),
        {"fund": fund_id, "entry": entry_id, "kind": kind, "date": business_date, "memo": memo, "by": by,
         "reverses": reverses.entry_id if reverses else None, "line": reverses.line if reverses else None,
         "accounts": [a for a, _ in legs], "amounts": [m for _, m in legs]},
    )
    return entry_id, posted_at


async def replay(
    session: AsyncSession, *, fund_id: uuid.UUID, caller: str, key: str, payload_hash: bytes
) -> IdempotencyRecord | None:
    """The stored answer for this key, if any; 409 when the key came with a different request.
    Call it after ``lock_fund``, so the same key cannot be processed twice at once."""
    record = await session.get(IdempotencyRecord, (fund_id, caller, key))
    if record is None:
        return None
    if record.request_hash != payload_hash:
        raise Conflict("idempotency.key_reused", params={"key": key})
    return record


async def remember(
    session: AsyncSession, *, fund_id: uuid.UUID, caller: str, key: str, payload_hash: bytes, status_code: int,
    response: dict[str, Any],
) -> None:
    await session.execute(insert(IdempotencyRecord).values(
        fund_id=fund_id, caller=caller, key=key, request_hash=payload_hash, status_code=status_code,
        response=orjson.loads(orjson.dumps(response, default=str)),
    ))
