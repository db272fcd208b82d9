"""The members service app."""

from fastapi import FastAPI

from services.members.funds.endpoints import router as funds_router
from services.members.settings import MembersSettings
from shared.app import create_service_app


def create_app(settings: MembersSettings | None = None) -> FastAPI:
    return create_service_app(
        settings=settings or MembersSettings(),
        title="Sajja members",
        description="Networks, funds, members, collectors.",
        routers=[funds_router],
    )
