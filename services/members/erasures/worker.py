"""The erasure worker: carries each member's erasure to the gateway, the ledger and benefits until
each confirms (docs/personal-data.md).

Each pass takes erasures with a step still pending and due (``FOR UPDATE SKIP LOCKED``, so two
members processes never carry the same one) and posts each pending step to its process's internal
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
from sqlalchemy import select

from services.members.erasures.service import mark_step, pending_steps
from services.members.models import Erasure
from shared.db import Database
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


async def carry_one(db: Database, http: httpx.AsyncClient, urls: Mapping[str, str], *, now: dt.datetime | None = None) -> bool:
    """Carry one due erasure's pending steps; False when none was due."""
    now = now or utcnow()
    async with db.sessionmaker() as session:
        async with session.begin():
            erasure = await session.scalar(
                select(Erasure).where(Erasure.completed_at.is_(None), Erasure.next_attempt_at <= now)
                .order_by(Erasure.next_attempt_at).limit(1).with_for_update(skip_locked=True)
            )
            if erasure is None:
                return False
            failed_attempts = 0
            for name in pending_steps(erasure):
                attempts = erasure.steps[name]["attempts"] + 1
                url = urls[name].rstrip("/") + ERASE_PATHS[name].format(fund_id=erasure.fund_id, member_id=erasure.member_id)
                try:
                    answer = await http.post(url, headers={"Idempotency-Key": f"erasure:{erasure.id}:{name}"})
                except httpx.HTTPError as exc:
                    error = f"unreachable: {type(exc).__name__}"
                else:
                    erased = _counts(answer.json()) if answer.status_code == 200 else None
                    if erased is not None:
                        mark_step(erasure, name, status="done", attempts=attempts, last_error=None,
                                  done_at=utcnow().isoformat(), erased=erased)
                        continue
                    error = f"answered {answer.status_code}"
                mark_step(erasure, name, attempts=attempts, last_error=error[:200])
                failed_attempts = max(failed_attempts, attempts)
                log.warning("erasure %s: %s %s; retrying", erasure.id, name, error)
            if pending_steps(erasure):
                erasure.next_attempt_at = now + backoff(failed_attempts)
            else:
                erasure.next_attempt_at, erasure.completed_at = None, utcnow()
            return True


async def carry_due(db: Database, http: httpx.AsyncClient, urls: Mapping[str, str], limit: int = 20,
                    *, now: dt.datetime | None = None) -> int:
    """One pass: carry up to ``limit`` due erasures; returns how many were tried."""
    tried = 0
    while tried < limit and await carry_one(db, http, urls, now=now):
        tried += 1
    return tried
