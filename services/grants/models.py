"""Tables the grants service owns: programs and their envelopes, applications, reviews, awards,
tranches, reports of use, and webhook subscriptions with their deliveries (an outbox)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit import audit_events_table
from shared.db import naming_metadata
from shared.lease import Leased


class Base(DeclarativeBase):
    metadata = naming_metadata()


#: Administrative acts (shared.audit, docs/audit.md); append-only.
audit_events = audit_events_table(Base.metadata)

GRANTORS = ("codi", "state", "provincial_office", "local_government", "other")
APPLICATION_STATUSES = ("draft", "submitted", "screening", "approved", "rejected", "awarded", "closed")


def _now() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Grantor(Base):
    """An organisation that funds programs (CODI, a provincial office, a local government...); its
    kind picks the income source its money is booked to in a fund's ledger."""

    __tablename__ = "grantors"
    __table_args__ = (CheckConstraint("kind IN (" + ", ".join(f"'{g}'" for g in GRANTORS) + ")", name="kind_known"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[dt.datetime] = _now()


class Program(Base):
    """A grant program (โครงการ / งบอุดหนุน) of one grantor for one Thai fiscal year."""

    __tablename__ = "programs"
    __table_args__ = (
        CheckConstraint("grantor IN (" + ", ".join(f"'{g}'" for g in GRANTORS) + ")", name="grantor_known"),
        CheckConstraint("envelope_satang >= 0", name="envelope_non_negative"),
        CheckConstraint("per_fund_ceiling_satang IS NULL OR per_fund_ceiling_satang > 0", name="ceiling_positive"),
        CheckConstraint("allocated_satang >= 0 AND allocated_satang <= envelope_satang", name="within_envelope"),
        CheckConstraint("cardinality(reviewers) > 0", name="reviewers_named"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    #: The grantor organisation the program belongs to; ``grantor`` is its kind, copied.
    grantor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("grantors.id"), nullable=False, index=True)
    grantor: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    #: Thai fiscal year, October to September, in B.E. (2551 runs from October 2007).
    fiscal_year_be: Mapped[int] = mapped_column(Integer, nullable=False)
    envelope_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: Sum of awards; a CHECK keeps it within the envelope even under concurrent approvals.
    allocated_satang: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    per_fund_ceiling_satang: Mapped[int | None] = mapped_column(BigInteger)
    #: e.g. [{"name": "issue_based", "pct_bp": 2500}, {"name": "target_areas", "pct_bp": 7500}]
    allocation_splits: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    eligible_provinces: Mapped[list[str]] = mapped_column(ARRAY(String(100)), nullable=False, default=list, server_default="{}")
    min_fund_age_years: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=0, server_default="0")
    #: Matching programs: the amount due is this share of members' contributions, capped per member.
    matching_ratio_bp: Mapped[int | None] = mapped_column(Integer)
    matching_cap_per_member_satang: Mapped[int | None] = mapped_column(BigInteger)
    #: Days after a tranche is disbursed by which the fund must report its use.
    report_due_days: Mapped[int] = mapped_column(Integer, nullable=False, default=90, server_default="90")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    #: Who may review its applications: roles (``grant_officer``...) and/or user ids.
    reviewers: Mapped[list[str]] = mapped_column(ARRAY(String(64)), nullable=False, default=lambda: ["grant_officer"],
                                                 server_default="{grant_officer}")
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[dt.datetime] = _now()


class Application(Base):
    """A fund's proposal to a program, with budget lines."""

    __tablename__ = "applications"
    __table_args__ = (
        CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in APPLICATION_STATUSES) + ")", name="status_known"),
        CheckConstraint("requested_satang > 0", name="requested_positive"),
        UniqueConstraint("program_id", "fund_id", "split"),
        Index("ix_applications_fund", "fund_id"),
        Index("ix_applications_province", "province", "program_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    program_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("programs.id"), nullable=False)
    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    fund_name: Mapped[str] = mapped_column(String(300), nullable=False)
    province: Mapped[str] = mapped_column(String(100), nullable=False)
    network_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    split: Mapped[str] = mapped_column(String(64), nullable=False, default="", server_default="")
    title: Mapped[str] = mapped_column(String(300), nullable=False)
    summary: Mapped[str | None] = mapped_column(Text)
    budget_lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    documents: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    requested_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)
    approved_satang: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    decision_note: Mapped[str | None] = mapped_column(String(500))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[dt.datetime] = _now()
    submitted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Review(Base):
    """One screening committee member's score and comment (คณะกรรมการกลั่นกรอง)."""

    __tablename__ = "reviews"
    __table_args__ = (CheckConstraint("score BETWEEN 0 AND 100", name="score_range"),)

    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"), primary_key=True)
    reviewer: Mapped[str] = mapped_column(String(64), primary_key=True)
    reviewer_role: Mapped[str] = mapped_column(String(32), nullable=False)
    score: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    recommendation: Mapped[str] = mapped_column(String(16), nullable=False)
    comment: Mapped[str | None] = mapped_column(String(2000))
    at: Mapped[dt.datetime] = _now()


class Tranche(Leased, Base):
    """One payment of an award, on a schedule, perhaps conditional on a progress report."""

    __tablename__ = "tranches"
    __table_args__ = (
        UniqueConstraint("application_id", "seq"),
        CheckConstraint("amount_satang > 0", name="amount_positive"),
        CheckConstraint("status IN ('scheduled', 'disbursed', 'cancelled')", name="status_known"),
        Index("ix_tranches_ledger", "ledger_status", "next_attempt_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"), nullable=False)
    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    seq: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    amount_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)
    due_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    requires_report: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="scheduled")
    disbursed_on: Mapped[dt.date | None] = mapped_column(Date)
    grantor_reference: Mapped[str | None] = mapped_column(String(200))
    confirmed_by: Mapped[str | None] = mapped_column(String(64))
    #: Posting to the fund's ledger: none, pending, posted.
    ledger_status: Mapped[str] = mapped_column(String(16), nullable=False, default="none")
    ledger_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    ledger_error: Mapped[str | None] = mapped_column(String(300))
    ledger_entry_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class UseReport(Base):
    """The fund's report of how it used the money, against its budget lines."""

    __tablename__ = "use_reports"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    application_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("applications.id"), nullable=False)
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False)
    narrative: Mapped[str | None] = mapped_column(Text)
    submitted_by: Mapped[str] = mapped_column(String(64), nullable=False)
    submitted_at: Mapped[dt.datetime] = _now()


