"""Bodies of the ledger API. Amounts are integer satang (1 baht = 100 satang); floats are refused."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from shared.schemas import EVENTS, ClosedModel, EventDate, MultiLineText, OptionalSingleLineText, PatchBody, PlanDate, Satang, SingleLineText

Source = Literal["local_government", "codi", "provincial_office", "donors", "community_enterprise", "interest", "other"]


# --- Deposits ----------------------------------------------------------------------------------


class DepositIn(ClosedModel):
    id: uuid.UUID = Field(description="Made by the phone; sending it again is the same deposit")
    member_id: uuid.UUID
    amount_satang: Satang = Field(gt=0)
    collected_at: Annotated[AwareDatetime, AfterValidator(EVENTS)] = Field(description="When the money was taken, by the phone's clock, with its offset")
    collector_id: uuid.UUID | None = Field(
        default=None, description="The collector (gateway user id); a collector posting may leave it out"
    )


class DepositOut(BaseModel):
    id: uuid.UUID
    status: Literal["created", "duplicate"]
    member_id: uuid.UUID
    collector_id: uuid.UUID
    amount_satang: int
    collected_at: dt.datetime
    business_date: dt.date
    posted_at: dt.datetime
    receipt_no: int
    entry_id: uuid.UUID


class DepositBatchIn(ClosedModel):
    deposits: list[DepositIn] = Field(min_length=1, max_length=500)


class DepositResult(BaseModel):
    id: uuid.UUID
    status: Literal["created", "duplicate", "rejected"]
    receipt_no: int | None = None
    posted_at: dt.datetime | None = None
    code: str | None = Field(default=None, description="Why it was rejected (stable code)")
    reason: str | None = Field(default=None, description="Why it was rejected, in the caller's language")


class DepositBatchOut(BaseModel):
    results: list[DepositResult]
    created: int
    duplicates: int
    rejected: int
    server_time: dt.datetime


# --- Other movements ---------------------------------------------------------------------------------


class CoFundingIn(ClosedModel):
    id: uuid.UUID
    source: Source
    amount_satang: Satang = Field(gt=0)
    received_on: EventDate
    reference: OptionalSingleLineText = Field(default=None, max_length=200)
    into: Literal["bank", "fund_cash"] = "bank"


class HandoverIn(ClosedModel):
    id: uuid.UUID
    collector_id: uuid.UUID
    amount_satang: Satang = Field(gt=0)
    handed_over_on: EventDate
    into: Literal["fund_cash", "bank"] = "fund_cash"
    reference: OptionalSingleLineText = Field(default=None, max_length=200)


class ExpenseIn(ClosedModel):
    id: uuid.UUID
    amount_satang: Satang = Field(gt=0)
    paid_on: EventDate
    paid_from: Literal["fund_cash", "bank"] = "bank"
    memo: SingleLineText = Field(min_length=1, max_length=300)


BenefitCategory = Literal[
    "birth", "sickness_medical", "elderly", "death", "education", "disadvantaged_disabled", "occupation",
    "housing_repair", "disaster_relief",
]


class PayoutIn(ClosedModel):
    id: uuid.UUID = Field(description="The claim's id: paying the same claim again is a replay, never a second payment")
    category: BenefitCategory
    amount_satang: Satang = Field(gt=0)
    paid_on: EventDate
    paid_from: Literal["bank", "fund_cash"] = "bank"
    reference: OptionalSingleLineText = Field(default=None, max_length=200)
    reserve_floor_satang: Satang | None = Field(default=None, ge=0, description="Refuse if cash and bank would fall below this")


class ReversalIn(ClosedModel):
    id: uuid.UUID
    reason: MultiLineText = Field(min_length=3, max_length=300)


class MovementOut(BaseModel):
    id: uuid.UUID
    kind: str
    amount_satang: int
    business_date: dt.date
    source: str | None = None
    collector_id: uuid.UUID | None = None
    reference: str | None = None
    entry_id: uuid.UUID
    posted_at: dt.datetime


ProposalKind = Literal["admin_expense", "entry_reversal", "deposit_reversal"]
ProposalStatus = Literal["proposed", "confirmed", "withdrawn"]


class ProposalOut(BaseModel):
    """An administration expense or a reversal one person of the fund proposed: posted only when
    another confirms it (docs/maker-checker.md)."""

    id: uuid.UUID = Field(description="The request's id; the movement's id once confirmed")
    kind: ProposalKind
    status: ProposalStatus
    amount_satang: int = Field(description="What would move, as judged when proposed (confirming judges again)")
    reason: str = Field(description="An expense's memo, a reversal's reason")
    reverses_entry_id: uuid.UUID | None = None
    reverses_deposit_id: uuid.UUID | None = None
    request: dict[str, Any] = Field(description="The body as proposed")
    proposed_by: str
    proposed_role: str
    proposed_at: dt.datetime
    decided_by: str | None = Field(default=None, description="Who confirmed or withdrew it")
    decided_role: str | None = None
    decided_at: dt.datetime | None = None
    movement: MovementOut | None = Field(default=None, description="What confirming posted")


class ProposalPage(BaseModel):
    items: list[ProposalOut]
    next_cursor: str | None


# --- Accounts and reads --------------------------------------------------------------------------


class AccountIn(ClosedModel):
    code: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z\-_.]{0,39}$")
    name_th: SingleLineText = Field(min_length=1, max_length=200)
    name_en: SingleLineText = Field(min_length=1, max_length=200)
    type: Literal["asset", "liability", "equity", "income", "expense"]
    allow_negative: bool = False


class AccountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name_th: str
    name_en: str
    type: str
    kind: str
    source: str | None
    owner_id: uuid.UUID | None
    allow_negative: bool
    balance_satang: int


class TrialBalance(BaseModel):
    fund_id: uuid.UUID
    accounts: list[AccountOut]
    debit_total_satang: int
    credit_total_satang: int
    balanced: bool


#: What the reports count as deposits.
STANDING_DEPOSITS = "Deposits that stand (a reversed one is left out)"


class MemberBalance(BaseModel):
    member_id: uuid.UUID
    contributed_satang: int = Field(description="Everything the member has contributed, net of reversals")
    deposits: int = Field(description=STANDING_DEPOSITS)
    last_deposit_at: dt.datetime | None


class MemberContribution(BaseModel):
    member_id: uuid.UUID
    amount_satang: int


class MemberContributions(BaseModel):
    members: list[MemberContribution]
    total_satang: int


class StatementLine(BaseModel):
    entry_id: uuid.UUID
    kind: str
    business_date: dt.date
    posted_at: dt.datetime
    amount_satang: int = Field(description="Positive: money in for the member")
    receipt_no: int | None
    memo: str | None
    collected_on: dt.date | None = Field(default=None, description="A deposit's collection date")
    late: bool = Field(default=False, description="A deposit collected in a year closed before it was synced, "
                                                  "posted into the open year (docs/fiscal-years.md)")


class Statement(BaseModel):
    member_id: uuid.UUID
    balance_satang: int
    lines: list[StatementLine]
    next_cursor: str | None


class SourceShare(BaseModel):
    source: str
    amount_satang: int
    share_pct: float


class SourcesReport(BaseModel):
    fund_id: uuid.UUID
    date_from: dt.date = Field(serialization_alias="from")
    date_to: dt.date = Field(serialization_alias="to")
    total_satang: int
    sources: list[SourceShare]


class IncomeYear(BaseModel):
    year: int
    sources: dict[str, int] = Field(description="Income by source in the calendar year, satang ('members': members' contributions)")


class PlanFacts(BaseModel):
    period: str
    amount_satang: int
    effective_from: dt.date


class ProjectionInputs(BaseModel):
    """What the benefits service's sustainability projection reads of the books (docs/projection.md)."""

    fund_id: uuid.UUID
    as_of: dt.date
    reserve_satang: int = Field(description="Fund cash and bank: what a payout compares with the reserve floor")
    collectors_cash_satang: int
    income_by_year: list[IncomeYear]
    plan: PlanFacts | None


