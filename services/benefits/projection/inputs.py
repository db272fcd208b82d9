"""The projection's inputs, gathered from the services that hold them (docs/projection.md):

- the roll from the members service (``members.roll``): ages, sex, joining, leaving and deaths;
- the reserve, the income of past years by source and the plan in force from the ledger
  (``ledger.projection_inputs``);
- the rules in force, the claims and the reserve floor from this service's own tables.

``estimate`` turns them into ``model.Inputs``, with the what-ifs applied, and says how: the
assumptions go back with the answer. It is pure (plain data in, plain data out), so tests can
give it books written by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.benefits.models import Benefit, BenefitFund, Claim, RuleVersion
from services.benefits.projection.model import AGES, MAX_AGE, SEXES, BenefitLine, Inputs, empty_cells
from services.benefits.rules import Rules

#: Trends (joining, leaving), claim rates and the fund's own death rates: this many years up to as_of.
LOOK_BACK_YEARS = 3
#: Income: the latest complete calendar years with members' contributions, at most this many.
INCOME_YEARS = 3
#: A year's members' contributions under this share of the best year's: not a year of full books.
FULL_YEAR_SHARE = 0.5
#: How far back the ledger is asked for income.
LEDGER_YEARS = 20
#: Rates are estimated by age band of this many years and sex ...
AGE_BAND = 10
#: ... each band's rate pulled towards the fund's overall rate as if it had this many member-years
#: more at that rate (a band with few members says little by itself).
CREDIBILITY_MEMBER_YEARS = 100.0
#: Claims that count: decided to be paid.
COUNTED_CLAIMS = ("approved", "paid")
CURRENT = ("active", "suspended")
#: A published mortality table, if one is shipped (docs/projection.md says what it must hold).
TABLE = Path(__file__).with_name("data") / "mortality_th.json"
DAYS_A_YEAR = 365.25


@dataclass(frozen=True)
class WhatIf:
    """Changes to the fund's own figures for this projection only; nothing is written."""

    contribution_per_day_satang: int | None = None
    #: (benefit code, new amount in satang).
    benefit: tuple[str, int] | None = None
    new_members_per_year: int | None = None
    stop_co_funding: tuple[str, ...] = ()


@dataclass(frozen=True)
class Books:
    """What the services hold, as plain data."""

    as_of: dt.date
    #: dicts of member_id, birth_date, sex, joined_on, status, status_since (dates or ISO strings).
    roll: list[dict[str, Any]]
    reserve_satang: int
    reserve_floor_satang: int
    #: calendar year -> source -> income (satang); source ``members``: members' contributions.
    income_by_year: dict[int, dict[str, int]]
    #: (period, amount_satang) of the contribution plan in force, or None.
    plan: tuple[str, int] | None
    #: (code, category, rules) of each active benefit with rules in force on as_of.
    benefits: list[tuple[str, str, Rules]]
    #: (member_id, benefit_code, category, event_date, amount_satang) of counted claims in the look-back.
    claims: list[tuple[str, str, str, dt.date, int]] = field(default_factory=list)


@dataclass
class Estimate:
    inputs: Inputs
    mortality: dict[str, str]
    starting: dict[str, Any]
    assumptions: dict[str, Any]


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _band_rates(events: np.ndarray, exposure: np.ndarray, eligible: np.ndarray, unknown_events: float = 0.0,
                unknown_exposure: float = 0.0) -> tuple[np.ndarray, float]:
    """Rates per member-year by (sex, age): each (sex, age band)'s events over its exposure, pulled
    towards the overall rate (``CREDIBILITY_MEMBER_YEARS``), zero outside ``eligible``. Events and
    exposure of members without a birth date count in the overall rate only, in the eligible share."""
    known = float((exposure * eligible).sum())
    share = known / float(exposure.sum()) if exposure.sum() > 0 else 1.0
    total_exposure = known + unknown_exposure * share
    overall = (float((events * eligible).sum()) + unknown_events) / total_exposure if total_exposure > 0 else 0.0
    rates = empty_cells()
    for start in range(0, AGES, AGE_BAND):
        band = slice(start, min(start + AGE_BAND, AGES))
        for sex in range(len(SEXES)):
            e = float((events[sex, band] * eligible[sex, band]).sum())
            x = float((exposure[sex, band] * eligible[sex, band]).sum())
            rates[sex, band] = (e + CREDIBILITY_MEMBER_YEARS * overall) / (x + CREDIBILITY_MEMBER_YEARS)
    return rates * eligible, overall


