"""Bodies of ``/v1/benefits/funds/{fund_id}/catalog``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class BenefitOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    category: str
    name_th: str
    name_en: str
    is_active: bool


class Catalog(BaseModel):
    items: list[BenefitOut]
