"""Tables the members service owns."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import make_base

Base = make_base()


class Network(Base):
    """A provincial network or association of funds (เครือข่าย / สมาคมจังหวัด)."""

    __tablename__ = "networks"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    name_th: Mapped[str] = mapped_column(String(300), nullable=False)
    name_en: Mapped[str | None] = mapped_column(String(300))
    province: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


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
    founded_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    #: People living in the area the fund serves; the base of its coverage percentage.
    population: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
