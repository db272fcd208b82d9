"""The benefits service's workers as processes of their own (``sajja worker payouts``,
``sajja worker documents``; docs/workers.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.benefits.documents import DocumentStore, one_pass
from services.benefits.payouts import pay_due
from services.benefits.settings import BenefitsSettings
from shared.http import service_client
from shared.ledger_client import LedgerClient
from shared.logs import configure_logging
from shared.worker import Job, closing, outbox_backlog, worker_database



@asynccontextmanager
async def payouts() -> AsyncIterator[Job | None]:
    """Approved claims paid through the ledger, once each (services/benefits/payouts.py)."""
    settings = BenefitsSettings()
    configure_logging("benefits", settings.log_level)
    if settings.payout_interval_seconds <= 0:
        yield None
        return
    db = worker_database(settings)
    http = service_client(settings, "benefits")
    ledger = LedgerClient(http, settings.service_url("ledger"))
    async with closing(db, http):
        yield Job("payouts", settings.payout_interval_seconds,
                  lambda: pay_due(db, ledger, settings.payout_batch, lease_seconds=settings.worker_lease_seconds),
                  backlog=outbox_backlog(db, {"payouts": (
                      "claims", "status = 'approved' AND payout_status = 'pending'", "coalesce(decided_at, created_at)")}))


@asynccontextmanager
async def document_sweep() -> AsyncIterator[Job | None]:
    """Erased documents' objects and orphaned objects deleted, data keys under older KEKs rewrapped
    (services/benefits/documents.py)."""
    settings = BenefitsSettings()
    configure_logging("benefits", settings.log_level)
    if settings.document_sweep_interval_seconds <= 0:
        yield None
        return
    db = worker_database(settings)
    store = DocumentStore.from_settings(settings)
    async with closing(db, store):
        yield Job("documents", settings.document_sweep_interval_seconds, lambda: one_pass(db, store))
