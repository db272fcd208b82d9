"""Bodies of the ledger's account reads."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict


class AccountBalance(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name_th: str
    name_en: str
    type: str
    balance_satang: int


class TrialBalance(BaseModel):
    fund_id: uuid.UUID
    accounts: list[AccountBalance]
    debit_total_satang: int
    credit_total_satang: int
    balanced: bool
