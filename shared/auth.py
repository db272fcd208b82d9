"""Verifying the gateway's access tokens, in every process.

Tokens are ES256 JWTs signed by the gateway; its public keys are fetched from its JWKS, replaced
whole every ``refresh_interval`` and on an unknown ``kid`` (at most once per ``refetch_interval``),
so a key that leaves the JWKS (retired or revoked) stops verifying (docs/signing-keys.md). Only ES256
is accepted, and ``iss``, ``aud``, ``exp``, ``sub`` and ``typ=access`` are required. A verified
token is cached until it expires, since checking an ES256 signature is the dear part of
authenticating a request and a phone sends the same token many times.

Authorization starts here (role checks) and ends in the service that owns an object (scope
checks against the fund, network or member the token is bound to).
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import hmac
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from jose import jwt
from jose.exceptions import ExpiredSignatureError, JOSEError

from shared.errors import Forbidden, Unauthenticated, register_messages

log = logging.getLogger("sajja.auth")

ALLOWED_ALGORITHMS = ("ES256",)
ACCESS_TOKEN_TYPE = "access"


class Role(enum.StrEnum):
    """Who a token speaks for."""

    member = "member"
    """A member of one fund (สมาชิก): sees their own data."""
    collector = "collector"
    """A volunteer collector (อาสาสมัครเก็บเงิน) of one fund: posts deposits for their round."""
    committee = "committee"
    """A committee member (คณะกรรมการ) of one fund: registers, reviews, approves."""
    fund_admin = "fund_admin"
    """Administers one fund: its users, rules and accounts."""
    network_officer = "network_officer"
    """Staff of a provincial network (เครือข่าย): reads the network's funds."""
    grant_officer = "grant_officer"
    """Staff of a grantor (CODI, provincial office, local government): programs and decisions."""
    integration = "integration"
    """A grant system calling by client credentials, limited by its scopes."""
    platform_admin = "platform_admin"
    """Operates the platform: every fund, every user."""
    service = "service"
    """Another Sajja service calling with a service token: it passes no fund check by itself, and
    asks only what ``shared.service_calls`` grants its ``service:<name>`` scope."""


