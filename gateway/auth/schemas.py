"""Request and response bodies of ``/v1/auth``. Requests forbid unknown fields."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from shared.auth import Role
from shared.schemas import ClosedModel, SingleLineText
from shared.validators import normalize_phone


class LoginRequest(ClosedModel):
    phone: str = Field(max_length=20)
    password: str = Field(min_length=1, max_length=256)
    #: A current refresh token of this user, from a device that signed in before: the login is then
    #: slowed only by that device's own failures, not by others' on this phone or address.
    refresh_token: str | None = Field(default=None, min_length=16, max_length=256)

    _phone = field_validator("phone")(normalize_phone)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class RefreshRequest(ClosedModel):
    refresh_token: str = Field(min_length=16, max_length=256)


class ClientCredentialsRequest(ClosedModel):
    grant_type: Literal["client_credentials"]
    client_id: str = Field(max_length=64)
    client_secret: str = Field(max_length=256)
    scope: str | None = Field(default=None, max_length=1000)


class ClientToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    scope: str


class CreateUserRequest(ClosedModel):
    phone: str = Field(max_length=20)
    password: str = Field(min_length=6, max_length=256, description="A password, or a PIN of 6 digits or more")
    display_name: SingleLineText = Field(min_length=1, max_length=200)
    role: Role
    fund_id: uuid.UUID | None = None
    network_id: uuid.UUID | None = None
    member_id: uuid.UUID | None = None
    #: A grant officer's grantor (required for that role).
    grantor_id: uuid.UUID | None = None

    _phone = field_validator("phone")(normalize_phone)


class UserOut(BaseModel):
    id: uuid.UUID
    phone: str
    display_name: str
    role: Role
    fund_id: uuid.UUID | None
    network_id: uuid.UUID | None
    member_id: uuid.UUID | None
    grantor_id: uuid.UUID | None = None
    is_active: bool


class Me(BaseModel):
    """The caller as the token says, with the user's record when the caller is a person."""

    subject: str
    role: Role
    fund_id: uuid.UUID | None
    network_id: uuid.UUID | None
    member_id: uuid.UUID | None
    scopes: list[str]
    grantor_id: uuid.UUID | None = None
    program_ids: list[uuid.UUID] | None = None
    user: UserOut | None = None


class CreateClientRequest(ClosedModel):
    name: SingleLineText = Field(min_length=1, max_length=200)
    scopes: list[SingleLineText] = Field(default_factory=list, max_length=50)
    fund_id: uuid.UUID | None = None
    network_id: uuid.UUID | None = None
    #: The grantor the grant system acts for: without one it sees no grant.
    grantor_id: uuid.UUID | None = None
    #: Narrows the client to some of its grantor's programs (none given: all of them).
    program_ids: list[uuid.UUID] | None = Field(default=None, max_length=200)


class ClientCreated(BaseModel):
    client_id: str
    client_secret: str = Field(description="Shown once; store it now.")
    name: str
    scopes: list[str]
    grantor_id: uuid.UUID | None = None
    program_ids: list[uuid.UUID] | None = None


class RotatedKey(BaseModel):
    kid: str


class RevokedKey(BaseModel):
    """A key revoked: out of the JWKS, never trusted again (docs/signing-keys.md)."""

    kid: str
    #: The key in state current after the revoke (the next key, when the revoked one was current).
    current_kid: str | None
