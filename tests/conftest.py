"""Test fixtures: one embedded PostgreSQL per test session, each test inside a rolled-back transaction.

- ``pg_url``: the server, started once in a temporary directory, durability off.
- ``migrated``: every process's database created and migrated once by its own Alembic history.
- ``tokens``: an ES256 key that services trust in tests, and a helper to mint access tokens.
- ``service_client(name)``: an httpx client on a service's ASGI app whose database work happens in
  an outer transaction rolled back after the test.
- ``gateway``: the gateway app the same way, with its keyring, issuer and forwarder.
- ``light_argon2``: the in-process gateway's password hashing at argon2id's lightest cost.

``tests/e2e/conftest.py`` adds the running system that some end-to-end tests share.

Only fixtures live here; what they are built from (apps, tokens, funds) is in ``tests/support/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.auth import TokenVerifier
from shared.embedded_pg import EmbeddedPostgres
from shared.migrate import migrate
from shared.settings import PROCESS_NAMES
from tests.support.apps import (
    benefits_client,
    document_store,
    gateway_app,
    ledger_client,
    members_directory,
    rolled_back,
    service_app,
)
from tests.support.helpers import AUDIENCE, ISSUER, TEST_KEY_SECRET, Tokens


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Any:
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", delete_on_stop=True)
    url = pg.start()
    pg.tune_for_tests()
    yield url
    pg.stop()


@pytest.fixture(scope="session")
async def migrated(pg_url: str) -> dict[str, str]:
    return {name: await migrate(name, pg_url) for name in PROCESS_NAMES}


@pytest.fixture(scope="session")
async def engines(migrated: dict[str, str]) -> AsyncIterator[dict[str, AsyncEngine]]:
    made = {name: create_async_engine(url, pool_size=5) for name, url in migrated.items()}
    yield made
    for engine in made.values():
        await engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def light_argon2() -> Any:
    """The in-process gateway hashes and verifies passwords with argon2id at its lightest cost.

    The gateway's own cost is meant to take tens of milliseconds per hash, and the tests log in, make
    users and guess wrong passwords thousands of times. What they check (which password passes, who
    is throttled before argon2 runs, how many run at once) does not depend on the cost; the hashes
    are still argon2id, made and checked by the same library. The processes that the end-to-end
    tests start keep the gateway's own cost.
    """
    from argon2 import PasswordHasher

    from gateway.auth import service

    real = service._hasher, service._DUMMY_HASH
    service._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    service._DUMMY_HASH = service._hasher.hash("not anybody's password")
    yield
    service._hasher, service._DUMMY_HASH = real


@pytest.fixture(scope="session")
def tokens() -> Tokens:
    from cryptography.fernet import Fernet  # noqa: F401 - the keyring's dependency, imported early

    from gateway.keys import _fernet, new_key_pair

    key = new_key_pair(TEST_KEY_SECRET)
    pem = _fernet(TEST_KEY_SECRET).decrypt(key.private_key_encrypted.encode()).decode()
    return Tokens(pem=pem, kid=key.kid, jwks={"keys": [key.public_jwk]})


@pytest.fixture
async def service_client(
    engines: dict[str, AsyncEngine], tokens: Tokens, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Callable[[str], Any]]:
    """``await service_client("members")``: an httpx client on that service, rolled back after the test."""
    stack: list[Any] = []

    made: dict[str, httpx.AsyncClient] = {}

    async def make(name: str) -> httpx.AsyncClient:
        if name in made:
            return made[name]
        app = service_app(name)
        cm = rolled_back(engines[name])
        app.state.db = await cm.__aenter__()
        app.state.verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=tokens.jwks)
        app.state.http = httpx.AsyncClient()
        if name in ("ledger", "benefits"):
            app.state.directory = members_directory(await make("members"), tokens, name)
        if name in ("benefits", "grants"):
            app.state.ledger = ledger_client(await make("ledger"), tokens, name)
        if name == "ledger":  # benefits, made when the ledger first asks (it calls the ledger too)
            app.state.benefits = benefits_client(lambda: make("benefits"), tokens, name)
        if name == "benefits":
            app.state.documents = document_store(tmp_path_factory.mktemp("documents"))
        if name == "grants":
            app.state.directory = members_directory(await make("members"), tokens, name)
            app.state.webhook_http = httpx.AsyncClient(timeout=5)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
        stack.append((cm, client, app.state.http))
        made[name] = client
        return client

    yield make
    for cm, client, http in reversed(stack):
        await client.aclose()
        await http.aclose()
        await cm.__aexit__(None, None, None)


@pytest.fixture
async def gateway(engines: dict[str, AsyncEngine]) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    async with gateway_app(engines["gateway"]) as pair:
        yield pair

