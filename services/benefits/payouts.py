"""The payout worker: approved claims are paid through the ledger, exactly once.

Each pass claims approved claims with payout pending, one at a time, with a lease (``FOR UPDATE
SKIP LOCKED`` in a short transaction that commits before the call, so replicas never take the same
claim and no lock is held while the ledger answers; docs/workers.md) and posts a payout to the
ledger with the claim's id as its idempotency key. Whatever happens to the answer, the next attempt sends the same request: if the
first one landed, the ledger replays it and the claim is marked paid; nothing is paid twice. A
ledger that is slow or down leaves the claim approved with payout pending, tried again with
backoff. A payout the ledger refuses for the reserve floor (or a lack of money) is held, with the
reason, until the committee releases or cancels it.
"""

from __future__ import annotations

import datetime as dt
import logging

import httpx
from sqlalchemy import or_
from sqlalchemy.ext.asyncio import AsyncSession

from services.benefits.catalog.service import settings_of
from services.benefits.claims.service import record_event
from services.benefits.models import Claim
from shared.db import Database
from shared import lease
from shared.lease import DEFAULT_LEASE_SECONDS
from shared.metrics import CLAIMS_PAID, PAYOUTS_FAILED
from shared.ledger_client import LedgerAnswer, LedgerClient
from shared.timeutil import bangkok_today, utcnow

log = logging.getLogger("sajja.benefits.payouts")

HOLD_CODES = frozenset({"payout.below_reserve", "entry.balance_would_go_negative"})
MAX_BACKOFF_SECONDS = 300


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(2 ** attempts, MAX_BACKOFF_SECONDS))


async def _record(session: AsyncSession, claim: Claim, action: str, to_status: str, note: str | None) -> None:
    await record_event(session, claim, from_status="approved", to_status=to_status, action=action,
                       actor="svc-benefits", actor_role="service", note=note)


async def pay_one(db: Database, ledger: LedgerClient, *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
    """Try to pay one due claim; False when there was none.

    The claim is claimed with a lease and the claim transaction commits before the ledger is
    asked; the answer is written in a second transaction, only if the lease is still ours
    (``shared.lease``). A replica that died in the call leaves the claim to be taken over when the
    lease runs out, and the ledger answers the same request again as a replay."""
    async with db.sessionmaker() as session, session.begin():
        claims = await lease.claim(
            session, Claim, Claim.status == "approved", Claim.payout_status == "pending",
            or_(Claim.next_attempt_at.is_(None), Claim.next_attempt_at <= utcnow()),
            order_by=Claim.next_attempt_at, seconds=lease_seconds)
        if not claims:
            return False
        due = claims[0]
        settings = await settings_of(session, due.fund_id)
        body = {
            "id": str(due.id), "category": due.category, "amount_satang": due.amount_satang,
            "paid_on": bangkok_today().isoformat(), "paid_from": settings.paid_from,
            "reference": f"claim {due.id}",
            "reserve_floor_satang": None if due.reserve_override else settings.reserve_floor_satang,
        }
        due.payout_attempts += 1
        key, token, attempts = (due.fund_id, due.id), due.claim_token, due.payout_attempts
    assert token is not None
    answer: LedgerAnswer | None = None
    error: str | None = None
    try:
        answer = await ledger.post(key[0], "payouts", body)
    except httpx.HTTPError as exc:
        error = f"ledger unreachable: {type(exc).__name__}"
    async with db.sessionmaker() as session, session.begin():
        claim = await lease.hold(session, Claim, key, token)
        if claim is None:
            log.warning("payout of claim %s: its lease passed to another worker; this answer is not recorded", key[1])
            return True
        lease.release(claim)
        if answer is None:
            claim.payout_error = (error or "")[:300]
            claim.next_attempt_at = utcnow() + backoff(attempts)
            log.warning("payout of claim %s: %s; retrying", claim.id, claim.payout_error)
            PAYOUTS_FAILED.labels("unreachable").inc()
        elif answer.status_code in (200, 201):
            claim.status, claim.payout_status, claim.payout_error = "paid", "paid", None
            claim.paid_entry_id, claim.paid_at = answer.body.get("entry_id"), utcnow()
            await _record(session, claim, "payout", "paid", f"entry {claim.paid_entry_id}")
            CLAIMS_PAID.inc()
        elif answer.code in HOLD_CODES:
            claim.payout_status, claim.payout_error = "held", answer.body.get("detail", answer.code)[:300]
            await _record(session, claim, "payout_held", "approved", claim.payout_error)
            PAYOUTS_FAILED.labels("held").inc()
        else:
            claim.payout_error = f"ledger answered {answer.status_code} {answer.code or ''}".strip()[:300]
            claim.next_attempt_at = utcnow() + backoff(attempts)
            log.warning("payout of claim %s: %s; retrying", claim.id, claim.payout_error)
            PAYOUTS_FAILED.labels("refused").inc()
        return True


async def pay_due(db: Database, ledger: LedgerClient, limit: int = 50, *,
                  lease_seconds: float = DEFAULT_LEASE_SECONDS) -> int:
    """One pass: pay up to ``limit`` due claims; returns how many were tried."""
    tried = 0
    while tried < limit and await pay_one(db, ledger, lease_seconds=lease_seconds):
        tried += 1
    return tried

