"""The grants service app. Its worker (ledger postings and webhook deliveries) runs as a process of
its own (services/grants/workers.py), or in this process with ``SAJJA_IN_PROCESS_WORKERS``."""

import httpx
from fastapi import FastAPI

from services.grants.access import AuditReader
from services.grants.endpoints import router
from services.grants.settings import GrantsSettings
from services.grants.worker import run_once
from shared.app import create_service_app
from shared.http import no_cookies
from shared.ledger_client import LedgerClient
from shared.members_client import MembersDirectory
from shared.outbound import TargetPolicy
from shared.worker import start, stop
from shared.audit import internal_router as audit_router


def create_app(settings: GrantsSettings | None = None) -> FastAPI:
    settings = settings or GrantsSettings()

    async def on_startup(app: FastAPI) -> None:
        if not hasattr(app.state, "directory"):
            app.state.directory = MembersDirectory(app.state.http, settings.service_url("members"))
        if not hasattr(app.state, "ledger"):
            app.state.ledger = LedgerClient(app.state.http, settings.service_url("ledger"))
        if not hasattr(app.state, "webhook_http"):
            app.state.webhook_http = httpx.AsyncClient(timeout=10, follow_redirects=False, cookies=no_cookies())
        if settings.in_process_workers and settings.worker_interval_seconds > 0:
            app.state.worker = start(settings.worker_interval_seconds, name="grants worker",
                                     one_pass=lambda: run_once(app.state.db, app.state.ledger, app.state.webhook_http,
                                                               targets=app.state.webhook_targets,
                                                               lease_seconds=settings.worker_lease_seconds))

    async def on_shutdown(app: FastAPI) -> None:
        await stop(getattr(app.state, "worker", None))
        await app.state.webhook_http.aclose()

    app = create_service_app(
        settings=settings,
        title="Sajja grants",
        description="Grant programs, applications, screening, awards in tranches, disbursements to fund ledgers, webhooks.",
        routers=[router, audit_router("grants", AuditReader)],
        on_startup=on_startup,
        on_shutdown=on_shutdown,
    )
    # Which webhook targets subscriptions and deliveries may reach (tests replace it).
    app.state.webhook_targets = TargetPolicy.from_settings(settings.env, settings.webhook_allowed_hosts)
    return app
