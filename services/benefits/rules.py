"""A fund's benefit rules and the eligibility judgement, as pure functions.

Each fund writes its own rules (ระเบียบกองทุน); these types say what a rule can express:
an amount model (fixed, per day with caps per event and per year, or tiers by years of
membership), a waiting period after joining, age and sex conditions, how far behind on
contributions a member may be, limits per year and per lifetime in count and amount, the
documents required, and who may apply. ``judge`` says whether a claim qualifies, for how much,
and, when it does not, every reason in a form that can be told in Thai or English (with the date
the member will qualify where there is one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, model_validator

from shared.fiscal import fiscal_year_of
from shared.errors import register_messages
from shared.schemas import ClosedModel, Satang

DocumentKind = Literal[
    "medical_certificate", "hospital_receipt", "death_certificate", "birth_certificate", "id_card",
    "house_registration", "photo", "other",
]
MEDICAL_DOCUMENTS = frozenset({"medical_certificate", "hospital_receipt"})


class Tier(ClosedModel):
    min_years: int = Field(ge=0, le=100, description="Full years of membership on the event date")
    amount_satang: Satang = Field(gt=0)


class AmountModel(ClosedModel):
    model: Literal["fixed", "per_day", "tiered"]
    amount_satang: Satang | None = Field(default=None, gt=0, description="fixed")
    per_day_satang: Satang | None = Field(default=None, gt=0, description="per_day")
    max_days_per_event: int | None = Field(default=None, gt=0, le=366)
    max_days_per_year: int | None = Field(default=None, gt=0, le=366)
    tiers: list[Tier] = Field(default_factory=list, max_length=20, description="tiered")

    @model_validator(mode="after")
    def _complete(self) -> AmountModel:
        needed = {"fixed": self.amount_satang, "per_day": self.per_day_satang, "tiered": self.tiers or None}[self.model]
        if needed is None:
            raise ValueError(f"amount model {self.model} needs its amount")
        return self


class Rules(ClosedModel):
    amount: AmountModel
    waiting_days: int = Field(default=0, ge=0, le=3650, description="Days after joining before a claim qualifies")
    min_age: int | None = Field(default=None, ge=0, le=130)
    max_age: int | None = Field(default=None, ge=0, le=130)
    sex: Literal["male", "female"] | None = None
    max_periods_in_arrears: int | None = Field(default=None, ge=0, le=10_000, description="None: contributions are not checked")
    per_year_count: int | None = Field(default=None, gt=0, le=1_000)
    per_year_satang: Satang | None = Field(default=None, gt=0)
    lifetime_count: int | None = Field(default=None, gt=0, le=10_000)
    lifetime_satang: Satang | None = Field(default=None, gt=0)
    required_documents: list[DocumentKind] = Field(default_factory=list, max_length=10)
    who_may_apply: Literal["member", "committee", "both"] = "both"
    once_per_member: bool = Field(default=False, description="One event per member ever, e.g. death")


register_messages(
    {
        "eligibility.member_not_current": {
            "th": ("ไม่ได้เป็นสมาชิกอยู่", "สมาชิกต้องมีสถานะปกติในวันที่เกิดเหตุ"),
            "en": ("Not a current member", "The member must be active on the event date"),
        },
        "eligibility.waiting_period": {
            "th": ("ยังไม่พ้นระยะรอ", "ยังอยู่ในระยะรอหลังสมัคร จะมีสิทธิ์ตั้งแต่วันที่ {qualifies_on}"),
            "en": ("Waiting period", "Still in the waiting period after joining; qualifies from {qualifies_on}"),
        },
        "eligibility.too_young": {
            "th": ("อายุยังไม่ถึง", "ต้องมีอายุอย่างน้อย {min_age} ปี จะมีสิทธิ์ตั้งแต่วันที่ {qualifies_on}"),
            "en": ("Too young", "Must be at least {min_age}; qualifies from {qualifies_on}"),
        },
        "eligibility.too_old": {
            "th": ("อายุเกินกำหนด", "สวัสดิการนี้สำหรับผู้มีอายุไม่เกิน {max_age} ปี"),
            "en": ("Over the age limit", "This benefit is for people aged {max_age} or under"),
        },
        "eligibility.sex": {
            "th": ("ไม่ตรงเงื่อนไขเพศ", "สวัสดิการนี้สำหรับเพศ{sex_th}"),
            "en": ("Sex condition", "This benefit is for {sex} members"),
        },
        "eligibility.arrears": {
            "th": ("ค้างส่งเงินสัจจะ", "ค้างส่ง {periods} งวด (ให้ค้างได้ไม่เกิน {allowed} งวด) โปรดส่งเงินให้ครบก่อน"),
            "en": ("Contributions in arrears", "{periods} periods behind (at most {allowed} allowed); catch up first"),
        },
        "eligibility.year_count": {
            "th": ("ใช้สิทธิ์ครบแล้วในปีนี้", "ใช้สิทธิ์ครบ {limit} ครั้งในปี {year} แล้ว"),
            "en": ("Yearly limit reached", "Already claimed {limit} time(s) in {year}"),
        },
        "eligibility.lifetime_count": {
            "th": ("ใช้สิทธิ์ครบแล้ว", "ใช้สิทธิ์ครบ {limit} ครั้งตลอดการเป็นสมาชิกแล้ว"),
            "en": ("Lifetime limit reached", "Already claimed {limit} time(s) in all"),
        },
        "eligibility.amount_exhausted": {
            "th": ("วงเงินหมดแล้ว", "วงเงินของสวัสดิการนี้ใช้หมดแล้ว"),
            "en": ("Limit used up", "The money limit of this benefit is used up"),
        },
        "eligibility.days_exhausted": {
            "th": ("จำนวนวันหมดแล้ว", "ใช้สิทธิ์ครบ {limit} วันในปี {year} แล้ว"),
            "en": ("Days used up", "All {limit} days of {year} are used"),
        },
        "eligibility.once_only": {
            "th": ("เคยยื่นแล้ว", "สมาชิกนี้มีคำขอสวัสดิการนี้อยู่แล้ว ยื่นซ้ำไม่ได้"),
            "en": ("Already claimed", "This member already has a claim for this benefit"),
        },
        "eligibility.overlap": {
            "th": ("ช่วงวันซ้ำ", "ช่วงวันที่ซ้อนกับคำขอเดิม ({other_from} ถึง {other_to})"),
            "en": ("Overlapping dates", "The dates overlap an earlier claim ({other_from} to {other_to})"),
        },
        "eligibility.membership_too_short": {
            "th": ("เป็นสมาชิกยังไม่ครบกำหนด",
                   "สวัสดิการนี้ต้องเป็นสมาชิกครบ {min_years} ปีขึ้นไป จะมีสิทธิ์ตั้งแต่วันที่ {qualifies_on}"),
            "en": ("Not a member long enough",
                   "This benefit needs at least {min_years} full year(s) of membership; qualifies from {qualifies_on}"),
        },
        "eligibility.end_before_start": {
            "th": ("วันที่สิ้นสุดก่อนวันเริ่ม", "วันที่สิ้นสุด ({event_end_date}) อยู่ก่อนวันที่เกิดเหตุ ({event_date})"),
            "en": ("End before start", "The end date ({event_end_date}) is before the event date ({event_date})"),
        },
        "eligibility.days_required": {
            "th": ("ต้องระบุจำนวนวัน", "สวัสดิการรายวันต้องระบุวันที่สิ้นสุดหรือจำนวนวัน"),
            "en": ("Days required", "A per-day benefit needs the end date or the number of days"),
        },
        "eligibility.applicant": {
            "th": ("ผู้ยื่นไม่ถูกต้อง", "สวัสดิการนี้ต้องยื่นโดย{who_th}"),
            "en": ("Wrong applicant", "This benefit must be applied for by the {who}"),
        },
        "eligibility.documents_missing": {
            "th": ("ยังขาดเอกสาร", "ยังต้องแนบ: {documents}"),
            "en": ("Documents missing", "Still needed: {documents}"),
        },
    }
)


#: Changes that end membership at the end of their day: a member who died or resigned on the event
#: date was a member that day (the death claim's event date is the date of death).
ENDS_AFTER_ITS_DAY = frozenset({"deceased", "resigned"})


@dataclass(frozen=True)
class MemberFacts:
    #: Today's status; the judge goes by ``status_on(event_date)``.
    status: str
    joined_on: dt.date
    birth_date: dt.date | None
    sex: str
    periods_in_arrears: int | None = None
    #: ``(effective_on, status)`` of every change of status, oldest first, joining the first (the
    #: members service's status history). Empty when not known: today's status is then taken for every day.
    history: tuple[tuple[dt.date, str], ...] = ()
    #: The month the fund's fiscal year starts (1 or 10): yearly limits count its fiscal year
    #: (docs/fiscal-years.md), as the ledger says in the member's standing.
    fiscal_year_start_month: int = 1

    def status_on(self, day: dt.date) -> str | None:
        """The member's status on ``day``: the last change effective on or before it, except that a
        death or resignation effective on ``day`` itself leaves the status before it for that day.
        None before the first change (an event before joining: the waiting period refuses it)."""
        if not self.history:
            return self.status
        status = None
        # Sorted by day only (a stable sort): changes of one day stay in the order recorded.
        for effective_on, changed_to in sorted(self.history, key=lambda change: change[0]):
            if effective_on < day or (effective_on == day and changed_to not in ENDS_AFTER_ITS_DAY):
                status = changed_to
        return status


@dataclass(frozen=True)
class PastClaim:
    """A claim of the same member for the same benefit that still counts (not rejected or cancelled)."""

    event_date: dt.date
    event_end_date: dt.date | None
    days: int | None
    amount_satang: int


@dataclass
class Judgement:
    eligible: bool
    amount_satang: int
    days: int | None
    #: (code, params): reasons it does not qualify (empty when it does).
    reasons: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: Reasons that do not block submitting (documents still to attach).
    pending: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    qualifies_on: dt.date | None = None


def add_years(day: dt.date, years: int) -> dt.date:
    """The day ``years`` full years after ``day``: a birthday or membership anniversary, the day an
    age or a number of years of membership is reached.

    One born (or joined) on 29 February reaches it on 1 March in a common year, not 28 February.
    As we read the Civil and Commercial Code, an age counts from the day of birth (s. 16) and a
    period in years whose last month has no matching day ends on that month's last day (s. 193/5):
    the years are complete at the end of 28 February, so the age is reached on 1 March. It is also
    the common practice, and no one is counted a year older before the whole year has passed.
    ``years_between`` is defined by this function, so the day a member is told they will qualify
    and the age or years of membership they are judged by cannot disagree.
    """
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a common year
        return dt.date(day.year + years, 3, 1)


def years_between(start: dt.date, end: dt.date) -> int:
    """Full years from ``start`` to ``end`` (an age, years of membership): the most years whose
    ``add_years`` day is not after ``end``; negative when ``end`` is before ``start``."""
    years = end.year - start.year
    return years - 1 if add_years(start, years) > end else years


def _overlaps(a_from: dt.date, a_to: dt.date, b_from: dt.date, b_to: dt.date) -> bool:
    return a_from <= b_to and b_from <= a_to


def judge(
    *,
    rules: Rules,
    member: MemberFacts,
    event_date: dt.date,
    event_end_date: dt.date | None,
    days: int | None,
    past: list[PastClaim],
    applicant_is_member: bool,
    documents: set[str],
) -> Judgement:
    reasons: list[tuple[str, dict[str, Any]]] = []
    qualifies_on: dt.date | None = None

    if rules.who_may_apply == "committee" and applicant_is_member:
        reasons.append(("eligibility.applicant", {"who": "committee", "who_th": "คณะกรรมการ"}))
    if rules.who_may_apply == "member" and not applicant_is_member:
        reasons.append(("eligibility.applicant", {"who": "member", "who_th": "สมาชิกเอง"}))
    status = member.status_on(event_date)
    if status is not None and status != "active":
        reasons.append(("eligibility.member_not_current", {}))
    waiting_ends = member.joined_on + dt.timedelta(days=rules.waiting_days)
    if event_date < waiting_ends:
        qualifies_on = waiting_ends
        reasons.append(("eligibility.waiting_period", {"qualifies_on": waiting_ends.isoformat()}))
    if member.birth_date is not None:
        age = years_between(member.birth_date, event_date)
        if rules.min_age is not None and age < rules.min_age:
            on = add_years(member.birth_date, rules.min_age)
            qualifies_on = max(qualifies_on or on, on)
            reasons.append(("eligibility.too_young", {"min_age": rules.min_age, "qualifies_on": on.isoformat()}))
        if rules.max_age is not None and age > rules.max_age:
            reasons.append(("eligibility.too_old", {"max_age": rules.max_age}))
    if rules.sex is not None and member.sex != rules.sex:
        reasons.append(("eligibility.sex", {"sex": rules.sex, "sex_th": "ชาย" if rules.sex == "male" else "หญิง"}))
    if rules.max_periods_in_arrears is not None and (member.periods_in_arrears or 0) > rules.max_periods_in_arrears:
        reasons.append(("eligibility.arrears", {"periods": member.periods_in_arrears, "allowed": rules.max_periods_in_arrears}))
    if rules.once_per_member and past:
        reasons.append(("eligibility.once_only", {}))

    # An end before the start is refused at the API's edge (ClaimIn, CheckIn); this is the judge's
    # own guard, so no caller can get a negative day count or a claim the database will refuse.
    backwards = False
    if event_end_date is not None and event_end_date < event_date:
        backwards = True
        reasons.append(("eligibility.end_before_start",
                        {"event_date": event_date.isoformat(), "event_end_date": event_end_date.isoformat()}))

    # Days, for per-day benefits (hospital nights): from the dates or as given, capped.
    end = event_end_date or event_date
    if rules.amount.model == "per_day" and backwards:
        days = 0
    elif rules.amount.model == "per_day":
        if days is None and event_end_date is None:
            reasons.append(("eligibility.days_required", {}))
            days = 0
        days = days if days is not None else (end - event_date).days + 1
        for other in past:
            other_end = other.event_end_date or other.event_date
            if _overlaps(event_date, end, other.event_date, other_end):
                reasons.append(("eligibility.overlap", {"other_from": other.event_date.isoformat(), "other_to": other_end.isoformat()}))
                break

    # The fund's fiscal year, named by the calendar year it ends in (shared.fiscal).
    year = fiscal_year_of(event_date, member.fiscal_year_start_month)
    year_claims = [p for p in past if fiscal_year_of(p.event_date, member.fiscal_year_start_month) == year]
    if rules.per_year_count is not None and len(year_claims) >= rules.per_year_count:
        reasons.append(("eligibility.year_count", {"limit": rules.per_year_count, "year": year}))
    if rules.lifetime_count is not None and len(past) >= rules.lifetime_count:
        reasons.append(("eligibility.lifetime_count", {"limit": rules.lifetime_count}))

    amount = 0
    if rules.amount.model == "fixed":
        amount = rules.amount.amount_satang or 0
    elif rules.amount.model == "tiered":
        years = years_between(member.joined_on, event_date)
        fitting = [t for t in rules.amount.tiers if t.min_years <= years]
        amount = max(fitting, key=lambda t: t.min_years).amount_satang if fitting else 0
        if not fitting:
            # Short of the lowest tier: not a member long enough, told from when they will be
            # (unless the waiting period, already told, ends on that day or later).
            first = min(t.min_years for t in rules.amount.tiers)
            on = add_years(member.joined_on, first)
            if on > waiting_ends or event_date >= waiting_ends:
                qualifies_on = max(qualifies_on or on, on)
                reasons.append(("eligibility.membership_too_short", {"min_years": first, "qualifies_on": on.isoformat()}))
    else:
        payable = days or 0
        if rules.amount.max_days_per_event is not None:
            payable = min(payable, rules.amount.max_days_per_event)
        if rules.amount.max_days_per_year is not None:
            used = sum(p.days or 0 for p in year_claims)
            left = max(0, rules.amount.max_days_per_year - used)
            if left == 0 and payable:
                reasons.append(("eligibility.days_exhausted", {"limit": rules.amount.max_days_per_year, "year": year}))
            payable = min(payable, left)
        days = payable
        amount = payable * (rules.amount.per_day_satang or 0)
    if rules.per_year_satang is not None:
        amount = min(amount, max(0, rules.per_year_satang - sum(p.amount_satang for p in year_claims)))
    if rules.lifetime_satang is not None:
        amount = min(amount, max(0, rules.lifetime_satang - sum(p.amount_satang for p in past)))
    if amount <= 0 and not reasons:
        reasons.append(("eligibility.amount_exhausted", {}))

    missing = [d for d in rules.required_documents if d not in documents]
    pending = [("eligibility.documents_missing", {"documents": ", ".join(missing)})] if missing else []
    return Judgement(eligible=not reasons, amount_satang=amount if not reasons else 0, days=days,
                     reasons=reasons, pending=pending, qualifies_on=qualifies_on)
