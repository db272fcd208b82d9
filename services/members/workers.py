"""The members service's workers as processes of their own (``sajja worker erasures``, ``sajja
worker pii-reencrypt``; docs/workers.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.members.erasures.worker import carry_due
from services.members.pii import PiiVault
from services.members.pii_keys import service as pii_keys
from services.members.settings import MembersSettings
from shared.http import service_client
from shared.logs import configure_logging
from shared.worker import Job, closing, outbox_backlog, worker_database



@asynccontextmanager
async def erasures() -> AsyncIterator[Job | None]:
    """Each member's erasure carried to the other processes (services/members/erasures/worker.py)."""
    settings = MembersSettings()
    configure_logging("members", settings.log_level)
    if settings.erasure_interval_seconds <= 0:
        yield None
        return
    db = worker_database(settings)
    http = service_client(settings, "members")
    async with closing(db, http):
        yield Job("erasures", settings.erasure_interval_seconds,
                  lambda: carry_due(db, http, settings.erasure_urls(), settings.erasure_batch,
                                    lease_seconds=settings.worker_lease_seconds),
                  backlog=outbox_backlog(db, {"erasures": ("erasures", "completed_at IS NULL", "requested_at")}))


@asynccontextmanager
async def pii_reencrypt() -> AsyncIterator[Job | None]:
    """National IDs moved from older keys to the current one (docs/national-id-keys.md). Its
    batches are ``SKIP LOCKED`` and short, and make no network call: no lease is needed."""
    settings = MembersSettings()
    configure_logging("members", settings.log_level)
    if settings.pii_reencrypt_interval_seconds <= 0:
        yield None
        return
    db = worker_database(settings)
    vault = PiiVault(settings.pii_key_ring(), settings.pii_current_key_id, settings.pii_hash_key)
    async with closing(db):
        yield Job("pii-reencrypt", settings.pii_reencrypt_interval_seconds,
                  lambda: pii_keys.reencrypt(db, vault, batch=settings.pii_reencrypt_batch))
