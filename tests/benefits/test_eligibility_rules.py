"""The eligibility judge as a pure function: one row per case, every rule field, boundary dates.

``services.benefits.rules.judge`` is given a fund's rules, the member's facts, the event and the
member's earlier claims of the same benefit; each row says what it must answer: eligible and for
how much, or refused and for which reasons (in the order they are told), the day the member will
qualify where there is one, and the documents still to attach. Thresholds are tried the day
before, the day of and the day after. No database, no HTTP: the HTTP tests of the same rules are
beside these. Rows marked xfail are the rule as it should be where the judge disagrees today.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from services.benefits.rules import AmountModel, MemberFacts, PastClaim, Rules, judge

B = 100  # satang a baht
d = dt.date.fromisoformat

#: A member of six years, 66 on the usual event day, active, contributions not looked at.
MEMBER = MemberFacts(status="active", joined_on=d("2020-01-01"), birth_date=d("1960-03-15"), sex="female")
EVENT = d("2026-06-15")
UNSET: Any = object()


def rules(**fields: Any) -> Rules:
    """The fund's rules: 1,000 baht fixed unless ``amount`` says otherwise."""
    return Rules.model_validate({"amount": fixed(1_000), **fields})


def fixed(baht: int) -> dict[str, Any]:
    return {"model": "fixed", "amount_satang": baht * B}


def per_day(baht: int, *, per_event: int | None = None, per_year: int | None = None) -> dict[str, Any]:
    return {"model": "per_day", "per_day_satang": baht * B, "max_days_per_event": per_event, "max_days_per_year": per_year}


def tiered(*tiers: tuple[int, int]) -> dict[str, Any]:
    """``(min_years, baht)`` pairs."""
    return {"model": "tiered", "tiers": [{"min_years": years, "amount_satang": baht * B} for years, baht in tiers]}


def who(**facts: Any) -> MemberFacts:
    return dataclasses.replace(MEMBER, **facts)


def through(*changes: str, **facts: Any) -> MemberFacts:
    """A member with this status history, each change ``"day status"``, oldest first: joined on the
    first, today's status the last."""
    history = tuple((d(day), status) for day, status in (change.split() for change in changes))
    return who(status=history[-1][1], joined_on=history[0][0], history=history, **facts)


def claimed(on: str, until: str | None = None, *, days: int | None = None, baht: int = 1_000) -> PastClaim:
    """An earlier claim of the same benefit that still counts."""
    return PastClaim(d(on), d(until) if until else None, days, baht * B)


HOSPITAL = per_day(100, per_event=10, per_year=30)  # the sickness template: 100 baht a night
DEATH = tiered((0, 3_000), (3, 5_000), (5, 10_000), (10, 20_000))  # the death template's tiers


@dataclasses.dataclass(frozen=True)
class Case:
    rules: Rules
    member: MemberFacts = MEMBER
    event: dt.date = EVENT
    end: dt.date | None = None
    days: int | None = None
    past: tuple[PastClaim, ...] = ()
    by_member: bool = False
    documents: frozenset[str] = frozenset()
    # What the judge answers: ``pays`` (satang) when eligible, else the reasons refused for.
    pays: int | None = None
    refused: tuple[str, ...] = ()
    params: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    qualifies_on: dt.date | None = None
    days_out: int | None = UNSET
    missing: str | None = None  # the documents still to attach, as told


def row(name: str, rules: Rules, *, event: str | None = None, end: str | None = None, past: tuple[PastClaim, ...] = (),
        refused: tuple[str, ...] | str = (), qualifies_on: str | None = None, documents: tuple[str, ...] = (),
        marks: Any = (), **fields: Any) -> Any:
    refused = (refused,) if isinstance(refused, str) else refused
    case = Case(rules=rules, event=d(event) if event else EVENT, end=d(end) if end else None, past=past,
                refused=tuple(f"eligibility.{r}" for r in refused), qualifies_on=d(qualifies_on) if qualifies_on else None,
                documents=frozenset(documents), **fields)
    assert (case.pays is None) == bool(case.refused), f"{name}: a row either pays or is refused"
    return pytest.param(case, id=name, marks=marks)


