"""Bodies of the benefits API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from services.benefits.models import CATEGORIES
from services.benefits.rules import Rules
from shared.errors import register_field_messages
from shared.schemas import ClosedModel, EventDate, MultiLineText, OptionalMultiLineText, PatchBody, PlanDate, Satang, SingleLineText

Category = Literal[CATEGORIES]  # type: ignore[valid-type]

register_field_messages(
    {
        "end_before_start": {
            "th": "วันที่สิ้นสุดต้องไม่ก่อนวันที่เกิดเหตุ ({event_date})",
            "en": "The end date must not be before the event date ({event_date})",
        },
    }
)


def _end_not_before_start(value: dt.date | None, info: ValidationInfo) -> dt.date | None:
    """``event_end_date`` on or after ``event_date``: a 422 naming the end date, before anything is
    judged or written (the claims table refuses the range too, but only as a failed insert)."""
    start = info.data.get("event_date")  # absent when the event date itself was invalid
    if value is not None and start is not None and value < start:
        raise PydanticCustomError("end_before_start", "The end date must not be before the event date ({event_date})",
                                  {"event_date": start.isoformat()})
    return value


class BenefitIn(ClosedModel):
    code: str = Field(pattern=r"^[a-z0-9_\-]{2,64}$")
    category: Category
    name_th: SingleLineText = Field(min_length=1, max_length=200)
    name_en: SingleLineText = Field(min_length=1, max_length=200)
    effective_from: PlanDate
    rules: Rules


class RulesIn(ClosedModel):
    effective_from: PlanDate
    rules: Rules


class RuleVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    effective_from: dt.date
    rules: Rules
    created_by: str
    created_at: dt.datetime


class BenefitOut(BaseModel):
    code: str
    category: str
    name_th: str
    name_en: str
    is_active: bool
    rules: RuleVersionOut | None = Field(description="The version in force today")


class Catalog(BaseModel):
    items: list[BenefitOut]


class TemplateIn(ClosedModel):
    effective_from: PlanDate


class SettingsIn(PatchBody):
    reserve_floor_satang: Satang | None = Field(default=None, ge=0)
    two_approvers_above_satang: Satang | None = Field(default=None, ge=0)
    paid_from: Literal["bank", "fund_cash"] | None = None


class SettingsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    fund_id: uuid.UUID
    reserve_floor_satang: int
    two_approvers_above_satang: int
    paid_from: str


class ClaimIn(ClosedModel):
    id: uuid.UUID | None = Field(default=None, description="Client id: sending it again returns the same claim")
    member_id: uuid.UUID
    benefit_code: SingleLineText = Field(max_length=64)
    event_date: EventDate
    event_end_date: EventDate | None = None
    days: int | None = Field(default=None, gt=0, le=366)
    details: OptionalMultiLineText = Field(default=None, max_length=2000)

    _end = field_validator("event_end_date")(_end_not_before_start)


class CheckIn(ClosedModel):
    member_id: uuid.UUID
    benefit_code: SingleLineText = Field(max_length=64)
    event_date: EventDate
    event_end_date: EventDate | None = None
    days: int | None = Field(default=None, gt=0, le=366)

    _end = field_validator("event_end_date")(_end_not_before_start)


class Reason(BaseModel):
    code: str
    message: str
    params: dict[str, Any]


class Eligibility(BaseModel):
    eligible: bool
    amount_satang: int
    days: int | None
    rule_version: int | None
    reasons: list[Reason]
    pending: list[Reason]
    qualifies_on: dt.date | None


class ReasonIn(ClosedModel):
    reason: MultiLineText = Field(min_length=3, max_length=500)


class ClaimEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    from_status: str | None
    to_status: str
    action: str
    actor: str
    actor_role: str
    note: str | None
    at: dt.datetime


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    is_medical: bool
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_at: dt.datetime


class ClaimOut(BaseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    member_id: uuid.UUID
    benefit_code: str
    category: str
    rule_version: int
    event_date: dt.date
    event_end_date: dt.date | None
    days: int | None
    details: str | None
    amount_satang: int
    status: str
    reason: str | None
    submitted_by: str
    submitted_role: str
    approvals_needed: int
    approvals: list[str]
    payout_status: str
    payout_error: str | None
    paid_at: dt.datetime | None
    created_at: dt.datetime
    decided_at: dt.datetime | None
    events: list[ClaimEventOut] = Field(default_factory=list)
    documents: list[DocumentOut] = Field(default_factory=list)
    pending: list[Reason] = Field(default_factory=list)


class ClaimListItem(BaseModel):
    id: uuid.UUID
    member_id: uuid.UUID
    benefit_code: str
    event_date: dt.date
    amount_satang: int
    status: str
    payout_status: str
    created_at: dt.datetime


class ClaimPage(BaseModel):
    items: list[ClaimListItem]
    next_cursor: str | None


class PaidLine(BaseModel):
    key: str
    claims: int
    amount_satang: int


class PaidReport(BaseModel):
    fund_id: uuid.UUID
    year: int
    year_be: int
    total_satang: int
    claims: int
    members_helped: int
    by_category: list[PaidLine]
    by_month: list[PaidLine]


class PendingAge(BaseModel):
    status: str
    claims: int
    oldest_days: int
    median_days: float
    over_7_days: int
    over_30_days: int


class PendingReport(BaseModel):
    fund_id: uuid.UUID
    as_of: dt.datetime
    lines: list[PendingAge]


# --- The sustainability projection (issue 28, docs/projection.md) ----------------------------------


class Band(BaseModel):
    """One year's figure over the simulated runs: the mean (rounded) and the 5th and 95th percentiles."""

    expected: int
    p5: int
    p95: int