def _eligible(rules: Rules) -> np.ndarray:
    mask = empty_cells() + 1.0
    ages = np.arange(AGES)
    if rules.min_age is not None:
        mask[:, ages < rules.min_age] = 0.0
    if rules.max_age is not None:
        mask[:, ages > rules.max_age] = 0.0
    if rules.sex is not None:
        mask[1 - SEXES.index(rules.sex), :] = 0.0
    return mask


def _table() -> tuple[np.ndarray, dict[str, str]] | None:
    """The shipped mortality table, when there is one: {"source", "note", "male": [q0..], "female": [...]}."""
    if not TABLE.exists():
        return None
    data = json.loads(TABLE.read_text(encoding="utf-8"))
    q = empty_cells()
    for sex, name in enumerate(SEXES):
        values = np.asarray(data[name], dtype=float)
        q[sex, : min(len(values), AGES)] = values[:AGES]
        if len(values) < AGES:
            q[sex, len(values):] = values[-1]
    return q, {"basis": "table", "source": data["source"], "note": data.get("note", ""), "note_th": data.get("note_th", "")}


def _income_years(income_by_year: dict[int, dict[str, int]], this_year: int) -> list[int]:
    """The complete calendar years whose books hold the fund's saving: years before this one with
    members' contributions of at least ``FULL_YEAR_SHARE`` of the best such year's (a year far
    under it is taken as one whose deposits were not all in the books: books started, or a few
    members' deposits only), the latest ``INCOME_YEARS`` of them. A year whose only income is an
    opening balance has no members' contributions and is not one."""
    saved = {y: sources.get("members", 0) for y, sources in income_by_year.items() if y < this_year and sources.get("members", 0) > 0}
    if not saved:
        return []
    best = max(saved.values())
    return sorted((y for y, amount in saved.items() if amount >= FULL_YEAR_SHARE * best), reverse=True)[:INCOME_YEARS]


