"""Verifying the gateway's access tokens, in every process.

Tokens are ES256 JWTs signed by the gateway; its public keys are fetched from its JWKS and cached
by ``kid`` (an unknown ``kid`` triggers at most one refetch per ``refetch_interval``). Only ES256
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
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from jose import jwt
from jose.exceptions import ExpiredSignatureError, JOSEError

from shared.errors import Forbidden, Unauthenticated

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
    )


class TokenVerifier:
    """Verifies access tokens against a JWKS, with key and token caches."""

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
        refetch_interval: float = 30.0,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks_url = jwks_url
        self._jwks_loader = jwks_loader
        self._http = http_client
        self._keys: dict[str, dict[str, Any]] = {}
        if jwks:
            self.set_jwks(jwks)
        self._cache: OrderedDict[str, Principal] = OrderedDict()
        self._cache_size = cache_size
        self._refetch_interval = refetch_interval
        self._last_fetch = 0.0
        self._fetch_lock = asyncio.Lock()

    def set_jwks(self, jwks: dict[str, Any]) -> None:
        self._keys = {k["kid"]: k for k in jwks.get("keys", []) if k.get("kid")}
        self._last_fetch = time.monotonic()

    async def _fetch_jwks(self) -> None:
        async with self._fetch_lock:
            if time.monotonic() - self._last_fetch < self._refetch_interval and self._keys:
                return
            if self._jwks_loader is not None:
                jwks = await self._jwks_loader()
            elif self.jwks_url:
                client = self._http or httpx.AsyncClient(timeout=5.0)
                try:
                    response = await client.get(self.jwks_url)
                    response.raise_for_status()
                    jwks = response.json()
                finally:
                    if self._http is None:
                        await client.aclose()
            else:
                return
            self.set_jwks(jwks)

    async def _key_for(self, kid: str) -> dict[str, Any]:
        key = self._keys.get(kid)
        if key is None:
            try:
                await self._fetch_jwks()
            except (httpx.HTTPError, ValueError):
                raise Unauthenticated() from None
            key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated()
        return key

    async def verify(self, token: str) -> Principal:
        now = time.time()
        cached = self._cache.get(token)
        if cached is not None:
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
        self._remember(token, principal)
        return principal

    def _remember(self, token: str, principal: Principal) -> None:
        self._cache[token] = principal
        if len(self._cache) > self._cache_size:
            # Drop the oldest tenth in one go rather than one entry per insert.
            for _ in range(max(1, self._cache_size // 10)):
                self._cache.popitem(last=False)


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
