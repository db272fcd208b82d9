"""Bodies of ``/v1/grants/programs``."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ProgramCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    grantor: Literal["codi", "state", "provincial_office", "local_government", "other"]
    name: str = Field(min_length=1, max_length=300)
    fiscal_year_be: int = Field(ge=2500, le=2700, description="Thai fiscal year in B.E.")
    envelope_satang: int = Field(ge=0, le=10**15)
    per_fund_ceiling_satang: int | None = Field(default=None, gt=0, le=10**15)


class ProgramOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    grantor: str
    name: str
    fiscal_year_be: int
    envelope_satang: int
    per_fund_ceiling_satang: int | None
    status: str


class ProgramPage(BaseModel):
    items: list[ProgramOut]
    next_cursor: str | None
