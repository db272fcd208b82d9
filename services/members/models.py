"""Tables the members service owns."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
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

#: Statuses in which a person still belongs to a fund (and so to no other).
CURRENT_STATUSES = ("active", "suspended")
MEMBER_STATUSES = ("active", "suspended", "resigned", "deceased")


def _created_at() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Network(Base):
    """A provincial network or association of funds (เครือข่าย / สมาคมจังหวัด)."""

    __tablename__ = "networks"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name_th: Mapped[str] = mapped_column(String(300), nullable=False)
    name_en: Mapped[str | None] = mapped_column(String(300))
    province: Mapped[str] = mapped_column(String(100), nullable=False)
    province_code: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[dt.datetime] = _created_at()


class Fund(Base):
    """A community welfare fund (กองทุนสวัสดิการชุมชน) of one tambon or municipality."""

    __tablename__ = "funds"
    __table_args__ = (
        CheckConstraint("kind IN ('tambon', 'municipal')", name="kind_known"),
        CheckConstraint("status IN ('active', 'suspended', 'closed')", name="status_known"),
        CheckConstraint("population IS NULL OR population >= 0", name="population_non_negative"),
        Index("ix_funds_network", "network_id"),
        Index("ix_funds_province", "province"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    network_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("networks.id"))
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    name_en: Mapped[str | None] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="tambon")
    province: Mapped[str] = mapped_column(String(100), nullable=False)
    district: Mapped[str] = mapped_column(String(100), nullable=False)
    subdistrict: Mapped[str] = mapped_column(String(100), nullable=False)
    #: Thai administrative codes (DOPA): province 2 digits, district 4, subdistrict 6.
    province_code: Mapped[str | None] = mapped_column(String(2))
    district_code: Mapped[str | None] = mapped_column(String(4))
    subdistrict_code: Mapped[str | None] = mapped_column(String(6))
    founded_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    #: People living in the area the fund serves; the base of its coverage percentage.
    population: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    #: The next registration number (เลขทะเบียนสมาชิก) to hand out in this fund.
    next_member_no: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    created_at: Mapped[dt.datetime] = _created_at()


class Member(Base):
    """A person in one fund (สมาชิก).

    The national ID is kept encrypted (``national_id_enc``, under the key ``national_id_key_id``
    of the key ring: docs/national-id-keys.md) with a keyed hash for exact look-up
    (``national_id_hash``) and its last three digits for the masked form. Anonymising a member
    clears every personal field and keeps the id, fund, dates and status the ledger relies on.
    """

    __tablename__ = "members"
    __table_args__ = (
        UniqueConstraint("fund_id", "member_no"),
        UniqueConstraint("fund_id", "national_id_hash"),
        CheckConstraint("status IN ('active', 'suspended', 'resigned', 'deceased')", name="status_known"),
        CheckConstraint("sex IN ('male', 'female')", name="sex_known"),
        CheckConstraint("village_no IS NULL OR village_no BETWEEN 1 AND 99", name="village_no_range"),
        CheckConstraint("national_id_enc IS NULL OR national_id_key_id IS NOT NULL", name="national_id_key_known"),
        # One person belongs to at most one fund at a time.
        Index(
            "uq_members_current_person",
            "national_id_hash",
            unique=True,
            postgresql_where=text("status IN ('active', 'suspended')"),
        ),
        Index("ix_members_fund_sort", "fund_id", "name_sort_key", "id"),
        # Rows per key, and the re-encryption's next batch, without reading the whole table.
        Index("ix_members_national_id_key_id", "national_id_key_id", postgresql_where=text("national_id_enc IS NOT NULL")),
        Index("ix_members_fund_phone", "fund_id", "phone"),
        Index("ix_members_fund_village", "fund_id", "village_no"),
        # The funds whose rolls changed since an instant (``/internal/roll-changes``), from the
        # index alone: the ledger asks every pass (docs/aggregates.md "Arrears").
        Index("ix_members_updated_at", "updated_at", "fund_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    fund_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("funds.id"), nullable=False)
    member_no: Mapped[int] = mapped_column(Integer, nullable=False)
    national_id_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    national_id_enc: Mapped[str | None] = mapped_column(Text)
    #: The key of the ring ``national_id_enc`` is encrypted under (1: ``SAJJA_MEMBERS_PII_KEY``,
    #: and every row from before the ring; the default also labels rows written by a process of
    #: that time during a rolling upgrade).
    national_id_key_id: Mapped[int | None] = mapped_column(SmallInteger, server_default="1")
    national_id_tail: Mapped[str | None] = mapped_column(String(3))
    title: Mapped[str | None] = mapped_column(String(50))
    first_name: Mapped[str] = mapped_column(String(100), nullable=False)
    last_name: Mapped[str] = mapped_column(String(100), nullable=False)
    #: Thai dictionary order of "first last" (see services.members.thai.thai_sort_key).
    name_sort_key: Mapped[str] = mapped_column(String(500, collation="C"), nullable=False)
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(8), nullable=False)
    phone: Mapped[str | None] = mapped_column(String(20))
    house_no: Mapped[str | None] = mapped_column(String(30))
    village_no: Mapped[int | None] = mapped_column(SmallInteger)
    village_name: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(300))
    household_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("households.id"))
    joined_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    status_since: Mapped[dt.date] = mapped_column(Date, nullable=False)
    consent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    consent_version: Mapped[str | None] = mapped_column(String(32))
    consent_recorded_by: Mapped[str | None] = mapped_column(String(64))
    anonymised_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[dt.datetime] = _created_at()
    #: When the row last changed. A row inserted, or updated in any of the facts a fund's roll is
    #: made of (fund, joining date, status and since when, anonymised), is stamped by the trigger
    #: ``members_stamp_roll_change`` (revision 0007) with the database's clock at the write, however
    #: it was written (the ORM, a bulk import, SQL by hand): the ledger learns from it which funds'
    #: arrears to count again. Other changes are stamped by the ORM (``onupdate``), or not at all
    #: where the writer says so (the national ID's re-encryption).
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class Household(Base):
    """A household (ครัวเรือน) in a fund's area: members at one house in one village."""

    __tablename__ = "households"
    __table_args__ = (UniqueConstraint("fund_id", "village_no", "house_no"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    fund_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("funds.id"), nullable=False)
    village_no: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    house_no: Mapped[str] = mapped_column(String(30), nullable=False)
    created_at: Mapped[dt.datetime] = _created_at()


class RollDeparture(Base):
    """A member row that left a fund's roll other than by a change of status: moved to another fund
    or deleted (neither is a path of the service; SQL by hand may do either). Written by the trigger
    ``members_stamp_roll_change``, so the fund it left is among the funds whose rolls changed
    (``/internal/roll-changes``) though no member row of it carries the change."""

    __tablename__ = "roll_departures"
    __table_args__ = (Index("ix_roll_departures_departed_at", "departed_at", "fund_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    departed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class MemberStatusChange(Base):
    """One entry in a member's status history; never updated."""

    __tablename__ = "member_status_changes"
    __table_args__ = (Index("ix_member_status_changes_member", "member_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    effective_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    reason: Mapped[str | None] = mapped_column(String(500))
    recorded_by: Mapped[str] = mapped_column(String(64), nullable=False)
    recorded_at: Mapped[dt.datetime] = _created_at()


class Beneficiary(Base):
    """Who receives a member's death benefit (ผู้รับผลประโยชน์), and their share in basis points."""

    __tablename__ = "beneficiaries"
    __table_args__ = (
        CheckConstraint("share_bp > 0 AND share_bp <= 10000", name="share_range"),
        Index("ix_beneficiaries_member", "member_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    relationship: Mapped[str] = mapped_column(String(50), nullable=False)
    share_bp: Mapped[int] = mapped_column(Integer, nullable=False)
    phone: Mapped[str | None] = mapped_column(String(20))


class Collector(Base):
    """A volunteer collector (อาสาสมัครเก็บเงิน): a gateway user bound to one fund, with a round."""

    __tablename__ = "collectors"
    __table_args__ = (UniqueConstraint("fund_id", "user_id"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    fund_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("funds.id"), nullable=False)
    #: The gateway user (token ``sub``) who collects.
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    display_name: Mapped[str] = mapped_column(String(200), nullable=False)
    phone: Mapped[str | None] = mapped_column(String(20))
    #: Villages (หมู่ที่) whose members are on the round, in addition to listed members.
    villages: Mapped[list[int]] = mapped_column(ARRAY(SmallInteger), nullable=False, default=list)
    is_active: Mapped[bool] = mapped_column(nullable=False, default=True)
    #: Bumped whenever the round changes, so phones can tell with an ETag.
    round_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[dt.datetime] = _created_at()


class RoundMember(Base):
    """A member listed by name on a collector's round."""

    __tablename__ = "round_members"

    collector_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("collectors.id"), primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), primary_key=True)
    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)


class PiiAccess(Base):
    """Who read a whole national ID, when, and what for (PDPA)."""

    __tablename__ = "pii_access_log"
    __table_args__ = (Index("ix_pii_access_log_member", "member_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    actor_role: Mapped[str] = mapped_column(String(32), nullable=False)
    purpose: Mapped[str] = mapped_column(String(200), nullable=False)
    request_id: Mapped[str | None] = mapped_column(String(128))
    at: Mapped[dt.datetime] = _created_at()


class ImportRun(Base):
    """One upload of a member roll: what it contained and what came of it."""

    __tablename__ = "import_runs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    fund_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("funds.id"), nullable=False)
    file_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    rows: Mapped[int] = mapped_column(Integer, nullable=False)
    created: Mapped[int] = mapped_column(Integer, nullable=False)
    duplicates: Mapped[int] = mapped_column(Integer, nullable=False)
    rejected: Mapped[int] = mapped_column(Integer, nullable=False)
    dry_run: Mapped[bool] = mapped_column(nullable=False)
    by: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[dt.datetime] = _created_at()


class PiiReencryption(Base):
    """A re-encryption of national IDs to one key of the ring: opened (and audited) when a pass
    first finds rows under older keys, finished (and audited) when none is left. At most one is
    open per target key, so replicas running the worker together record each once."""

    __tablename__ = "pii_reencryptions"
    __table_args__ = (
        Index("uq_pii_reencryptions_open", "to_key_id", unique=True, postgresql_where=text("finished_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    #: The current key rows are moved to.
    to_key_id: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    started_at: Mapped[dt.datetime] = _created_at()
    #: Who started it: ``svc-members`` (the worker) or ``cli`` (``sajja pii-keys reencrypt``).
    started_by: Mapped[str] = mapped_column(String(64), nullable=False)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Erasure(Leased, Base):
    """A member's personal data erased at their request (PDPA), and how far the erasure has reached
    each process (docs/personal-data.md). One per member: asking again answers this one.

    ``steps``: ``{process: {"status": "pending" | "done", "attempts", "last_error", "done_at",
    "erased": {kind: count}}}``, the members step done in the request's own transaction, the others
    carried by the erasure worker (``services.members.erasures.worker``) until each confirms.
    ``erased`` holds counts and kinds, never the data."""

    __tablename__ = "erasures"
    __table_args__ = (
        Index("ix_erasures_due", "next_attempt_at", postgresql_where=text("completed_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    member_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("members.id"), nullable=False, unique=True)
    requested_by: Mapped[str] = mapped_column(String(64), nullable=False)
    requested_role: Mapped[str] = mapped_column(String(32), nullable=False)
    requested_at: Mapped[dt.datetime] = _created_at()
    steps: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    #: When the worker next tries the steps still pending; NULL once every step is done.
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
