"""The benefits service app."""

from fastapi import FastAPI

from services.benefits.catalog.endpoints import router as catalog_router
from services.benefits.settings import BenefitsSettings
from shared.app import create_service_app


def create_app(settings: BenefitsSettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or BenefitsSettings(),
        title="Sajja benefits",
        description="Benefit catalog and rules per fund, claims, approvals and payouts.",
        routers=[catalog_router],
    )
