"""The processes' apps as the tests build them: a service or the gateway on a rolled-back connection,
and the clients one service uses to call another.

- ``service_app(name)``: a service's ASGI app with test settings (nothing started: the caller sets
  ``app.state``, as ``tests/conftest.py``'s ``service_client`` fixture and the ledger's concurrency
  tests do).
- ``rolled_back(engine)``: a ``Database`` on one connection whose outer transaction is rolled back.
- ``members_directory`` / ``ledger_client`` / ``benefits_client``: the ledger's and the other
  services' view of the members service, the ledger and benefits, the real apps called with a
  service token.
- ``gateway_app(engine, **settings)``: the gateway app started as its lifespan would.
- ``ServicesWire``: the gateway's forwarder answered by the real services' ASGI apps.
- ``app_routes(name)``: every API route of a process's app, for tests that walk them all.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import Database
from shared.http1 import Answer
from tests.support.helpers import TEST_SECRET, Tokens, gateway_settings


def service_settings(name: str) -> Any:
    from services.benefits.settings import BenefitsSettings
    from services.grants.settings import GrantsSettings
    from services.ledger.settings import LedgerSettings
    from services.members.settings import MembersSettings

    cls = {"members": MembersSettings, "ledger": LedgerSettings, "benefits": BenefitsSettings, "grants": GrantsSettings}[name]
    secrets = {name: f"test-{name}-0123456789abcdef" for name in cls.secret_fields}
    # The tests' webhook receivers listen on 127.0.0.1, over http: let through by the allowlist,
    # with the https and public-address rules of SAJJA_ENV=test otherwise in force.
    extra = {"webhook_allowed_hosts": "127.0.0.1"} if name == "grants" else {}
    if name == "benefits":
        extra = {"document_key": TEST_DOCUMENT_KEY}
    if name == "members":
        # Key 1 of the national ID key ring (docs/national-id-keys.md), checked with the ring.
        extra = {"pii_key": "test-pii_key-0123456789abcdef"}
    return cls(env="test", **{**secrets, "service_secret": TEST_SECRET}, **extra)


#: The documents' key-encryption key in tests (key 1 of the ring).
TEST_DOCUMENT_KEY = "test-document-key-0123456789abcdef"


def document_store(root: Any = None, *, blobs: Any = None, max_bytes: int = 1024 * 1024, keys: dict[int, str] | None = None,
                   **limits: Any) -> Any:
    """A claim documents' store for the tests: a local directory (or ``blobs``), the tests' key ring."""
    from services.benefits.documents import DocumentStore
    from services.benefits.envelope import KeyRing
    from services.benefits.storage import LocalBlobStore

    return DocumentStore(blobs or LocalBlobStore(root), KeyRing(keys or {1: TEST_DOCUMENT_KEY}), max_bytes=max_bytes, **limits)


def service_app(name: str) -> Any:
    from shared.cli import APPS

    module, _, attr = APPS[name].partition(":")
    factory = getattr(__import__(module, fromlist=[attr]), attr)
    return factory(service_settings(name))


@asynccontextmanager
async def rolled_back(engine: AsyncEngine) -> AsyncIterator[Database]:
    """A Database bound to one connection whose outer transaction is rolled back at the end."""
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield Database(conn)
        finally:
            await transaction.rollback()


def members_directory(members: httpx.AsyncClient, tokens: Tokens, caller: str = "ledger") -> Any:
    """A service's view of the members service (the ledger's, unless ``caller`` names another): the
    real members app, called with that service's token."""
    from shared.members_client import MembersDirectory

    http = httpx.AsyncClient(transport=members._transport, headers=tokens.service(caller))
    return MembersDirectory(http, "http://members")


def ledger_client(ledger: httpx.AsyncClient, tokens: Tokens, caller: str = "benefits") -> Any:
    """Another service's view of the ledger (the benefits service's, unless ``caller`` names
    another): the real ledger app, called with that service's token."""
    from shared.ledger_client import LedgerClient

    http = httpx.AsyncClient(transport=ledger._transport, headers=tokens.service(caller))
    return LedgerClient(http, "http://ledger")


