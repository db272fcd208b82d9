"""Bodies of the members API. Requests forbid unknown fields; responses are explicit."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from services.members import thai
from shared.errors import register_field_messages
from shared.schemas import PAST, ClosedModel, MultiLineText, OptionalMultiLineText, OptionalSingleLineText, PatchBody, SingleLineText
from shared.validators import normalize_phone

register_field_messages(
    {
        "national_id_invalid": {
            "th": "เลขประจำตัวประชาชนไม่ถูกต้อง ({reason})",
            "en": "Invalid national ID number ({reason})",
        },
        "date_invalid": {"th": "วันที่ไม่ถูกต้อง ใช้ ปปปป-ดด-วว หรือ วว/ดด/ปปปป", "en": "Invalid date; use YYYY-MM-DD or DD/MM/YYYY"},
        "joined_before_birth": {"th": "วันที่สมัครก่อนวันเกิด", "en": "Joined before being born"},
        "sex_invalid": {"th": "เพศต้องเป็น ชาย หรือ หญิง", "en": "Sex must be male or female"},
        "phone_invalid": {"th": "เบอร์โทรต้องเป็นตัวเลข 9-10 หลักขึ้นต้นด้วย 0", "en": "Phone must be 9 or 10 digits starting with 0"},
        "consent_required": {
            "th": "ต้องได้รับความยินยอมจากสมาชิกก่อนบันทึกข้อมูลส่วนบุคคล",
            "en": "The member's consent is required before their personal data is recorded",
        },
        "shares_must_total_100": {
            "th": "ส่วนแบ่งของผู้รับผลประโยชน์ต้องรวมกันได้ 100%",
            "en": "Beneficiary shares must add up to 100%",
        },
        "village_invalid": {"th": "หมู่ที่ต้องเป็นตัวเลข 1-99", "en": "Village number must be 1 to 99"},
    }
)


def _national_id(value: Any) -> str:
    try:
        return thai.normalize_national_id(str(value))
    except ValueError as exc:
        raise PydanticCustomError("national_id_invalid", "Invalid national ID number ({reason})", {"reason": str(exc)}) from None


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return thai.parse_date(str(value))
    except ValueError:
        raise PydanticCustomError("date_invalid", "Invalid date; use YYYY-MM-DD or DD/MM/YYYY") from None


def _sex(value: Any) -> str:
    try:
        return thai.normalize_sex(str(value))
    except ValueError:
        raise PydanticCustomError("sex_invalid", "Sex must be male or female") from None


def _phone(value: Any) -> str | None:
    if value in (None, ""):
        return None
    try:
        return normalize_phone(str(value))
    except ValueError:
        raise PydanticCustomError("phone_invalid", "Phone must be 9 or 10 digits starting with 0") from None


def _village(value: Any) -> int | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= 99:
        raise PydanticCustomError("village_invalid", "Village number must be 1 to 99")
    return int(text)


def _village_list(value: list[int]) -> list[int]:
    for village in value:
        _village(village)
    return sorted(set(value))


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


NationalId = Annotated[str, BeforeValidator(_national_id)]
#: A date in someone's life or the fund's history, as Thai forms write it (B.E. or C.E.), 1900 to today.
PastDate = Annotated[dt.date, BeforeValidator(_date), AfterValidator(PAST)]
Sex = Annotated[Literal["male", "female"], BeforeValidator(_sex)]
Phone = Annotated[str | None, BeforeValidator(_phone)]
#: The bounds sit on the number, not on the optional: ``ge`` applied to a None is a TypeError (a 500).
Village = Annotated[Annotated[int, Field(ge=1, le=99)] | None, BeforeValidator(_village)]
VillageNo = Annotated[int, Field(ge=1, le=99)]
OptionalText = Annotated[OptionalSingleLineText, BeforeValidator(_blank_to_none)]


# --- Networks and funds -------------------------------------------------------------------------


class NetworkCreate(ClosedModel):
    name_th: SingleLineText = Field(min_length=1, max_length=300)
    name_en: OptionalSingleLineText = Field(default=None, max_length=300)
    province: SingleLineText = Field(min_length=1, max_length=100)
    province_code: str | None = Field(default=None, pattern=r"^\d{2}$")


class NetworkOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name_th: str
    name_en: str | None
    province: str
    province_code: str | None


class FundCreate(ClosedModel):
    name: SingleLineText = Field(min_length=1, max_length=300, description="Thai name, e.g. กองทุนสวัสดิการชุมชนตำบลบ้านส้อง")
    name_en: OptionalSingleLineText = Field(default=None, max_length=300)
    kind: Literal["tambon", "municipal"] = "tambon"
    province: SingleLineText = Field(min_length=1, max_length=100)
    district: SingleLineText = Field(min_length=1, max_length=100)
    subdistrict: SingleLineText = Field(min_length=1, max_length=100)
    province_code: str | None = Field(default=None, pattern=r"^\d{2}$")
    district_code: str | None = Field(default=None, pattern=r"^\d{4}$")
    subdistrict_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    founded_on: PastDate
    population: int | None = Field(default=None, ge=0, le=10_000_000)
    network_id: uuid.UUID | None = None


class FundUpdate(PatchBody):
    """What a PATCH leaves out stays; ``name`` and ``status`` cannot be emptied (null is a 422)."""

    name: SingleLineText = Field(default=None, min_length=1, max_length=300)  # type: ignore[assignment]  # None: left out; null: a 422
    name_en: OptionalSingleLineText = Field(default=None, max_length=300)
    province_code: str | None = Field(default=None, pattern=r"^\d{2}$")
    district_code: str | None = Field(default=None, pattern=r"^\d{4}$")
    subdistrict_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    population: int | None = Field(default=None, ge=0, le=10_000_000)
    status: Literal["active", "suspended", "closed"] = None  # type: ignore[assignment]  # None: left out; null: a 422


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
    province_code: str | None
    district_code: str | None
    subdistrict_code: str | None
    founded_on: dt.date
    founded_year_be: int = Field(description="Founded year in the Buddhist Era (C.E. + 543)")
    population: int | None
    status: str


class FundPage(BaseModel):
    items: list[FundOut]
    next_cursor: str | None


class FundOverview(FundOut):
    """A fund with its members counted, for views of many funds."""

    members_active: int
    members_total: int = Field(description="Active and suspended")
    coverage_pct: float | None = Field(description="members_active / population x 100, one decimal, half up")


class FundsOverview(BaseModel):
    """Every fund the caller may see in the scope asked, by name, in one answer."""

    funds: list[FundOverview]
    as_of: dt.datetime


class CountByKey(BaseModel):
    key: str
    count: int


class JoinedInYear(BaseModel):
    year: int
    year_be: int
    count: int


class FundSummary(BaseModel):
    fund_id: uuid.UUID
    founded_year_be: int
    members_total: int = Field(description="Members who still belong: active and suspended")
    members_active: int
    population: int | None
    coverage_pct: float | None = Field(description="members_active / population x 100, one decimal, half up")
    by_status: dict[str, int]
    by_sex: dict[str, int]
    by_age_band: dict[str, int] = Field(description="under_18, working_age (18-59), elderly (60+), unknown; active members")
    joined_per_year: list[JoinedInYear]
    as_of: dt.date


# --- Members -------------------------------------------------------------------------------------


class BeneficiaryIn(ClosedModel):
    name: SingleLineText = Field(min_length=1, max_length=200)
    relationship: SingleLineText = Field(min_length=1, max_length=50, description="e.g. คู่สมรส, บุตร, บิดา, มารดา")
    share_bp: int = Field(gt=0, le=10_000, description="Share in basis points (10000 = 100%)")
    phone: Phone = None


class BeneficiaryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    relationship: str
    share_bp: int
    phone: str | None


def _check_shares(beneficiaries: list[BeneficiaryIn]) -> list[BeneficiaryIn]:
    if beneficiaries and sum(b.share_bp for b in beneficiaries) != 10_000:
        raise PydanticCustomError("shares_must_total_100", "Beneficiary shares must add up to 100%")
    return beneficiaries


class MemberFields(ClosedModel):
    """What a registration says about a person; shared by the API and the roll import."""

    national_id: NationalId
    title: OptionalText = Field(default=None, max_length=50, description="คำนำหน้า: นาย, นาง, นางสาว, ด.ช., ด.ญ. ...")
    first_name: SingleLineText = Field(min_length=1, max_length=100)
    last_name: SingleLineText = Field(min_length=1, max_length=100)
    birth_date: PastDate
    sex: Sex
    phone: Phone = None
    house_no: OptionalText = Field(default=None, max_length=30)
    village: Village = Field(default=None, description="Village number (หมู่ที่)")
    village_name: OptionalText = Field(default=None, max_length=100)
    address: OptionalText = Field(default=None, max_length=300)
    joined_on: PastDate

    @model_validator(mode="after")
    def _joined_after_birth(self) -> MemberFields:
        if self.joined_on < self.birth_date:
            raise PydanticCustomError("joined_before_birth", "Joined before being born")
        return self


class MemberCreate(MemberFields):
    beneficiaries: list[BeneficiaryIn] = Field(default_factory=list, max_length=10)
    consent_given: bool = Field(description="The member agreed to the fund keeping their personal data (PDPA)")

    @field_validator("consent_given")
    @classmethod
    def _consent(cls, value: bool) -> bool:
        if not value:
            raise PydanticCustomError("consent_required", "The member's consent is required")
        return value

    _shares = field_validator("beneficiaries")(_check_shares)


class MemberUpdate(PatchBody):
    title: OptionalText = Field(default=None, max_length=50)
    # A member always has a name: left out it stays, null is a 422.
    first_name: SingleLineText = Field(default=None, min_length=1, max_length=100)  # type: ignore[assignment]  # None: left out
    last_name: SingleLineText = Field(default=None, min_length=1, max_length=100)  # type: ignore[assignment]  # None: left out
    phone: Phone = None
    house_no: OptionalText = Field(default=None, max_length=30)
    village: Village = None
    village_name: OptionalText = Field(default=None, max_length=100)
    address: OptionalText = Field(default=None, max_length=300)


class BeneficiariesIn(ClosedModel):
    beneficiaries: list[BeneficiaryIn] = Field(max_length=10)

    _shares = field_validator("beneficiaries")(_check_shares)


class StatusChange(ClosedModel):
    status: Literal["active", "suspended", "resigned", "deceased"]
    effective_on: PastDate
    reason: OptionalMultiLineText = Field(default=None, max_length=500)


class StatusChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: str
    effective_on: dt.date
    reason: str | None
    recorded_by: str
    recorded_at: dt.datetime


class AnonymiseRequest(ClosedModel):
    reason: MultiLineText = Field(min_length=3, max_length=500, description="The member's request, as recorded")


class ErasureStep(BaseModel):
    status: Literal["pending", "done"]
    attempts: int
    last_error: str | None
    done_at: str | None
    #: What the process erased, by kind (counts, never the data); None until it has answered.
    erased: dict[str, int] | None


class ErasureOut(BaseModel):
    """A member's erasure and how far it has reached each process (docs/personal-data.md)."""

    id: uuid.UUID
    fund_id: uuid.UUID
    member_id: uuid.UUID
    requested_by: str
    requested_role: str
    requested_at: dt.datetime
    completed: bool
    completed_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    steps: dict[str, ErasureStep]


