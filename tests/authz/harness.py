"""The five processes in one event loop, for the authorization matrix.

Each process's app runs on one database connection inside a transaction that is rolled back when
the package's tests are done (as ``tests/support/apps.rolled_back`` does for one test). The
services call each other in-process, as the test fixtures do; the gateway forwards to them and
reads from them in-process too (its forwarder's wire and its internal HTTP client are the
services' ASGI apps), so a ``/v1/<service>/`` path and a web page go through the real gateway.

:meth:`System.isolated` runs one request inside a savepoint on every database and rolls it back,
so every request sees the same world, and tells what the request wrote: the inserts, updates and
deletes PostgreSQL counted in the transaction (``pg_stat_xact_user_tables``), per table.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.auth import TokenVerifier
from shared.db import Database
from shared.http1 import Answer
from tests.support.apps import document_store, ledger_client, members_directory, service_app
from tests.support.helpers import AUDIENCE, ISSUER, Tokens, gateway_settings

SERVICES = ("members", "ledger", "benefits", "grants")
PROCESSES = ("gateway", *SERVICES)

#: Where the gateway finds each service: a name its forwarder's wire maps to the service's app.
SERVICE_URLS = {name: f"http://{name}.authz" for name in SERVICES}

#: What this transaction has inserted, updated and deleted in each of the given tables (counted
#: as it goes, savepoints rolled back or not: what ``pg_stat_xact_user_tables`` shows, for less).
WRITES_SQL = (
    "SELECT o::regclass::text, n FROM (SELECT o, pg_stat_get_xact_tuples_inserted(o) + pg_stat_get_xact_tuples_updated(o)"
    " + pg_stat_get_xact_tuples_deleted(o) AS n FROM unnest($1::oid[]) AS o) AS s WHERE n > 0"
)
TABLES_SQL = "SELECT oid FROM pg_class WHERE relkind IN ('r', 'p') AND relnamespace = 'public'::regnamespace"


class AsgiWire:
    """The gateway forwarder's client (``shared.http1.Http1Client.send``), answered by the
    services' ASGI apps instead of sockets."""

    def __init__(self, apps: dict[str, Any]) -> None:
        self.clients = {
            f"{name}.authz": httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}.authz")
            for name, app in apps.items()
        }

    async def send(self, host: str, port: int, method: str, target: bytes, *, headers: Any = (), body: bytes = b"") -> Answer:
        client = self.clients[host]
        request = client.build_request(method, target.decode("latin-1"), content=body,
                                       headers=[(k, v) for k, v in headers])
        response = await client.send(request)
        raw = [(k.lower(), v) for k, v in response.headers.raw]
        return Answer(status=response.status_code, headers=raw, body=response.content)

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()


@dataclass
class System:
    apps: dict[str, Any]
    clients: dict[str, httpx.AsyncClient]
    conns: dict[str, AsyncConnection]
    tokens: Tokens
    #: What the gateway keeps in memory that a rolled-back request may change (a key rotation).
    _memory: list[Any] = field(default_factory=list)
    _driver_conns: dict[str, Any] = field(default_factory=dict)
    _tables: dict[Any, Any] = field(default_factory=dict)

    @asynccontextmanager
    async def isolated(self) -> AsyncIterator[dict[str, dict[str, int]]]:
        """A savepoint on every database for the block, rolled back after it; yields a dict that
        holds, once the block is done, what the block left written: per database, the tables whose
        rows it inserted, updated or deleted, with how many, for those whose content differs at the
        end (PostgreSQL counts writes a request rolled back itself too: for a table it counted, its
        rows are compared as they are and once the savepoint is rolled back, as they were).

        The savepoint is PostgreSQL's own, under SQLAlchemy's feet (the sessions' savepoints nest
        inside it and are all closed when a request is answered): a request costs two round trips
        more per database, not SQLAlchemy's four."""
        written: dict[str, dict[str, int]] = {}
        drivers = await self._drivers()
        saved = [(obj, _state(obj)) for obj in self._memory]

        async def begin(driver: Any) -> dict[str, int]:
            await driver.execute("SAVEPOINT authz_request")
            return await self._writes(driver)

        async def end(driver: Any, counted_before: dict[str, int]) -> dict[str, int]:
            counted = {t: k - counted_before.get(t, 0) for t, k in (await self._writes(driver)).items()
                       if k != counted_before.get(t, 0)}
            after = {t: await _content(driver, t) for t in counted}
            await driver.execute("ROLLBACK TO SAVEPOINT authz_request; RELEASE SAVEPOINT authz_request")
            return {t: n for t, n in counted.items() if await _content(driver, t) != after[t]}

        names = list(drivers)
        before = dict(zip(names, await asyncio.gather(*(begin(drivers[n]) for n in names))))
        try:
            yield written
        finally:
            left = await asyncio.gather(*(end(drivers[n], before[n]) for n in names))
            written.update({name: tables for name, tables in zip(names, left) if tables})
            for obj, state in saved:
                for attr, value in state.items():
                    object.__setattr__(obj, attr, value)

    async def _drivers(self) -> dict[str, Any]:
        """Each database's asyncpg connection, with its tables and the prepared count of writes."""
        if not self._driver_conns:
            for name, conn in self.conns.items():
                driver = (await conn.get_raw_connection()).driver_connection
                self._driver_conns[name] = driver
                self._tables[driver] = ([row[0] for row in await driver.fetch(TABLES_SQL)], await driver.prepare(WRITES_SQL))
        return self._driver_conns

    async def _writes(self, driver: Any) -> dict[str, int]:
        tables, statement = self._tables[driver]
        return {name: int(n) for name, n in await statement.fetch(tables)}


