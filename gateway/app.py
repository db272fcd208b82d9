"""The gateway's FastAPI app: auth, JWKS, health of the whole system, merged OpenAPI, forwarding."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.exceptions import ExceptionMiddleware

from gateway.audit import router as audit_router
from gateway.personal_data import internal as personal_data_internal
from gateway.personal_data import router as personal_data_router
from gateway.auth.accounts import load_floors
from gateway.auth.accounts import router as accounts_router
from gateway.auth.endpoints import router as auth_router
from gateway.auth.service import TokenIssuer, ensure_bootstrap_admin
from gateway.auth.throttle import Throttle, argon2_gate
from gateway.dashboard import router as dashboard_router
from gateway.keys import KeyRing
from gateway.line.client import LineClient
from gateway.line.endpoints import router as line_router
from gateway.line.notifier import Notifier
from gateway.line.service import MemberView
from gateway.members_facts import MembersFacts
from gateway.openapi import OpenApiMerger
from gateway.proxy import Forwarder
from gateway.settings import GatewaySettings
from shared import worker
from shared.app import freeze_heap
from shared.contract import build_document, operation_id
from shared.auth import RevocationList, RevokingVerifier, TokenVerifier, current_principal
from shared.db import Database
from shared.errors import install_error_handlers
from shared.etag import if_none_match
from shared.http import make_client
from shared.middleware import (
    BodyLimitMiddleware,
    InputHygieneMiddleware,
    RequestIdMiddleware,
    SmallFirstGZipMiddleware,
)
from shared.observe import ObserveMiddleware, start_process
from shared.settings import SERVICE_NAMES

log = logging.getLogger("sajja.gateway")

#: Paths that take file uploads get the larger body limit.
UPLOAD_SUFFIXES = ("/import", "/documents")


async def start_gateway(app: FastAPI) -> list[Any]:
    """Make what the gateway needs and is not already on ``app.state``; return what it made."""
    settings: GatewaySettings = app.state.settings
    owned: list[Any] = []
    if not hasattr(app.state, "db"):
        app.state.db = Database.from_url(
            settings.process_database_url, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow,
            pooler=settings.db_pooler,
        )
        owned.append(app.state.db)
    db: Database = app.state.db
    app.state.login_throttle = Throttle(db, settings)
    argon2_gate.configure(settings.argon2_max_concurrency)
    keyring = KeyRing(
        settings.key_secret,
        reload_interval=settings.jwks_refresh_seconds,
        publish_seconds=settings.key_publish_seconds,
        token_lifetime=settings.access_token_ttl_seconds,
    )
    await keyring.ensure_current(db)
    app.state.keyring = keyring
    app.state.issuer = TokenIssuer(settings=settings, keyring=keyring)

    async def load_jwks() -> dict[str, Any]:
        await keyring.refresh_if_stale(db)
        return keyring.jwks()

    app.state.verifier = TokenVerifier(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        jwks=keyring.jwks(),
        jwks_loader=load_jwks,
        refresh_interval=settings.jwks_refresh_seconds,
        refetch_interval=settings.jwks_min_refetch_seconds,
    )
    # Subjects whose older tokens are refused, on the gateway's own routes and every forwarded
    # request: an in-memory map reloaded from the database each second (docs/accounts.md).
    app.state.revocations = RevocationList(lambda: load_floors(db, settings), settings.revocation_refresh_seconds)
    app.state.verifier = RevokingVerifier(app.state.verifier, app.state.revocations)
    async with db.sessionmaker() as session:
        async with session.begin():
            shown = await ensure_bootstrap_admin(session, settings)
    if shown is None and not settings.bootstrap_admin_phone and settings.env != "dev":
        log.warning("no SAJJA_BOOTSTRAP_ADMIN_PHONE/PASSWORD: no platform admin is created outside development")
    if shown:
        phone, password = shown
        banner = "=" * 64
        print(
            f"\n{banner}\n Sajja platform admin created with the development login (README)\n"
            f"   phone:    {phone}\n   password: {password}\n"
            f" Set SAJJA_BOOTSTRAP_ADMIN_PASSWORD before the first run to choose another.\n{banner}\n",
            flush=True,
        )
    if not hasattr(app.state, "forwarder"):
        forwarder = Forwarder(
            settings.service_urls(),
            timeout=settings.upstream_timeout_seconds,
            connect_timeout=settings.upstream_connect_timeout_seconds,
            max_connections=settings.upstream_max_connections,
        )
        app.state.forwarder = forwarder
        owned.append(forwarder)
    app.state.openapi_merger = OpenApiMerger(app.state.forwarder.service_urls)
    app.state.members_facts = MembersFacts(app.state.forwarder, app.state.issuer)
    if not hasattr(app.state, "internal_http"):
        # Its calls to a service's first URL (member views, the feeds) go to any of its replicas.
        app.state.internal_http = make_client(timeout=10, services=settings.service_urls())
        owned.append(_Closing(app.state.internal_http.aclose))
    app.state.line = LineClient(settings, app.state.internal_http)
    app.state.member_view = MemberView(app.state.issuer, app.state.internal_http, app.state.forwarder.service_urls)
    app.state.notifier = Notifier(db, app.state.line, app.state.issuer, app.state.internal_http, app.state.forwarder.service_urls,
                                 lease_seconds=settings.worker_lease_seconds)
    # The LINE notifier is a process of its own (gateway/line/worker.py) unless SAJJA_IN_PROCESS_WORKERS.
    if settings.in_process_workers and settings.line_worker_interval_seconds > 0 and app.state.line.messaging_configured:
        notifier, limit = app.state.notifier, settings.line_push_per_pass
        task = worker.start(settings.line_worker_interval_seconds, name="LINE notifier", one_pass=lambda: notifier.one_pass(
            limit, funds=settings.line_feeds_per_pass, concurrency=settings.line_feed_concurrency))
        owned.append(_Closing(lambda: worker.stop(task)))
    return owned


class _Closing:
    """Something the lifespan closes on the way out."""

    def __init__(self, close: Any) -> None:
        self._close = close

    async def close(self) -> None:
        await self._close()


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        start_process("gateway", settings)
        owned = await start_gateway(app)
        freeze_heap()
        try:
            yield
        finally:
            for resource in reversed(owned):
                if isinstance(resource, Database):
                    await resource.dispose()
                else:
                    await resource.close()

    app = FastAPI(
        title="Sajja API",
        description="Community welfare funds (กองทุนสวัสดิการชุมชน): members, savings ledger, benefits, grants.",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        telemetry=settings.fastapi_telemetry,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(auth_router)
    app.include_router(accounts_router)
    app.include_router(audit_router)
    app.include_router(personal_data_router)
    app.include_router(personal_data_internal)
    app.include_router(dashboard_router)
    app.include_router(line_router)

    @app.get("/.well-known/jwks.json", include_in_schema=False)
    async def jwks(request: Request) -> Response:
        keyring: KeyRing = request.app.state.keyring
        await keyring.refresh_if_stale(request.app.state.db)
        # No max-age: a cache may keep it but must ask again, or a revoke would wait for it
        # (docs/signing-keys.md); a verifier asks with If-None-Match and mostly gets a 304.
        headers = {"Cache-Control": "public, no-cache", "ETag": keyring.etag}
        if if_none_match(request, keyring.etag):
            return Response(status_code=304, headers=headers)
        return JSONResponse(keyring.jwks(), headers=headers)

    @app.get("/healthz", include_in_schema=False)
    async def healthz(request: Request) -> JSONResponse:
        """200 when the gateway's database and every service are ready; 503 naming what is not.
        A service of several replicas is ready when one of them is (the gateway sends requests
        to those that answer); each replica's state is then listed under ``replicas``."""
        forwarder: Forwarder = request.app.state.forwarder
        replicas: dict[str, dict[str, str]] = {}

        async def service_state(name: str) -> str:
            states = []
            for result in await forwarder.call_each(name, "GET", "/readyz", timeout=2.0):
                if isinstance(result, BaseException):
                    states.append(f"unreachable ({type(result).__name__})")
                else:
                    states.append("ok" if result.status == 200 else f"unready ({result.status})")
            if len(states) > 1:
                replicas[name] = dict(zip(forwarder.replica_urls(name), states))
            return "ok" if "ok" in states else states[0]

        async def own_state() -> str:
            try:
                await request.app.state.db.ping()
                return "ok"
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                return f"unready ({type(exc).__name__})"

        names = list(forwarder.service_urls)
        states = await asyncio.gather(own_state(), *(service_state(n) for n in names))
        services = {"gateway": states[0], **dict(zip(names, states[1:]))}
        failing = sorted(n for n, s in services.items() if s != "ok")
        body: dict[str, Any] = {"status": "ok" if not failing else "unavailable", "services": services}
        if failing:
            body["not_ready"] = failing
        if replicas:
            body["replicas"] = replicas
        return JSONResponse(body, status_code=503 if failing else 200)

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        try:
            await request.app.state.db.ping()
        except Exception:  # noqa: BLE001
            return JSONResponse({"status": "unavailable", "service": "gateway"}, status_code=503)
        return JSONResponse({"status": "ok", "service": "gateway"})

    def own_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_document(app)
        return app.openapi_schema

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        merger: OpenApiMerger = request.app.state.openapi_merger
        return JSONResponse(await merger.document(own_openapi(), request.app.state.forwarder))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Sajja API")

    # Outermost first. Every request passes these, forwarded or not (see ForwardingLane).
    middleware: list[tuple[type, dict[str, Any]]] = [
        # With X-Server-Time, so that phones with wrong clocks can correct themselves (one pass over
        # the answer's headers for both).
        (RequestIdMiddleware, {"server_time": True}),
        # Metrics, access line and trace (docs/observability.md): a trace of its own for every
        # request from outside, whatever ``traceparent`` the caller sent.
        (ObserveMiddleware, {"process": "gateway", "trust_traceparent": False}),
        # Compress for phones on slow networks; a body already encoded upstream is left as it is.
        # zlib's own default level, not Starlette's 9: on a sync's answer level 9 costs the gateway
        # several times the CPU for hardly a byte less, and that CPU is taken from the services.
        # A small answer (a deposit's receipt) passes without the compressor's machinery.
        (SmallFirstGZipMiddleware, {"minimum_size": 1000, "compresslevel": 6}),
        (BodyLimitMiddleware, {"max_bytes": settings.max_body_bytes,
                               "overrides": {suffix: settings.upload_max_bytes for suffix in UPLOAD_SUFFIXES}}),
        # NUL and lone surrogates in any string: refused here too, so a forwarded request carries none.
        (InputHygieneMiddleware, {}),
    ]
    for cls, options in reversed(middleware):
        app.add_middleware(cls, **options)
    app.add_middleware(ForwardingLane, middleware=middleware, handlers=app.exception_handlers)
    return app