class MemberOut(BaseModel):
    id: uuid.UUID
    fund_id: uuid.UUID
    member_no: int
    national_id_masked: str | None = Field(description="x-xxxx-xxxxx-12-3; the whole number has its own logged endpoint")
    title: str | None
    first_name: str
    last_name: str
    birth_date: dt.date | None
    sex: str
    phone: str | None
    house_no: str | None
    village: int | None
    village_name: str | None
    address: str | None
    household_id: uuid.UUID | None
    joined_on: dt.date
    status: str
    status_since: dt.date
    consent_at: dt.datetime | None
    consent_version: str | None
    anonymised: bool
    beneficiaries: list[BeneficiaryOut] = Field(default_factory=list)


class MemberListItem(BaseModel):
    """A compact row for lists and searches."""

    id: uuid.UUID
    member_no: int
    national_id_masked: str | None
    title: str | None
    first_name: str
    last_name: str
    sex: str
    phone: str | None
    village: int | None
    house_no: str | None
    status: str


class MemberPage(BaseModel):
    items: list[MemberListItem]
    next_cursor: str | None


class NationalIdOut(BaseModel):
    member_id: uuid.UUID
    national_id: str
    formatted: str


class DuplicateInFund(BaseModel):
    member_id: uuid.UUID
    member_no: int


