"""The ledger service app."""

from fastapi import FastAPI

from services.ledger.access import AuditReader
from services.ledger.aggregates import service as aggregates
from services.ledger.aggregates.endpoints import router as aggregates_router
from services.ledger.deposits.endpoints import posting_router as deposit_posting_router
from services.ledger.deposits.endpoints import router as deposits_router
from services.ledger.movements.endpoints import router as movements_router
from services.ledger.personal_data import router as personal_data_router
from services.ledger.plans.endpoints import router as plans_router
from services.ledger.proposals.endpoints import router as proposals_router
from services.ledger.reports.endpoints import router as reports_router
from services.ledger.settings import LedgerSettings
from services.ledger.years.endpoints import router as years_router
from shared.app import create_service_app
from shared.benefits_client import BenefitsClient
from shared.members_client import MembersDirectory
from shared.audit import internal_router as audit_router
from shared.worker import start, stop


def create_app(settings: LedgerSettings | None = None) -> FastAPI:
    settings = settings or LedgerSettings()

    async def on_startup(app: FastAPI) -> None:
        if not hasattr(app.state, "directory"):
            app.state.directory = MembersDirectory(app.state.http, settings.service_url("members"))
        if not hasattr(app.state, "benefits"):
            app.state.benefits = BenefitsClient(app.state.http, settings.service_url("benefits"))
        # The aggregates worker is a process of its own (services/ledger/workers.py) unless
        # SAJJA_IN_PROCESS_WORKERS; a read of the aggregates brings the day totals up to date itself.
        if settings.in_process_workers and settings.aggregates_interval_seconds > 0:
            app.state.aggregates_worker = start(settings.aggregates_interval_seconds, name="ledger aggregates",
                                                one_pass=lambda: aggregates.keep_up(app.state.db, app.state.directory))

    async def on_shutdown(app: FastAPI) -> None:
        await stop(getattr(app.state, "aggregates_worker", None))
        poster = getattr(app.state, "poster", None)
        if poster is not None:  # before the database goes: postings under way finish first
            await poster.close()

    return create_service_app(
        settings=settings,
        title="Sajja ledger",
        description="Double-entry savings and co-funding ledger per fund: deposits, receipts, co-funding, reports.",
        routers=[deposit_posting_router, deposits_router, movements_router, proposals_router, reports_router, plans_router,
                 aggregates_router, years_router, personal_data_router, audit_router("ledger", AuditReader)],
        on_startup=on_startup,
        on_shutdown=on_shutdown,
    )
