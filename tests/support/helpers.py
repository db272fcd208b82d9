"""Helpers for tests: token minting, gateway settings, logging in, small servers on real sockets."""

from __future__ import annotations

import importlib.util
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from jose import jwt

from shared.auth import Role

TEST_SECRET = "test-service-secret-0123456789abcdef"
TEST_KEY_SECRET = "test-gateway-key-secret-0123456789"
ISSUER = "sajja-gateway"
AUDIENCE = "sajja"


@dataclass
class Tokens:
    """Mints access tokens the way the gateway does, with a key the test services trust."""

    pem: str
    kid: str
    jwks: dict[str, Any]

    def claims(self, role: Role | str = Role.platform_admin, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(uuid.uuid4()),
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
            "typ": "access",
            "role": Role(role).value,
        }
        for key, value in overrides.items():
            if value is None:
                claims.pop(key, None)
            else:
                claims[key] = str(value) if isinstance(value, uuid.UUID) else value
        return claims

    def mint(self, role: Role | str = Role.platform_admin, **overrides: Any) -> str:
        return jwt.encode(self.claims(role, **overrides), self.pem, algorithm="ES256", headers={"kid": self.kid})

    def headers(self, role: Role | str = Role.platform_admin, **overrides: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint(role, **overrides)}"}

    def service(self, name: str) -> dict[str, str]:
        """Headers with the token the gateway gives the ``name`` service (or its own, ``gateway``)."""
        return self.headers(Role.service, sub=f"svc-{name}", scope=f"service:{name}")


def gateway_settings(**overrides: Any) -> Any:
    from gateway.settings import GatewaySettings

    values: dict[str, Any] = {
        "env": "test",
        "service_secret": TEST_SECRET,
        "key_secret": TEST_KEY_SECRET,
        "bootstrap_admin_phone": "0811111111",
        "bootstrap_admin_password": "bootstrap-password-1",
        # A rotation's new key signs at once in tests; tests of the publish delay set their own.
        "key_publish_seconds": 0,
    }
    values.update(overrides)
    return GatewaySettings(**values)


ADMIN_PHONE = "0811111111"
ADMIN_PASSWORD = "bootstrap-password-1"


async def login(client: httpx.AsyncClient, phone: str = ADMIN_PHONE, password: str = ADMIN_PASSWORD) -> dict[str, Any]:
    response = await client.post("/v1/auth/login", json={"phone": phone, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def free_port() -> int:
    """A port nobody listens on (for a server to take, or to stand for a service that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """``app`` on a real socket at 127.0.0.1 for the block; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def migration(service: str, name: str) -> Any:
    """A migration module of ``service`` (its file name starts with a date, so it is loaded by path)."""
    path = next((Path(__file__).parents[2] / "services" / service / "migrations" / "versions").glob(f"*_{name}.py"))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
