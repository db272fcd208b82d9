"""The members service app. Its workers (national ID re-encryption, erasures) run as processes of
their own (services/members/workers.py), or in this process with ``SAJJA_IN_PROCESS_WORKERS``."""

from fastapi import FastAPI

from services.members.access import AuditReader
from services.members.collectors.endpoints import router as collectors_router
from services.members.erasures.endpoints import router as erasures_router
from services.members.erasures.worker import carry_due
from services.members.facts.endpoints import changes_router, network_router
from services.members.facts.endpoints import router as facts_router
from services.members.funds.endpoints import router as funds_router
from services.members.people.endpoints import router as people_router
from services.members.pii import PiiVault
from services.members.pii_keys import service as pii_keys
from services.members.pii_keys.endpoints import router as pii_keys_router
from services.members.settings import MembersSettings
from shared.app import create_service_app
from shared.audit import internal_router as audit_router
from shared.worker import start, stop


def make_vault(settings: MembersSettings) -> PiiVault:
    """The national ID keys the settings name (checked when the settings were read)."""
    return PiiVault(settings.pii_key_ring(), settings.pii_current_key_id, settings.pii_hash_key)


def create_app(settings: MembersSettings | None = None) -> FastAPI:
    settings = settings or MembersSettings()

    async def on_startup(app: FastAPI) -> None:
        # Rows under a key the ring lacks: refuse to start, saying which (docs/national-id-keys.md).
        await pii_keys.check_at_startup(app.state.db, app.state.pii)
        if settings.in_process_workers and settings.pii_reencrypt_interval_seconds > 0:
            app.state.pii_worker = start(
                settings.pii_reencrypt_interval_seconds, name="pii-reencrypt",
                one_pass=lambda: pii_keys.reencrypt(app.state.db, app.state.pii, batch=settings.pii_reencrypt_batch),
            )
        if settings.in_process_workers and settings.erasure_interval_seconds > 0:
            app.state.erasure_worker = start(
                settings.erasure_interval_seconds, name="erasures",
                one_pass=lambda: carry_due(app.state.db, app.state.http, settings.erasure_urls(), settings.erasure_batch,
                                            lease_seconds=settings.worker_lease_seconds))

    async def on_shutdown(app: FastAPI) -> None:
        await stop(getattr(app.state, "erasure_worker", None))
        await stop(getattr(app.state, "pii_worker", None))

    app = create_service_app(
        settings=settings,
        title="Sajja members",
        description="Networks, funds, members, collectors and their rounds; PDPA-protected national IDs; erasures.",
        routers=[funds_router, people_router, collectors_router, facts_router, network_router, changes_router, pii_keys_router, erasures_router,
                 audit_router("members", AuditReader)],
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        body_limit_overrides={"/import": settings.import_max_bytes},
    )
    app.state.pii = make_vault(settings)
    return app