def estimate(books: Books, what_if: WhatIf) -> Estimate:
    """The model's inputs from the books, with the what-ifs applied."""
    as_of = books.as_of
    window_start = dt.date(as_of.year - LOOK_BACK_YEARS, as_of.month, min(as_of.day, 28))
    window_years = (as_of - window_start).days / DAYS_A_YEAR

    exposure, deaths = empty_cells(), empty_cells()
    members, tenure_sum = empty_cells(), empty_cells()
    joiner_cells, all_joining = empty_cells(), empty_cells()
    unknown_exposure, unknown_deaths, unknown_current, unknown_current_by_sex = 0.0, 0.0, 0, [0, 0]
    unknown_tenure = 0.0
    joined_in_window, left_in_window, exposure_all = 0, 0, 0.0
    claimant: dict[str, tuple[int, dt.date | None]] = {}
    income_exposure: dict[int, float] = {}
    income_years = _income_years(books.income_by_year, as_of.year)
    for row in books.roll:
        sex = SEXES.index(row["sex"]) if row["sex"] in SEXES else 0
        birth = _date(row["birth_date"]) if row.get("birth_date") else None
        joined, status, since = _date(row["joined_on"]), row["status"], _date(row["status_since"])
        left = since if status not in CURRENT else None
        claimant[str(row.get("member_id"))] = (sex, birth)
        # Member-years in the look-back window, at the age in the middle of them.
        begin, end = max(joined, window_start), min(left or as_of, as_of)
        years_in = max((end - begin).days, 0) / DAYS_A_YEAR
        died = status == "deceased" and left is not None and window_start <= left <= as_of
        if years_in > 0 or died:
            exposure_all += years_in
            if birth is None:
                unknown_exposure += years_in
                unknown_deaths += died
            else:
                middle = begin + (end - begin) / 2 if end > begin else end
                age = min(max(_age(birth, middle), 0), MAX_AGE)
                exposure[sex, age] += years_in
                deaths[sex, age] += died
        if window_start <= joined <= as_of:
            joined_in_window += 1
            if birth is not None:
                joiner_cells[sex, min(max(_age(birth, joined), 0), MAX_AGE)] += 1
        if birth is not None:
            all_joining[sex, min(max(_age(birth, joined), 0), MAX_AGE)] += 1
        if status == "resigned" and window_start <= since <= as_of:
            left_in_window += 1
        for year in income_years:
            y_begin, y_end = max(joined, dt.date(year, 1, 1)), min(left or dt.date(year + 1, 1, 1), dt.date(year + 1, 1, 1))
            days_in_year = (dt.date(year + 1, 1, 1) - dt.date(year, 1, 1)).days
            income_exposure[year] = income_exposure.get(year, 0.0) + max((y_end - y_begin).days, 0) / days_in_year
        if status in CURRENT and joined <= as_of:
            years_member = (as_of - joined).days / DAYS_A_YEAR
            if birth is None:
                unknown_current += 1
                unknown_current_by_sex[sex] += 1
                unknown_tenure += years_member
            else:
                age = min(max(_age(birth, as_of), 0), MAX_AGE)
                members[sex, age] += 1
                tenure_sum[sex, age] += years_member
    # Members without a birth date: spread over the ages of their sex's members who have one (of
    # all members with one when their sex has none), with the mean years of membership of theirs.
    known_total = members.sum()
    for sex in range(len(SEXES)):
        count = unknown_current_by_sex[sex]
        if not count:
            continue
        shape = members[sex] if members[sex].sum() > 0 else (members.sum(axis=0) if known_total > 0 else None)
        if shape is None:
            shape = np.zeros(AGES)
            shape[40] = 1.0  # nobody's age is known: the middle of a fund's usual ages
        spread = count * shape / shape.sum()
        members[sex] += spread
        tenure_sum[sex] += spread * (unknown_tenure / unknown_current)
    with np.errstate(invalid="ignore", divide="ignore"):
        tenure = np.where(members > 0, tenure_sum / np.where(members > 0, members, 1), 0.0)

    # Mortality: the shipped table, else the fund's own deaths.
    table = _table()
    if table is not None:
        death_q, mortality = table
    else:
        rates, overall = _band_rates(deaths, exposure, empty_cells() + 1.0, unknown_deaths, unknown_exposure)
        death_q = 1.0 - np.exp(-rates)
        observed = int(deaths.sum() + unknown_deaths)
        mortality = {
            "basis": "fund_own",
            "source": f"the fund's own deaths in its roll over the last {LOOK_BACK_YEARS} years ({observed} deaths in {exposure_all:.0f} member-years)",
            "note": ("No published Thai mortality table is shipped with Sajja yet: death is drawn from the fund's own "
                     "death rates by 10-year age band and sex, each pulled towards the fund's overall rate"
                     + (" (no death recorded: no death is projected, and death benefits are not costed)" if observed == 0 else "")
                     + "."),
            "note_th": ("Sajja ยังไม่มีตารางมรณะไทยที่เผยแพร่แนบมา: การตายคาดการณ์จากอัตราการตายของสมาชิกกองทุนเอง"
                        "ตามช่วงอายุ 10 ปีและเพศ"
                        + (" (ไม่มีการตายที่บันทึกไว้: ไม่คาดการณ์การตาย และยังไม่คิดค่าสวัสดิการกรณีเสียชีวิต)" if observed == 0 else "")),
        }

    # Joining and leaving trends.
    new_per_year = joined_in_window / window_years if window_years > 0 else 0.0
    joiners = joiner_cells if joiner_cells.sum() > 0 else all_joining
    if joiners.sum() == 0:
        joiners = empty_cells()
        joiners[:, 30] = 1.0
    leave_rate = left_in_window / exposure_all if exposure_all > 0 else 0.0
    leave_q = 1.0 - float(np.exp(-leave_rate))
    if what_if.new_members_per_year is not None:
        new_per_year = float(what_if.new_members_per_year)

    # Contributions: the income years' members' contributions per member-year, and the plan.
    plan_annual = None
    if books.plan is not None:
        period, plan_amount = books.plan
        plan_annual = plan_amount * {"day": 365, "month": 12, "year": 1}[period]
    observed_total = sum(books.income_by_year[y].get("members", 0) for y in income_years)
    observed_exposure = sum(income_exposure.get(y, 0.0) for y in income_years)
    observed_per_member = observed_total / observed_exposure if observed_exposure > 0 else None
    if observed_per_member is not None:
        per_member = observed_per_member
    else:
        per_member = float(plan_annual or 0)
    collection = (observed_per_member / plan_annual) if (observed_per_member is not None and plan_annual) else 1.0
    if what_if.contribution_per_day_satang is not None:
        per_member = what_if.contribution_per_day_satang * 365 * collection

    # Co-funding: each other source's mean over the income years.
    co_funding: dict[str, int] = {}
    for year in income_years:
        for source, received in books.income_by_year[year].items():
            if source != "members":
                co_funding[source] = co_funding.get(source, 0) + received
    co_funding = {s: int(round(total / len(income_years))) for s, total in sorted(co_funding.items())} if income_years else {}
    sources_seen = sorted(co_funding)
    stopped = sorted(set(what_if.stop_co_funding))
    co_funding = {s: a for s, a in co_funding.items() if s not in stopped}

    # Benefits: the rules in force and the fund's claim rates.
    counted: dict[str, np.ndarray] = {}
    unknown_claims: dict[str, float] = {}
    amounts_seen: dict[str, list[int]] = {}
    for member_id, code, _category, event_date, claimed in books.claims:
        if not (window_start <= event_date <= as_of):
            continue
        sex, birth = claimant.get(member_id, (0, None))
        amounts_seen.setdefault(code, []).append(claimed)
        if birth is None:
            unknown_claims[code] = unknown_claims.get(code, 0.0) + 1
        else:
            counted.setdefault(code, empty_cells())[sex, min(max(_age(birth, event_date), 0), MAX_AGE)] += 1
    observed_deaths = float(deaths.sum() + unknown_deaths)
    lines: list[BenefitLine] = []
    benefit_notes: list[dict[str, Any]] = []
    changed = what_if.benefit
    for code, category, rules in books.benefits:
        model = rules.amount
        factor_amount = changed[1] if changed and changed[0] == code else None
        tiers: tuple[tuple[int, int], ...] = ()
        if model.model == "fixed":
            amount = factor_amount if factor_amount is not None else (model.amount_satang or 0)
        elif model.model == "per_day":
            seen = amounts_seen.get(code)
            per_day = model.per_day_satang or 0
            mean = float(np.mean(seen)) if seen else float(per_day * (model.max_days_per_event or 1))
            if factor_amount is not None and per_day:
                mean *= factor_amount / per_day
            amount = int(round(mean))
        else:
            tiers = tuple((t.min_years, t.amount_satang) for t in sorted(model.tiers, key=lambda t: t.min_years))
            if factor_amount is not None and tiers:
                top = tiers[-1][1]
                tiers = tuple((y, int(round(a * factor_amount / top))) for y, a in tiers)
            amount = tiers[-1][1] if tiers else 0
        eligible = _eligible(rules)
        claims_seen = int(counted.get(code, empty_cells()).sum() + unknown_claims.get(code, 0))
        if category == "death":
            take_up = min(claims_seen / observed_deaths, 1.0) if observed_deaths > 0 else 1.0
            lines.append(BenefitLine(code, category, eligible * 0.0, amount, tiers, on_death=True, take_up=take_up))
            benefit_notes.append({"code": code, "category": category, "basis": "deaths", "claims_seen": claims_seen,
                                  "take_up": round(take_up, 4)})
            continue
        rate, overall = _band_rates(counted.get(code, empty_cells()), exposure, eligible,
                                    unknown_claims.get(code, 0.0), unknown_exposure)
        lines.append(BenefitLine(code, category, rate, amount, tiers))
        benefit_notes.append({"code": code, "category": category, "basis": "claim_rate", "claims_seen": claims_seen,
                              "claims_per_1000_member_years": round(overall * 1000, 3)})

    count_current = int(round(members.sum()))
    inputs = Inputs(
        first_year=as_of.year + 1, reserve_satang=books.reserve_satang, reserve_floor_satang=books.reserve_floor_satang,
        members=members, tenure=tenure, death_q=death_q, leave_q=leave_q, new_members_per_year=new_per_year,
        joiners=joiners, contribution_per_member_year_satang=per_member, co_funding_satang=co_funding,
        benefits=tuple(lines))
    starting = {"reserve_satang": books.reserve_satang, "members": count_current,
                "members_without_birth_date": unknown_current,
                "contribution_per_member_year_satang": int(round(per_member)),
                "co_funding_per_year_satang": co_funding}
    assumptions = {
        "look_back": {"from": window_start.isoformat(), "to": as_of.isoformat(), "years": LOOK_BACK_YEARS},
        "income_years": sorted(income_years),
        "co_funding_sources": sources_seen,
        "new_members_per_year": round(new_per_year, 2),
        "leaving_per_year": round(leave_q, 5),
        "plan_per_member_year_satang": plan_annual,
        "collection_of_plan": round(collection, 4),
        "benefits": benefit_notes,
    }
    return Estimate(inputs=inputs, mortality=mortality, starting=starting, assumptions=assumptions)