class Idempotency(Base):
    """First answers to pushes from grant systems, replayed when the same key comes again."""

    __tablename__ = "idempotency_keys"

    caller: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    response: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[dt.datetime] = _now()


class WebhookSubscription(Base):
    """Where a grant system wants to hear about status changes, and the secret to sign with.

    The owner's role and scope are kept as its token said when it subscribed: a subscription
    outlives the token, and what it hears is what that owner may see (``service.may_see_program``)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    owner: Mapped[str] = mapped_column(String(64), nullable=False)
    #: None for a subscription made before owners' scopes were kept: it hears nothing.
    owner_role: Mapped[str | None] = mapped_column(String(32))
    owner_fund_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    owner_network_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    owner_scopes: Mapped[list[str]] = mapped_column(ARRAY(String(64)), nullable=False, default=list, server_default="{}")
    owner_grantor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    #: None: not narrowed to some programs.
    owner_program_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(UUID(as_uuid=True)))
    url: Mapped[str] = mapped_column(String(500), nullable=False)
    secret: Mapped[str] = mapped_column(String(128), nullable=False)
    events: Mapped[list[str]] = mapped_column(ARRAY(String(64)), nullable=False)
    program_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_at: Mapped[dt.datetime] = _now()


class WebhookDelivery(Leased, Base):
    """One event for one subscription: written with the change that caused it, sent by the worker."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_subscriptions.id"), nullable=False)
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = _now()
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


#: ``grant_totals.network_id`` of applications from a fund of no network (a key cannot be null).
NO_NETWORK = uuid.UUID(int=0)


class GrantTotals(Base):
    """What a fund's applications to one program (from one network) come to: applications beyond
    a draft, requested, awarded, and their tranches disbursed and received by the fund's ledger.
    Kept per fund with every change of an application or a tranche, by triggers in its own
    transaction (migration 20261207_0008, docs/aggregates.md)."""

    __tablename__ = "grant_totals"

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    program_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    #: The applications' network (``NO_NETWORK`` for none): a network officer sees its own only.
    network_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    applications: Mapped[int] = mapped_column(Integer, nullable=False)
    requested_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)
    awarded: Mapped[int] = mapped_column(Integer, nullable=False)
    awarded_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)
    disbursed_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)
    received_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)
