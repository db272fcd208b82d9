"""Tables the benefits service owns: each fund's catalog and versioned rules, claims and their
events, approvals, documents, and the fund's payout settings."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit import audit_events_table
from shared.db import naming_metadata
from shared.lease import Leased


class Base(DeclarativeBase):
    metadata = naming_metadata()


#: Administrative acts (shared.audit, docs/audit.md); append-only.
audit_events = audit_events_table(Base.metadata)

#: Ban Song's nine benefit categories (the Ban Song case study).
CATEGORIES = (
    "birth",
    "sickness_medical",
    "elderly",
    "death",
    "education",
    "disadvantaged_disabled",
    "occupation",
    "housing_repair",
    "disaster_relief",
)
CLAIM_STATUSES = ("submitted", "under_review", "approved", "rejected", "paid", "cancelled")
PAYOUT_STATUSES = ("none", "pending", "held", "paid")


def _now() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class BenefitFund(Base):
    """A fund's benefit settings: the reserve payouts must leave, and when two approvers are needed."""

    __tablename__ = "benefit_funds"

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    reserve_floor_satang: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    two_approvers_above_satang: Mapped[int] = mapped_column(BigInteger, nullable=False, default=500_000)
    paid_from: Mapped[str] = mapped_column(String(16), nullable=False, default="bank")


class Benefit(Base):
    """One benefit (สวัสดิการ) in a fund's catalog."""

    __tablename__ = "benefits"
    __table_args__ = (
        CheckConstraint("category IN (" + ", ".join(f"'{c}'" for c in CATEGORIES) + ")", name="category_known"),
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(32), nullable=False)
    name_th: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str] = mapped_column(String(200), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = _now()


class RuleVersion(Base):
    """The rules of one benefit from a date on. Never changed: a new version is added instead."""

    __tablename__ = "benefit_rule_versions"
    __table_args__ = (
        UniqueConstraint("fund_id", "code", "effective_from"),
        ForeignKeyConstraint(["fund_id", "code"], ["benefits.fund_id", "benefits.code"]),
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    effective_from: Mapped[dt.date] = mapped_column(Date, nullable=False)
    rules: Mapped[dict] = mapped_column(JSONB, nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[dt.datetime] = _now()


class Claim(Leased, Base):
    """A member's claim for a benefit, judged by the rule version in force on its event date."""

    __tablename__ = "claims"
    __table_args__ = (
        CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in CLAIM_STATUSES) + ")", name="status_known"),
        CheckConstraint("payout_status IN (" + ", ".join(f"'{s}'" for s in PAYOUT_STATUSES) + ")", name="payout_known"),
        CheckConstraint("amount_satang > 0", name="amount_positive"),
        CheckConstraint("event_end_date IS NULL OR event_end_date >= event_date", name="event_range"),
        Index("ix_claims_member", "fund_id", "member_id", "benefit_code"),
        Index("ix_claims_status", "fund_id", "status", "created_at"),
        Index("ix_claims_payout", "payout_status", "next_attempt_at"),
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    benefit_code: Mapped[str] = mapped_column(String(64), nullable=False)
    category: Mapped[str] = mapped_column(String(32), nullable=False)
    rule_version: Mapped[int] = mapped_column(Integer, nullable=False)
    event_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    event_end_date: Mapped[dt.date | None] = mapped_column(Date)
    days: Mapped[int | None] = mapped_column(SmallInteger)
    details: Mapped[str | None] = mapped_column(String(2000))
    amount_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="submitted")
    reason: Mapped[str | None] = mapped_column(String(500))
    submitted_by: Mapped[str] = mapped_column(String(64), nullable=False)
    submitted_role: Mapped[str] = mapped_column(String(32), nullable=False)
    approvals_needed: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=1)
    payout_status: Mapped[str] = mapped_column(String(8), nullable=False, default="none")
    payout_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    payout_error: Mapped[str | None] = mapped_column(String(300))
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: Set by the committee to pay a held claim despite the reserve floor.
    reserve_override: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    paid_entry_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = _now()
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ClaimEvent(Base):
    """One step in a claim's life: who moved it from which state to which, when and why."""

    __tablename__ = "claim_events"
    __table_args__ = (ForeignKeyConstraint(["fund_id", "claim_id"], ["claims.fund_id", "claims.id"]),)

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    claim_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16), nullable=False)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    actor_role: Mapped[str] = mapped_column(String(32), nullable=False)
    note: Mapped[str | None] = mapped_column(String(500))
    at: Mapped[dt.datetime] = _now()


