"""Bodies of ``/v1/dashboard``: what phones and the web pages read. Money is integer satang;
labels are in the caller's language (Thai unless English is preferred)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, Field


class PeriodOut(BaseModel):
    from_: dt.date = Field(alias="from")
    to: dt.date
    label: str


class FundRef(BaseModel):
    id: uuid.UUID
    name: str
    name_en: str | None
    kind: str
    province: str
    district: str
    subdistrict: str
    network_id: uuid.UUID | None
    founded_on: dt.date
    founded_year_be: int
    population: int | None
    status: str


class HoldingsOut(BaseModel):
    fund_cash_satang: int
    bank_satang: int
    collectors_cash_satang: int


class MembersOut(BaseModel):
    active: int
    total: int = Field(description="Active and suspended")
    population: int | None = Field(description="Tambon population (summed over funds that have one)")
    coverage_pct: float | None = Field(description="Active members / population x 100, one decimal, half up")


class SourceOut(BaseModel):
    source: str
    label: str
    amount_satang: int
    share_pct: float


class IncomeOut(BaseModel):
    total_satang: int
    sources: list[SourceOut]


class MonthOut(BaseModel):
    month: str = Field(description="YYYY-MM")
    label: str
    deposits: int
    amount_satang: int


class DepositsOut(BaseModel):
    deposits: int
    amount_satang: int
    months: list[MonthOut] = Field(description="Every month of the period, empty ones included")


class CategoryOut(BaseModel):
    category: str
    label: str
    claims: int
    amount_satang: int


class BenefitsPaidOut(BaseModel):
    total_satang: int
    claims: int
    members_helped: int
    by_category: list[CategoryOut]


class ArrearsOut(BaseModel):
    members: int = Field(description="Current members behind their plan by more than its grace")
    amount_satang: int
    as_of: dt.date | None = None
    counted_since: dt.datetime | None = Field(None, description="Roll-ups: when the oldest fund's count was made")
    funds_not_counted: int | None = Field(
        None, description="Roll-ups: funds with a plan not yet counted, or counted before their books last changed")


class PendingStatusOut(BaseModel):
    status: str
    label: str
    claims: int
    oldest_days: int


class PendingOut(BaseModel):
    claims: int
    by_status: list[PendingStatusOut]


class GrantsOut(BaseModel):
    applications: int
    awarded: int
    requested_satang: int
    awarded_satang: int
    disbursed_satang: int
    received_satang: int = Field(description="Posted to the fund's ledger")
    in_transit_satang: int


class FundDashboard(BaseModel):
    """One fund: flows over the period, balances as of now."""

    fund: FundRef
    period: PeriodOut
    as_of: dt.datetime
    founded_year_be: int
    accumulated_satang: int | None = Field(
        description="Fund cash + bank + collectors' cash in hand; null while the fund's ledger has no entry")
    holdings: HoldingsOut | None
    members: MembersOut
    income_by_source: IncomeOut
    deposits_by_month: DepositsOut
    benefits_paid: BenefitsPaidOut
    arrears: ArrearsOut
    pending_claims: PendingOut
    grants: GrantsOut


class FundsRow(BaseModel):
    no: int
    fund_id: uuid.UUID
    name: str
    province: str
    founded_year_be: int
    accumulated_satang: int | None
    accumulated_baht: str | None = Field(description="The same in baht, e.g. 11252304.57")
    members: int
    population: int | None
    coverage_pct: float | None


class Unavailable(BaseModel):
    """A service that did not answer in time, or failed: the figures it gives are missing."""

    service: Literal["members", "ledger", "benefits", "grants"]
    reason: Literal["timeout", "unavailable", "failed"]
    figures: list[str]


class FundsTable(BaseModel):
    rows: list[FundsRow]
    missing: list[str] = Field(description="Columns left empty because their service did not answer")
    unavailable: list[Unavailable]


class FundsCount(BaseModel):
    count: int
    with_books: int | None = Field(description="Funds whose ledger has entries (their accumulated fund is known)")
    founded_year_be_first: int | None
    founded_year_be_last: int | None


class Scope(BaseModel):
    kind: Literal["national", "network", "province"]
    network_id: uuid.UUID | None = None
    province: str | None = None


class Rollup(BaseModel):
    """The same figures summed over a network's, a province's or the country's funds. A figure
    group whose service timed out or failed is null and named in ``missing``."""

    scope: Scope
    period: PeriodOut
    as_of: dt.datetime
    missing: list[str] = Field(description="Figure groups left out (null) because their service did not answer")
    unavailable: list[Unavailable]
    funds: FundsCount | None
    accumulated_satang: int | None = Field(description="Sum over the funds with books; null when none has")
    members: MembersOut | None
    income_by_source: IncomeOut | None
    deposits_by_month: DepositsOut | None
    benefits_paid: BenefitsPaidOut | None
    arrears: ArrearsOut | None
    pending_claims: PendingOut | None
    grants: GrantsOut | None
    table: list[FundsRow] | None
