"""Bodies of the grants API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from shared.schemas import MAX_SATANG, ClosedModel, EventDate, FiscalYearBE, OptionalMultiLineText, PlanDate, Satang, SingleLineText

Grantor = Literal["codi", "state", "provincial_office", "local_government", "other"]


class Split(ClosedModel):
    name: SingleLineText = Field(min_length=1, max_length=64, description="e.g. issue_based, target_areas")
    pct_bp: int = Field(gt=0, le=10_000)


#: Roles a program may name as its reviewers (besides people, by user id).
ReviewerRole = Literal["grant_officer", "network_officer", "committee", "fund_admin"]


def _grant_officers() -> list[ReviewerRole | uuid.UUID]:
    return ["grant_officer"]


class GrantorIn(ClosedModel):
    kind: Grantor
    name: SingleLineText = Field(min_length=1, max_length=300)


class GrantorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    name: str


class ProgramCreate(ClosedModel):
    #: The grantor the program belongs to: a grant officer's own (it may be left out); a platform
    #: admin names it.
    grantor_id: uuid.UUID | None = None
    #: The grantor's kind, as before grantors were organisations: when given, it must be the kind
    #: of the program's grantor.
    grantor: Grantor | None = None
    name: SingleLineText = Field(min_length=1, max_length=300)
    fiscal_year_be: FiscalYearBE = Field(description="Thai fiscal year in B.E. (October to September)")
    envelope_satang: Satang = Field(ge=0, le=MAX_SATANG)
    per_fund_ceiling_satang: Satang | None = Field(default=None, gt=0, le=MAX_SATANG)
    allocation_splits: list[Split] = Field(default_factory=list, max_length=10)
    eligible_provinces: list[SingleLineText] = Field(default_factory=list, max_length=80)
    min_fund_age_years: int = Field(default=0, ge=0, le=100)
    matching_ratio_bp: int | None = Field(default=None, gt=0, le=100_000)
    matching_cap_per_member_satang: Satang | None = Field(default=None, gt=0)
    report_due_days: int = Field(default=90, gt=0, le=730)
    #: Who may review: roles and/or user ids; by default the grantor's own grant officers. Never
    #: anyone of the applying fund, whatever the program says.
    reviewers: list[ReviewerRole | uuid.UUID] = Field(default_factory=_grant_officers, min_length=1, max_length=50)

    @field_validator("allocation_splits")
    @classmethod
    def _splits_total(cls, splits: list[Split]) -> list[Split]:
        if splits and sum(s.pct_bp for s in splits) != 10_000:
            raise ValueError("allocation splits must add up to 100%")
        return splits


class SplitOut(BaseModel):
    name: str
    pct_bp: int
    amount_satang: int


class ProgramOut(BaseModel):
    id: uuid.UUID
    grantor_id: uuid.UUID
    grantor: str
    reviewers: list[str]
    name: str
    fiscal_year_be: int
    fiscal_year_starts: dt.date
    fiscal_year_ends: dt.date
    envelope_satang: int
    allocated_satang: int
    available_satang: int
    per_fund_ceiling_satang: int | None
    allocation_splits: list[SplitOut]
    eligible_provinces: list[str]
    min_fund_age_years: int
    matching_ratio_bp: int | None
    matching_cap_per_member_satang: int | None
    report_due_days: int
    status: str


class ProgramPage(BaseModel):
    items: list[ProgramOut]
    next_cursor: str | None


class BudgetLine(ClosedModel):
    line: SingleLineText = Field(min_length=1, max_length=64)
    description: SingleLineText = Field(min_length=1, max_length=300)
    amount_satang: Satang = Field(gt=0)


class DocumentRef(ClosedModel):
    title: SingleLineText = Field(min_length=1, max_length=200)
    url: HttpUrl | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class ApplicationCreate(ClosedModel):
    fund_id: uuid.UUID
    split: SingleLineText = Field(default="", max_length=64)
    title: SingleLineText = Field(min_length=1, max_length=300)
    summary: OptionalMultiLineText = Field(default=None, max_length=10_000)
    budget_lines: list[BudgetLine] = Field(min_length=1, max_length=50)
    documents: list[DocumentRef] = Field(default_factory=list, max_length=20)


class ReviewIn(ClosedModel):
    score: int = Field(ge=0, le=100)
    recommendation: Literal["approve", "approve_in_part", "reject"]
    comment: OptionalMultiLineText = Field(default=None, max_length=2000)


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    reviewer: str
    reviewer_role: str
    score: int
    recommendation: str
    comment: str | None
    at: dt.datetime


class TrancheIn(ClosedModel):
    amount_satang: Satang = Field(gt=0)
    due_on: PlanDate
    requires_report: bool = False


class DecisionIn(ClosedModel):
    decision: Literal["approve", "reject"]
    approved_satang: Satang | None = Field(default=None, gt=0, description="Less than requested: approved in part")
    note: OptionalMultiLineText = Field(default=None, max_length=500)
    tranches: list[TrancheIn] = Field(default_factory=list, max_length=12)


class TrancheOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    seq: int
    amount_satang: int
    due_on: dt.date
    requires_report: bool
    status: str
    disbursed_on: dt.date | None
    grantor_reference: str | None
    ledger_status: str
    on_hold: bool = False
    hold_reason: str | None = None


class ApplicationOut(BaseModel):
    id: uuid.UUID
    program_id: uuid.UUID
    fund_id: uuid.UUID
    fund_name: str
    province: str
    split: str
    title: str
    summary: str | None
    budget_lines: list[dict[str, Any]]
    documents: list[dict[str, Any]]
    requested_satang: int
    approved_satang: int | None
    status: str
    decision_note: str | None
    submitted_at: dt.datetime | None
    decided_at: dt.datetime | None
    reviews: list[ReviewOut] = Field(default_factory=list)
    tranches: list[TrancheOut] = Field(default_factory=list)


class ApplicationPage(BaseModel):
    items: list[ApplicationOut]
    next_cursor: str | None


class DisbursementIn(ClosedModel):
    disbursed_on: EventDate
    reference: SingleLineText = Field(min_length=1, max_length=200, description="The grantor's transfer reference")


class UseLine(ClosedModel):
    line: SingleLineText = Field(min_length=1, max_length=64)
    spent_satang: Satang = Field(ge=0)


class UseReportIn(ClosedModel):
    lines: list[UseLine] = Field(min_length=1, max_length=50)
    narrative: OptionalMultiLineText = Field(default=None, max_length=10_000)


class UseReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    lines: list[dict[str, Any]]
    narrative: str | None
    submitted_at: dt.datetime


class Reconciliation(BaseModel):
    application_id: uuid.UUID
    fund_id: uuid.UUID
    program_id: uuid.UUID
    awarded_satang: int
    disbursed_satang: int
    received_by_ledger_satang: int
    in_transit_satang: int
    spent_reported_satang: int


class SubscriptionIn(ClosedModel):
    url: HttpUrl
    events: list[Literal["application.status_changed", "tranche.disbursed", "tranche.held"]] = Field(min_length=1)
    program_id: uuid.UUID | None = None


class SubscriptionOut(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    program_id: uuid.UUID | None
    secret: str | None = Field(default=None, description="Shown once, at creation: signs every delivery")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


class MatchingDue(BaseModel):
    program_id: uuid.UUID
    fund_id: uuid.UUID
    year: int = Field(description=(
        "Deprecated: read period_start and period_end. The calendar year asked for with the deprecated "
        "`year` parameter; without it, the program's fiscal year in C.E. (named by the calendar year it ends in)."),
        json_schema_extra={"deprecated": True})
    fiscal_year_be: int = Field(description="The program's fiscal year in B.E. (October to September)")
    period_start: dt.date = Field(description=(
        "The first day of the window: 1 October that starts the program's fiscal year (1 January of `year` when it was given)"))
    period_end: dt.date = Field(description=(
        "The last day of the window: 30 September that ends the program's fiscal year (31 December of `year` when it was given)"))
    counted_through: dt.date = Field(description=(
        "The last day whose contributions are in the figure: period_end once it has passed, today while the window runs "
        "(nothing is collected ahead of today); before period_start nothing is counted"))
    member_contributions_satang: int
    due_satang: int


class GrantsRollupLine(BaseModel):
    province: str
    program_id: uuid.UUID
    program: str
    applications: int
    approved: int
    requested_satang: int
    awarded_satang: int
    disbursed_satang: int


class GrantsRollup(BaseModel):
    lines: list[GrantsRollupLine]
    total_awarded_satang: int
    total_disbursed_satang: int


class FundGrants(BaseModel):
    """One fund's grants across programs: what it asked for, was awarded and has received."""

    fund_id: uuid.UUID
    applications: int = Field(description="Applications past draft")
    by_status: dict[str, int]
    requested_satang: int
    awarded: int = Field(description="Applications awarded (in full or in part)")
    awarded_satang: int
    disbursed_satang: int = Field(description="Confirmed sent by grantors")
    received_satang: int = Field(description="Posted to the fund's ledger")
    in_transit_satang: int