# --- Collectors ---------------------------------------------------------------------------------


class CollectorCreate(ClosedModel):
    user_id: uuid.UUID = Field(description="The collector's gateway user (role collector in this fund)")
    display_name: SingleLineText = Field(min_length=1, max_length=200)
    phone: Phone = None
    villages: list[VillageNo] = Field(default_factory=list, max_length=99)
    member_ids: list[uuid.UUID] = Field(default_factory=list, max_length=5000)

    _villages = field_validator("villages")(_village_list)


class RoundUpdate(ClosedModel):
    villages: list[VillageNo] = Field(default_factory=list, max_length=99)
    member_ids: list[uuid.UUID] = Field(default_factory=list, max_length=5000)

    _villages = field_validator("villages")(_village_list)


class CollectorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    fund_id: uuid.UUID
    user_id: uuid.UUID
    display_name: str
    phone: str | None
    villages: list[int]
    is_active: bool
    round_version: int


class RoundItem(BaseModel):
    id: uuid.UUID
    member_no: int
    name: str
    village: int | None
    house_no: str | None
    phone: str | None
    status: str


class RoundPage(BaseModel):
    collector_id: uuid.UUID
    round_version: int
    items: list[RoundItem]
    next_cursor: str | None


# --- Import -------------------------------------------------------------------------------------


class RowProblem(BaseModel):
    line: int
    field: str | None
    code: str
    message: str


class ImportResult(BaseModel):
    import_id: uuid.UUID
    dry_run: bool
    rows: int
    created: int
    duplicates: int
    rejected: int
    problems: list[RowProblem]


# --- Facts for other services -------------------------------------------------------------------


class StatusFact(BaseModel):
    status: str
    effective_on: dt.date


class MemberFacts(BaseModel):
    member_id: uuid.UUID
    fund_id: uuid.UUID
    member_no: int
    status: str
    status_since: dt.date
    joined_on: dt.date
    birth_date: dt.date | None
    sex: str
    anonymised: bool
    status_history: list[StatusFact] = Field(
        default_factory=list,
        description="Every change of status, oldest first (the first is joining), so a service can tell the "
                    "status on any date; its last entry is status and status_since",
    )


class FactsRequest(ClosedModel):
    member_ids: list[uuid.UUID] = Field(min_length=1, max_length=500)


class FactsBatch(BaseModel):
    facts: list[MemberFacts]
    missing: list[uuid.UUID]


class CollectorFacts(BaseModel):
    collector_id: uuid.UUID
    fund_id: uuid.UUID
    user_id: uuid.UUID
    is_active: bool