class ClaimApproval(Base):
    """An approval by one committee member; two different ones above the fund's threshold."""

    __tablename__ = "claim_approvals"
    __table_args__ = (ForeignKeyConstraint(["fund_id", "claim_id"], ["claims.fund_id", "claims.id"]),)

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    claim_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    approver: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[dt.datetime] = _now()


class ClaimDocument(Base):
    """A photo or PDF attached to a claim, encrypted in the blob store, outside the database
    (services/benefits/documents.py, docs/documents.md)."""

    __tablename__ = "claim_documents"
    __table_args__ = (ForeignKeyConstraint(["fund_id", "claim_id"], ["claims.fund_id", "claims.id"]),)

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    claim_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    is_medical: Mapped[bool] = mapped_column(Boolean, nullable=False)
    filename: Mapped[str] = mapped_column(String(200), nullable=False)
    content_type: Mapped[str] = mapped_column(String(64), nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    uploaded_by: Mapped[str] = mapped_column(String(64), nullable=False)
    uploaded_at: Mapped[dt.datetime] = _now()
    #: Erased with its member's personal data (docs/personal-data.md): the row stays, its file name
    #: is gone, and the file is removed from disk by the document sweep (``file_released_at``) once
    #: no document that is not erased has the same checksum.
    erased_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    file_released_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: Where its object is (``claims/<fund>/<claim>/<id>``); NULL for documents from before
    #: encryption, kept in plaintext by checksum (``ab/abcdef...``).
    object_key: Mapped[str | None] = mapped_column(String(300))
    #: The key-encryption key that wraps its data key, and the wrapped data key (NULL: plaintext,
    #: or erased: without it the object does not open).
    key_id: Mapped[int | None] = mapped_column(SmallInteger)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)


# --- Aggregates kept per fund (docs/aggregates.md), moved by triggers on ``claims`` in the
# transaction of every change (migration 20261207_0006_kept_aggregates).


class BenefitPaidDay(Base):
    """Claims paid by one fund on one Bangkok day in one category, and their amount: what
    ``reports/paid`` sums by category, kept per fund and day (any period is a sum)."""

    __tablename__ = "benefit_paid_days"

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    paid_on: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    category: Mapped[str] = mapped_column(String(32), primary_key=True)
    claims: Mapped[int] = mapped_column(Integer, nullable=False)
    amount_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)


class BenefitHelpedDay(Base):
    """How many of a fund's members were paid on ``paid_on`` and last paid before that on
    ``previous_on`` ('-infinity': never before). A member is helped in a period exactly once, on
    their first day paid in it, the one whose previous day is before the period: members helped
    from ``start`` to ``end`` is the sum over ``start <= paid_on <= end`` and ``previous_on < start``."""

    __tablename__ = "benefit_helped_days"

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    paid_on: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    previous_on: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    members: Mapped[int] = mapped_column(Integer, nullable=False)


class BenefitWaiting(Base):
    """A fund's claims waiting in one state (``submitted``, ``under_review``, ``payout_pending``,
    ``payout_held``: as ``reports/pending`` groups them), and since when the oldest has waited;
    ``claims`` 0 and ``oldest`` null once none does."""

    __tablename__ = "benefit_waiting"

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    claims: Mapped[int] = mapped_column(Integer, nullable=False)
    oldest: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
