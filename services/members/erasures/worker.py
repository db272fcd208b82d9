"""The erasure worker: carries each member's erasure to the gateway, the ledger and benefits until
each confirms (docs/personal-data.md).

Each pass claims erasures with a step still pending and due, with a lease (``FOR UPDATE SKIP
LOCKED`` in a short transaction that commits before any call, so two replicas never carry the same
one and none holds a lock while the processes answer; docs/workers.md) and posts each pending step to its process's internal
erase route with the members service's own token (permissions ``<process>.member_erase``). Those
routes are idempotent: a step whose answer was lost is asked again and answers what is left (none),
so retrying is always safe. A process that is down or answers an error leaves its step pending,
tried again with backoff; the record says the attempts and the last error.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

import httpx
from services.members.erasures.service import mark_step, pending_steps
from services.members.models import Erasure
from shared import lease
from shared.db import Database
from shared.lease import DEFAULT_LEASE_SECONDS
from shared.timeutil import utcnow

log = logging.getLogger("sajja.members.erasures")

MAX_BACKOFF_SECONDS = 3600

#: The internal erase route of each process, under its base URL.
ERASE_PATHS: dict[str, str] = {
    "gateway": "/v1/internal/funds/{fund_id}/members/{member_id}/erase",
    "ledger": "/v1/ledger/internal/funds/{fund_id}/members/{member_id}/erase",
    "benefits": "/v1/benefits/internal/funds/{fund_id}/members/{member_id}/erase",
}


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(2 ** attempts, MAX_BACKOFF_SECONDS))


def _counts(body: object) -> dict[str, int] | None:
    """The ``erased`` of an erase answer: kinds and counts only (anything else is not recorded)."""
    erased = body.get("erased") if isinstance(body, dict) else None
    if not isinstance(erased, dict):
        return None
    return {str(kind)[:64]: int(count) for kind, count in erased.items() if isinstance(count, int)}


async def carry_one(db: Database, http: httpx.AsyncClient, urls: Mapping[str, str], *, now: dt.datetime | None = None,
                    lease_seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
    """Carry one due erasure's pending steps; False when none was due. The erasure is claimed with
    a lease that commits before the processes are asked; their answers are written only if the
    lease is still ours."""
    now = now or utcnow()
    async with db.sessionmaker() as session, session.begin():
        erasures = await lease.claim(session, Erasure, Erasure.completed_at.is_(None), Erasure.next_attempt_at <= now,
                                     order_by=Erasure.next_attempt_at, seconds=lease_seconds)
        if not erasures:
            return False
        erasure: Erasure | None  # None below when the lease has passed on
        erasure = erasures[0]
        key, token = erasure.id, erasure.claim_token
        steps = {name: erasure.steps[name]["attempts"] + 1 for name in pending_steps(erasure)}
        paths = {name: ERASE_PATHS[name].format(fund_id=erasure.fund_id, member_id=erasure.member_id) for name in steps}
    assert token is not None
    outcomes: dict[str, dict[str, int] | str] = {}
    for name in steps:
        try:
            answer = await http.post(urls[name].rstrip("/") + paths[name], headers={"Idempotency-Key": f"erasure:{key}:{name}"})
        except httpx.HTTPError as exc:
            outcomes[name] = f"unreachable: {type(exc).__name__}"
            continue
        erased = _counts(answer.json()) if answer.status_code == 200 else None
        outcomes[name] = erased if erased is not None else f"answered {answer.status_code}"
    async with db.sessionmaker() as session, session.begin():
        erasure = await lease.hold(session, Erasure, key, token)
        if erasure is None:
            log.warning("erasure %s: its lease passed to another worker; these answers are not recorded", key)
            return True
        lease.release(erasure)
        failed_attempts = 0
        for name, outcome in outcomes.items():
            if isinstance(outcome, dict):
                mark_step(erasure, name, status="done", attempts=steps[name], last_error=None,
                          done_at=utcnow().isoformat(), erased=outcome)
                continue
            mark_step(erasure, name, attempts=steps[name], last_error=outcome[:200])
            failed_attempts = max(failed_attempts, steps[name])
            log.warning("erasure %s: %s %s; retrying", key, name, outcome)
        if pending_steps(erasure):
            erasure.next_attempt_at = now + backoff(failed_attempts)
        else:
            erasure.next_attempt_at, erasure.completed_at = None, utcnow()
        return True


async def carry_due(db: Database, http: httpx.AsyncClient, urls: Mapping[str, str], limit: int = 20,
                    *, now: dt.datetime | None = None, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> int:
    """One pass: carry up to ``limit`` due erasures; returns how many were tried."""
    tried = 0
    while tried < limit and await carry_one(db, http, urls, now=now, lease_seconds=lease_seconds):
        tried += 1
    return tried
