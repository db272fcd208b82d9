"""The grants service's worker as a process of its own (``sajja worker grants``: tranches posted
to the ledger, webhooks delivered; docs/workers.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from services.grants.settings import GrantsSettings
from services.grants.worker import run_once
from shared.http import no_cookies, service_client
from shared.ledger_client import LedgerClient
from shared.logs import configure_logging
from shared.outbound import TargetPolicy
from shared.worker import Job, closing, outbox_backlog, worker_database


@asynccontextmanager
async def grants() -> AsyncIterator[Job | None]:
    settings = GrantsSettings()
    configure_logging("grants", settings.log_level)
    if settings.worker_interval_seconds <= 0:
        yield None
        return
    db = worker_database(settings)
    http = service_client(settings, "grants")
    webhook_http = httpx.AsyncClient(timeout=10, follow_redirects=False, cookies=no_cookies())
    ledger = LedgerClient(http, settings.service_url("ledger"))
    targets = TargetPolicy.from_settings(settings.env, settings.webhook_allowed_hosts)
    async with closing(db, http, webhook_http):
        yield Job("grants", settings.worker_interval_seconds,
                  lambda: run_once(db, ledger, webhook_http, targets=targets, lease_seconds=settings.worker_lease_seconds),
                  backlog=outbox_backlog(db, {
                      "tranche_postings": ("tranches", "ledger_status = 'pending'", "disbursed_on::timestamptz"),
                      "webhooks": ("webhook_deliveries", "status = 'pending'", "created_at")}))
