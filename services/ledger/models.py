"""Tables the ledger service owns.

Every table has ``fund_id`` first in its primary key and every query filters by it, so the ledger
can be sharded by fund (Citus) without redesign; a test checks it
(``test_every_ledger_table_leads_its_primary_key_with_fund_id``).

Amounts are ``BIGINT`` satang. A posting's amount is signed: debit positive, credit negative; an
account's ``balance_satang`` is the sum of its postings, kept current in the posting transaction.
Journal entries and postings are append-only (triggers refuse UPDATE, DELETE and TRUNCATE) and
every entry balances at COMMIT (a deferred constraint trigger).
"""

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
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.audit import audit_events_table
from shared.db import naming_metadata


class Base(DeclarativeBase):
    metadata = naming_metadata()


#: Administrative acts (shared.audit, docs/audit.md); append-only.
audit_events = audit_events_table(Base.metadata)

ACCOUNT_TYPES = ("asset", "liability", "equity", "income", "expense")
#: Where income comes from (the co-funding legs and more).
SOURCES = ("members", "local_government", "codi", "provincial_office", "donors", "community_enterprise", "interest", "other")


def _now() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class LedgerFund(Base):
    """A fund as the ledger knows it: its posting lock, receipt counter and money rules."""

    __tablename__ = "ledger_funds"
    __table_args__ = (
        CheckConstraint("admin_cap_bp BETWEEN 0 AND 10000", name="admin_cap_range"),
        CheckConstraint("late_window_days BETWEEN 0 AND 3650", name="late_window_range"),
        CheckConstraint("fiscal_year_start_month IN (1, 10)", name="fiscal_year_start_known"),
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    #: Last receipt number handed out; receipts are sequential without gaps per fund.
    receipt_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    #: Deposits collected more than this many days ago are refused.
    late_window_days: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=7)
    #: Administration expense may not exceed this share of the year's income (basis points).
    admin_cap_bp: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=2000)
    #: The month the fund's fiscal year starts: 1 (calendar year) or 10 (October to September).
    fiscal_year_start_month: Mapped[int] = mapped_column(SmallInteger, nullable=False, default=1, server_default="1")
    #: The last day of the fund's latest closed year: nothing is posted on or before it
    #: (docs/fiscal-years.md); NULL while no year is closed.
    closed_through: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = _now()