async def benefits_books(session: AsyncSession, fund_id: uuid.UUID, as_of: dt.date) -> tuple[int, list[tuple[str, str, Rules]],
                                                                                          list[tuple[str, str, str, dt.date, int]]]:
    """This service's part: the reserve floor, the benefits in force and their rules, the counted claims."""
    settings = await session.get(BenefitFund, fund_id)
    floor = settings.reserve_floor_satang if settings is not None else 0
    benefits = (await session.scalars(select(Benefit).where(Benefit.fund_id == fund_id, Benefit.is_active.is_(True))
                                      .order_by(Benefit.code))).all()
    versions = (await session.scalars(select(RuleVersion).where(RuleVersion.fund_id == fund_id, RuleVersion.effective_from <= as_of)
                                      .order_by(RuleVersion.code, RuleVersion.effective_from))).all()
    in_force = {v.code: v for v in versions}  # the latest effective on or before as_of wins
    catalog = [(b.code, b.category, Rules.model_validate(in_force[b.code].rules)) for b in benefits if b.code in in_force]
    since = dt.date(as_of.year - LOOK_BACK_YEARS - 1, 1, 1)
    claims = [(str(m), code, category, day, int(amount)) for m, code, category, day, amount in (await session.execute(
        select(Claim.member_id, Claim.benefit_code, Claim.category, Claim.event_date, Claim.amount_satang)
        .where(Claim.fund_id == fund_id, Claim.status.in_(COUNTED_CLAIMS), Claim.event_date >= since))).all()]
    return floor, catalog, claims
