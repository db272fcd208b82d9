"""Bodies of ``/v1/members/funds``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class FundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=300, description="Thai name, e.g. กองทุนสวัสดิการชุมชนตำบลบ้านส้อง")
    name_en: str | None = Field(default=None, max_length=300)
    kind: Literal["tambon", "municipal"] = "tambon"
    province: str = Field(min_length=1, max_length=100)
    district: str = Field(min_length=1, max_length=100)
    subdistrict: str = Field(min_length=1, max_length=100)
    founded_on: dt.date
    population: int | None = Field(default=None, ge=0, le=10_000_000)
    network_id: uuid.UUID | None = None

    @field_validator("founded_on")
    @classmethod
    def _not_in_future(cls, value: dt.date) -> dt.date:
        if value > dt.date.today():
            raise ValueError("founded_on is in the future")
        return value


class FundOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    network_id: uuid.UUID | None
    name: str
    name_en: str | None
    kind: str
    province: str
    district: str
    subdistrict: str
    founded_on: dt.date
    founded_year_be: int = Field(description="Founded year in the Buddhist Era (C.E. + 543)")
    population: int | None
    status: str


class FundPage(BaseModel):
    items: list[FundOut]
    next_cursor: str | None