class Account(Base):
    """One account of a fund's chart of accounts."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("fund_id", "code"),
        CheckConstraint("type IN ('asset', 'liability', 'equity', 'income', 'expense')", name="type_known"),
        CheckConstraint(
            "allow_negative OR (type IN ('asset', 'expense') AND balance_satang >= 0)"
            " OR (type IN ('liability', 'equity', 'income') AND balance_satang <= 0)",
            name="balance_sign",
        ),
        Index("ix_accounts_owner", "fund_id", "kind", "owner_id", unique=True),
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(80), nullable=False)
    name_th: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str] = mapped_column(String(200), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    #: What the account is for: fund_cash, bank, collector_cash, member_contribution, income,
    #: benefit_expense, admin_expense, grants_receivable, restricted, custom.
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    #: The member or collector (gateway user) an account belongs to, for per-person accounts.
    owner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    #: For income accounts: which source; for benefit expense: which category.
    source: Mapped[str | None] = mapped_column(String(32))
    allow_negative: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    balance_satang: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    created_at: Mapped[dt.datetime] = _now()


class JournalEntry(Base):
    """A balanced set of postings; never changed. A correction is a reversing entry."""

    __tablename__ = "journal_entries"
    # No other full index starting with fund_id: the look-ups of postings' entries must always
    # take the primary key (with a second index, a plan made while the table was small scanned
    # every entry of the fund for each posting, ever slower as the fund grew). An entry is
    # reversed at most once, and so is each of its lines (a deposit of a collector's entry): NULL
    # line is the whole entry, NULLs not distinct; the unique index holds only reversals (partial).
    __table_args__ = (
        Index("uq_journal_entries_reverses", "fund_id", "reverses_entry_id", "reverses_line", unique=True,
              postgresql_where=text("reverses_entry_id IS NOT NULL"), postgresql_nulls_not_distinct=True),
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    #: The Bangkok date the money moved (for reports); ``posted_at`` is when it was recorded.
    business_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    posted_at: Mapped[dt.datetime] = _now()
    memo: Mapped[str | None] = mapped_column(String(300))
    reverses_entry_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    #: The line reversed (one deposit of a collector's entry); NULL when the whole entry is.
    reverses_line: Mapped[int | None] = mapped_column(SmallInteger)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)


class Posting(Base):
    """One leg of an entry: signed satang against one account (debit positive)."""

    __tablename__ = "postings"
    __table_args__ = (
        CheckConstraint("amount_satang <> 0", name="amount_non_zero"),
        # Declared, and NOT ENFORCED by PostgreSQL's per-row checks since migration 0007: the
        # statement trigger postings_balance checks every new posting's entry and account as a set.
        ForeignKeyConstraint(["fund_id", "entry_id"], ["journal_entries.fund_id", "journal_entries.id"]),
        ForeignKeyConstraint(["fund_id", "account_id"], ["accounts.fund_id", "accounts.id"]),
        Index("ix_postings_account", "fund_id", "account_id", "entry_id"),
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    line: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    amount_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: Copied from the entry so statements and reports need no join.
    business_date: Mapped[dt.date] = mapped_column(Date, nullable=False)


class LedgerMember(Base):
    """A member as the ledger last confirmed with the members service, and their account."""

    __tablename__ = "ledger_members"

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    joined_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class LedgerCollector(Base):
    """A collector (gateway user) confirmed with the members service, and their cash in hand."""

    __tablename__ = "ledger_collectors"

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    collector_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False)
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class Deposit(Base):
    """A member's contribution taken by a collector (สัจจะ), with its receipt number."""

    __tablename__ = "deposits"
    __table_args__ = (
        UniqueConstraint("fund_id", "receipt_no"),
        CheckConstraint("amount_satang > 0", name="amount_positive"),
        Index("ix_deposits_member", "fund_id", "member_id", "collected_at"),
        Index("ix_deposits_collector_day", "fund_id", "collector_id", "business_date"),
        Index("ix_deposits_feed", "fund_id", "posted_at", "id"),
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    #: The phone's id for the deposit: posting it twice is one deposit.
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    member_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    collector_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    amount_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: When the collector took the money, by the phone's clock.
    collected_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    business_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    #: When the server recorded it.
    posted_at: Mapped[dt.datetime] = _now()
    receipt_no: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: The entry of its collector, day and posting call; the member's credit is on ``entry_line``
    #: (line 1 debits the collector's cash in hand with the entry's total).
    entry_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    entry_line: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    posted_by: Mapped[str] = mapped_column(String(64), nullable=False)


class IdempotencyRecord(Base):
    """The first answer to a money-moving request, replayed when the same key comes again."""

    __tablename__ = "idempotency_keys"

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    caller: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    status_code: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    response: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[dt.datetime] = _now()


class Movement(Base):
    """Money moved other than deposits: co-funding received, cash handed over, expenses paid,
    benefit payouts, grant disbursements, reversals. One row per request, linked to its entry."""

    __tablename__ = "movements"
    __table_args__ = (
        CheckConstraint("amount_satang > 0", name="amount_positive"),
        Index("ix_movements_kind_date", "fund_id", "kind", "business_date"),
        Index("ix_movements_collector", "fund_id", "collector_id", "business_date"),
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    amount_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)
    business_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    source: Mapped[str | None] = mapped_column(String(32))
    collector_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    reference: Mapped[str | None] = mapped_column(String(200))
    entry_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[dt.datetime] = _now()


class ContributionPlan(Base):
    """How much a member is expected to save (1 baht a day, 30 a month, 365 a year, ...)."""

    __tablename__ = "contribution_plans"
    __table_args__ = (
        CheckConstraint("period IN ('day', 'month', 'year')", name="period_known"),
        CheckConstraint("amount_satang > 0", name="amount_positive"),
        UniqueConstraint("fund_id", "effective_from"),
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    period: Mapped[str] = mapped_column(String(8), nullable=False)
    amount_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)
    effective_from: Mapped[dt.date] = mapped_column(Date, nullable=False)
    #: Months of arrears after which a member counts as in arrears for eligibility.
    grace_periods: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[dt.datetime] = _now()


class MatchingRule(Base):
    """What a co-funder owes per baht members contribute (e.g. 1:1, capped at 365 baht a member a year)."""

    __tablename__ = "matching_rules"
    __table_args__ = (CheckConstraint("ratio_bp >= 0", name="ratio_non_negative"),)

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: 10000 = one baht per member baht.
    ratio_bp: Mapped[int] = mapped_column(Integer, nullable=False)
    cap_per_member_year_satang: Mapped[int | None] = mapped_column(BigInteger)


class Proposal(Base):
    """An administration expense or a reversal proposed by one person of the fund, posted only
    when another confirms it (maker-checker, docs/maker-checker.md). Its id is the client's request
    id and becomes the movement's. A trigger keeps it: never deleted, decided once, and a decision
    changes only the decision's columns."""

    __tablename__ = "money_proposals"
    __table_args__ = (
        CheckConstraint("kind IN ('admin_expense', 'entry_reversal', 'deposit_reversal')", name="kind_known"),
        CheckConstraint("(kind = 'admin_expense') = (target_id IS NULL)", name="target_of_kind"),
        CheckConstraint("amount_satang > 0", name="amount_positive"),
        CheckConstraint(
            "(status = 'proposed' AND decided_by IS NULL AND decided_at IS NULL AND entry_id IS NULL AND result IS NULL)"
            " OR (status = 'confirmed' AND decided_by IS NOT NULL AND decided_by <> proposed_by AND decided_at IS NOT NULL"
            " AND entry_id IS NOT NULL AND result IS NOT NULL)"
            " OR (status = 'withdrawn' AND decided_by IS NOT NULL AND decided_at IS NOT NULL AND entry_id IS NULL"
            " AND result IS NULL)",
            name="status_consistent",
        ),
        Index("ix_money_proposals_status", "fund_id", "status", "proposed_at", "id"),
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    #: admin_expense, entry_reversal, deposit_reversal.
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    #: The entry or deposit to reverse; NULL for an expense.
    target_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    #: The request body as proposed, and the hash of kind, target and body (a replay's test).
    body: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    #: What would move, as judged when proposed (confirming judges again).
    amount_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)
    #: Why: an expense's memo, a reversal's reason.
    reason: Mapped[str] = mapped_column(String(300), nullable=False)
    proposed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    proposed_role: Mapped[str] = mapped_column(String(16), nullable=False)
    proposed_at: Mapped[dt.datetime] = _now()
    #: proposed, confirmed, withdrawn.
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_role: Mapped[str | None] = mapped_column(String(16))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: Once confirmed: the entry posted, and the movement as answered then (replayed as is).
    entry_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class YearClosing(Base):
    """One closing of a fund's fiscal year, with the general meeting's approval, and its reopening
    if a platform admin reopened it (docs/fiscal-years.md). Never deleted; changed once, when
    reopened (a trigger). One standing closing per fund and year (a partial unique index)."""

    __tablename__ = "year_closings"
    __table_args__ = (
        CheckConstraint(
            "(reopened_at IS NULL AND reopened_by IS NULL AND reopen_reason IS NULL AND reopen_id IS NULL"
            " AND reopen_entry_id IS NULL) OR (reopened_at IS NOT NULL AND reopened_by IS NOT NULL"
            " AND reopen_reason IS NOT NULL AND reopen_id IS NOT NULL)",
            name="reopened_whole",
        ),
        Index("uq_year_closings_standing", "fund_id", "year", unique=True, postgresql_where=text("reopened_at IS NULL")),
        Index("uq_year_closings_reopen", "fund_id", "reopen_id", unique=True, postgresql_where=text("reopen_id IS NOT NULL")),
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    #: The client's request id: closing again with it is the same closing.
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    starts_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    #: The closing entry; NULL when the year had nothing to carry.
    entry_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    meeting_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    minutes_ref: Mapped[str] = mapped_column(String(200), nullable=False)
    surplus_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)
    closed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    closed_role: Mapped[str] = mapped_column(String(16), nullable=False)
    closed_at: Mapped[dt.datetime] = _now()
    reopen_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    reopen_entry_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    reopened_by: Mapped[str | None] = mapped_column(String(64))
    reopened_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reopen_reason: Mapped[str | None] = mapped_column(String(300))


# --- Aggregates over many funds (docs/aggregates.md) ----------------------------------------------


class AggregateQueue(Base):
    """Entries committed since the last refresh of the per-fund day totals: written by a statement
    trigger on ``journal_entries`` (insert only, so no row is contended on the posting path), taken
    and deleted by ``ledger_refresh_aggregates()``."""

    __tablename__ = "aggregate_queue"

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)


