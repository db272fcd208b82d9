"""Tables the grants service owns."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Integer, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import make_base

Base = make_base()

GRANTORS = ("codi", "state", "provincial_office", "local_government", "other")


class Program(Base):
    """A grant program (โครงการ / งบอุดหนุน) of one grantor for one Thai fiscal year."""

    __tablename__ = "programs"
    __table_args__ = (
        CheckConstraint("grantor IN (" + ", ".join(f"'{g}'" for g in GRANTORS) + ")", name="grantor_known"),
        CheckConstraint("envelope_satang >= 0", name="envelope_non_negative"),
        CheckConstraint("per_fund_ceiling_satang IS NULL OR per_fund_ceiling_satang > 0", name="ceiling_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    grantor: Mapped[str] = mapped_column(String(32), nullable=False)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    #: Thai fiscal year, October to September, in B.E. (2551 runs from October 2007).
    fiscal_year_be: Mapped[int] = mapped_column(Integer, nullable=False)
    envelope_satang: Mapped[int] = mapped_column(BigInteger, nullable=False)
    per_fund_ceiling_satang: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