class LaterApp(httpx.AsyncBaseTransport):
    """Requests to a service's app that is made on its first request (``make``: the
    ``service_client`` fixture's), for a service that calls one that calls it back."""

    def __init__(self, make: Any) -> None:
        self.make = make
        self.transport: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.transport is None:
            self.transport = (await self.make())._transport
        return await self.transport.handle_async_request(request)


def benefits_client(make: Any, tokens: Tokens, caller: str = "ledger") -> Any:
    """Another service's view of benefits (the ledger's, unless ``caller`` names another): the
    real benefits app, made on the first call (``make``: an async function answering its client)."""
    from shared.benefits_client import BenefitsClient

    http = httpx.AsyncClient(transport=LaterApp(make), headers=tokens.service(caller))
    return BenefitsClient(http, "http://benefits")


@asynccontextmanager
async def gateway_app(engine: AsyncEngine, **overrides: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The gateway app on a rolled-back connection, started as its lifespan would."""
    from gateway.app import create_app, start_gateway

    app = create_app(gateway_settings(**overrides))
    async with rolled_back(engine) as db:
        app.state.db = db
        owned = await start_gateway(app)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 50000)), base_url="http://gateway"
        )
        try:
            yield app, client
        finally:
            await client.aclose()
            for resource in owned:
                await resource.close()


class ServicesWire:
    """The gateway forwarder's client (``Http1Client.send``), answered by the real services' ASGI
    apps instead of sockets, one call at a time: each service works on one rolled-back connection,
    which cannot take two requests at once."""

    def __init__(self, clients: dict[str, httpx.AsyncClient]) -> None:
        self.clients = clients
        self.one_at_a_time = asyncio.Lock()

    async def send(self, host: str, port: int, method: str, target: bytes, *, headers: Any = (), body: bytes = b"") -> Answer:
        async with self.one_at_a_time:
            response = await self.clients[host].request(method, target.decode("latin-1"), content=body, headers=list(headers))
        return Answer(status=response.status_code, headers=[(k.lower(), v) for k, v in response.headers.raw], body=response.content)

    async def close(self) -> None:
        """The clients are the service_client fixture's."""


def app_routes(name: str) -> list[Any]:
    """Each API route of a process's app (a service, or ``gateway``) as it serves it, through its
    included routers: ``fastapi.routing.RouteContext``s of ``APIRoute``s."""
    from fastapi.routing import APIRoute, iter_route_contexts

    app = importlib.import_module("gateway.app").create_app(gateway_settings()) if name == "gateway" else service_app(name)
    return [c for c in iter_route_contexts(app.routes) if isinstance(c.original_route, APIRoute)]


@asynccontextmanager
async def gateway_before(engine: AsyncEngine, services: dict[str, httpx.AsyncClient],
                         tokens: Tokens) -> AsyncIterator[tuple[Any, httpx.AsyncClient, Tokens]]:
    """The gateway in front of the real services ``services`` (name -> the service_client fixture's
    client), which trust its keys too: the app, its client, and tokens it signs."""
    from shared.auth import TokenVerifier
    from tests.support.helpers import AUDIENCE, ISSUER

    names = ("members", "ledger", "benefits", "grants")
    async with gateway_app(engine, **{f"{name}_url": f"http://{name}" for name in names}) as (app, client):
        keyring = app.state.keyring
        trusted = {"keys": tokens.jwks["keys"] + keyring.jwks()["keys"]}
        for service in services.values():
            service._transport.app.state.verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=trusted)
        await app.state.forwarder.client.close()
        app.state.forwarder.client = ServicesWire(services)
        yield app, client, Tokens(pem=keyring._current_pem, kid=keyring.current_kid, jwks=keyring.jwks())