class Holdings(BaseModel):
    """The money a fund holds: what dashboards call the accumulated fund (เงินกองทุนสะสม)."""

    fund_id: uuid.UUID
    has_books: bool = Field(description="False while the fund's ledger has no journal entry at all")
    fund_cash_satang: int
    bank_satang: int
    collectors_cash_satang: int = Field(description="Cash collectors hold and have not yet handed over")
    grants_receivable_satang: int = Field(description="Awarded, not yet received; not part of the accumulated fund")
    accumulated_satang: int | None = Field(
        description="Fund cash + bank + collectors' cash in hand; null while the fund has no books")


class DepositMonth(BaseModel):
    month: str = Field(description="YYYY-MM (Bangkok business dates)")
    deposits: int = Field(description=STANDING_DEPOSITS)
    amount_satang: int


class DepositsByMonth(BaseModel):
    fund_id: uuid.UUID
    date_from: dt.date = Field(serialization_alias="from")
    date_to: dt.date = Field(serialization_alias="to")
    months: list[DepositMonth] = Field(description="Months with deposits only, oldest first")
    deposits: int
    amount_satang: int


class CollectorDay(BaseModel):
    collector_id: uuid.UUID
    business_date: dt.date
    deposits: int = Field(description=STANDING_DEPOSITS)
    collected_satang: int = Field(description="Their total: a reversed deposit's cash went back out of cash in hand")
    handed_over_satang: int
    difference_satang: int = Field(description="Collected minus handed over on that day")
    cash_in_hand_satang: int = Field(description="The collector's cash-in-hand balance now")


# --- Plans, standing, matching -------------------------------------------------------------------------


class PlanIn(ClosedModel):
    name: SingleLineText = Field(min_length=1, max_length=100, description="e.g. สัจจะวันละบาท")
    period: Literal["day", "month", "year"]
    amount_satang: Satang = Field(gt=0)
    effective_from: PlanDate
    grace_periods: int = Field(default=0, ge=0, le=36)


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    period: str
    amount_satang: int
    effective_from: dt.date
    grace_periods: int