CASES = [
    # --- Who may apply ---------------------------------------------------------------------------------------
    row("both: the member applies", rules(), by_member=True, pays=1_000 * B),
    row("both: the committee applies", rules(), pays=1_000 * B),
    row("member only: the member applies", rules(who_may_apply="member"), by_member=True, pays=1_000 * B),
    row("member only: the committee applies", rules(who_may_apply="member"), refused="applicant",
        params={"eligibility.applicant": {"who": "member", "who_th": "สมาชิกเอง"}}),
    row("committee only: the committee applies", rules(who_may_apply="committee"), pays=1_000 * B),
    row("committee only: the member applies", rules(who_may_apply="committee"), by_member=True, refused="applicant",
        params={"eligibility.applicant": {"who": "committee", "who_th": "คณะกรรมการ"}}),
    # --- Membership status on the event date (no history known: today's status for every day) ----------------------
    row("suspended", rules(), member=who(status="suspended"), refused="member_not_current"),
    row("resigned", rules(), member=who(status="resigned"), refused="member_not_current"),
    row("deceased: any benefit but death", rules(amount=HOSPITAL), member=who(status="deceased"), end="2026-06-16",
        refused="member_not_current"),
    # From the history: the last change on or before the event date, but a death or resignation that
    # day leaves the member a member to the end of it.
    row("deceased on the event day: the death benefit", rules(amount=DEATH, once_per_member=True, who_may_apply="committee"),
        member=through("2020-01-01 active", "2026-06-15 deceased"), pays=10_000 * B),
    row("deceased on the event day: not applied for by the member", rules(amount=DEATH, who_may_apply="committee"),
        member=through("2020-01-01 active", "2026-06-15 deceased"), by_member=True, refused="applicant"),
    row("deceased the day before the event", rules(), member=through("2020-01-01 active", "2026-06-14 deceased"),
        refused="member_not_current"),
    row("resigned the day before the event", rules(), member=through("2020-01-01 active", "2026-06-14 resigned"),
        refused="member_not_current"),
    row("resigned on the event day: a member to its end", rules(), member=through("2020-01-01 active", "2026-06-15 resigned"),
        pays=1_000 * B),
    row("resigned after the event, claimed since", rules(), member=through("2020-01-01 active", "2026-06-20 resigned"),
        pays=1_000 * B),
    row("resigned, rejoined after the event: not a member that day", rules(),
        member=through("2020-01-01 active", "2026-03-01 resigned", "2026-07-01 active"), refused="member_not_current"),
    row("resigned, rejoined on the event day", rules(),
        member=through("2020-01-01 active", "2026-03-01 resigned", "2026-06-15 active"), pays=1_000 * B),
    row("suspended on the event day, reinstated since", rules(),
        member=through("2020-01-01 active", "2026-06-01 suspended", "2026-06-20 active"), refused="member_not_current"),
    row("suspended from the event day: takes effect that day", rules(),
        member=through("2020-01-01 active", "2026-06-15 suspended", "2026-06-20 active"), refused="member_not_current"),
    row("suspended, reinstated on the event day", rules(),
        member=through("2020-01-01 active", "2026-06-01 suspended", "2026-06-15 active"), pays=1_000 * B),
    row("suspended, suspended still when dying on the event day", rules(amount=DEATH, who_may_apply="committee"),
        member=through("2020-01-01 active", "2026-06-01 suspended", "2026-06-15 deceased"), refused="member_not_current"),
    row("an event before joining, with its history: only the waiting is told", rules(), member=through("2026-06-16 active"),
        refused="waiting_period", qualifies_on="2026-06-16"),
    # --- Waiting period after joining (180 days from 1 January 2026: qualifies from 30 June) --------------------
    row("waiting: the day before it ends", rules(waiting_days=180), member=who(joined_on=d("2026-01-01")), event="2026-06-29",
        refused="waiting_period", qualifies_on="2026-06-30",
        params={"eligibility.waiting_period": {"qualifies_on": "2026-06-30"}}),
    row("waiting: the day it ends", rules(waiting_days=180), member=who(joined_on=d("2026-01-01")), event="2026-06-30",
        pays=1_000 * B),
    row("waiting: the day after", rules(waiting_days=180), member=who(joined_on=d("2026-01-01")), event="2026-07-01",
        pays=1_000 * B),
    row("waiting: across 29 February", rules(waiting_days=2), member=who(joined_on=d("2024-02-28")), event="2024-02-29",
        refused="waiting_period", qualifies_on="2024-03-01"),
    row("waiting: none, an event before joining", rules(), member=who(joined_on=d("2026-06-16")), refused="waiting_period",
        qualifies_on="2026-06-16"),
    row("waiting: none, the day of joining", rules(), member=who(joined_on=EVENT), pays=1_000 * B),
    # --- Age (60 from 15 June 2026) ------------------------------------------------------------------------------
    row("min age: the day before the birthday", rules(min_age=60), member=who(birth_date=d("1966-06-15")), event="2026-06-14",
        refused="too_young", qualifies_on="2026-06-15",
        params={"eligibility.too_young": {"min_age": 60, "qualifies_on": "2026-06-15"}}),
    row("min age: the birthday", rules(min_age=60), member=who(birth_date=d("1966-06-15")), pays=1_000 * B),
    row("min age: the day after", rules(min_age=60), member=who(birth_date=d("1966-06-15")), event="2026-06-16",
        pays=1_000 * B),
    row("min age: born 29 February, a leap birthday", rules(min_age=60), member=who(birth_date=d("1964-02-29")),
        event="2024-02-28", refused="too_young", qualifies_on="2024-02-29"),
    # In a common year one born on 29 February reaches an age on 1 March (rules.add_years says why).
    row("min age: born 29 February, 27 February", rules(min_age=62), member=who(birth_date=d("1964-02-29")),
        event="2026-02-27", refused="too_young", qualifies_on="2026-03-01",
        params={"eligibility.too_young": {"min_age": 62, "qualifies_on": "2026-03-01"}}),
    row("min age: born 29 February, 28 February", rules(min_age=62), member=who(birth_date=d("1964-02-29")),
        event="2026-02-28", refused="too_young", qualifies_on="2026-03-01"),
    row("min age: born 29 February, 1 March, the day it is told", rules(min_age=62), member=who(birth_date=d("1964-02-29")),
        event="2026-03-01", pays=1_000 * B),
    row("max age: born 29 February, 28 February", rules(max_age=61), member=who(birth_date=d("1964-02-29")),
        event="2026-02-28", pays=1_000 * B),
    row("max age: born 29 February, 1 March", rules(max_age=61), member=who(birth_date=d("1964-02-29")),
        event="2026-03-01", refused="too_old"),
    row("max age: the day before turning 66", rules(max_age=65), event="2026-03-14", pays=1_000 * B),
    row("max age: turning 66", rules(max_age=65), event="2026-03-15", refused="too_old",
        params={"eligibility.too_old": {"max_age": 65}}),
    row("age: no birth date on file, the limits are not checked", rules(min_age=70, max_age=20),
        member=who(birth_date=None), pays=1_000 * B),
    # --- Sex ----------------------------------------------------------------------------------------------------------
    row("sex: matches", rules(sex="female"), pays=1_000 * B),
    row("sex: differs", rules(sex="male"), refused="sex", params={"eligibility.sex": {"sex": "male", "sex_th": "ชาย"}}),
    row("sex: any", rules(), member=who(sex="male"), pays=1_000 * B),
    # --- Contributions in arrears ------------------------------------------------------------------------------------
    row("arrears: as many as allowed", rules(max_periods_in_arrears=3), member=who(periods_in_arrears=3), pays=1_000 * B),
    row("arrears: one more than allowed", rules(max_periods_in_arrears=3), member=who(periods_in_arrears=4),
        refused="arrears", params={"eligibility.arrears": {"periods": 4, "allowed": 3}}),
    row("arrears: none allowed, none owed", rules(max_periods_in_arrears=0), member=who(periods_in_arrears=0), pays=1_000 * B),
    row("arrears: none allowed, one owed", rules(max_periods_in_arrears=0), member=who(periods_in_arrears=1), refused="arrears"),
    row("arrears: not checked", rules(), member=who(periods_in_arrears=12), pays=1_000 * B),
    # --- Once per member ----------------------------------------------------------------------------------------------
    row("once: never claimed", rules(once_per_member=True), pays=1_000 * B),
    row("once: claimed years ago", rules(once_per_member=True), past=(claimed("2021-01-01"),), refused="once_only"),
    # --- Count per calendar year of the event, and in all ------------------------------------------------------------
    row("per year: last claim on 31 December before", rules(per_year_count=1), event="2026-01-01",
        past=(claimed("2025-12-31"),), pays=1_000 * B),
    row("per year: claimed on 1 January, again on 31 December", rules(per_year_count=1), event="2026-12-31",
        past=(claimed("2026-01-01"),), refused="year_count", params={"eligibility.year_count": {"limit": 1, "year": 2026}}),
    row("per year: one of two used", rules(per_year_count=2), past=(claimed("2026-01-01"),), pays=1_000 * B),
    row("lifetime: one of two used", rules(lifetime_count=2), past=(claimed("2021-05-01"),), pays=1_000 * B),
    row("lifetime: both used", rules(lifetime_count=2), past=(claimed("2021-05-01"), claimed("2024-05-01")),
        refused="lifetime_count", params={"eligibility.lifetime_count": {"limit": 2}}),
    # --- Money per year and in all: the amount is cut to what is left ----------------------------------------------------
    row("per year money: part left", rules(per_year_satang=1_500 * B), past=(claimed("2026-01-10"),), pays=500 * B),
    row("per year money: none left", rules(per_year_satang=1_500 * B), past=(claimed("2026-01-10", baht=1_500),),
        refused="amount_exhausted"),
    row("per year money: used up last year", rules(per_year_satang=1_500 * B), past=(claimed("2025-12-31", baht=1_500),),
        pays=1_000 * B),
    row("lifetime money: part left", rules(lifetime_satang=2_500 * B), past=(claimed("2023-03-01"), claimed("2024-03-01")),
        pays=500 * B),
    row("lifetime money: none left", rules(lifetime_satang=2_500 * B),
        past=(claimed("2023-03-01"), claimed("2024-03-01"), claimed("2025-03-01", baht=500)), refused="amount_exhausted"),
    row("money used up and the count reached: only the count is told", rules(per_year_count=1, per_year_satang=1_000 * B),
        past=(claimed("2026-01-10"),), refused="year_count"),
    # --- Documents: still to attach, which does not block ---------------------------------------------------------------
    row("documents: none attached", rules(required_documents=["death_certificate", "id_card"]), pays=1_000 * B,
        missing="death_certificate, id_card"),
    row("documents: one of two attached", rules(required_documents=["death_certificate", "id_card"]),
        documents=("death_certificate",), pays=1_000 * B, missing="id_card"),
    row("documents: all attached", rules(required_documents=["death_certificate", "id_card"]),
        documents=("death_certificate", "id_card", "photo"), pays=1_000 * B),
    row("documents: still told when refused", rules(required_documents=["photo"]), member=who(status="suspended"),
        refused="member_not_current", missing="photo"),
    # --- Tiers by full years of membership (joined 15 June 2021) -----------------------------------------------------------
    row("tiers: the day before 3 years", rules(amount=DEATH), member=who(joined_on=d("2021-06-15")), event="2024-06-14",
        pays=3_000 * B),
    row("tiers: 3 years to the day", rules(amount=DEATH), member=who(joined_on=d("2021-06-15")), event="2024-06-15",
        pays=5_000 * B),
    row("tiers: the day after 3 years", rules(amount=DEATH), member=who(joined_on=d("2021-06-15")), event="2024-06-16",
        pays=5_000 * B),
    row("tiers: 5 years", rules(amount=DEATH), member=who(joined_on=d("2021-06-15")), event="2026-06-15", pays=10_000 * B),
    row("tiers: the day before 10 years", rules(amount=DEATH), member=who(joined_on=d("2021-06-15")), event="2031-06-14",
        pays=10_000 * B),
    row("tiers: 10 years and more", rules(amount=DEATH), member=who(joined_on=d("2021-06-15")), event="2040-01-01",
        pays=20_000 * B),
    row("tiers: written out of order", rules(amount=tiered((5, 900), (0, 100), (2, 500))), member=who(joined_on=d("2023-06-15")),
        pays=500 * B),
    row("tiers: joined 29 February, the day before 28 February", rules(amount=tiered((0, 1_000), (2, 2_000))),
        member=who(joined_on=d("2024-02-29")), event="2026-02-27", pays=1_000 * B),
    row("tiers: joined 29 February, 28 February", rules(amount=tiered((0, 1_000), (2, 2_000))),
        member=who(joined_on=d("2024-02-29")), event="2026-02-28", pays=1_000 * B),
    row("tiers: joined 29 February, 1 March", rules(amount=tiered((0, 1_000), (2, 2_000))),
        member=who(joined_on=d("2024-02-29")), event="2026-03-01", pays=2_000 * B),
    row("tiers: short of the first tier", rules(amount=tiered((1, 1_000), (5, 2_000))), member=who(joined_on=d("2026-01-01")),
        refused="membership_too_short", qualifies_on="2027-01-01",
        params={"eligibility.membership_too_short": {"min_years": 1, "qualifies_on": "2027-01-01"}}),
    row("tiers: short of the first tier, the day before it", rules(amount=tiered((1, 1_000), (5, 2_000))),
        member=who(joined_on=d("2026-01-01")), event="2026-12-31", refused="membership_too_short", qualifies_on="2027-01-01"),
    row("tiers: the first tier, to the day", rules(amount=tiered((1, 1_000), (5, 2_000))), member=who(joined_on=d("2026-01-01")),
        event="2027-01-01", pays=1_000 * B),
    row("tiers: short of the first tier, joined 29 February", rules(amount=tiered((2, 1_000))),
        member=who(joined_on=d("2024-02-29")), event="2026-02-28", refused="membership_too_short", qualifies_on="2026-03-01"),
    row("tiers: short of the first tier and waiting longer: the waiting is told", rules(amount=tiered((1, 1_000)), waiting_days=400),
        member=who(joined_on=d("2026-01-01")), refused="waiting_period", qualifies_on="2027-02-05"),
    row("tiers: short of the first tier, waiting less: both, the later day", rules(amount=tiered((1, 1_000)), waiting_days=180),
        member=who(joined_on=d("2026-01-01")), refused=("waiting_period", "membership_too_short"), qualifies_on="2027-01-01"),
    row("tiers: an event before joining: only the waiting is told", rules(amount=DEATH), member=who(joined_on=d("2026-06-16")),
        refused="waiting_period", qualifies_on="2026-06-16"),
    # --- Per day (100 baht a night, at most 10 an event and 30 a year) -------------------------------------------------
    row("per day: from the dates, both counted", rules(amount=HOSPITAL), event="2026-06-01", end="2026-06-03",
        pays=300 * B, days_out=3),
    row("per day: one night, ending the day it began", rules(amount=HOSPITAL), end="2026-06-15", pays=100 * B, days_out=1),
    row("per day: the days as given", rules(amount=HOSPITAL), days=4, pays=400 * B, days_out=4),
    row("per day: the days given win over the dates", rules(amount=HOSPITAL), event="2026-06-01", end="2026-06-05", days=2,
        pays=200 * B, days_out=2),
    row("per day: neither days nor an end", rules(amount=HOSPITAL), refused="days_required", days_out=0),
    row("per day: an end before the start", rules(amount=HOSPITAL), event="2026-06-05", end="2026-06-03",
        refused="end_before_start", days_out=0,
        params={"eligibility.end_before_start": {"event_date": "2026-06-05", "event_end_date": "2026-06-03"}}),
    row("per day: an end before the start, days given", rules(amount=HOSPITAL), event="2026-06-05", end="2026-06-04", days=2,
        refused="end_before_start", days_out=0),
    row("fixed: an end before the start", rules(), event="2026-06-05", end="2026-06-04", refused="end_before_start"),
    row("fixed: an end on the start", rules(), event="2026-06-05", end="2026-06-05", pays=1_000 * B),
    row("per day: 10 nights, the most an event pays", rules(amount=HOSPITAL), event="2026-06-01", end="2026-06-10",
        pays=1_000 * B, days_out=10),
    row("per day: 11 nights, cut to 10", rules(amount=HOSPITAL), event="2026-06-01", end="2026-06-11", pays=1_000 * B,
        days_out=10),
    row("per day: no caps", rules(amount=per_day(100)), event="2026-06-01", end="2026-07-10", pays=4_000 * B, days_out=40),
    row("per day: 20 of 30 used, 10 asked", rules(amount=HOSPITAL), event="2026-06-01", end="2026-06-10",
        past=(claimed("2026-02-01", "2026-02-10", days=10), claimed("2026-03-01", "2026-03-10", days=10)),
        pays=1_000 * B, days_out=10),
    row("per day: 21 of 30 used, cut to 9", rules(amount=HOSPITAL), event="2026-06-01", end="2026-06-10",
        past=(claimed("2026-02-01", "2026-02-10", days=10), claimed("2026-03-01", "2026-03-11", days=11)),
        pays=900 * B, days_out=9),
    row("per day: all 30 used", rules(amount=HOSPITAL), event="2026-06-01", end="2026-06-02",
        past=tuple(claimed(f"2026-0{m}-01", f"2026-0{m}-10", days=10) for m in (1, 2, 3)),
        refused="days_exhausted", days_out=0, params={"eligibility.days_exhausted": {"limit": 30, "year": 2026}}),
    row("per day: all 30 used last year", rules(amount=HOSPITAL), event="2026-06-01", end="2026-06-02",
        past=tuple(claimed(f"2025-0{m}-01", f"2025-0{m}-10", days=10) for m in (1, 2, 3)), pays=200 * B, days_out=2),
    row("per day: money cap cuts the amount, not the days", rules(amount=HOSPITAL, per_year_satang=1_500 * B),
        event="2026-06-01", end="2026-06-10", past=(claimed("2026-02-01", "2026-02-10", days=10),), pays=500 * B, days_out=10),
    # --- Per day: stays that overlap an earlier one (1 to 5 June) --------------------------------------------------------
    row("overlap: starts on its last day", rules(amount=HOSPITAL), event="2026-06-05", end="2026-06-08",
        past=(claimed("2026-06-01", "2026-06-05", days=5, baht=500),), refused="overlap",
        params={"eligibility.overlap": {"other_from": "2026-06-01", "other_to": "2026-06-05"}}),
    row("overlap: starts the day after", rules(amount=HOSPITAL), event="2026-06-06", end="2026-06-08",
        past=(claimed("2026-06-01", "2026-06-05", days=5, baht=500),), pays=300 * B, days_out=3),
    row("overlap: ends on its first day", rules(amount=HOSPITAL), event="2026-05-28", end="2026-06-01",
        past=(claimed("2026-06-01", "2026-06-05", days=5, baht=500),), refused="overlap"),
    row("overlap: ends the day before", rules(amount=HOSPITAL), event="2026-05-28", end="2026-05-31",
        past=(claimed("2026-06-01", "2026-06-05", days=5, baht=500),), pays=400 * B, days_out=4),
    row("overlap: an earlier one-day claim inside", rules(amount=HOSPITAL), event="2026-06-05", end="2026-06-07",
        past=(claimed("2026-06-06", days=1, baht=100),), refused="overlap",
        params={"eligibility.overlap": {"other_from": "2026-06-06", "other_to": "2026-06-06"}}),
    row("overlap: a fixed benefit does not look", rules(), past=(claimed("2026-06-15"),), pays=1_000 * B),
    # --- Several reasons: all told, in order, and the latest day it will qualify -------------------------------------------
    row("everything at once", rules(who_may_apply="committee", waiting_days=180, min_age=60, sex="male", max_periods_in_arrears=0,
                                    once_per_member=True, per_year_count=1, lifetime_count=1),
        member=who(status="suspended", joined_on=d("2026-01-01"), birth_date=d("1966-07-15"), periods_in_arrears=2),
        by_member=True, past=(claimed("2026-02-01"),),
        refused=("applicant", "member_not_current", "waiting_period", "too_young", "sex", "arrears", "once_only",
                 "year_count", "lifetime_count"), qualifies_on="2026-07-15"),
    row("waiting and age: the later day, the waiting", rules(waiting_days=180, min_age=60),
        member=who(joined_on=d("2026-01-01"), birth_date=d("1966-06-20")), refused=("waiting_period", "too_young"),
        qualifies_on="2026-06-30"),
]


