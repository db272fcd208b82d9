"""The shared package: settings, errors and languages, body limits, service tokens, retries, migrations."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from aiohttp import web
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from gateway.proxy import Forwarder
from gateway.settings import GatewaySettings
from services.ledger.settings import LedgerSettings
from services.members.settings import MembersSettings
from shared import cli
from shared.auth import Role, TokenVerifier
from shared.errors import preferred_language
from shared.http import (
    CLIENT_IDLE_SECONDS,
    SERVER_KEEP_ALIVE_SECONDS,
    ServiceTokenAuth,
    make_client,
    request_with_retries,
)
from shared.migrate import PACKAGES
from shared.settings import database_url_for
from tests.support.helpers import AUDIENCE, ISSUER, TEST_SECRET, free_port, serving


def test_settings_fall_back_to_the_common_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAJJA_JWT_ISSUER", "common-issuer")
    monkeypatch.setenv("SAJJA_MEMBERS_JWT_ISSUER", "members-issuer")
    monkeypatch.setenv("SAJJA_DATABASE_URL", "postgresql://u:p@db:5432/postgres")
    assert MembersSettings().jwt_issuer == "members-issuer"
    assert GatewaySettings().jwt_issuer == "common-issuer"
    assert MembersSettings().process_database_url == "postgresql+asyncpg://u:p@db:5432/sajja_members"
    monkeypatch.setenv("SAJJA_MEMBERS_DATABASE_URL", "postgresql+asyncpg://u:p@members-db:5432/x")
    assert MembersSettings().process_database_url == "postgresql+asyncpg://u:p@members-db:5432/sajja_members"


def test_default_secrets_are_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAJJA_ENV", "production")
    with pytest.raises(ValueError, match="service_secret"):
        LedgerSettings()
    monkeypatch.setenv("SAJJA_SERVICE_SECRET", "a-real-secret-of-enough-length")
    assert LedgerSettings().env == "production"
    with pytest.raises(ValueError, match="pii_key, pii_hash_key"):
        MembersSettings()
    with pytest.raises(ValueError, match="key_secret"):
        GatewaySettings()
    monkeypatch.setenv("SAJJA_GATEWAY_KEY_SECRET", "short")
    with pytest.raises(ValueError, match="key_secret"):
        GatewaySettings()
    monkeypatch.setenv("SAJJA_ENV", "dev")
    monkeypatch.delenv("SAJJA_SERVICE_SECRET")
    assert LedgerSettings().service_secret.startswith("dev-")


def test_database_url_for_keeps_the_socket_query() -> None:
    url = database_url_for("postgresql://postgres:@/postgres?host=/tmp/pg", "sajja_ledger")
    assert url == "postgresql+asyncpg://postgres:@/sajja_ledger?host=/tmp/pg"


@pytest.mark.parametrize(
    ("header", "lang"),
    [(None, "th"), ("", "th"), ("en", "en"), ("en-US,en;q=0.9", "en"), ("th-TH,en;q=0.5", "th"),
     ("fr, en;q=0.8, th;q=0.9", "th"), ("en;q=0.9, th;q=0.1", "en"), ("de", "th"), ("en;q=bogus", "th")],
)
def test_language_is_thai_unless_english_is_preferred(header: str | None, lang: str) -> None:
    assert preferred_language(header) == lang


async def test_unknown_routes_and_methods_are_problems(service_client) -> None:
    members = await service_client("members")
    missing = await members.get("/v1/members/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    wrong = await members.delete("/v1/members/funds", headers={"Accept-Language": "en"})
    assert wrong.status_code == 405 and wrong.json()["detail"] == "This resource does not support DELETE"


async def test_services_refuse_large_bodies_even_when_streamed(service_client, tokens) -> None:
    members = await service_client("members")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 100_000

    streamed = await members.post("/v1/members/funds", content=chunks(), headers=tokens.headers())
    assert streamed.status_code == 413
    assert streamed.json()["code"] == "request.body_too_large"
    declared = await members.post("/v1/members/funds", content=b"{}" * 600_000, headers=tokens.headers())
    assert declared.status_code == 413


async def test_a_service_token_from_the_gateway_is_accepted_by_a_service(gateway, service_client) -> None:
    """The real chain: client credentials at the gateway, JWKS from the gateway, verification in a service."""
    gateway_app_, gateway_client = gateway
    gateway_transport = httpx.ASGITransport(app=gateway_app_)
    auth = ServiceTokenAuth(gateway_url="http://gateway", service="benefits", master_secret=TEST_SECRET)
    members = await service_client("members")
    members_app = members._transport.app  # type: ignore[attr-defined]
    members_app.state.verifier = TokenVerifier(
        issuer=ISSUER, audience=AUDIENCE, jwks_url="http://gateway/.well-known/jwks.json",
        http_client=httpx.AsyncClient(transport=gateway_transport),
    )

    class Route(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            app_transport = gateway_transport if request.url.host == "gateway" else members._transport
            return await app_transport.handle_async_request(request)

    async with make_client(base_url="http://members", auth=auth, transport=Route()) as client:
        response = await client.get("/v1/members/funds")
        assert response.status_code == 200, response.text
        principal = await members_app.state.verifier.verify(auth._token)
        assert principal.role is Role.service and principal.subject == "svc-benefits"
        first_token = auth._token
        await client.get("/v1/members/funds")
        assert auth._token == first_token, "the service token is reused until it nears expiry"


async def test_clients_keep_no_cookies_between_requests() -> None:
    """A cookie one answer sets is not sent with the next request (made for someone else)."""
    app = web.Application()

    async def handler(request: web.Request) -> web.Response:
        response = web.json_response({"cookie": request.headers.get("Cookie")})
        response.set_cookie("session", "someone-elses", path="/")
        return response

    app.router.add_route("GET", "/x", handler)
    async with serving(app) as url:
        url = url.replace("127.0.0.1", "localhost")  # cookies for a bare IP address would not be kept anyway
        async with httpx.AsyncClient(base_url=url) as plain:  # the control: a client that keeps cookies
            await plain.get("/x")
            assert (await plain.get("/x")).json()["cookie"] == "session=someone-elses"
        async with make_client(base_url=url) as client:
            first = await client.get("/x")
            assert first.json()["cookie"] is None
            assert "session=someone-elses" in first.headers["set-cookie"]
            assert (await client.get("/x")).json()["cookie"] is None


def test_servers_keep_idle_connections_longer_than_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    """``sajja serve`` keeps an idle connection open well past the time a Sajja client gives it up."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    cli.serve("ledger", "127.0.0.1", free_port(), 1)
    assert seen["timeout_keep_alive"] == SERVER_KEEP_ALIVE_SECONDS
    assert CLIENT_IDLE_SECONDS * 2 <= SERVER_KEEP_ALIVE_SECONDS