class Serialized:
    """A service's app taking one request at a time: its one database connection cannot serve two
    sessions at once (the gateway reads a page's figures concurrently). The services call each
    other without cycles (benefits and grants call the ledger, which calls members), so this never
    waits on itself."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = asyncio.Lock()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self.lock:
            await self.app(scope, receive, send)


async def _content(driver: Any, table: str) -> str:
    """A digest of every row of ``table`` (the world's tables are small)."""
    return await driver.fetchval(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} AS t")


def _state(obj: Any) -> dict[str, Any]:
    """An object's attributes (``__dict__`` or slots); its lists and dicts copied one level deep."""
    names = list(getattr(obj, "__dict__", {})) + [
        slot for cls in type(obj).__mro__ for slot in getattr(cls, "__slots__", ()) if hasattr(obj, slot)]
    return {name: copy.copy(v) if isinstance(v := getattr(obj, name), (list, dict, set)) else v for name in names}


@asynccontextmanager
async def running_system(engines: dict[str, AsyncEngine], documents: Any) -> AsyncIterator[System]:
    """The gateway and the four services on rolled-back connections, wired to each other."""
    from gateway.app import create_app, start_gateway
    from gateway.proxy import Forwarder

    async with AsyncExitStack() as stack:
        conns: dict[str, AsyncConnection] = {}
        for name in PROCESSES:
            conn = await stack.enter_async_context(engines[name].connect())
            transaction = await conn.begin()
            stack.push_async_callback(transaction.rollback)
            conns[name] = conn

        services = {name: service_app(name) for name in SERVICES}
        serial = {name: Serialized(app) for name, app in services.items()}
        gateway = create_app(gateway_settings(**{f"{name}_url": url for name, url in SERVICE_URLS.items()},
                                              line_worker_interval_seconds=0,
                                              # Reloaded for every request: a revocation rolled back
                                              # with its savepoint is forgotten at once.
                                              revocation_refresh_seconds=0.001))
        gateway.state.db = Database(conns["gateway"])
        wire = AsgiWire(serial)
        stack.push_async_callback(wire.close)
        forwarder = Forwarder(gateway.state.settings.service_urls(), timeout=30, connect_timeout=5, max_connections=8)
        await forwarder.client.close()
        forwarder.client = wire  # type: ignore[assignment]
        gateway.state.forwarder = forwarder
        internal = httpx.AsyncClient(mounts={url: httpx.ASGITransport(app=serial[name])
                                             for name, url in SERVICE_URLS.items()}, timeout=30)
        stack.push_async_callback(internal.aclose)
        gateway.state.internal_http = internal
        owned = await start_gateway(gateway)
        for resource in owned:
            stack.push_async_callback(resource.close)

        keyring = gateway.state.keyring
        tokens = Tokens(pem=keyring._current_pem, kid=keyring.current_kid, jwks=keyring.jwks())
        assert (gateway.state.settings.jwt_issuer, gateway.state.settings.jwt_audience) == (ISSUER, AUDIENCE)

        clients: dict[str, httpx.AsyncClient] = {}
        for name in SERVICES:
            app = services[name]
            app.state.db = Database(conns[name])
            app.state.verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=tokens.jwks)
            app.state.http = httpx.AsyncClient()
            stack.push_async_callback(app.state.http.aclose)
            clients[name] = httpx.AsyncClient(transport=httpx.ASGITransport(app=serial[name]), base_url=f"http://{name}")
            stack.push_async_callback(clients[name].aclose)
        for name in ("ledger", "benefits", "grants"):
            services[name].state.directory = members_directory(clients["members"], tokens, name)
        for name in ("benefits", "grants"):
            services[name].state.ledger = ledger_client(clients["ledger"], tokens, name)
        services["benefits"].state.documents = document_store(documents)
        services["grants"].state.webhook_http = httpx.AsyncClient(timeout=5)
        stack.push_async_callback(services["grants"].state.webhook_http.aclose)
        clients["gateway"] = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway, client=("203.0.113.9", 50000)), base_url="http://gateway")
        stack.push_async_callback(clients["gateway"].aclose)

        yield System(apps={"gateway": gateway, **services}, clients=clients, conns=conns, tokens=tokens,
                     _memory=[keyring, gateway.state.issuer])
