"""The grants worker: disbursed tranches posted to the fund's ledger, and webhooks delivered.

Both are outboxes: the row that says "to do" is written in the same transaction as the change
that caused it, and the worker keeps trying until it lands. A row is claimed with a lease in a
short transaction that commits before any call, and the outcome is written only while the lease is
still the worker's (``shared.lease``, docs/workers.md): any number of replicas share the work, and
none holds a lock while the ledger or a receiver answers. Ledger postings are exactly once
(the tranche id is the ledger's idempotency key). Webhooks are at least once (a replica may die
after the receiver answered and before the answer is written); each carries a delivery id, the
same on every attempt (``Sajja-Delivery`` and the body's ``id``), so a receiver drops a repeat, and a signature over a timestamp and the body:

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
from dataclasses import dataclass

import httpx
import orjson
from sqlalchemy import ColumnElement, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from services.grants.models import (
    Application,
    Program,
    Tranche,
    WebhookDelivery,
    WebhookSubscription,
)
from services.grants.service import LEDGER_SOURCE, may_hear
from shared import lease, outbound
from shared.db import Database
from shared.lease import DEFAULT_LEASE_SECONDS
from shared.ledger_client import LedgerAnswer, LedgerClient
from shared.metrics import WEBHOOKS_FAILED
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


def _due(model: type[Tranche] | type[WebhookDelivery], status_column: InstrumentedAttribute[str],
         status: str) -> ColumnElement[bool]:
    return (status_column == status) & or_(model.next_attempt_at.is_(None), model.next_attempt_at <= utcnow())


async def post_one_tranche(db: Database, ledger: LedgerClient, *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
    """Post one due tranche to its fund's ledger; False when none was due. Claimed with a lease
    that commits before the ledger is asked; the answer is written only if the lease is still ours."""
    async with db.sessionmaker() as session, session.begin():
        tranches = await lease.claim(session, Tranche, _due(Tranche, Tranche.ledger_status, "pending"),
                                     order_by=Tranche.next_attempt_at, seconds=lease_seconds)
        if not tranches:
            return False
        tranche: Tranche | None  # None below when the lease has passed on
        tranche = tranches[0]
        assert tranche.disbursed_on is not None  # pending for the ledger once disbursed
        application = await session.get(Application, tranche.application_id)
        assert application is not None  # the tranche's (a foreign key)
        program = await session.get(Program, application.program_id)
        assert program is not None  # the application's (a foreign key)
        body = {"id": str(tranche.id), "source": LEDGER_SOURCE[program.grantor], "amount_satang": tranche.amount_satang,
                "received_on": tranche.disbursed_on.isoformat(), "into": "bank",
                "reference": f"{program.name} #{tranche.seq} {tranche.grantor_reference or ''}".strip()[:200]}
        tranche.ledger_attempts += 1
        key, fund_id, token, attempts = tranche.id, tranche.fund_id, tranche.claim_token, tranche.ledger_attempts
    assert token is not None
    answer: LedgerAnswer | None = None
    error = ""
    try:
        answer = await ledger.post(fund_id, "co-funding", body)
    except httpx.HTTPError as exc:
        error = f"ledger unreachable: {type(exc).__name__}"
    async with db.sessionmaker() as session, session.begin():
        tranche = await lease.hold(session, Tranche, key, token)
        if tranche is None:
            log.warning("tranche %s: its lease passed to another worker; this answer is not recorded", key)
            return True
        lease.release(tranche)
        if answer is None:
            tranche.ledger_error, tranche.next_attempt_at = error, utcnow() + backoff(attempts)
        elif answer.status_code in (200, 201):
            tranche.ledger_status, tranche.ledger_error = "posted", None
            tranche.ledger_entry_id = answer.body.get("entry_id")
        else:
            tranche.ledger_error = f"ledger answered {answer.status_code} {answer.code or ''}".strip()[:300]
            tranche.next_attempt_at = utcnow() + backoff(attempts)
        return True


@dataclass(frozen=True)
class _Outcome:
    """What one delivery attempt came to, written back under the delivery's lease."""

    status_code: int | None
    error: str | None
    ok: bool = False
    #: A refusal that will not change by waiting (the target is not allowed): fail now.
    final: bool = False