class Standing(BaseModel):
    member_id: uuid.UUID
    joined_on: dt.date
    plan: PlanOut | None = Field(description="The plan covering as_of (a new plan takes over at its first whole period)")
    contributed_satang: int = Field(description="Contributions that stand, collected by the end of as_of")
    due_satang: int = Field(description="What every plan in its time asked for, up to as_of")
    paid_through: dt.date | None = Field(description="The last day the member's contributions cover")
    periods_in_arrears: int = Field(description="What is owed, in periods of the plan covering as_of, rounded up")
    arrears_satang: int
    in_arrears: bool = Field(description="More periods in arrears than that plan's grace")
    as_of: dt.date
    fiscal_year_start_month: int = Field(default=1, description="The fund's fiscal year starts in this month (1 or 10)")


class ArrearsPage(BaseModel):
    as_of: dt.date
    items: list[Standing]


class MatchingRuleIn(ClosedModel):
    source: Source
    ratio_bp: int = Field(ge=0, le=100_000, description="10000 = one baht per member baht (1:1)")
    cap_per_member_year_satang: Satang | None = Field(default=None, gt=0)


class MatchingLine(BaseModel):
    source: str
    ratio_bp: int
    cap_per_member_year_satang: int | None
    due_satang: int
    received_satang: int
    outstanding_satang: int


class MatchingReport(BaseModel):
    fund_id: uuid.UUID
    year: int
    year_be: int
    member_contributions_satang: int
    lines: list[MatchingLine]


class FundRulesIn(PatchBody):
    late_window_days: int | None = Field(default=None, ge=0, le=3650, description="Up to ten years, for a fund bringing its past books in")
    admin_cap_bp: int | None = Field(default=None, ge=0, le=10_000)
    fiscal_year_start_month: Literal[1, 10] | None = Field(
        default=None, description="1: the calendar year; 10: October to September (only while no year is closed)")


class FundRulesOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    fund_id: uuid.UUID
    late_window_days: int
    admin_cap_bp: int
    fiscal_year_start_month: int
    closed_through: dt.date | None
    receipt_seq: int


# --- Fiscal years, closing, statements (docs/fiscal-years.md) -------------------------------------


class YearCloseIn(ClosedModel):
    id: uuid.UUID = Field(description="The request's id: closing again with it is the same closing")
    meeting_on: EventDate = Field(description="The general meeting that approved the year's accounts")
    minutes_ref: SingleLineText = Field(min_length=1, max_length=200, description="Reference of the meeting's minutes")


class YearReopenIn(ClosedModel):
    id: uuid.UUID = Field(description="The request's id: reopening again with it is the same reopening")
    reason: MultiLineText = Field(min_length=3, max_length=300)


class YearClosingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    year: int
    starts_on: dt.date
    ends_on: dt.date
    entry_id: uuid.UUID | None
    meeting_on: dt.date
    minutes_ref: str
    surplus_satang: int
    closed_by: str
    closed_role: str
    closed_at: dt.datetime
    reopen_entry_id: uuid.UUID | None
    reopened_by: str | None
    reopened_at: dt.datetime | None
    reopen_reason: str | None


class FiscalYearOut(BaseModel):
    year: int
    year_be: int
    starts_on: dt.date
    ends_on: dt.date
    status: str = Field(description="open, or closed")
    closing: YearClosingOut | None = Field(description="The standing closing of a closed year")
    reopened: list[YearClosingOut] = Field(description="Closings of this year that were reopened, oldest first")


class FiscalYears(BaseModel):
    fund_id: uuid.UUID
    fiscal_year_start_month: int
    closed_through: dt.date | None
    current_year: int
    years: list[FiscalYearOut]


class StatementFigure(BaseModel):
    key: str
    label_th: str
    label_en: str
    amount_satang: int
    previous_satang: int
    share_pct: float | None = None


class FinancialPosition(BaseModel):
    as_of: dt.date
    previous_as_of: dt.date
    assets: list[StatementFigure]
    assets_total: StatementFigure
    liabilities: list[StatementFigure]
    funds: list[StatementFigure]
    funds_total: StatementFigure


class AdministrationAgainstCap(BaseModel):
    cap_bp: int
    spent_satang: int
    cap_satang: int
    previous_spent_satang: int
    previous_cap_satang: int
    within_cap: bool


class IncomeAndExpenditure(BaseModel):
    income: list[StatementFigure]
    income_total: StatementFigure
    benefits: list[StatementFigure]
    benefits_total: StatementFigure
    other_expenditure: list[StatementFigure]
    expenditure_total: StatementFigure
    surplus: StatementFigure
    prior_year_corrections: StatementFigure
    administration: AdministrationAgainstCap


class YearStatements(BaseModel):
    fund_id: uuid.UUID
    year: int
    year_be: int
    starts_on: dt.date
    ends_on: dt.date
    previous_year: int
    status: str
    closing: YearClosingOut | None
    position: FinancialPosition
    income_and_expenditure: IncomeAndExpenditure
