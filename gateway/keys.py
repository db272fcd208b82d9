"""Signing keys: ES256 key pairs, created on first start, persisted, rotatable, revocable.

Private keys are stored encrypted (Fernet, keyed by ``SAJJA_GATEWAY_KEY_SECRET``). A key is
``next`` (published, not signing), ``current``, ``retiring`` (published until ``retire_at``) or
``revoked`` (never trusted again): docs/signing-keys.md. The JWKS lists every key neither gone nor
revoked, so tokens signed before a rotation stay valid until they expire and nobody is logged out;
a key signs only once it has been published long enough for every verifier to know it. Gateway
instances reload the key set from the database every ``reload_interval`` seconds, so a rotation
or a revoke made by one instance reaches the others.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
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
from shared.etag import etag_of

ALGORITHM = "ES256"


def _b64url_uint(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode()


def _fernet(key_secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key_secret.encode()).digest()))


def new_key_pair(key_secret: str, *, current: bool = True) -> SigningKey:
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
        kid=kid, private_key_encrypted=_fernet(key_secret).encrypt(pem).decode(), public_jwk=jwk, is_current=current,
        created_at=dt.datetime.now(dt.UTC),
    )


class Published:
    """A published key the ring may sign with (a ``current`` or ``retiring`` one)."""

    __slots__ = ("kid", "pem", "created_at", "retire_at", "is_current")

    def __init__(self, kid: str, pem: str, created_at: dt.datetime, retire_at: dt.datetime | None, is_current: bool) -> None:
        self.kid, self.pem, self.created_at, self.retire_at, self.is_current = kid, pem, created_at, retire_at, is_current


def choose_signer(
    keys: list[Published], now: dt.datetime, *, publish_seconds: float, token_lifetime: float
) -> Published | None:
    """The key to sign with now (docs/signing-keys.md): the current key once it has been published
    ``publish_seconds``; until then the newest other key published that long whose tokens would
    not outlive it; when none has been, the oldest such key."""
    ripe_before = now - dt.timedelta(seconds=publish_seconds)
    lasts_until = now + dt.timedelta(seconds=token_lifetime)
    usable = [k for k in keys if k.is_current or (k.retire_at is not None and k.retire_at >= lasts_until)]
    current = next((k for k in usable if k.is_current), None)
    if current is not None and current.created_at <= ripe_before:
        return current
    ripe = [k for k in usable if not k.is_current and k.created_at <= ripe_before]
    if ripe:
        return max(ripe, key=lambda k: k.created_at)
    if usable:
        return min(usable, key=lambda k: k.created_at)
    return None


class KeyRing:
    """The published verification keys and the key that signs (docs/signing-keys.md)."""

    def __init__(
        self,
        key_secret: str,
        *,
        reload_interval: float = 2.0,
        publish_seconds: float = 0.0,
        token_lifetime: float = 0.0,
    ) -> None:
        self._fernet = _fernet(key_secret)
        self._key_secret = key_secret
        self.reload_interval = reload_interval
        self.publish_seconds = publish_seconds
        self.token_lifetime = token_lifetime
        #: The key in state ``current`` (it signs once published long enough: see ``signing_kid``).
        self.promoted_kid: str | None = None
        self.next_kid: str | None = None
        self._signers: list[Published] = []
        self._published: list[dict[str, Any]] = []
        self.etag = '""'
        self._loaded_at = 0.0

    async def load(self, session: AsyncSession) -> None:
        now = dt.datetime.now(dt.UTC)
        rows = (
            await session.scalars(
                select(SigningKey).where(
                    SigningKey.revoked_at.is_(None), or_(SigningKey.retire_at.is_(None), SigningKey.retire_at > now)
                )
            )
        ).all()
        signers: list[Published] = []
        promoted = next_kid = None
        for k in rows:
            if k.is_current:
                promoted = k.kid
            elif k.retire_at is None:
                next_kid = k.kid
                continue
            pem = self._fernet.decrypt(k.private_key_encrypted.encode()).decode()
            signers.append(Published(k.kid, pem, k.created_at, k.retire_at, k.is_current))
        self._signers, self.promoted_kid, self.next_kid = signers, promoted, next_kid
        # The current key first (a naive client takes the first key), then the newest.
        ordered = sorted(rows, key=lambda k: (not k.is_current, -k.created_at.timestamp(), k.kid))
        self._published = [dict(k.public_jwk) for k in ordered]
        self.etag = etag_of(json.dumps(self._published, sort_keys=True).encode())
        self._loaded_at = time.monotonic()

    async def ensure_current(self, db: Database) -> None:
        """Create the first key when there is none, and a ``next`` key when there is none; load."""
        async with db.sessionmaker() as session:
            async with session.begin():
                # One instance creates the first key even if several start together.
                await _lock(session)
                has_current = await session.scalar(select(SigningKey.kid).where(SigningKey.is_current))
                if has_current is None:
                    session.add(new_key_pair(self._key_secret))
                    await session.flush()
                if await _next_key(session) is None:
                    session.add(new_key_pair(self._key_secret, current=False))
                    await session.flush()
            await self.load(session)

    async def _promote_next(self, session: AsyncSession) -> str:
        """``next`` becomes ``current`` (the caller has demoted the current key); a new ``next``."""
        promoted = await _next_key(session)
        if promoted is None:
            promoted = new_key_pair(self._key_secret, current=False)
            session.add(promoted)
            await session.flush()
        promoted.is_current = True
        await session.flush()
        session.add(new_key_pair(self._key_secret, current=False))
        await session.flush()
        return promoted.kid

    async def rotate(self, session: AsyncSession, retire_after_seconds: int) -> str:
        """``current`` -> ``retiring`` (published until its tokens have expired), ``next`` ->
        ``current``, a new ``next``. Returns the new current kid."""
        await _lock(session)
        retire_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=retire_after_seconds)
        await session.execute(
            update(SigningKey).where(SigningKey.is_current).values(is_current=False, retire_at=retire_at)
        )
        await session.flush()
        kid = await self._promote_next(session)
        await self.load(session)
        return kid

    async def revoke(self, session: AsyncSession, kid: str) -> bool:
        """Never trust ``kid`` again: out of the JWKS at once; a current key is replaced by
        ``next`` first, a next key by a new one. False when there is no such published key."""
        await _lock(session)
        now = dt.datetime.now(dt.UTC)
        row = await session.get(SigningKey, kid, with_for_update=True)
        if row is None or (row.revoked_at is None and row.retire_at is not None and row.retire_at <= now):
            return False
        if row.revoked_at is not None:
            return True
        was_current, was_next = row.is_current, not row.is_current and row.retire_at is None
        row.revoked_at, row.is_current = now, False
        await session.flush()
        if was_current:
            await self._promote_next(session)
        elif was_next:
            session.add(new_key_pair(self._key_secret, current=False))
            await session.flush()
        await self.load(session)
        return True

    async def refresh_if_stale(self, db: Database) -> None:
        if time.monotonic() - self._loaded_at >= self.reload_interval:
            async with db.sessionmaker() as session:
                await self.load(session)

    def jwks(self) -> dict[str, Any]:
        return {"keys": list(self._published)}

    def _signer(self) -> Published | None:
        return choose_signer(
            self._signers, dt.datetime.now(dt.UTC), publish_seconds=self.publish_seconds, token_lifetime=self.token_lifetime
        )

    @property
    def current_kid(self) -> str | None:
        """The kid that signs now."""
        signer = self._signer()
        return signer.kid if signer is not None else None

    @property
    def _current_pem(self) -> str | None:
        signer = self._signer()
        return signer.pem if signer is not None else None

    def sign(self, claims: dict[str, Any]) -> str:
        signer = self._signer()
        if signer is None:
            raise RuntimeError("no current signing key")
        return jwt.encode(claims, signer.pem, algorithm=ALGORITHM, headers={"kid": signer.kid})


async def _lock(session: AsyncSession) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('sajja.signing_keys'))"))


async def _next_key(session: AsyncSession) -> SigningKey | None:
    return await session.scalar(
        select(SigningKey)
        .where(~SigningKey.is_current, SigningKey.retire_at.is_(None), SigningKey.revoked_at.is_(None))
        .order_by(SigningKey.created_at)
        .limit(1)
    )
