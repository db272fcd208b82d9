"""The ledger's worker as a process of its own (``sajja worker aggregates``; docs/workers.md,
docs/aggregates.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from services.ledger.aggregates.service import keep_up
from services.ledger.settings import LedgerSettings
from shared.http import service_client
from shared.logs import configure_logging
from shared.members_client import MembersDirectory
from shared.worker import Job, closing, worker_database


@asynccontextmanager
async def aggregates() -> AsyncIterator[Job | None]:
    """The day totals brought up to date from the entries queued, and arrears due a count."""
    settings = LedgerSettings()
    configure_logging("ledger", settings.log_level)
    if settings.aggregates_interval_seconds <= 0:
        yield None
        return
    db = worker_database(settings)
    http = service_client(settings, "ledger")
    directory = MembersDirectory(http, settings.service_url("members"))
    async with closing(db, http):
        yield Job("aggregates", settings.aggregates_interval_seconds, lambda: keep_up(db, directory))
