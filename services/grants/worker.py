"""The grants worker: disbursed tranches posted to the fund's ledger, and webhooks delivered.

Both are outboxes: the row that says "to do" is written in the same transaction as the change
that caused it, and the worker keeps trying until it lands. Ledger postings are exactly once
(the tranche id is the ledger's idempotency key). Webhooks are at least once; each carries a
delivery id, so a receiver can drop a repeat, and a signature over a timestamp and the body:

    Sajja-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

A receiver checks the HMAC in constant time and refuses a timestamp more than five minutes old,
so a captured delivery cannot be replayed later.

Before each delivery the target is checked again (``shared.outbound``: https, every address its
name resolves to now is public) and the request goes to the address that was checked, following no
redirect; a refused target fails the delivery with the rule that refused it and nothing of what it
would have answered. A delivery whose subscription's owner may not see the event is not sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import time
import uuid

import httpx
import orjson
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.grants.models import (
    Application,
    Program,
    Tranche,
    WebhookDelivery,
    WebhookSubscription,
)
from services.grants.service import LEDGER_SOURCE, may_hear
from shared import outbound
from shared.db import Database
from shared.ledger_client import LedgerClient
from shared.outbound import TargetPolicy, TargetRefused
from shared.timeutil import utcnow

log = logging.getLogger("sajja.grants.worker")

MAX_BACKOFF_SECONDS = 3600
MAX_WEBHOOK_ATTEMPTS = 12
SIGNATURE_TOLERANCE_SECONDS = 300


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(2 ** attempts, MAX_BACKOFF_SECONDS))


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: float | None = None) -> bool:
    """What a receiver does (and what the tests' receiver does): constant-time HMAC, fresh timestamp."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        return False
    expected = sign(secret, timestamp, body).split("v1=")[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _due(model: type, status_column: object, status: str) -> object:
    return (status_column == status) & or_(model.next_attempt_at.is_(None), model.next_attempt_at <= utcnow())


async def post_one_tranche(db: Database, ledger: LedgerClient) -> bool:
    async with db.sessionmaker() as session:
        async with session.begin():
            tranche = await session.scalar(select(Tranche).where(_due(Tranche, Tranche.ledger_status, "pending"))
                                           .order_by(Tranche.next_attempt_at).limit(1).with_for_update(skip_locked=True))
            if tranche is None:
                return False
            application = await session.get(Application, tranche.application_id)
            program = await session.get(Program, application.program_id)
            body = {"id": str(tranche.id), "source": LEDGER_SOURCE[program.grantor], "amount_satang": tranche.amount_satang,
                    "received_on": tranche.disbursed_on.isoformat(), "into": "bank",
                    "reference": f"{program.name} #{tranche.seq} {tranche.grantor_reference or ''}".strip()[:200]}
            tranche.ledger_attempts += 1
            try:
                answer = await ledger.post(tranche.fund_id, "co-funding", body)
            except httpx.HTTPError as exc:
                tranche.ledger_error, tranche.next_attempt_at = f"ledger unreachable: {type(exc).__name__}", utcnow() + backoff(tranche.ledger_attempts)
                return True
            if answer.status_code in (200, 201):
                tranche.ledger_status, tranche.ledger_error = "posted", None
                tranche.ledger_entry_id = answer.body.get("entry_id")
            else:
                tranche.ledger_error = f"ledger answered {answer.status_code} {answer.code or ''}".strip()[:300]
                tranche.next_attempt_at = utcnow() + backoff(tranche.ledger_attempts)
            return True


async def deliver_one(db: Database, http: httpx.AsyncClient, targets: TargetPolicy) -> bool:
    async with db.sessionmaker() as session:
        async with session.begin():
            delivery = await session.scalar(select(WebhookDelivery).where(_due(WebhookDelivery, WebhookDelivery.status, "pending"))
                                            .order_by(WebhookDelivery.next_attempt_at).limit(1).with_for_update(skip_locked=True))
            if delivery is None:
                return False
            await _deliver(session, http, targets, delivery)
            return True


async def _visible(session: AsyncSession, subscription: WebhookSubscription, delivery: WebhookDelivery) -> bool:
    """Whether the subscription's owner may see the delivery's event (again at delivery: a delivery
    written before, or sent again by hand, is held to today's rule)."""
    application_id = (delivery.payload.get("data") or {}).get("application_id")
    application = await session.get(Application, uuid.UUID(str(application_id))) if application_id else None
    program = await session.get(Program, application.program_id) if application is not None else None
    return program is not None and may_hear(subscription, program, application)


async def _deliver(session: AsyncSession, http: httpx.AsyncClient, targets: TargetPolicy, delivery: WebhookDelivery) -> None:
    subscription = await session.get(WebhookSubscription, delivery.subscription_id)
    delivery.attempts += 1
    if not await _visible(session, subscription, delivery):
        delivery.status, delivery.last_status_code, delivery.last_error = "failed", None, "not visible to the subscription's owner"
        return
    try:
        target = await targets.check(subscription.url)
    except TargetRefused as refused:
        # Nothing was sent, so there is no answer to show, and none of an earlier attempt either.
        delivery.last_status_code, delivery.last_error = None, f"target refused: {refused}"
        if refused.code != outbound.UNRESOLVABLE or delivery.attempts >= MAX_WEBHOOK_ATTEMPTS:
            delivery.status = "failed"
        else:
            delivery.next_attempt_at = utcnow() + backoff(delivery.attempts)
        return
    body = orjson.dumps({"id": str(delivery.id), **delivery.payload})
    timestamp = int(time.time())
    try:
        status_code = await outbound.post(http, target, content=body, headers={
            "Content-Type": "application/json", "Sajja-Event": delivery.event, "Sajja-Delivery": str(delivery.id),
            "Sajja-Signature": sign(subscription.secret, timestamp, body)}, timeout=10)
        delivery.last_status_code = status_code
        delivery.last_error = "redirect not followed" if 300 <= status_code < 400 else None
        ok = 200 <= status_code < 300
    except httpx.HTTPError as exc:
        delivery.last_status_code, delivery.last_error, ok = None, type(exc).__name__, False
    if ok:
        delivery.status, delivery.delivered_at = "delivered", utcnow()
    elif delivery.attempts >= MAX_WEBHOOK_ATTEMPTS:
        delivery.status = "failed"
    else:
        delivery.next_attempt_at = utcnow() + backoff(delivery.attempts)


async def run_once(db: Database, ledger: LedgerClient, http: httpx.AsyncClient, *, targets: TargetPolicy, limit: int = 50) -> int:
    """One pass: due ledger postings, then due webhooks, each to a target ``targets`` lets through."""
    done = 0
    while done < limit and await post_one_tranche(db, ledger):
        done += 1
    while done < 2 * limit and await deliver_one(db, http, targets):
        done += 1
    return done

