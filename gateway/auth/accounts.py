"""Accounts after they are created (docs/accounts.md): users listed, changed, deactivated and
reactivated, PINs reset and changed; API clients listed, revoked and rotated; and the token
versions that make a cut-off caller's tokens refused everywhere within seconds.

Who may call each route is a dependency of ``gateway.access``: user administration is for fund
admins (their own fund's users: another fund's user is a 404) and platform admins
(``UserCreator``, the same people who create users), clients for platform admins.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.access import PlatformAdmin, RevocationReader, SignedIn, UserCreator
from gateway.auth import service
from gateway.auth.schemas import TokenPair, UserOut
from gateway.models import ApiClient, RefreshToken, TokenRevocation, User
from gateway.settings import GatewaySettings
from shared.audit import audit
from shared.auth import FUND_ROLES, Principal, Role
from shared.db import Database, DbSession
from shared.errors import Conflict, Forbidden, NotFound, SajjaError, Unauthenticated, register_messages
from shared.pagination import Cursor, after_key, split_page
from shared.schemas import ClosedModel, PatchBody, SingleLineText

register_messages(
    {
        "user.not_found": {
            "th": ("ไม่พบผู้ใช้", "ไม่พบผู้ใช้นี้"),
            "en": ("User not found", "No such user"),
        },
        "user.last_platform_admin": {
            "th": ("ต้องมีผู้ดูแลระบบอย่างน้อยหนึ่งคน", "ไม่สามารถระงับหรือเปลี่ยนบทบาทผู้ดูแลระบบคนสุดท้ายที่ยังใช้งานอยู่"),
            "en": ("Last platform admin", "The last active platform admin cannot be deactivated or given another role"),
        },
        "user.pin_wrong": {
            "th": ("รหัส PIN ปัจจุบันไม่ถูกต้อง", "รหัส PIN ปัจจุบันไม่ถูกต้อง"),
            "en": ("Wrong PIN", "The current PIN is wrong"),
        },
        "user.pin_unchanged": {
            "th": ("รหัส PIN ใหม่ต้องไม่ซ้ำของเดิม", "โปรดตั้งรหัส PIN ใหม่ที่ต่างจากรหัสเดิม"),
            "en": ("PIN unchanged", "Choose a new PIN different from the current one"),
        },
        "auth.pin_change_required": {
            "th": ("ต้องตั้งรหัส PIN ใหม่", "รหัสนี้เป็นรหัสชั่วคราว โปรดตั้งรหัส PIN ใหม่ก่อนเข้าสู่ระบบ"),
            "en": ("New PIN required", "This is a temporary PIN; set a new PIN to log in"),
        },
        "auth.pin_ticket_invalid": {
            "th": ("ตั๋วเปลี่ยนรหัสใช้ไม่ได้", "ตั๋วเปลี่ยนรหัสไม่ถูกต้องหรือหมดอายุ โปรดเข้าสู่ระบบด้วยรหัสชั่วคราวอีกครั้ง"),
            "en": ("Invalid PIN ticket", "The PIN change ticket is invalid or expired; log in with the temporary PIN again"),
        },
        "client.not_found": {
            "th": ("ไม่พบไคลเอนต์", "ไม่พบไคลเอนต์นี้"),
            "en": ("Client not found", "No such API client"),
        },
        "client.revoked": {
            "th": ("ไคลเอนต์ถูกยกเลิกแล้ว", "ไคลเอนต์นี้ถูกยกเลิกแล้ว ไม่สามารถเปลี่ยนรหัสลับได้"),
            "en": ("Client revoked", "This API client was revoked; its secret cannot be rotated"),
        },
    }
)

router = APIRouter(tags=["auth"])
P = "/v1/auth"

#: A subject whose floor changed longer ago than a token lives (and a minute) needs no floor.
WINDOW_MARGIN_SECONDS = 60


# --- Token versions ---------------------------------------------------------------------------


async def record_floor(session: AsyncSession, subject: str, version: int) -> None:
    """Tokens of ``subject`` below ``version`` are refused from now on (every process, in seconds)."""
    now = service.utcnow()
    statement = pg_insert(TokenRevocation).values(subject=subject, min_version=version, changed_at=now)
    await session.execute(statement.on_conflict_do_update(
        index_elements=[TokenRevocation.subject], set_={"min_version": version, "changed_at": now}))


async def bump_user(session: AsyncSession, user: User, reason: str) -> None:
    """The user's tokens so far stop: a new version, and every refresh family revoked."""
    user.token_version += 1
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=service.utcnow(), revoked_reason=reason)
    )
    await record_floor(session, str(user.id), user.token_version)
    await session.flush()