class IncomeDay(Base):
    """Income of one fund on one business date from one source (credits to income accounts, net of
    reversals dated that day): what ``reports/sources`` sums, kept per fund and day."""

    __tablename__ = "income_days"

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    business_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    #: The income account's source; '' for an income account without one.
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    amount_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)


class DepositDay(Base):
    """Deposits of one fund collected on one business date that stand (not reversed): what
    ``reports/deposits-by-month`` counts, kept per fund and day."""

    __tablename__ = "deposit_days"

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    business_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    deposits: Mapped[int] = mapped_column(Integer, nullable=False)
    amount_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)


class FundArrears(Base):
    """How many current members of a fund are in arrears, and by how much, as counted at
    ``counted_at`` for the day ``as_of``; ``stale`` once the fund's books or plans changed since."""

    __tablename__ = "fund_arrears"

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date, nullable=False)
    members: Mapped[int] = mapped_column(Integer, nullable=False)
    amount_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)
    counted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    stale: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class Watermark(Base):
    """How far the ledger has read a feed of another service, by the other service's clock: for
    ``members.roll_changes``, the ``as_of`` of the last answer taken in (docs/aggregates.md
    "Arrears"). It only moves forward, so replicas taking the same feed at once do no harm."""

    __tablename__ = "watermarks"

    #: The feed: the permission it is read with (``members.roll_changes``).
    feed: Mapped[str] = mapped_column(String(64), primary_key=True)
    as_of: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)

