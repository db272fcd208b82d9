"""The benefits service's workers as processes of their own (``sajja worker payouts``,
``sajja worker documents``; docs/workers.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.benefits.documents import DocumentStore
from services.benefits.payouts import pay_due
from services.benefits.personal_data import sweep_documents
from services.benefits.settings import BenefitsSettings
from shared.db import Database
from shared.http import ServiceTokenAuth, make_client
from shared.ledger_client import LedgerClient
from shared.logs import configure_logging
from shared.worker import Job, closing, outbox_backlog


def _database(settings: BenefitsSettings) -> Database:
    return Database.from_url(settings.process_database_url, pool_size=2, max_overflow=2)


@asynccontextmanager
async def payouts() -> AsyncIterator[Job | None]:
    """Approved claims paid through the ledger, once each (services/benefits/payouts.py)."""
    settings = BenefitsSettings()
    configure_logging("benefits", settings.log_level)
    if settings.payout_interval_seconds <= 0:
        yield None
        return
    db = _database(settings)
    http = make_client(auth=ServiceTokenAuth(gateway_url=settings.gateway_url, service="benefits",
                                             master_secret=settings.service_secret))
    ledger = LedgerClient(http, settings.ledger_url)
    async with closing(db, http):
        yield Job("payouts", settings.payout_interval_seconds,
                  lambda: pay_due(db, ledger, settings.payout_batch, lease_seconds=settings.worker_lease_seconds),
                  backlog=outbox_backlog(db, {"payouts": (
                      "claims", "status = 'approved' AND payout_status = 'pending'", "coalesce(decided_at, created_at)")}))


@asynccontextmanager
async def document_sweep() -> AsyncIterator[Job | None]:
    """The files of erased claim documents let go (services/benefits/personal_data.py)."""
    settings = BenefitsSettings()
    configure_logging("benefits", settings.log_level)
    if settings.document_sweep_interval_seconds <= 0:
        yield None
        return
    db = _database(settings)
    store = DocumentStore(settings.documents_dir, settings.document_max_bytes)
    async with closing(db):
        yield Job("documents", settings.document_sweep_interval_seconds, lambda: sweep_documents(db, store))