FUND_ROLES = frozenset({Role.member, Role.collector, Role.committee, Role.fund_admin})
GLOBAL_ROLES = frozenset({Role.platform_admin})


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller of a request."""

    subject: str
    role: Role
    token_id: str = ""
    fund_id: uuid.UUID | None = None
    network_id: uuid.UUID | None = None
    member_id: uuid.UUID | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    expires_at: float = 0.0
    #: The grantor a grant officer or a grant system's client acts for (docs/grantors.md).
    grantor_id: uuid.UUID | None = None
    #: A client narrowed to some of its grantor's programs; None when not narrowed.
    program_ids: frozenset[uuid.UUID] | None = None
    #: The subject's token version when the token was signed (``ver``; docs/accounts.md).
    token_version: int = 0

    @property
    def is_global(self) -> bool:
        return self.role in GLOBAL_ROLES

    def may_act_in_fund(self, fund_id: uuid.UUID) -> bool:
        """True for global roles and for fund roles bound to this very fund."""
        return self.is_global or (self.role in FUND_ROLES and self.fund_id == fund_id)

    @property
    def user_id(self) -> uuid.UUID | None:
        """The subject as a user id, as the gateway writes them (canonical, lower case); None for
        any other subject (a grant system's client, a hand-made token), which then owns nothing
        that is a user's (a collector's money, a collector's round)."""
        try:
            own = uuid.UUID(self.subject)
        except ValueError:
            return None
        return own if str(own) == self.subject else None


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    if value in (None, ""):
        return None
    return uuid.UUID(str(value))


def _uuid_set_or_none(value: Any) -> frozenset[uuid.UUID] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError("program_ids must be a list")
    return frozenset(uuid.UUID(str(v)) for v in value)


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    scope = claims.get("scope") or ""
    return Principal(
        subject=str(claims["sub"]),
        role=Role(claims["role"]),
        token_id=str(claims.get("jti", "")),
        fund_id=_uuid_or_none(claims.get("fund_id")),
        network_id=_uuid_or_none(claims.get("network_id")),
        member_id=_uuid_or_none(claims.get("member_id")),
        scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(scope),
        expires_at=float(claims["exp"]),
        grantor_id=_uuid_or_none(claims.get("grantor_id")),
        program_ids=_uuid_set_or_none(claims.get("program_ids")),
        token_version=int(claims.get("ver") or 0),
    )


class TokenVerifier:
    """Verifies access tokens against a JWKS, with key and token caches (docs/signing-keys.md).

    The key set is the last JWKS fetched, replaced whole: a key that left it is no longer trusted,
    and verified tokens it signed are dropped from the cache. With a source (``jwks_url`` or
    ``jwks_loader``) the set is refreshed when a request finds it older than ``refresh_interval``,
    and on an unknown ``kid`` at most once per ``refetch_interval``.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        jwks: dict[str, Any] | None = None,
        jwks_loader: Callable[[], Any] | None = None,
        http_client: httpx.AsyncClient | None = None,
        cache_size: int = 50_000,
        refetch_interval: float = 1.0,
        refresh_interval: float = 2.0,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        self._jwks_loader = jwks_loader
        self._http = http_client
        self._keys: dict[str, dict[str, Any]] = {}
        #: token -> (principal, kid that signed it)
        self._cache: OrderedDict[str, tuple[Principal, str]] = OrderedDict()
        self._cache_size = cache_size
        self._refetch_interval = refetch_interval
        self._refresh_interval = refresh_interval
        self._has_source = jwks_loader is not None or bool(jwks_url)
        self._last_fetch = 0.0
        self._etag: str | None = None
        self._fetch_lock = asyncio.Lock()
        if jwks:
            self.set_jwks(jwks)

    def set_jwks(self, jwks: dict[str, Any]) -> None:
        """Trust exactly these keys; forget verified tokens signed by a key no longer among them."""
        keys = {k["kid"]: k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("kid")}
        if keys != self._keys:
            gone = self._keys.keys() - keys.keys()
            self._keys = keys
            if gone and self._cache:
                self._cache = OrderedDict((t, pk) for t, pk in self._cache.items() if pk[1] not in gone)
        self._last_fetch = time.monotonic()

    async def _fetch_jwks(self) -> None:
        """Fetch the JWKS and replace the key set (the caller holds the lock)."""
        if self._jwks_loader is not None:
            self.set_jwks(await self._jwks_loader())
            return
        if not self.jwks_url:
            return
        client = self._http or httpx.AsyncClient(timeout=5.0)
        try:
            headers = {"If-None-Match": self._etag} if self._etag and self._keys else {}
            response = await client.get(self.jwks_url, headers=headers)
            if response.status_code == 304:
                self._last_fetch = time.monotonic()
                return
            response.raise_for_status()
            jwks = response.json()
            if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
                raise ValueError("not a JWKS")
        finally:
            if self._http is None:
                await client.aclose()
        self.set_jwks(jwks)
        self._etag = response.headers.get("etag")

    async def refresh(self) -> None:
        """The scheduled refresh: one fetch for every request that finds the key set stale; on
        failure the keys stay as they were and the next try waits another interval."""
        async with self._fetch_lock:
            if time.monotonic() - self._last_fetch < self._refresh_interval:
                return
            try:
                await self._fetch_jwks()
            except (httpx.HTTPError, ValueError, TypeError) as exc:
                self._last_fetch = time.monotonic()
                log.warning("JWKS refresh failed, keeping %d keys: %s", len(self._keys), exc)

    async def _key_for(self, kid: str) -> dict[str, Any]:
        key = self._keys.get(kid)
        if key is None and self._has_source:
            async with self._fetch_lock:
                if kid not in self._keys and (
                    not self._keys or time.monotonic() - self._last_fetch >= self._refetch_interval
                ):
                    try:
                        await self._fetch_jwks()
                    except (httpx.HTTPError, ValueError, TypeError):
                        self._last_fetch = time.monotonic()
                        raise Unauthenticated() from None
            key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated()
        return key

    async def verify(self, token: str) -> Principal:
        if self._has_source and time.monotonic() - self._last_fetch >= self._refresh_interval:
            await self.refresh()
        now = time.time()
        hit = self._cache.get(token)
        if hit is not None:
            cached = hit[0]
            if cached.expires_at > now:
                return cached
            self._cache.pop(token, None)
            raise Unauthenticated("auth.token_expired")
        try:
            header = jwt.get_unverified_header(token)
        except JOSEError:
            raise Unauthenticated() from None
        if header.get("alg") not in ALLOWED_ALGORITHMS or not isinstance(header.get("kid"), str):
            raise Unauthenticated()
        key = await self._key_for(header["kid"])
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALLOWED_ALGORITHMS),
                audience=self.audience,
                issuer=self.issuer,
                options={"require_exp": True, "require_sub": True, "require_iat": True},
            )
        except ExpiredSignatureError:
            raise Unauthenticated("auth.token_expired") from None
        except JOSEError:
            raise Unauthenticated() from None
        if claims.get("typ") != ACCESS_TOKEN_TYPE:
            raise Unauthenticated()
        try:
            principal = principal_from_claims(claims)
        except (KeyError, ValueError):
            raise Unauthenticated() from None
        self._remember(token, principal, header["kid"])
        return principal

    def _remember(self, token: str, principal: Principal, kid: str) -> None:
        self._cache[token] = (principal, kid)
        if len(self._cache) > self._cache_size:
            # Drop the oldest tenth in one go rather than one entry per insert.
            for _ in range(max(1, self._cache_size // 10)):
                self._cache.popitem(last=False)


register_messages(
    {
        "auth.token_revoked": {
            "th": ("โทเคนถูกยกเลิก", "บัญชีนี้ถูกระงับหรือเปลี่ยนสิทธิ์แล้ว โปรดเข้าสู่ระบบใหม่"),
            "en": ("Token revoked", "This account was deactivated or its access changed; log in again"),
        },
    }
)


class RevocationList:
    """Subjects whose tokens older than a version are refused (docs/accounts.md): an in-memory map
    ``subject -> min_version`` reloaded by ``loader`` when older than ``interval`` seconds, on the
    request that finds it stale (the others go on with the map they have). A failed reload keeps
    the last map and is tried again after ``interval``."""

    def __init__(self, loader: Callable[[], Awaitable[dict[str, int]]], interval: float = 1.0) -> None:
        self._loader = loader
        self.interval = interval
        self.floors: dict[str, int] = {}
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    async def refresh_if_stale(self) -> None:
        loaded_at = self._loaded_at
        if loaded_at is not None and time.monotonic() - loaded_at < self.interval:
            return
        if self._lock.locked() and loaded_at is not None:
            return
        async with self._lock:
            if self._loaded_at is not loaded_at:
                return
            try:
                self.floors = {str(k): int(v) for k, v in (await self._loader()).items()}
            except Exception as exc:  # noqa: BLE001 - keep the last map, try again later
                logging.getLogger("sajja.auth").warning("revocation list not reloaded: %s: %s", type(exc).__name__, exc)
            self._loaded_at = time.monotonic()

    async def check(self, principal: Principal) -> None:
        """401 ``auth.token_revoked`` when the token's version is below its subject's floor."""
        await self.refresh_if_stale()
        floor = self.floors.get(principal.subject)
        if floor is not None and principal.token_version < floor:
            raise Unauthenticated("auth.token_revoked")


class RevokingVerifier:
    """A :class:`TokenVerifier` whose verified tokens are also checked against a
    :class:`RevocationList` (a cached token too); everything else is the inner verifier's."""

    def __init__(self, inner: Any, revocations: RevocationList) -> None:
        self.inner = inner
        self.revocations = revocations

    async def verify(self, token: str) -> Principal:
        principal: Principal = await self.inner.verify(token)
        await self.revocations.check(principal)
        return principal

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def http_revocations_loader(client: httpx.AsyncClient, url: str) -> Callable[[], Awaitable[dict[str, int]]]:
    """Reads the gateway's ``GET /.well-known/revocations`` (for the services)."""

    async def load() -> dict[str, int]:
        response = await client.get(url, timeout=2.0)
        response.raise_for_status()
        return dict(response.json()["floors"])

    return load


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated()
    return token.strip()


async def current_principal(request: Request) -> Principal:
    """The verified caller; 401 problem+json when the token is missing or bad."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        verifier: TokenVerifier = request.app.state.verifier
        principal = await verifier.verify(bearer_token(request))
        request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[..., Any]:
    """A dependency that lets only these roles (and platform admins) through."""
    allowed = frozenset(roles) | {Role.platform_admin}

    async def _dependency(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise Forbidden()
        return principal

    return _dependency


def ensure_roles(principal: Principal, roles: Iterable[Role]) -> None:
    if principal.role not in set(roles) | {Role.platform_admin}:
        raise Forbidden()


def ensure_fund_access(principal: Principal, fund_id: uuid.UUID, *, roles: Iterable[Role] | None = None) -> None:
    """403 unless the caller acts for this fund (and, when given, in one of these roles)."""
    if roles is not None:
        ensure_roles(principal, set(roles) | GLOBAL_ROLES)
    if not principal.may_act_in_fund(fund_id):
        raise Forbidden("auth.out_of_scope")


def service_client_id(service: str) -> str:
    return f"svc-{service}"


def service_client_secret(master_secret: str, service: str) -> str:
    """Each service's client secret, derived from the master so no table of secrets is shipped."""
    return hmac.new(master_secret.encode(), f"sajja-service:{service}".encode(), hashlib.sha256).hexdigest()