async def load_floors(db: Database, settings: GatewaySettings) -> dict[str, int]:
    """``subject -> min_version`` for the floors a live token may still be under."""
    since = service.utcnow() - dt.timedelta(seconds=settings.access_token_ttl_seconds + WINDOW_MARGIN_SECONDS)
    async with db.sessionmaker() as session:
        rows = await session.execute(
            select(TokenRevocation.subject, TokenRevocation.min_version).where(TokenRevocation.changed_at > since)
        )
        return {subject: version for subject, version in rows.all()}


@router.get("/.well-known/revocations", include_in_schema=False)
async def revocations(request: Request, _: RevocationReader) -> JSONResponse:
    """For the services' verifiers: subjects whose tokens below ``min_version`` are refused, from
    the gateway's own list (reloaded each second). For service tokens (and platform admins): the
    ids say who was cut off, which is nobody else's business."""
    revocation_list = request.app.state.revocations
    await revocation_list.refresh_if_stale()
    settings = request.app.state.settings
    body = {"window_seconds": settings.access_token_ttl_seconds + WINDOW_MARGIN_SECONDS,
            "floors": revocation_list.floors}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


# --- Users ------------------------------------------------------------------------------------


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None


class UserChange(PatchBody):
    """What a PATCH changes; what it leaves out stays. The result obeys the rules of creating a user."""

    display_name: SingleLineText | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    fund_id: uuid.UUID | None = None
    network_id: uuid.UUID | None = None
    member_id: uuid.UUID | None = None
    grantor_id: uuid.UUID | None = None


class PinReset(BaseModel):
    user: UserOut
    temporary_pin: str = Field(description="Shown once: hand it to the user, who must choose a new PIN with it.")


class OwnPinChange(ClosedModel):
    current_pin: str = Field(min_length=1, max_length=256)
    new_pin: str = Field(min_length=6, max_length=256, description="A PIN of 6 digits or more (staff: 10 characters)")


class TicketPinChange(ClosedModel):
    pin_ticket: str = Field(min_length=16, max_length=256)
    new_pin: str = Field(min_length=6, max_length=256, description="A PIN of 6 digits or more (staff: 10 characters)")


def _out(user: User) -> UserOut:
    return UserOut.model_validate(user, from_attributes=True)


def _in_scope(principal: Principal, user: User) -> bool:
    return principal.role is Role.platform_admin or (
        principal.role is Role.fund_admin and principal.fund_id is not None and user.fund_id == principal.fund_id
    )