async def test_a_service_freezes_its_heap_once_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each service's lifespan (so each uvicorn worker) freezes the heap (``gc.freeze``) once
    its startup is done, before it serves: a full collection no longer walks those objects."""
    from services.ledger.app import create_app

    events: list[str] = []
    monkeypatch.setattr("shared.app.start_process", lambda *args, **kwargs: None)  # the test process's logging stays
    app = create_app(LedgerSettings(members_url="http://127.0.0.1:9"))
    monkeypatch.setattr(gc, "freeze", lambda: events.append(f"freeze, started: {hasattr(app.state, 'directory')}"))
    async with app.router.lifespan_context(app):
        events.append("serving")
    assert events == ["freeze, started: True", "serving"]


async def test_the_gateway_freezes_its_heap_once_started(engines, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.app import create_app
    from tests.support.apps import rolled_back
    from tests.support.helpers import gateway_settings

    events: list[str] = []
    monkeypatch.setattr("gateway.app.start_process", lambda *args, **kwargs: None)
    app = create_app(gateway_settings())
    monkeypatch.setattr(gc, "freeze", lambda: events.append(f"freeze, started: {hasattr(app.state, 'issuer')}"))
    async with rolled_back(engines["gateway"]) as db:
        app.state.db = db
        async with app.router.lifespan_context(app):
            events.append("serving")
    assert events == ["freeze, started: True", "serving"]


async def test_clients_close_idle_connections_themselves() -> None:
    """The gateway's forwarder and the services' clients close a connection idle for their limit,
    so they never send on one the server is closing at the same moment (a lost request): after the
    limit, the next request arrives on a new connection, though the server would still keep the old."""

    async def caller_port(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": str(scope["client"][1]).encode()})

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(caller_port, host="127.0.0.1", port=port, lifespan="off", log_config=None,
                                           timeout_keep_alive=30))
    serve = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    url = f"http://127.0.0.1:{port}"
    forwarder = Forwarder({"x": url}, timeout=5, connect_timeout=1, max_connections=4, idle_seconds=0.3)
    try:
        async def via_forwarder() -> str:
            return (await forwarder.call("x", "GET", "/")).body.decode()

        async with make_client(base_url=url, idle_seconds=0.3) as client:
            async def via_client() -> str:
                return (await client.get("/")).text

            for send in (via_forwarder, via_client):
                first = await send()
                assert await send() == first, "a busy connection is reused"
                await asyncio.sleep(0.8)
                assert await send() != first, f"{send.__name__} sent on a connection idle past its limit"
    finally:
        await forwarder.close()
        server.should_exit = True
        await serve


async def test_retries_only_idempotent_requests() -> None:
    hits: list[str] = []

    async def flaky(request: web.Request) -> web.Response:
        hits.append(request.method)
        return web.Response(status=503 if len([h for h in hits if h == request.method]) < 3 else 200)

    app = web.Application()
    app.router.add_route("*", "/x", flaky)
    async with serving(app) as url, make_client(base_url=url) as client:
        get = await request_with_retries(client, "GET", "/x", backoff=0.01)
        assert get.status_code == 200 and hits.count("GET") == 3
        post = await request_with_retries(client, "POST", "/x", backoff=0.01)
        assert post.status_code == 503 and hits.count("POST") == 1
        keyed = await request_with_retries(client, "POST", "/x", backoff=0.01, headers={"Idempotency-Key": "k"})
        assert keyed.status_code == 200 and hits.count("POST") == 3


@pytest.mark.parametrize("process", sorted(PACKAGES))
async def test_migrations_match_the_models(process: str, engines) -> None:
    """Alembic's autogenerate finds nothing to do: every model change has its migration."""
    import importlib

    metadata = importlib.import_module(f"{PACKAGES[process]}.models").Base.metadata
    async with engines[process].connect() as conn:
        diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
    assert diff == []


async def test_a_worker_outlives_a_bad_pass_and_stops_when_told(caplog: pytest.LogCaptureFixture) -> None:
    from shared import worker

    passes: list[int] = []

    async def one_pass() -> None:
        passes.append(len(passes))
        if len(passes) == 2:
            raise RuntimeError("the ledger was down")

    task = worker.start(0.01, one_pass, name="test worker")
    while len(passes) < 4:
        await asyncio.sleep(0.01)
    assert not task.done(), "a failed pass does not end the worker"
    assert any("test worker: pass failed" in r.getMessage() and r.exc_info for r in caplog.records)
    await worker.stop(task)
    assert task.cancelled()
    count = len(passes)
    await asyncio.sleep(0.05)
    assert len(passes) == count, "no pass after stop"
    await worker.stop(None)  # nothing started: nothing to stop
