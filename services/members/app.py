"""The members service app."""

from fastapi import FastAPI

from services.members.access import AuditReader
from services.members.collectors.endpoints import router as collectors_router
from services.members.erasures.endpoints import router as erasures_router
from services.members.erasures.worker import carry_due
from services.members.facts.endpoints import router as facts_router
from services.members.funds.endpoints import router as funds_router
from services.members.people.endpoints import router as people_router
from services.members.pii import PiiVault
from services.members.settings import MembersSettings
from shared.app import create_service_app
from shared.audit import internal_router as audit_router
from shared.worker import start, stop


def create_app(settings: MembersSettings | None = None) -> FastAPI:
    settings = settings or MembersSettings()

    async def on_startup(app: FastAPI) -> None:
        if settings.erasure_interval_seconds > 0:
            app.state.erasure_worker = start(
                settings.erasure_interval_seconds, name="erasures",
                one_pass=lambda: carry_due(app.state.db, app.state.http, settings.erasure_urls(), settings.erasure_batch))

    async def on_shutdown(app: FastAPI) -> None:
        await stop(getattr(app.state, "erasure_worker", None))

    app = create_service_app(
        settings=settings,
        title="Sajja members",
        description="Networks, funds, members, collectors and their rounds; PDPA-protected national IDs; erasures.",
        routers=[funds_router, people_router, collectors_router, facts_router, erasures_router, audit_router("members", AuditReader)],
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        body_limit_overrides={"/import": settings.import_max_bytes},
    )
    app.state.pii = PiiVault(settings.pii_key, settings.pii_hash_key)
    return app
