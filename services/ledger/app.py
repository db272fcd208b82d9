"""The ledger service app."""

from fastapi import FastAPI

from services.ledger.accounts.endpoints import router as accounts_router
from services.ledger.settings import LedgerSettings
from shared.app import create_service_app


def create_app(settings: LedgerSettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or LedgerSettings(),
        title="Sajja ledger",
        description="Double-entry savings and co-funding ledger per fund.",
        routers=[accounts_router],
    )
