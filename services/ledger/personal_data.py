"""A member's personal data in the books: erased at the members service's request, gathered for the
member's download (docs/personal-data.md).

The ledger knows a member by id only: their contribution account, deposits, receipts, amounts and
dates, which the books must keep (and which name nobody once the members service has erased the
person). What may name them is free text: the memos of entries on their accounts and the reasons of
money proposals about their deposits or those entries. ``POST .../erase``
(``ledger.member_erase``) clears those, under the one exception the append-only triggers make
(migration 20261207_0013_memo_erasure: a memo to NULL, a proposal's reason to '-', nothing else).
Idempotent. ``GET .../export`` (``ledger.member_export``): the member's balance and whole statement.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from sqlalchemy import func, literal_column, or_, select, update

from services.ledger.access import MemberEraser, MemberExporter
from services.ledger.models import Account, Deposit, JournalEntry, Posting, Proposal
from services.ledger.reports import service as reports
from shared.db import DbSession, rowcount

router = APIRouter(prefix="/v1/ledger/internal/funds/{fund_id}/members/{member_id}", tags=["internal"])

ERASED_REASON = "-"
STATEMENT_PAGE = 500


@router.post("/erase")
async def erase_member(fund_id: uuid.UUID, member_id: uuid.UUID, session: DbSession, _: MemberEraser) -> dict[str, Any]:
    """Clear the free text about the member in the books; answers the counts erased, by kind."""
    accounts = select(Account.id).where(Account.fund_id == fund_id, Account.owner_id == member_id)
    entries = select(Posting.entry_id).where(Posting.fund_id == fund_id, Posting.account_id.in_(accounts))
    deposits = select(Deposit.id).where(Deposit.fund_id == fund_id, Deposit.member_id == member_id)
    memos = await session.execute(
        update(JournalEntry).where(JournalEntry.fund_id == fund_id, JournalEntry.id.in_(entries),
                                   JournalEntry.memo.is_not(None))
        .values(memo=None).execution_options(synchronize_session=False))
    reasons = await session.execute(
        update(Proposal).where(Proposal.fund_id == fund_id, Proposal.reason != ERASED_REASON,
                               or_(Proposal.target_id.in_(deposits), Proposal.target_id.in_(entries)))
        .values(reason=ERASED_REASON, body=literal_column("body - 'reason' - 'memo'"))
        .execution_options(synchronize_session=False))
    return {"erased": {"entry_memos": rowcount(memos), "proposal_reasons": rowcount(reasons)}}


@router.get("/export")
async def export_member(fund_id: uuid.UUID, member_id: uuid.UUID, session: DbSession, _: MemberExporter) -> Any:
    """The member's balance and their whole statement (deposits with receipts, reversals, payouts)."""
    lines: list[Any] = []
    cursor = None
    while True:
        page = await reports.statement(session, fund_id, member_id, STATEMENT_PAGE, cursor)
        lines.extend(page.lines)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    deposits = await session.scalar(select(func.count()).select_from(Deposit).where(
        Deposit.fund_id == fund_id, Deposit.member_id == member_id))
    return jsonable_encoder({"balance_satang": page.balance_satang, "deposits": deposits, "statement": lines})
