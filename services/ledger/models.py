"""Tables the ledger service owns. Every table has ``fund_id`` in its primary key (sharding by fund)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, DateTime, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import make_base

Base = make_base()

ACCOUNT_TYPES = ("asset", "liability", "equity", "income", "expense")


class Account(Base):
    """One account in a fund's chart of accounts, with its balance kept current (debit positive)."""

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("fund_id", "code"),
        CheckConstraint("type IN ('asset', 'liability', 'equity', 'income', 'expense')", name="type_known"),
    )

    fund_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(64), nullable=False)
    name_th: Mapped[str] = mapped_column(String(200), nullable=False)
    name_en: Mapped[str] = mapped_column(String(200), nullable=False)
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    #: Sum of debits minus credits, in satang, kept current in the posting transaction.
    balance_satang: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