@pytest.mark.parametrize("case", CASES)
def test_judge(case: Case) -> None:
    judgement = judge(rules=case.rules, member=case.member, event_date=case.event, event_end_date=case.end, days=case.days,
                      past=list(case.past), applicant_is_member=case.by_member, documents=set(case.documents))
    told = [code for code, _ in judgement.reasons]
    assert (judgement.eligible, told, judgement.amount_satang) == (not case.refused, list(case.refused), case.pays or 0)
    assert judgement.qualifies_on == case.qualifies_on
    params = dict(judgement.reasons)
    for code, expected in case.params.items():
        assert params[code] == expected
    if case.days_out is not UNSET:
        assert judgement.days == case.days_out
    missing = [p["documents"] for code, p in judgement.pending if code == "eligibility.documents_missing"]
    assert missing == ([case.missing] if case.missing else [])


@pytest.mark.parametrize("years", [1, 2, 3, 4])
def test_the_day_told_is_the_first_day_that_qualifies(years: int) -> None:
    """Born or joined on any day of two leap cycles: judged on the day it says the member will
    qualify (by age, or by years of membership for the first tier), they qualify, and the day
    before they do not; so the date told and the age judged follow one rule for 29 February."""
    def on(rule: Rules, member: MemberFacts, day: dt.date) -> Any:
        return judge(rules=rule, member=member, event_date=day, event_end_date=None, days=None, past=[],
                     applicant_is_member=False, documents=set())

    by_age, by_tier = rules(min_age=60 + years), rules(amount=tiered((years, 1_000)))
    for n in range(366 * 8):
        start = d("2020-01-01") + dt.timedelta(days=n)
        for rule, member in ((by_age, who(birth_date=start)), (by_tier, who(joined_on=start))):
            told = on(rule, member, start).qualifies_on
            assert told is not None, start
            before, that_day = on(rule, member, told - dt.timedelta(days=1)), on(rule, member, told)
            assert (before.eligible, that_day.eligible) == (False, True), (start, told)


def test_every_rule_field_has_a_row() -> None:
    """A field of ``Rules`` (or of its amount model) that no row sets is a rule the table does not try."""
    cases = [p.values[0] for p in CASES]
    set_rules = {name for c in cases for name in c.rules.model_fields_set}
    set_amount = {name for c in cases for name, value in c.rules.amount if value not in (None, [])}
    assert set(Rules.model_fields) - set_rules == set()
    assert set(AmountModel.model_fields) - set_amount == set()
    assert {c.rules.who_may_apply for c in cases} == {"member", "committee", "both"}
    assert {c.rules.amount.model for c in cases} == {"fixed", "per_day", "tiered"}