async def deliver_one(db: Database, http: httpx.AsyncClient, targets: TargetPolicy, *,
                      lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
    """Deliver one due webhook; False when none was due. The delivery is claimed with a lease that
    commits before the target is resolved and called; the outcome is written only if the lease is
    still ours. A replica that died in the call leaves the delivery to be sent again, with the
    same delivery id, when the lease runs out."""
    async with db.sessionmaker() as session, session.begin():
        deliveries = await lease.claim(session, WebhookDelivery, _due(WebhookDelivery, WebhookDelivery.status, "pending"),
                                       order_by=WebhookDelivery.next_attempt_at, seconds=lease_seconds)
        if not deliveries:
            return False
        delivery: WebhookDelivery | None  # None below when the lease has passed on
        delivery = deliveries[0]
        subscription = await session.get(WebhookSubscription, delivery.subscription_id)
        assert subscription is not None  # the delivery's (a foreign key)
        delivery.attempts += 1
        if not await _visible(session, subscription, delivery):
            lease.release(delivery)
            delivery.status, delivery.last_status_code, delivery.last_error = "failed", None, "not visible to the subscription's owner"
            return True
        key, token, attempts = delivery.id, delivery.claim_token, delivery.attempts
        url, secret, event = subscription.url, subscription.secret, delivery.event
        body = orjson.dumps({"id": str(delivery.id), **delivery.payload})
    assert token is not None
    outcome = await _send(http, targets, url, secret, event, key, body)
    async with db.sessionmaker() as session, session.begin():
        delivery = await lease.hold(session, WebhookDelivery, key, token)
        if delivery is None:
            log.warning("webhook delivery %s: its lease passed to another worker; this outcome is not recorded", key)
            return True
        lease.release(delivery)
        delivery.last_status_code, delivery.last_error = outcome.status_code, outcome.error
        if outcome.ok:
            delivery.status, delivery.delivered_at = "delivered", utcnow()
        elif outcome.final or attempts >= MAX_WEBHOOK_ATTEMPTS:
            delivery.status = "failed"
        else:
            delivery.next_attempt_at = utcnow() + backoff(attempts)
        if not outcome.ok:
            WEBHOOKS_FAILED.labels("true" if delivery.status == "failed" else "false").inc()
        return True


async def _visible(session: AsyncSession, subscription: WebhookSubscription, delivery: WebhookDelivery) -> bool:
    """Whether the subscription's owner may see the delivery's event (again at delivery: a delivery
    written before, or sent again by hand, is held to today's rule)."""
    application_id = (delivery.payload.get("data") or {}).get("application_id")
    application = await session.get(Application, uuid.UUID(str(application_id))) if application_id else None
    program = await session.get(Program, application.program_id) if application is not None else None
    return program is not None and application is not None and may_hear(subscription, program, application)


async def _send(http: httpx.AsyncClient, targets: TargetPolicy, url: str, secret: str, event: str,
                delivery_id: uuid.UUID, body: bytes) -> _Outcome:
    """Check the target (its name resolved now) and post the signed body to the checked address;
    nothing of the database is held meanwhile."""
    try:
        target = await targets.check(url)
    except TargetRefused as refused:
        # Nothing was sent, so there is no answer to show, and none of an earlier attempt either.
        return _Outcome(None, f"target refused: {refused}", final=refused.code != outbound.UNRESOLVABLE)
    timestamp = int(time.time())
    try:
        status_code = await outbound.post(http, target, content=body, headers={
            "Content-Type": "application/json", "Sajja-Event": event, "Sajja-Delivery": str(delivery_id),
            "Sajja-Signature": sign(secret, timestamp, body)}, timeout=10)
    except httpx.HTTPError as exc:
        return _Outcome(None, type(exc).__name__)
    return _Outcome(status_code, "redirect not followed" if 300 <= status_code < 400 else None, ok=200 <= status_code < 300)


async def run_once(db: Database, ledger: LedgerClient, http: httpx.AsyncClient, *, targets: TargetPolicy, limit: int = 50,
                   lease_seconds: float = DEFAULT_LEASE_SECONDS) -> int:
    """One pass: due ledger postings, then due webhooks, each to a target ``targets`` lets through."""
    done = 0
    while done < limit and await post_one_tranche(db, ledger, lease_seconds=lease_seconds):
        done += 1
    while done < 2 * limit and await deliver_one(db, http, targets, lease_seconds=lease_seconds):
        done += 1
    return done