async def _target(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> User:
    """The user, locked; 404 when there is none or it is not the caller's to see. A platform admin
    is locked with every other active one (in id order), so that two cannot remove each other."""
    user = await session.get(User, user_id)
    if user is None or not _in_scope(principal, user):
        raise NotFound("user.not_found")
    if user.role == Role.platform_admin.value:
        await session.scalars(
            select(User.id).where(User.role == Role.platform_admin.value, User.is_active.is_(True))
            .order_by(User.id).with_for_update()
        )
    await session.refresh(user, with_for_update=True)
    return user


async def _keep_a_platform_admin(session: AsyncSession, user: User) -> None:
    """409 when ``user`` is the last active platform admin (the active ones are locked already)."""
    if user.role != Role.platform_admin.value or not user.is_active:
        return
    others = await session.scalar(
        select(User.id).where(User.role == Role.platform_admin.value, User.is_active.is_(True), User.id != user.id).limit(1)
    )
    if others is None:
        raise Conflict("user.last_platform_admin")


def _check_new_pin(user: User, pin: str) -> None:
    if Role(user.role) in service.STAFF_ROLES and len(pin) < 10:
        raise SajjaError("user.password_weak", status_code=422)


@router.get(f"{P}/users", response_model=UserPage)
async def list_users(
    session: DbSession,
    principal: UserCreator,
    role: Role | None = None,
    fund_id: uuid.UUID | None = None,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Cursor = None,
) -> Any:
    """Users within the caller's scope: a fund admin their fund's, a platform admin everyone."""
    query = select(User)
    if principal.role is not Role.platform_admin:
        query = query.where(User.fund_id == principal.fund_id)
    if role is not None:
        query = query.where(User.role == role.value)
    if fund_id is not None:
        query = query.where(User.fund_id == fund_id)
    if active is not None:
        query = query.where(User.is_active.is_(active))
    after = after_key(cursor, uuid.UUID)
    if after is not None:
        query = query.where(User.id > after[0])
    rows = (await session.scalars(query.order_by(User.id).limit(limit + 1))).all()
    page, next_cursor = split_page(rows, limit, lambda u: (u.id,))
    return UserPage(items=[_out(u) for u in page], next_cursor=next_cursor)


@router.get(f"{P}/users/{{user_id}}", response_model=UserOut)
async def get_user(user_id: uuid.UUID, session: DbSession, principal: UserCreator) -> Any:
    """One user within the caller's scope (another fund's is a 404)."""
    user = await session.get(User, user_id)
    if user is None or not _in_scope(principal, user):
        raise NotFound("user.not_found")
    return _out(user)


@router.patch(f"{P}/users/{{user_id}}", response_model=UserOut)
async def change_user(user_id: uuid.UUID, body: UserChange, request: Request, session: DbSession,
                      principal: UserCreator) -> Any:
    """Change a user's name, role or scope (fund, network, member, grantor), by the rules of
    creating one: a fund admin keeps them in their own fund and to fund roles. A change of role or
    scope stops the user's tokens (they log in again and get the new ones)."""
    user = await _target(session, principal, user_id)
    given = body.model_fields_set
    role = body.role if "role" in given and body.role is not None else Role(user.role)
    values = {name: getattr(body, name) if name in given else getattr(user, name)
              for name in ("fund_id", "network_id", "member_id", "grantor_id")}
    if principal.role is Role.fund_admin:
        if role not in service.FUND_ADMIN_MAY_CREATE:
            raise Forbidden()
        if values["fund_id"] is None:
            values["fund_id"] = principal.fund_id
        if values["fund_id"] != principal.fund_id or body.network_id is not None or body.grantor_id is not None:
            raise Forbidden("auth.out_of_scope")
    service._check_user_scope(role, values["fund_id"], values["network_id"], values["member_id"], values["grantor_id"])
    values = {
        "fund_id": values["fund_id"] if role in FUND_ROLES else None,
        "network_id": values["network_id"] if role is Role.network_officer else None,
        "member_id": values["member_id"] if role is Role.member else None,
        "grantor_id": values["grantor_id"] if role is Role.grant_officer else None,
    }
    changed = role.value != user.role or any(getattr(user, k) != v for k, v in values.items())
    if changed and role is Role.member and (values["member_id"] != user.member_id or values["fund_id"] != user.fund_id):
        member_exists = request.app.state.members_facts.member_exists
        if not await member_exists(values["fund_id"], values["member_id"]):
            raise SajjaError("user.member_unknown", status_code=422)
    if role is not Role.platform_admin:
        await _keep_a_platform_admin(session, user)
    before = {"role": user.role, **{k: getattr(user, k) for k in values}}
    if body.display_name is not None:
        user.display_name = body.display_name
    if changed:
        user.role = role.value
        for name, value in values.items():
            setattr(user, name, value)
        await bump_user(session, user, "role_changed")
    await session.flush()
    after = {"role": user.role, **values}
    fields = sorted(k for k in after if after[k] != before[k]) + (["display_name"] if body.display_name is not None else [])
    await audit(session, principal, "user.change", fund_id=user.fund_id or before["fund_id"], object_type="user",
                object_id=user.id, details={"fields": fields, "role": user.role,
                                            "role_before": before["role"] if changed else user.role})
    return _out(user)


@router.post(f"{P}/users/{{user_id}}/deactivate", response_model=UserOut)
async def deactivate_user(user_id: uuid.UUID, session: DbSession, principal: UserCreator) -> Any:
    """The user can no longer log in, and their tokens stop within seconds everywhere."""
    user = await _target(session, principal, user_id)
    if user.is_active:
        await _keep_a_platform_admin(session, user)
        user.is_active = False
        await bump_user(session, user, "deactivated")
        await audit(session, principal, "user.deactivate", fund_id=user.fund_id, object_type="user", object_id=user.id,
                    details={"role": user.role})
    return _out(user)


@router.post(f"{P}/users/{{user_id}}/reactivate", response_model=UserOut)
async def reactivate_user(user_id: uuid.UUID, session: DbSession, principal: UserCreator) -> Any:
    """The user may log in again (with the PIN they had); nothing from before comes back."""
    user = await _target(session, principal, user_id)
    if not user.is_active:
        user.is_active = True
        await bump_user(session, user, "reactivated")
        await audit(session, principal, "user.reactivate", fund_id=user.fund_id, object_type="user", object_id=user.id,
                    details={"role": user.role})
    return _out(user)


@router.post(f"{P}/users/{{user_id}}/pin-reset", response_model=PinReset)
async def reset_pin(user_id: uuid.UUID, session: DbSession, principal: UserCreator) -> Any:
    """A forgotten PIN: a one-time temporary PIN, shown once. With it the user gets no token, only
    a ticket to choose a new PIN (``auth.pin_change_required`` at login, then ``POST /v1/auth/pin``).
    The user's sessions stop."""
    user = await _target(session, principal, user_id)
    temporary = f"{secrets.randbelow(10**8):08d}"
    user.password_hash = await service.hash_password(temporary)
    user.pin_change_required = True
    user.pin_ticket_hash, user.pin_ticket_expires_at = None, None
    await bump_user(session, user, "pin_reset")
    await audit(session, principal, "user.pin_reset", fund_id=user.fund_id, object_type="user", object_id=user.id)
    return PinReset(user=_out(user), temporary_pin=temporary)


def _ticket_hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


async def pin_change_required(session: AsyncSession, settings: GatewaySettings, user: User) -> SajjaError:
    """What a login with a temporary PIN answers: 403 with a one-time ticket to choose a new PIN."""
    ticket = secrets.token_urlsafe(32)
    user.pin_ticket_hash = _ticket_hash(ticket)
    user.pin_ticket_expires_at = service.utcnow() + dt.timedelta(seconds=settings.pin_ticket_ttl_seconds)
    await session.flush()
    return SajjaError("auth.pin_change_required", status_code=403,
                      extra={"pin_ticket": ticket, "expires_in": settings.pin_ticket_ttl_seconds})


@router.post(f"{P}/pin", response_model=TokenPair, openapi_extra={"security": []})
async def set_pin_with_ticket(body: TicketPinChange, request: Request, session: DbSession) -> Any:
    """After a PIN reset: the ticket the temporary PIN gave at login, and the new PIN; answers a
    token pair. The ticket is used once."""
    user = await session.scalar(
        select(User).where(User.pin_ticket_hash == _ticket_hash(body.pin_ticket)).with_for_update()
    )
    now = service.utcnow()
    if (user is None or not user.is_active or not user.pin_change_required or user.pin_ticket_expires_at is None
            or user.pin_ticket_expires_at <= now):
        raise Unauthenticated("auth.pin_ticket_invalid")
    _check_new_pin(user, body.new_pin)
    if await service.verify_password(user.password_hash, body.new_pin):
        raise SajjaError("user.pin_unchanged", status_code=422)
    user.password_hash = await service.hash_password(body.new_pin)
    user.pin_change_required = False
    user.pin_ticket_hash, user.pin_ticket_expires_at = None, None
    return await request.app.state.issuer.pair(session, user)


@router.post(f"{P}/me/pin", status_code=204)
async def change_own_pin(body: OwnPinChange, session: DbSession, principal: SignedIn) -> Response:
    """A user changes their own PIN, giving the current one. Every session of the user ends, this
    one too (a PIN changed because it leaked must shut out whoever has it): the app logs in again
    with the new PIN."""
    own = principal.user_id if principal.role not in (Role.service, Role.integration) else None
    user = await session.get(User, own, with_for_update=True) if own is not None else None
    if user is None or not user.is_active:
        raise Forbidden()
    if not await service.verify_password(user.password_hash, body.current_pin):
        raise Forbidden("user.pin_wrong")
    _check_new_pin(user, body.new_pin)
    if body.new_pin == body.current_pin:
        raise SajjaError("user.pin_unchanged", status_code=422)
    user.password_hash = await service.hash_password(body.new_pin)
    await bump_user(session, user, "pin_changed")
    await audit(session, principal, "user.own_pin_change", fund_id=user.fund_id, object_type="user", object_id=user.id)
    return Response(status_code=204)


# --- API clients ------------------------------------------------------------------------------


class ClientOut(BaseModel):
    client_id: str
    name: str
    scopes: list[str]
    fund_id: uuid.UUID | None
    network_id: uuid.UUID | None
    grantor_id: uuid.UUID | None
    program_ids: list[uuid.UUID] | None
    is_active: bool
    created_at: dt.datetime
    #: After a rotation, until when the previous secret still works.
    previous_secret_expires_at: dt.datetime | None


class ClientPage(BaseModel):
    items: list[ClientOut]
    next_cursor: str | None


class ClientRotated(BaseModel):
    client: ClientOut
    client_secret: str = Field(description="Shown once; store it now.")


def _client_out(client: ApiClient) -> ClientOut:
    return ClientOut.model_validate(client, from_attributes=True)


async def _client(session: AsyncSession, client_id: str) -> ApiClient:
    client = await session.scalar(select(ApiClient).where(ApiClient.client_id == client_id).with_for_update())
    if client is None:
        raise NotFound("client.not_found")
    return client


@router.get(f"{P}/clients", response_model=ClientPage)
async def list_clients(
    session: DbSession,
    _: PlatformAdmin,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Cursor = None,
) -> Any:
    """Registered grant systems (never their secrets)."""
    query = select(ApiClient)
    if active is not None:
        query = query.where(ApiClient.is_active.is_(active))
    after = after_key(cursor, str)
    if after is not None:
        query = query.where(ApiClient.client_id > after[0])
    rows = (await session.scalars(query.order_by(ApiClient.client_id).limit(limit + 1))).all()
    page, next_cursor = split_page(rows, limit, lambda c: (c.client_id,))
    return ClientPage(items=[_client_out(c) for c in page], next_cursor=next_cursor)


@router.post(f"{P}/clients/{{client_id}}/revoke", response_model=ClientOut)
async def revoke_client(client_id: str, session: DbSession, principal: PlatformAdmin) -> Any:
    """At once: no new token for either secret, and its tokens are refused within seconds."""
    client = await _client(session, client_id)
    if client.is_active:
        client.is_active = False
        client.previous_secret_hash, client.previous_secret_expires_at = None, None
        client.token_version += 1
        await record_floor(session, client.client_id, client.token_version)
        await session.flush()
        await audit(session, principal, "client.revoke", fund_id=client.fund_id, object_type="client",
                    object_id=client.client_id)
    return _client_out(client)


@router.post(f"{P}/clients/{{client_id}}/rotate", response_model=ClientRotated)
async def rotate_client_secret(client_id: str, request: Request, session: DbSession, principal: PlatformAdmin) -> Any:
    """A new secret, shown once; the one before keeps working for the grace period
    (``SAJJA_GATEWAY_CLIENT_SECRET_GRACE_SECONDS``), so the grant system can switch without a gap."""
    client = await _client(session, client_id)
    if not client.is_active:
        raise Conflict("client.revoked")
    grace = request.app.state.settings.client_secret_grace_seconds
    secret = secrets.token_urlsafe(32)
    client.previous_secret_hash = client.secret_hash
    client.previous_secret_expires_at = service.utcnow() + dt.timedelta(seconds=grace)
    client.secret_hash = await service.hash_password(secret)
    await session.flush()
    await audit(session, principal, "client.rotate", fund_id=client.fund_id, object_type="client",
                object_id=client.client_id, details={"grace_seconds": grace})
    return ClientRotated(client=_client_out(client), client_secret=secret)
