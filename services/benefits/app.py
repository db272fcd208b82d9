"""The benefits service app. Its workers (payouts, the document sweep) run as processes of their
own (services/benefits/workers.py), or in this process with ``SAJJA_IN_PROCESS_WORKERS``."""

from fastapi import FastAPI

from services.benefits.access import AuditReader
from services.benefits.catalog.endpoints import router as catalog_router
from services.benefits.claims.endpoints import router as claims_router
from services.benefits.documents import DocumentStore, one_pass
from services.benefits.payouts import pay_due
from services.benefits.personal_data import router as personal_data_router
from services.benefits.projection.endpoints import router as projection_router
from services.benefits.reports.endpoints import aggregates_router
from services.benefits.reports.endpoints import router as reports_router
from services.benefits.settings import BenefitsSettings
from shared.app import create_service_app
from shared.ledger_client import LedgerClient
from shared.members_client import MembersDirectory
from shared.worker import start, stop
from shared.audit import internal_router as audit_router


def create_app(settings: BenefitsSettings | None = None) -> FastAPI:
    settings = settings or BenefitsSettings()

    async def on_startup(app: FastAPI) -> None:
        if not hasattr(app.state, "directory"):
            app.state.directory = MembersDirectory(app.state.http, settings.service_url("members"))
        if not hasattr(app.state, "ledger"):
            app.state.ledger = LedgerClient(app.state.http, settings.service_url("ledger"))
        if settings.in_process_workers and settings.payout_interval_seconds > 0:
            app.state.payout_worker = start(settings.payout_interval_seconds, name="payouts",
                                            one_pass=lambda: pay_due(app.state.db, app.state.ledger, settings.payout_batch,
                                                                            lease_seconds=settings.worker_lease_seconds))
        if settings.in_process_workers and settings.document_sweep_interval_seconds > 0:
            app.state.document_sweep = start(settings.document_sweep_interval_seconds, name="document sweep",
                                             one_pass=lambda: one_pass(app.state.db, app.state.documents))

    async def on_shutdown(app: FastAPI) -> None:
        await stop(getattr(app.state, "payout_worker", None))
        await stop(getattr(app.state, "document_sweep", None))
        await app.state.documents.close()

    app = create_service_app(
        settings=settings,
        title="Sajja benefits",
        description="Each fund's benefit catalog and versioned rules, claims, committee approval, payouts through the ledger.",
        routers=[catalog_router, claims_router, reports_router, projection_router, aggregates_router, personal_data_router,
                 audit_router("benefits", AuditReader)],
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        body_limit_overrides={"/documents": settings.document_max_bytes + 64 * 1024},
    )
    app.state.documents = DocumentStore.from_settings(settings)
    return app