class ReserveBand(Band):
    p50: int


class ProjectionMortality(BaseModel):
    basis: Literal["table", "fund_own"] = Field(description="A published Thai table, or the fund's own death rates")
    source: str
    note: str


class ProjectionWhatIf(BaseModel):
    """The changes applied to this projection only (none is written anywhere)."""

    contribution_per_day_satang: int | None = None
    benefit: str | None = Field(default=None, description="The benefit's code whose amount was changed")
    benefit_amount_satang: int | None = None
    new_members_per_year: int | None = None
    stop_co_funding: list[str] = Field(default_factory=list)


class ProjectionStart(BaseModel):
    reserve_satang: int = Field(description="Fund cash and bank now, as a payout compares it with the floor")
    members: int = Field(description="Current members (active and suspended)")
    members_without_birth_date: int = Field(description="Of them, those whose age is not known: spread over the ages of their sex")
    contribution_per_member_year_satang: int
    co_funding_per_year_satang: dict[str, int]


class ProjectionYear(BaseModel):
    year: int
    members: Band
    contributions_satang: Band
    co_funding_satang: Band
    benefits_satang: Band
    reserve_satang: ReserveBand
    under_floor_share: float = Field(description="Share of runs whose reserve is under the floor at the end of the year")
    deaths: Band
    benefits_by_code_satang: dict[str, int] = Field(description="Expected benefits paid by benefit code")


class Projection(BaseModel):
    """A fund's sustainability projection: the expected path and a 5-95 % band from seeded simulation."""

    fund_id: uuid.UUID
    as_of: dt.date
    first_year: int = Field(description="Calendar year of the first projected year")
    years: int
    runs: int
    seed: int
    mortality: ProjectionMortality
    what_if: ProjectionWhatIf
    reserve_floor_satang: int
    starting: ProjectionStart
    path: list[ProjectionYear]
    first_year_under_floor: int | None = Field(description="First year the expected reserve is under the floor")
    first_year_under_floor_p5: int | None = Field(description="First year the 5th percentile of the reserve is under the floor")
    assumptions: dict[str, Any] = Field(description="How the inputs were taken: look-back, income years, rates (docs/projection.md)")
