"""Credentials and tokens: login, refresh rotation, client credentials, users and API clients."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.auth.throttle import Throttle, argon2_gate
from gateway.keys import KeyRing
from gateway.models import ApiClient, RefreshToken, User
from gateway.settings import DEV_ADMIN_PASSWORD, DEV_ADMIN_PHONE, GatewaySettings
from shared.auth import (
    ACCESS_TOKEN_TYPE,
    FUND_ROLES,
    Principal,
    Role,
    service_client_id,
    service_client_secret,
)
from shared.errors import (
    Conflict,
    Forbidden,
    SajjaError,
    Unauthenticated,
    register_messages,
)
from shared.settings import SERVICE_NAMES
from shared.validators import normalize_phone

register_messages(
    {
        "auth.invalid_credentials": {
            "th": ("เข้าสู่ระบบไม่สำเร็จ", "เบอร์โทรหรือรหัสผ่านไม่ถูกต้อง"),
            "en": ("Login failed", "The phone number or password is wrong"),
        },
        "auth.too_many_attempts": {
            "th": ("พยายามหลายครั้งเกินไป", "เข้าสู่ระบบผิดหลายครั้งเกินไป โปรดลองใหม่ในอีก {retry_after} วินาที"),
            "en": ("Too many attempts", "Too many failed logins; try again in {retry_after} seconds"),
        },
        "auth.client_too_many_attempts": {
            "th": ("พยายามหลายครั้งเกินไป", "ขอโทเคนด้วยข้อมูลไคลเอนต์ผิดหลายครั้งเกินไป โปรดลองใหม่ในอีก {retry_after} วินาที"),
            "en": ("Too many attempts", "Too many failed token requests; try again in {retry_after} seconds"),
        },
        "auth.refresh_invalid": {
            "th": ("โทเคนต่ออายุใช้ไม่ได้", "โทเคนต่ออายุไม่ถูกต้อง หมดอายุ หรือถูกยกเลิก โปรดเข้าสู่ระบบใหม่"),
            "en": ("Invalid refresh token", "The refresh token is invalid, expired or revoked; log in again"),
        },
        "auth.refresh_reused": {
            "th": ("โทเคนต่ออายุถูกใช้ซ้ำ", "โทเคนนี้ถูกใช้ไปแล้ว เพื่อความปลอดภัยระบบได้ยกเลิกการเข้าสู่ระบบนี้ทั้งหมด"),
            "en": ("Refresh token reused", "This refresh token was already used; the whole session was revoked"),
        },
        "auth.client_invalid": {
            "th": ("ข้อมูลไคลเอนต์ไม่ถูกต้อง", "client_id หรือ client_secret ไม่ถูกต้อง"),
            "en": ("Invalid client", "The client id or secret is wrong"),
        },
        "auth.scope_not_allowed": {
            "th": ("ขอสิทธิ์เกินที่ได้รับ", "ไคลเอนต์นี้ไม่มีสิทธิ์ {scopes}"),
            "en": ("Scope not allowed", "This client may not have {scopes}"),
        },
        "user.phone_taken": {
            "th": ("เบอร์โทรนี้มีผู้ใช้แล้ว", "มีผู้ใช้ที่ใช้เบอร์โทรนี้อยู่แล้ว"),
            "en": ("Phone already registered", "A user with this phone number already exists"),
        },
        "user.scope_invalid": {
            "th": ("ขอบเขตผู้ใช้ไม่ถูกต้อง", "บทบาท {role} ต้องระบุ {needs}"),
            "en": ("Invalid user scope", "Role {role} needs {needs}"),
        },
        "user.member_unknown": {
            "th": ("ไม่พบสมาชิก", "ไม่พบสมาชิกนี้ในกองทุนที่ระบุ"),
            "en": ("Unknown member", "No such member in this fund"),
        },
        "user.password_weak": {
            "th": ("รหัสผ่านไม่ปลอดภัย", "เจ้าหน้าที่ต้องใช้รหัสผ่านอย่างน้อย 10 ตัวอักษร"),
            "en": ("Weak password", "Staff passwords need at least 10 characters"),
        },
    }
)

_hasher = PasswordHasher()
# Verified when the phone is unknown, so a wrong phone costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

#: Roles a fund admin may create inside their own fund.
FUND_ADMIN_MAY_CREATE = frozenset({Role.member, Role.collector, Role.committee, Role.fund_admin})
STAFF_ROLES = frozenset(Role) - {Role.member, Role.collector}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _make_hash(password: str) -> str:
    return _hasher.hash(password)


def _check_hash(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    """argon2id, off the event loop (it costs tens of milliseconds on purpose), a few at a time."""
    return await argon2_gate.run(_make_hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    return await argon2_gate.run(_check_hash, password_hash, password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(slots=True)
class TokenIssuer:
    """Signs access tokens and mints refresh tokens."""

    settings: GatewaySettings
    keyring: KeyRing
    #: The gateway's own service token: (token, the key that signed it, when to sign a new one, epoch s).
    _own: tuple[str, str | None, float] | None = None

    def access_token(
        self,
        *,
        subject: str,
        role: Role,
        fund_id: uuid.UUID | None = None,
        network_id: uuid.UUID | None = None,
        member_id: uuid.UUID | None = None,
        scopes: list[str] | None = None,
        grantor_id: uuid.UUID | None = None,
        program_ids: list[uuid.UUID] | None = None,
        version: int | None = None,
    ) -> str:
        now = int(utcnow().timestamp())
        claims: dict[str, Any] = {
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + self.settings.access_token_ttl_seconds,
            "jti": uuid.uuid4().hex,
            "typ": ACCESS_TOKEN_TYPE,
            "role": role.value,
        }
        for name, value in (("fund_id", fund_id), ("network_id", network_id), ("member_id", member_id),
                            ("grantor_id", grantor_id)):
            if value is not None:
                claims[name] = str(value)
        if program_ids is not None:
            claims["program_ids"] = sorted(str(p) for p in program_ids)
        if scopes:
            claims["scope"] = " ".join(scopes)
        if version is not None:
            claims["ver"] = version  # the subject's token version (docs/accounts.md)
        return self.keyring.sign(claims)

    def user_access_token(self, user: User) -> str:
        return self.access_token(
            subject=str(user.id),
            role=Role(user.role),
            fund_id=user.fund_id,
            network_id=user.network_id,
            member_id=user.member_id,
            grantor_id=user.grantor_id,
            version=user.token_version,
        )

    def gateway_token(self) -> str:
        """The gateway's own service token, for the calls it makes to the services for itself:
        signed again at half its lifetime or when the signing key changes, not for every call
        (an ES256 signature here, and a verification at the service, which caches tokens it saw)."""
        now = time.time()  # the clock of the token's own iat and exp
        if self._own is not None:
            token, kid, renew_at = self._own
            if kid == self.keyring.current_kid and now < renew_at:
                return token
        token = self.access_token(subject="svc-gateway", role=Role.service, scopes=["service:gateway"])
        self._own = (token, self.keyring.current_kid, now + self.settings.access_token_ttl_seconds / 2)
        return token

    async def new_refresh_token(self, session: AsyncSession, user_id: uuid.UUID, family_id: uuid.UUID) -> tuple[str, RefreshToken]:
        token = secrets.token_urlsafe(32)
        row = RefreshToken(
            id=uuid.uuid4(),
            family_id=family_id,
            user_id=user_id,
            token_hash=_token_hash(token),
            expires_at=utcnow() + dt.timedelta(seconds=self.settings.refresh_token_ttl_seconds),
        )
        session.add(row)
        await session.flush()
        return token, row

    async def pair(self, session: AsyncSession, user: User, family_id: uuid.UUID | None = None) -> dict[str, Any]:
        refresh, _ = await self.new_refresh_token(session, user.id, family_id or uuid.uuid4())
        return {
            "access_token": self.user_access_token(user),
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": self.settings.access_token_ttl_seconds,
        }


def _too_many(code: str, retry_after: int) -> SajjaError:
    return SajjaError(code, status_code=429, params={"retry_after": retry_after},
                      headers={"Retry-After": str(retry_after)})


async def _proved_device(session: AsyncSession, phone: str, refresh_token: str | None) -> uuid.UUID | None:
    """The refresh-token family of a current refresh token of the user with this phone: the login
    comes from a device that user already signed in on."""
    if not refresh_token:
        return None
    return await session.scalar(
        select(RefreshToken.family_id)
        .join(User, User.id == RefreshToken.user_id)
        .where(
            RefreshToken.token_hash == _token_hash(refresh_token),
            User.phone == phone,
            User.is_active.is_(True),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.used_at.is_(None),
            RefreshToken.expires_at > utcnow(),
        )
    )


async def login(
    *, session: AsyncSession, issuer: TokenIssuer, throttle: Throttle, phone: str, password: str, address: str,
    refresh_token: str | None = None,
) -> tuple[dict[str, Any] | None, SajjaError | None]:
    """Check the password and issue a token pair.

    The attempt takes its turn before argon2 runs (docs/login-throttling.md): per phone and per
    address, or, when ``refresh_token`` proves the device, per that device only. Returns the error
    instead of raising it, so the unit of work still commits.
    """
    device = await _proved_device(session, phone, refresh_token)
    if device is not None:
        wait = await throttle.claim(throttle.device, str(device))
    else:
        wait = await throttle.check(throttle.address, address) or await throttle.claim(throttle.phone, phone)
    if wait:
        return None, _too_many("auth.too_many_attempts", wait)
    user = await session.scalar(select(User).where(User.phone == phone))
    ok = await verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if not ok or user is None or not user.is_active:
        if device is None:
            await throttle.fail(throttle.address, address)
        return None, Unauthenticated("auth.invalid_credentials")
    # A proved device resets its own count only: the phone's counts others' guesses, still going on.
    await throttle.reset(throttle.device if device is not None else throttle.phone, str(device) if device else phone)
    if user.pin_change_required:  # a temporary PIN: no tokens, a ticket to choose a new PIN
        from gateway.auth.accounts import pin_change_required

        return None, await pin_change_required(session, issuer.settings, user)
    return await issuer.pair(session, user), None


async def refresh(
    *, session: AsyncSession, issuer: TokenIssuer, token: str
) -> tuple[dict[str, Any] | None, SajjaError | None]:
    """Rotate a refresh token. A spent token presented again revokes its whole family, unless it
    comes back within the grace period and its successor was never used (a lost response)."""
    row = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == _token_hash(token)).with_for_update()
    )
    now = utcnow()
    if row is not None and row.revoked_reason == "superseded":
        # Only the server and whoever intercepted the lost response ever saw this token.
        await revoke_family(session, row.family_id, "reuse")
        return None, Unauthenticated("auth.refresh_reused")
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None, Unauthenticated("auth.refresh_invalid")
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None, Unauthenticated("auth.refresh_invalid")
    if row.used_at is not None:
        successor = await session.get(RefreshToken, row.replaced_by, with_for_update=True) if row.replaced_by else None
        in_grace = (now - row.used_at).total_seconds() <= issuer.settings.refresh_reuse_grace_seconds
        if in_grace and successor is not None and successor.used_at is None and successor.revoked_at is None:
            # The phone never got the answer: retire the successor it never saw, issue another.
            successor.revoked_at, successor.revoked_reason = now, "superseded"
            refresh_token, new_row = await issuer.new_refresh_token(session, user.id, row.family_id)
            row.replaced_by = new_row.id
            await session.flush()
            return _pair_with(issuer, user, refresh_token), None
        await revoke_family(session, row.family_id, "reuse")
        return None, Unauthenticated("auth.refresh_reused")
    refresh_token, new_row = await issuer.new_refresh_token(session, user.id, row.family_id)
    row.used_at, row.replaced_by = now, new_row.id
    await session.flush()
    return _pair_with(issuer, user, refresh_token), None


def _pair_with(issuer: TokenIssuer, user: User, refresh_token: str) -> dict[str, Any]:
    return {
        "access_token": issuer.user_access_token(user),
        "refresh_token": refresh_token,
        "token_type": "bearer",
        "expires_in": issuer.settings.access_token_ttl_seconds,
    }


async def revoke_family(session: AsyncSession, family_id: uuid.UUID, reason: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )


async def logout(*, session: AsyncSession, token: str) -> None:
    row = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _token_hash(token)))
    if row is not None:
        await revoke_family(session, row.family_id, "logout")


async def client_credentials(
    *, session: AsyncSession, issuer: TokenIssuer, client_id: str, client_secret: str, scope: str | None,
    throttle: Throttle | None = None, address: str = "unknown",
) -> dict[str, Any]:
    """Tokens for machines: Sajja's own services (derived secrets) and registered API clients.
    A registered (or unknown) client's request takes its turn before argon2 runs: per address,
    and per client id (with the address, for a registered client; docs/login-throttling.md)."""
    settings = issuer.settings
    requested = scope.split() if scope else None
    for service in SERVICE_NAMES:
        if client_id == service_client_id(service):
            expected = service_client_secret(settings.service_secret, service)
            if not hmac.compare_digest(expected, client_secret):
                raise Unauthenticated("auth.client_invalid")
            token = issuer.access_token(subject=client_id, role=Role.service, scopes=[f"service:{service}"])
            return {"access_token": token, "token_type": "bearer", "expires_in": settings.access_token_ttl_seconds,
                    "scope": f"service:{service}"}
    client = await session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    client_key = f"{client_id}@{address}" if client is not None and client.is_active else client_id
    if throttle is not None:
        wait = (await throttle.check(throttle.token_address, address)
                or await throttle.claim(throttle.client, client_key))
        if wait:
            raise _too_many("auth.client_too_many_attempts", wait)
    ok = await verify_password(client.secret_hash if client else _DUMMY_HASH, client_secret)
    if (not ok and client is not None and client.previous_secret_hash is not None
            and client.previous_secret_expires_at is not None and client.previous_secret_expires_at > utcnow()):
        ok = await verify_password(client.previous_secret_hash, client_secret)  # within a rotation's grace
    if client is None or not ok or not client.is_active:
        if throttle is not None:
            await throttle.fail(throttle.token_address, address)
        raise Unauthenticated("auth.client_invalid")
    if throttle is not None:
        await throttle.reset(throttle.client, client_key)
    granted = list(client.scopes)
    if requested is not None:
        extra = sorted(set(requested) - set(granted))
        if extra:
            raise SajjaError("auth.scope_not_allowed", status_code=400, params={"scopes": " ".join(extra)})
        granted = [s for s in granted if s in requested]
    token = issuer.access_token(
        subject=client.client_id,
        role=Role(client.role),
        fund_id=client.fund_id,
        network_id=client.network_id,
        scopes=granted,
        grantor_id=client.grantor_id,
        program_ids=client.program_ids,
        version=client.token_version,
    )
    return {"access_token": token, "token_type": "bearer", "expires_in": settings.access_token_ttl_seconds,
            "scope": " ".join(granted)}


def _check_user_scope(role: Role, fund_id: Any, network_id: Any, member_id: Any, grantor_id: Any = None) -> None:
    needs: list[str] = []
    if role is Role.grant_officer and grantor_id is None:
        needs.append("grantor_id")
    if role in FUND_ROLES and fund_id is None:
        needs.append("fund_id")
    if role is Role.member and member_id is None:
        needs.append("member_id")
    if role is Role.network_officer and network_id is None:
        needs.append("network_id")
    if needs:
        raise SajjaError("user.scope_invalid", status_code=422, params={"role": role.value, "needs": ", ".join(needs)})


MemberCheck = Callable[[uuid.UUID, uuid.UUID], Awaitable[bool]]


async def create_user(
    *, session: AsyncSession, creator: Principal, data: Any, member_exists: MemberCheck | None = None
) -> User:
    """platform_admin creates anyone; fund_admin creates fund roles inside their own fund. A member
    user is bound to a membership the members service confirms is in that fund."""
    role = Role(data.role)
    fund_id = data.fund_id
    if creator.role is Role.fund_admin:
        if role not in FUND_ADMIN_MAY_CREATE:
            raise Forbidden()
        if fund_id is None:
            fund_id = creator.fund_id
        if fund_id != creator.fund_id or data.network_id is not None or data.grantor_id is not None:
            raise Forbidden("auth.out_of_scope")
    elif creator.role is not Role.platform_admin:
        raise Forbidden()
    _check_user_scope(role, fund_id, data.network_id, data.member_id, data.grantor_id)
    if role in STAFF_ROLES and len(data.password) < 10:
        raise SajjaError("user.password_weak", status_code=422)
    if role is Role.member and member_exists is not None and not await member_exists(fund_id, data.member_id):
        raise SajjaError("user.member_unknown", status_code=422)
    user = User(
        id=uuid.uuid4(),
        phone=data.phone,
        password_hash=await hash_password(data.password),
        display_name=data.display_name,
        role=role.value,
        fund_id=fund_id if role in FUND_ROLES else None,
        network_id=data.network_id if role is Role.network_officer else None,
        member_id=data.member_id if role is Role.member else None,
        grantor_id=data.grantor_id if role is Role.grant_officer else None,
        created_by=creator.subject,
    )
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError:
        raise Conflict("user.phone_taken") from None
    return user


async def create_client(*, session: AsyncSession, data: Any) -> tuple[ApiClient, str]:
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        id=uuid.uuid4(),
        client_id=f"cli-{secrets.token_hex(8)}",
        secret_hash=await hash_password(secret),
        name=data.name,
        role=Role.integration.value,
        scopes=list(dict.fromkeys(data.scopes)),
        fund_id=data.fund_id,
        network_id=data.network_id,
        grantor_id=data.grantor_id,
        program_ids=list(dict.fromkeys(data.program_ids)) if data.program_ids is not None else None,
    )
    session.add(client)
    await session.flush()
    return client, secret


async def ensure_bootstrap_admin(session: AsyncSession, settings: GatewaySettings) -> tuple[str, str] | None:
    """Create the first platform admin from the bootstrap settings or, in development only, the
    documented development login. Returns (phone, password) when the development login was used,
    to be shown once; None otherwise."""
    exists = await session.scalar(select(User.id).where(User.role == Role.platform_admin.value).limit(1))
    if exists is not None:
        return None
    phone = settings.bootstrap_admin_phone
    password = settings.bootstrap_admin_password
    documented = False
    if not phone or not password:
        if settings.env != "dev":
            return None
        phone = phone or DEV_ADMIN_PHONE
        documented = not password
        password = password or DEV_ADMIN_PASSWORD
    session.add(
        User(
            id=uuid.uuid4(),
            phone=normalize_phone(phone),
            password_hash=await hash_password(password),
            display_name="Platform admin",
            role=Role.platform_admin.value,
            created_by="bootstrap",
        )
    )
    await session.flush()
    return (phone, password) if documented else None
