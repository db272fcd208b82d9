"""Tables the gateway owns: users, API clients, refresh tokens, signing keys, login throttle."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.auth import Role
from shared.audit import audit_events_table
from shared.db import naming_metadata
from shared.lease import Leased


class Base(DeclarativeBase):
    metadata = naming_metadata()


#: Administrative acts (shared.audit, docs/audit.md); append-only.
audit_events = audit_events_table(Base.metadata)

ROLE_VALUES = ", ".join(f"'{r.value}'" for r in Role)


def _now() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class User(Base):
    """A person who logs in with phone and password (or PIN)."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"role IN ({ROLE_VALUES})", name="role_known"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    phone: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    fund_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    network_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    member_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    #: For a grant officer: the grantor (in the grants service) they act for.
    grantor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    #: Carried by the user's access tokens (``ver``); bumped when they must stop (docs/accounts.md).
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    #: Set by a PIN reset: the (temporary) PIN gives no tokens, only a ticket to choose a new one.
    pin_change_required: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
    pin_ticket_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    pin_ticket_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = _now()


class ApiClient(Base):
    """A machine caller (a grant system) using client credentials."""

    __tablename__ = "api_clients"
    __table_args__ = (CheckConstraint("role IN ('integration')", name="role_integration"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    client_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    secret_hash: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False, default=Role.integration.value)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(64)), nullable=False, default=list)
    fund_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    network_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    #: The grantor the grant system acts for (none: it sees no grant), and, when narrowed, which of
    #: its programs (None: all of the grantor's).
    grantor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    program_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID(as_uuid=True)))
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    #: Carried by the client's access tokens (``ver``); bumped when it is revoked.
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    #: The secret before the last rotation, accepted until ``previous_secret_expires_at``.
    previous_secret_hash: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = _now()


class RefreshToken(Base):
    """One link of a refresh-token family; only a hash of the token is kept."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family", "family_id"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    family_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[dt.datetime] = _now()
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    replaced_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class TokenRevocation(Base):
    """A subject (a user id, a client's client_id) whose tokens below ``min_version`` are refused;
    only rows younger than an access token's life matter (docs/accounts.md)."""

    __tablename__ = "token_revocations"
    __table_args__ = (Index("ix_token_revocations_changed_at", "changed_at"),)

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    min_version: Mapped[int] = mapped_column(Integer, nullable=False)
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class SigningKey(Base):
    """An ES256 key pair; the private half encrypted with the gateway's key secret. States (docs/
    signing-keys.md): next (not current, no retire_at), current, retiring (retire_at ahead), gone
    (retire_at passed), revoked (revoked_at)."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    private_key_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    public_jwk: Mapped[dict] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[dt.datetime] = _now()
    #: The key that signs new tokens; at most one.
    is_current: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: After this moment the key is no longer published (tokens it signed have expired).
    retire_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: Revoked in an emergency: out of the JWKS at once, never trusted again (docs/signing-keys.md).
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


Index("uq_signing_keys_current", SigningKey.is_current, unique=True, postgresql_where=text("is_current"))


class LoginThrottle(Base):
    """Failed (or not yet judged) attempts of one key: a phone, an address, a refresh-token family
    (a device) or a client id; claimed in one statement before argon2 (docs/login-throttling.md)."""

    __tablename__ = "login_throttle"
    __table_args__ = (Index("ix_login_throttle_last_failure_at", "last_failure_at"),)

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    last_failure_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    #: No attempt of this key is judged before this moment.
    next_allowed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class LineLink(Base):
    """A LINE user bound to one membership (and the gateway user that stands for it)."""

    __tablename__ = "line_links"
    __table_args__ = (Index("ix_line_links_fund", "fund_id"), Index("uq_line_links_user", "user_id", unique=True))

    line_user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    notify_receipts: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    notify_claims: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    notify_arrears: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    linked_at: Mapped[dt.datetime] = _now()


class LineLinkCode(Base):
    """A one-time code the committee gives a member to link their LINE account; only its hash is kept."""

    __tablename__ = "line_link_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class LineWebhookEvent(Base):
    """A webhook event already handled (LINE may send one more than once)."""

    __tablename__ = "line_webhook_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[dt.datetime] = _now()


class LineOutbox(Leased, Base):
    """A message to send to LINE (push or reply), retried with the same ``X-Line-Retry-Key``."""

    __tablename__ = "line_outbox"
    __table_args__ = (Index("ix_line_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    line_user_id: Mapped[str | None] = mapped_column(String(64))
    reply_token: Mapped[str | None] = mapped_column(String(200))
    #: Deduplicates what the feeds produce (e.g. "receipts:<member>:<day>:<last receipt>").
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    messages: Mapped[list] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = _now()
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class FeedCursor(Leased, Base):
    """How far the notifier has read a service's feed for one fund; claimed with a lease by the
    replica reading it (docs/workers.md)."""

    __tablename__ = "feed_cursors"
    __table_args__ = (Index("ix_feed_cursors_read", "read_at"),)

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    #: The feed's ``next_cursor``; NULL until the fund's feed is first read (from its first link on).
    cursor: Mapped[str | None] = mapped_column(String(512))
    #: When the feed was last read: the least recently read funds are claimed first.
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
