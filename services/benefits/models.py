"""Tables the benefits service owns."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, CheckConstraint, DateTime, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import make_base

Base = make_base()

#: Ban Song's nine benefit categories (seed 001).
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
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
