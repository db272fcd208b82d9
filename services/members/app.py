"""The members service app."""

from fastapi import FastAPI

from services.members.access import AuditReader
from services.members.collectors.endpoints import router as collectors_router
from services.members.facts.endpoints import network_router
from services.members.facts.endpoints import router as facts_router
from services.members.funds.endpoints import router as funds_router
from services.members.people.endpoints import router as people_router
from services.members.pii import PiiVault
from services.members.settings import MembersSettings
from shared.app import create_service_app
from shared.audit import internal_router as audit_router


def create_app(settings: MembersSettings | None = None) -> FastAPI:
    settings = settings or MembersSettings()
    app = create_service_app(
        settings=settings,
        title="Sajja members",
        description="Networks, funds, members, collectors and their rounds; PDPA-protected national IDs.",
        routers=[funds_router, people_router, collectors_router, facts_router, network_router, audit_router("members", AuditReader)],
        body_limit_overrides={"/import": settings.import_max_bytes},
    )
    app.state.pii = PiiVault(settings.pii_key, settings.pii_hash_key)
    return app
