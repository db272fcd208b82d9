"""The grants service app."""

from fastapi import FastAPI

from services.grants.programs.endpoints import router as programs_router
from services.grants.settings import GrantsSettings
from shared.app import create_service_app


def create_app(settings: GrantsSettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or GrantsSettings(),
        title="Sajja grants",
        description="Grant programs, applications, screening, awards, tranches and disbursements.",
        routers=[programs_router],
    )
