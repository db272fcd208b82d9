"""``/v1/auth``: login, refresh, logout, client credentials, users, API clients, key rotation."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError

from gateway.access import PlatformAdmin, SignedIn, UserCreator
from gateway.auth import service
from gateway.auth.schemas import (
    ClientCreated,
    ClientCredentialsRequest,
    ClientToken,
    CreateClientRequest,
    CreateUserRequest,
    LoginRequest,
    Me,
    RefreshRequest,
    RevokedKey,
    RotatedKey,
    TokenPair,
    UserOut,
)
from gateway.models import User
from shared.audit import audit
from shared.auth import Role
from shared.db import DbSession
from shared.errors import NotFound, SajjaError, problem_response

router = APIRouter(prefix="/v1/auth", tags=["auth"])


def _issuer(request: Request) -> service.TokenIssuer:
    return request.app.state.issuer


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _as_problem(request: Request, error: SajjaError) -> Response:
    """Errors that must not roll back the unit of work (a recorded failure, a revoked family)
    are returned, not raised, so the session dependency still commits."""
    return problem_response(request, error.code, error.status_code, error.params, error.headers, **error.extra)


@router.post("/login", response_model=TokenPair, openapi_extra={"security": []})
async def login(body: LoginRequest, request: Request, session: DbSession) -> Any:
    """Log in with phone and password (or PIN); returns an access and a refresh token. A device
    that still holds a current refresh token of this user may send it (``refresh_token``): it is
    then not slowed by others' failed logins on this phone (docs/login-throttling.md)."""
    pair, error = await service.login(
        session=session, issuer=_issuer(request), throttle=request.app.state.login_throttle, phone=body.phone,
        password=body.password, address=_client_address(request), refresh_token=body.refresh_token,
    )
    return _as_problem(request, error) if error else pair


@router.post("/refresh", response_model=TokenPair, openapi_extra={"security": []})
async def refresh(body: RefreshRequest, request: Request, session: DbSession) -> Any:
    """Trade a refresh token for a new pair; the old refresh token is spent."""
    pair, error = await service.refresh(session=session, issuer=_issuer(request), token=body.refresh_token)
    return _as_problem(request, error) if error else pair


@router.post("/logout", status_code=204, openapi_extra={"security": []})
async def logout(body: RefreshRequest, session: DbSession) -> Response:
    """Revoke the refresh token's whole family (this login on this device)."""
    await service.logout(session=session, token=body.refresh_token)
    return Response(status_code=204)


@router.post(
    "/token",
    response_model=ClientToken,
    openapi_extra={
        "security": [],
        "requestBody": {
            "content": {
                "application/json": {"schema": ClientCredentialsRequest.model_json_schema()},
                "application/x-www-form-urlencoded": {"schema": ClientCredentialsRequest.model_json_schema()},
            }
        },
    },
)
async def token(request: Request, session: DbSession) -> Any:
    """OAuth 2.0 client credentials (RFC 6749 4.4), as a form or as JSON."""
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = await request.form()
            data = ClientCredentialsRequest.model_validate(dict(form))
        else:
            data = ClientCredentialsRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
    try:
        return await service.client_credentials(
            session=session, issuer=_issuer(request), client_id=data.client_id,
            client_secret=data.client_secret, scope=data.scope,
            throttle=request.app.state.login_throttle, address=_client_address(request),
        )
    except SajjaError as error:  # a 401 or 429 is returned, not raised: nothing to roll back
        return _as_problem(request, error)


@router.get("/me", response_model=Me)
async def me(principal: SignedIn, session: DbSession) -> Any:
    """Who the token speaks for."""
    user = None
    if principal.role not in (Role.service, Role.integration):
        try:
            user = await session.get(User, uuid.UUID(principal.subject))
        except ValueError:
            user = None
    return Me(
        subject=principal.subject,
        role=principal.role,
        fund_id=principal.fund_id,
        network_id=principal.network_id,
        member_id=principal.member_id,
        scopes=sorted(principal.scopes),
        grantor_id=principal.grantor_id,
        program_ids=sorted(principal.program_ids, key=str) if principal.program_ids is not None else None,
        user=UserOut.model_validate(user, from_attributes=True) if user else None,
    )


@router.post("/users", response_model=UserOut, status_code=201)
async def create_user(
    body: CreateUserRequest,
    request: Request,
    session: DbSession,
    principal: UserCreator,
) -> Any:
    """Create a user: platform admins create anyone; fund admins create roles in their fund (the
    fund and the role are in the body: ``service.create_user`` checks them)."""
    user = await service.create_user(
        session=session, creator=principal, data=body, member_exists=request.app.state.members_facts.member_exists
    )
    await audit(session, principal, "user.create", fund_id=user.fund_id, object_type="user", object_id=user.id,
                details={"role": user.role})
    return UserOut.model_validate(user, from_attributes=True)


@router.post("/clients", response_model=ClientCreated, status_code=201)
async def create_client(body: CreateClientRequest, session: DbSession, principal: PlatformAdmin) -> Any:
    """Register a grant system; its secret is shown once."""
    client, secret = await service.create_client(session=session, data=body)
    await audit(session, principal, "client.create", object_type="client", object_id=client.client_id,
                details={"name": client.name, "scopes": client.scopes, "grantor_id": client.grantor_id})
    return ClientCreated(client_id=client.client_id, client_secret=secret, name=client.name, scopes=client.scopes,
                         grantor_id=client.grantor_id, program_ids=client.program_ids)


@router.post("/keys/rotate", response_model=RotatedKey)
async def rotate_keys(request: Request, session: DbSession, principal: PlatformAdmin) -> Any:
    """The next key becomes current (it signs once every verifier knows it), a new next key is
    published; tokens signed by the old one stay valid until they expire (docs/signing-keys.md)."""
    settings = request.app.state.settings
    kid = await request.app.state.keyring.rotate(session, settings.key_retire_after_seconds)
    await audit(session, principal, "key.rotate", object_type="signing_key", object_id=kid)
    return RotatedKey(kid=kid)


@router.post("/keys/{kid}/revoke", response_model=RevokedKey)
async def revoke_key(kid: str, request: Request, session: DbSession, principal: PlatformAdmin) -> Any:
    """Emergency: the key leaves the JWKS at once and is never trusted again; every verifier stops
    trusting it and the tokens it signed within seconds (docs/signing-keys.md). A current key is
    replaced by the next one first."""
    keyring = request.app.state.keyring
    if not await keyring.revoke(session, kid):
        raise NotFound()
    await audit(session, principal, "key.revoke", object_type="signing_key", object_id=kid,
                details={"current_kid": keyring.promoted_kid})
    request.app.state.verifier.set_jwks(keyring.jwks())  # this gateway stops trusting it at once
    return RevokedKey(kid=kid, current_kid=keyring.promoted_kid)
