"""The payout worker: approved claims are paid through the ledger, exactly once.

Each pass takes approved claims with payout pending (``FOR UPDATE SKIP LOCKED``, so several
workers never take the same claim) and posts a payout to the ledger with the claim's id as its
idempotency key. Whatever happens to the answer, the next attempt sends the same request: if the
first one landed, the ledger replays it and the claim is marked paid; nothing is paid twice. A
ledger that is slow or down leaves the claim approved with payout pending, tried again with
backoff. A payout the ledger refuses for the reserve floor (or a lack of money) is held, with the
reason, until the committee releases or cancels it.
"""

from __future__ import annotations

import datetime as dt
import logging

import httpx
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.benefits.catalog.service import settings_of
from services.benefits.claims.service import record_event
from services.benefits.models import Claim
from shared.db import Database
from shared.ledger_client import LedgerClient
from shared.timeutil import bangkok_today, utcnow

log = logging.getLogger("sajja.benefits.payouts")

HOLD_CODES = frozenset({"payout.below_reserve", "entry.balance_would_go_negative"})
MAX_BACKOFF_SECONDS = 300


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(2 ** attempts, MAX_BACKOFF_SECONDS))


async def _record(session: AsyncSession, claim: Claim, action: str, to_status: str, note: str | None) -> None:
    await record_event(session, claim, from_status="approved", to_status=to_status, action=action,
                       actor="svc-benefits", actor_role="service", note=note)


async def pay_one(db: Database, ledger: LedgerClient) -> bool:
    """Try to pay one due claim; False when there was none."""
    async with db.sessionmaker() as session:
        async with session.begin():
            claim = await session.scalar(
                select(Claim).where(
                    Claim.status == "approved", Claim.payout_status == "pending",
                    or_(Claim.next_attempt_at.is_(None), Claim.next_attempt_at <= utcnow()),
                ).order_by(Claim.next_attempt_at).limit(1).with_for_update(skip_locked=True)
            )
            if claim is None:
                return False
            settings = await settings_of(session, claim.fund_id)
            body = {
                "id": str(claim.id), "category": claim.category, "amount_satang": claim.amount_satang,
                "paid_on": bangkok_today().isoformat(), "paid_from": settings.paid_from,
                "reference": f"claim {claim.id}",
                "reserve_floor_satang": None if claim.reserve_override else settings.reserve_floor_satang,
            }
            claim.payout_attempts += 1
            try:
                answer = await ledger.post(claim.fund_id, "payouts", body)
            except httpx.HTTPError as exc:
                claim.payout_error = f"ledger unreachable: {type(exc).__name__}"[:300]
                claim.next_attempt_at = utcnow() + backoff(claim.payout_attempts)
                log.warning("payout of claim %s: %s; retrying", claim.id, claim.payout_error)
                return True
            if answer.status_code in (200, 201):
                claim.status, claim.payout_status, claim.payout_error = "paid", "paid", None
                claim.paid_entry_id, claim.paid_at = answer.body.get("entry_id"), utcnow()
                await _record(session, claim, "payout", "paid", f"entry {claim.paid_entry_id}")
            elif answer.code in HOLD_CODES:
                claim.payout_status, claim.payout_error = "held", answer.body.get("detail", answer.code)[:300]
                await _record(session, claim, "payout_held", "approved", claim.payout_error)
            else:
                claim.payout_error = f"ledger answered {answer.status_code} {answer.code or ''}".strip()[:300]
                claim.next_attempt_at = utcnow() + backoff(claim.payout_attempts)
                log.warning("payout of claim %s: %s; retrying", claim.id, claim.payout_error)
            return True


async def pay_due(db: Database, ledger: LedgerClient, limit: int = 50) -> int:
    """One pass: pay up to ``limit`` due claims; returns how many were tried."""
    tried = 0
    while tried < limit and await pay_one(db, ledger):
        tried += 1
    return tried

