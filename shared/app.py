"""The app factory every service uses, so all four look and behave the same.

The lifespan makes the engine, the outgoing HTTP client and the token verifier; it leaves alone
anything a test has already put on ``app.state`` (a connection inside a rolled-back transaction,
a verifier with a static key set).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from shared.auth import RevocationList, RevokingVerifier, Role, TokenVerifier, current_principal, http_revocations_loader
from shared.contract import build_document, operation_id
from shared.db import Database
from shared.errors import Forbidden, install_error_handlers
from shared.http import make_client, service_client
from shared.lean import LeanRoute
from shared.middleware import BodyLimitMiddleware, InputHygieneMiddleware, RequestIdMiddleware
from shared.observe import ObserveMiddleware, start_process
from shared.settings import SajjaSettings

def health_router(process: str) -> APIRouter:
    """``/healthz``: the process is up. ``/readyz``: it can reach its database."""
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": process}

    @router.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        try:
            await request.app.state.db.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return JSONResponse(
                {"status": "unavailable", "service": process, "reason": type(exc).__name__}, status_code=503
            )
        return JSONResponse({"status": "ok", "service": process})

    return router


def with_contract(app: FastAPI) -> None:
    """The app's OpenAPI documents, made by ``shared.contract`` (operationIds, tags, problems,
    security, examples): ``/openapi.json`` has its public routes, the gateway merges it into the
    API's one document; ``/openapi.internal.json`` has its internal routes (``/v1/<service>/internal``),
    for other services only (a service token)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        app.openapi_schema = build_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    internal: dict[str, Any] = {}

    async def internal_openapi(request: Request) -> Response:
        principal = await current_principal(request)
        if principal.role != Role.service:
            raise Forbidden()
        if not internal:
            internal.update(build_document(app, internal=True))
        return JSONResponse(internal)

    app.add_route("/openapi.internal.json", internal_openapi, methods=["GET"], include_in_schema=False)


def include_router(app: FastAPI, router: APIRouter) -> None:
    """``app.include_router``, except that a router of lean routes (``shared.lean``) puts its
    routes first in the app's own list: a request is matched against them before anything else,
    without FastAPI's matching through an included router, a visible part of a deposit's CPU in
    the ledger."""
    if router.routes and all(isinstance(route, LeanRoute) for route in router.routes):
        app.router.routes[:0] = router.routes
    else:
        app.include_router(router)


#: New container objects between two collections of the youngest generation (see :func:`freeze_heap`).
GEN0_THRESHOLD = 20_000


def freeze_heap() -> None:
    """Once a process has started (its modules imported, its app and resources made): move
    everything alive out of the garbage collector's reach (``gc.freeze``). Those objects live as
    long as the process, and every older-generation collection would walk them all again, which
    the short-lived objects of a large sync set off: without the freeze that walk is a large part
    of the ledger's CPU per synced deposit. Called at the end of each app's lifespan startup, so
    every uvicorn worker does it.

    Then the youngest generation is collected after :data:`GEN0_THRESHOLD` objects more made than
    freed rather than Python's 700: with hundreds of requests in flight, each holding a few hundred
    objects until it is answered (then freed by their counts, not by the collector), 700 is passed
    many times a second, and every tenth of those collections walks the older generation too, a
    pause for every request in flight. Cycles are still collected, a little later."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, *gc.get_threshold()[1:])


def create_service_app(
    *,
    settings: SajjaSettings,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    on_startup: Callable[[FastAPI], Awaitable[None]] | None = None,
    on_shutdown: Callable[[FastAPI], Awaitable[None]] | None = None,
    body_limit_overrides: dict[str, int] | None = None,
) -> FastAPI:
    process = settings.process_name

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        start_process(process, settings)
        owned: list[Any] = []
        if not hasattr(app.state, "db"):
            app.state.db = Database.from_url(
                settings.process_database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow,
                pooler=settings.db_pooler,
            )
            owned.append(app.state.db)
        if not hasattr(app.state, "http"):
            app.state.http = service_client(settings, process)
            owned.append(app.state.http)
        made_verifier = not hasattr(app.state, "verifier")
        if not hasattr(app.state, "verifier"):
            jwks_client = make_client(timeout=5.0)
            owned.append(jwks_client)
            app.state.verifier = TokenVerifier(
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                jwks_url=settings.jwks_url,
                http_client=jwks_client,
                refresh_interval=settings.jwks_refresh_seconds,
                refetch_interval=settings.jwks_min_refetch_seconds,
            )
        if made_verifier:
            # Subjects whose older tokens are refused, read from the gateway with the service token (docs/accounts.md).
            revocations = RevocationList(http_revocations_loader(app.state.http, settings.revocations_source()),
                                         settings.revocation_refresh_seconds)
            app.state.verifier = RevokingVerifier(app.state.verifier, revocations)
        if on_startup is not None:
            await on_startup(app)
        freeze_heap()
        try:
            yield
        finally:
            if on_shutdown is not None:
                await on_shutdown(app)
            for resource in reversed(owned):
                if isinstance(resource, Database):
                    await resource.dispose()
                else:
                    await resource.aclose()

    app = FastAPI(
        title=title, description=description, version="0.1.0", lifespan=lifespan, telemetry=settings.fastapi_telemetry,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(health_router(process))
    for router in routers:
        include_router(app, router)
    app.add_middleware(InputHygieneMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, overrides=body_limit_overrides)
    # Inside the request id (its access line carries it), outside everything that may answer.
    app.add_middleware(ObserveMiddleware, process=process)
    app.add_middleware(RequestIdMiddleware)
    with_contract(app)
    return app
