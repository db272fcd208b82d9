"""Signing keys: ES256 key pairs, created on first start, persisted, rotatable.

Private keys are stored encrypted (Fernet, keyed by ``SAJJA_GATEWAY_KEY_SECRET``). The JWKS lists
every key not yet retired, so tokens signed before a rotation stay valid until they expire and
nobody is logged out. Gateway instances reload the key set from the database every
``reload_interval`` seconds, so a rotation made by one instance reaches the others.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import time
from typing import Any

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwt
from sqlalchemy import or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import SigningKey
from shared.db import Database

ALGORITHM = "ES256"


def _b64url_uint(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode()


def _fernet(key_secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key_secret.encode()).digest()))


def new_key_pair(key_secret: str) -> SigningKey:
    """A fresh P-256 key, its public JWK, and its private PEM encrypted at rest."""
    private = ec.generate_private_key(ec.SECP256R1())
    numbers = private.public_key().public_numbers()
    kid = secrets.token_urlsafe(12)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url_uint(numbers.x),
        "y": _b64url_uint(numbers.y),
        "kid": kid,
        "use": "sig",
        "alg": ALGORITHM,
    }
    return SigningKey(
        kid=kid, private_key_encrypted=_fernet(key_secret).encrypt(pem).decode(), public_jwk=jwk, is_current=True
    )


class KeyRing:
    """The current signing key and the published verification keys."""

    def __init__(self, key_secret: str, *, reload_interval: float = 30.0) -> None:
        self._fernet = _fernet(key_secret)
        self._key_secret = key_secret
        self.reload_interval = reload_interval
        self.current_kid: str | None = None
        self._current_pem: str | None = None
        self._published: list[dict[str, Any]] = []
        self._loaded_at = 0.0

    async def load(self, session: AsyncSession) -> None:
        now = dt.datetime.now(dt.UTC)
        rows = (
            await session.scalars(
                select(SigningKey).where(or_(SigningKey.retire_at.is_(None), SigningKey.retire_at > now))
            )
        ).all()
        current = next((k for k in rows if k.is_current), None)
        if current is not None:
            self.current_kid = current.kid
            self._current_pem = self._fernet.decrypt(current.private_key_encrypted.encode()).decode()
        self._published = [dict(k.public_jwk) for k in rows]
        self._loaded_at = time.monotonic()

    async def ensure_current(self, db: Database) -> None:
        """Create the first key when there is none; load the ring."""
        async with db.sessionmaker() as session:
            async with session.begin():
                # One instance creates the first key even if several start together.
                await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('sajja.signing_keys'))"))
                has_current = await session.scalar(select(SigningKey.kid).where(SigningKey.is_current))
                if has_current is None:
                    session.add(new_key_pair(self._key_secret))
                    await session.flush()
            await self.load(session)

    async def rotate(self, session: AsyncSession, retire_after_seconds: int) -> str:
        """Make a new current key; the old one stays published until its tokens have expired."""
        retire_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=retire_after_seconds)
        await session.execute(
            update(SigningKey).where(SigningKey.is_current).values(is_current=False, retire_at=retire_at)
        )
        await session.flush()
        key = new_key_pair(self._key_secret)
        session.add(key)
        await session.flush()
        await self.load(session)
        return key.kid

    async def refresh_if_stale(self, db: Database) -> None:
        if time.monotonic() - self._loaded_at >= self.reload_interval:
            async with db.sessionmaker() as session:
                await self.load(session)

    def jwks(self) -> dict[str, Any]:
        return {"keys": list(self._published)}

    def sign(self, claims: dict[str, Any]) -> str:
        if self._current_pem is None or self.current_kid is None:
            raise RuntimeError("no current signing key")
        return jwt.encode(claims, self._current_pem, algorithm=ALGORITHM, headers={"kid": self.current_kid})