FORWARDED_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


class ForwardingLane:
    """Forwards ``/v1/<service>/...`` to the service, ahead of FastAPI's own stack.

    Forwarded requests are most of the gateway's traffic (every deposit) and need nothing of
    FastAPI: no routing among the gateway's own paths, no parameters, no dependencies. Ahead of
    its stack they pass only through the gateway's own middlewares (the same classes with the
    same settings, so request ids, server time, compression and body limits are the same) and
    the app's exception handlers (a bad token is the same problem+json); an exception no handler
    takes goes on to FastAPI's server-error handling. Through FastAPI, a forwarded request would
    pay for its endpoint machinery, for matching its path after every one of the gateway's own
    routes, and for the rest of its stack (telemetry hooks, a body limit, exit stacks, the
    router): together a large part of the gateway's CPU per forwarded deposit, for nothing it uses.
    Everything else goes on to the FastAPI app unchanged."""

    def __init__(self, app: Any, middleware: list[tuple[type, dict[str, Any]]], handlers: dict[Any, Any]) -> None:
        self.app = app
        lane: Any = ExceptionMiddleware(
            self._forward, handlers={k: v for k, v in handlers.items() if k not in (500, Exception)}
        )
        for cls, options in reversed(middleware):
            lane = cls(lane, **options)
        self.lane = lane

    @staticmethod
    def _service(path: str) -> str | None:
        # "/v1/<service>/..." with a known service
        parts = path.split("/", 3)
        if len(parts) == 4 and parts[0] == "" and parts[1] == "v1" and parts[2] in SERVICE_NAMES:
            return parts[2]
        return None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self._service(scope["path"]) is not None:
            await self.lane(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _forward(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        if request.method not in FORWARDED_METHODS:
            raise StarletteHTTPException(405)
        # The gateway refuses bad tokens itself; the service checks again (cached) and decides scope.
        await current_principal(request)
        service = self._service(scope["path"])
        assert service is not None
        response = await request.app.state.forwarder.forward(request, service)
        await response(scope, receive, send)
