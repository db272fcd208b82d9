"""A member's standing as a pure function: one row per case of plans, joining day, money and day.

``services.ledger.plans.service.standing`` is given the fund's plans (in any order, later ones
included), the day the member joined, what they have contributed by the end of ``as_of``, and
``as_of``. Each row says what it must answer: what every plan in its time asked for (due), the
last day the money covers, the periods behind in the covering plan (the shortfall over its amount,
rounded up), whether that is more than its grace, and which plan covers ``as_of``. Plans are ORM
objects made without a session; nothing here touches a database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from typing import Any

import pytest

from services.ledger.models import ContributionPlan
from services.ledger.plans.service import periods_between, standing

d = dt.date.fromisoformat
B = 100  # satang a baht


def plan(period: str, baht: float, since: str = "2000-01-01", grace: int = 0) -> ContributionPlan:
    return ContributionPlan(id=uuid.uuid4(), name=f"{baht} baht a {period}", period=period, amount_satang=round(baht * B),
                            effective_from=d(since), grace_periods=grace)


def daily(baht: float = 1, since: str = "2000-01-01", grace: int = 3) -> ContributionPlan:
    return plan("day", baht, since, grace)


def monthly(baht: float = 30, since: str = "2000-01-01", grace: int = 1) -> ContributionPlan:
    return plan("month", baht, since, grace)


def yearly(baht: float = 365, since: str = "2000-01-01", grace: int = 0) -> ContributionPlan:
    return plan("year", baht, since, grace)


@dataclasses.dataclass(frozen=True)
class Case:
    plans: tuple[ContributionPlan, ...]
    joined: dt.date
    as_of: dt.date
    paid: int  # satang
    due: int
    through: dt.date | None
    behind: int
    late: bool  # in arrears: more periods behind than the covering plan's grace
    under: tuple[str, int] | None  # the covering plan: (period, amount)


def row(name: str, plans: list[ContributionPlan], joined: str, as_of: str, paid: int, *, due: int, through: str | None,
        behind: int = 0, late: bool = False, under: tuple[str, int] | None = None, marks: Any = ()) -> Any:
    """``under`` defaults to the only plan there is."""
    if under is None and len(plans) == 1 and plans[0].effective_from <= d(as_of):
        under = (plans[0].period, plans[0].amount_satang)
    case = Case(tuple(plans), d(joined), d(as_of), paid, due, d(through) if through else None, behind, late, under)
    return pytest.param(case, id=name, marks=marks)


CASES = [
    # --- 1 baht a day (grace 3) ------------------------------------------------------------------------------------------
    row("daily: joined today, nothing paid", [daily()], "2026-03-10", "2026-03-10", 0, due=100, through=None, behind=1),
    row("daily: paid exactly", [daily()], "2026-03-01", "2026-03-10", 1_000, due=1_000, through="2026-03-10"),
    row("daily: paid ahead", [daily()], "2026-03-01", "2026-03-10", 1_500, due=1_000, through="2026-03-15"),
    row("daily: behind by the grace", [daily()], "2026-03-01", "2026-03-10", 700, due=1_000, through="2026-03-07", behind=3),
    row("daily: the next day, one past the grace", [daily()], "2026-03-01", "2026-03-11", 700, due=1_100, through="2026-03-07",
        behind=4, late=True),
    row("daily: half a day paid is a day behind", [daily()], "2026-03-01", "2026-03-10", 650, due=1_000,
        through="2026-03-06", behind=4, late=True),
    row("daily: across 29 February", [daily()], "2024-02-28", "2024-03-01", 200, due=300, through="2024-02-29", behind=1),
    row("daily: across the new year", [daily()], "2025-12-30", "2026-01-02", 400, due=400, through="2026-01-02"),
    row("daily: joined before the plan began", [daily(since="2026-03-05")], "2025-01-01", "2026-03-10", 600, due=600,
        through="2026-03-10"),
    # --- 30 baht a month (grace 1): every month begun is due -------------------------------------------------------------
    row("monthly: joined on the 31st, paid", [monthly()], "2026-01-31", "2026-01-31", 3_000, due=3_000, through="2026-01-31"),
    row("monthly: the 1st of the next month is due", [monthly()], "2026-01-31", "2026-02-01", 3_000, due=6_000,
        through="2026-01-31", behind=1),
    row("monthly: a month ahead runs to the end of February", [monthly()], "2026-01-31", "2026-01-31", 6_000, due=3_000,
        through="2026-02-28"),
    row("monthly: to 29 February in a leap year", [monthly()], "2024-01-31", "2024-02-15", 6_000, due=6_000,
        through="2024-02-29"),
    row("monthly: joined mid-month, the last day of a month", [monthly()], "2026-01-15", "2026-03-31", 9_000, due=9_000,
        through="2026-03-31"),
    row("monthly: the 1st after, within the grace", [monthly()], "2026-01-15", "2026-04-01", 9_000, due=12_000,
        through="2026-03-31", behind=1),
    row("monthly: a month later, past the grace", [monthly()], "2026-01-15", "2026-05-01", 9_000, due=15_000,
        through="2026-03-31", behind=2, late=True),
    row("monthly: part of a month paid", [monthly()], "2026-01-01", "2026-03-15", 7_500, due=9_000, through="2026-02-28",
        behind=1),
    row("monthly: paid ahead into next year", [monthly()], "2026-11-01", "2026-11-30", 9_000, due=3_000, through="2027-01-31"),
    # --- 365 baht a year (grace 0) ----------------------------------------------------------------------------------------
    row("yearly: joined on 31 December owes the year", [yearly()], "2025-12-31", "2025-12-31", 0, due=36_500, through=None,
        behind=1, late=True),
    row("yearly: paid on 31 December", [yearly()], "2025-12-31", "2025-12-31", 36_500, due=36_500, through="2025-12-31"),
    row("yearly: 1 January, the next year due", [yearly()], "2025-12-31", "2026-01-01", 36_500, due=73_000,
        through="2025-12-31", behind=1, late=True),
    row("yearly: joined 29 February, two years paid", [yearly()], "2024-02-29", "2024-02-29", 73_000, due=36_500,
        through="2025-12-31"),
    # --- No plan yet ---------------------------------------------------------------------------------------------------------
    row("no plan at all", [], "2026-01-01", "2026-03-01", 500, due=0, through=None),
    row("only a plan still to come", [monthly(since="2026-04-01")], "2026-01-01", "2026-03-31", 500, due=0, through=None),
    row("the plan's first day", [monthly(since="2026-04-01")], "2026-01-01", "2026-04-01", 0, due=3_000, through=None,
        behind=1),
    row("joined after the day asked about", [monthly()], "2026-05-01", "2026-04-15", 0, due=0, through=None),
    # --- Days, then months from 15 April: months take over on 1 May ------------------------------------------------------
    row("days to months: 30 April, still days", [daily(), monthly(since="2026-04-15")], "2026-04-01", "2026-04-30", 1_400,
        due=3_000, through="2026-04-14", behind=16, late=True, under=("day", 100)),
    row("days to months: paid ahead stops where months begin", [daily(), monthly(since="2026-04-15")], "2026-04-01",
        "2026-04-14", 100_000, due=1_400, through="2026-04-30", under=("day", 100)),
    row("days to months: 1 May, the month due", [daily(), monthly(since="2026-04-15")], "2026-04-01", "2026-05-01", 3_000,
        due=6_000, through="2026-04-30", behind=1, under=("month", 3_000)),
    row("days to months: a day short is a month behind", [daily(), monthly(since="2026-04-15")], "2026-04-01", "2026-05-01",
        2_900, due=6_000, through="2026-04-29", behind=2, late=True, under=("month", 3_000)),
    row("days to months: paid ahead runs on in months", [daily(), monthly(since="2026-04-15")], "2026-04-01", "2026-05-01",
        9_000, due=6_000, through="2026-06-30", under=("month", 3_000)),
    row("days to months on the 1st: months from that day", [daily(), monthly(since="2026-05-01")], "2026-04-01",
        "2026-05-01", 6_000, due=6_000, through="2026-05-31", under=("month", 3_000)),
    # --- Months, then days from 10 February: days take over on 1 March --------------------------------------------------
    row("months to days: 28 February, still months", [monthly(), daily(since="2026-02-10")], "2026-01-20", "2026-02-28",
        6_000, due=6_000, through="2026-02-28", under=("month", 3_000)),
    row("months to days: 1 March, a day due", [monthly(), daily(since="2026-02-10")], "2026-01-20", "2026-03-01", 6_000,
        due=6_100, through="2026-02-28", behind=1, under=("day", 100)),
    row("months to days: paid through 5 March", [monthly(), daily(since="2026-02-10")], "2026-01-20", "2026-03-05", 6_500,
        due=6_500, through="2026-03-05", under=("day", 100)),
    row("months to days: a month behind, told in days", [monthly(), daily(since="2026-02-10")], "2026-01-20", "2026-03-05",
        3_000, due=6_500, through="2026-01-31", behind=35, late=True, under=("day", 100)),
    row("months to days on the last day of a month", [monthly(), daily(since="2026-02-28")], "2026-01-20", "2026-02-28",
        6_000, due=6_000, through="2026-02-28", under=("month", 3_000)),
    # --- A new amount for the same period ------------------------------------------------------------------------------------
    row("30 then 50 a month from the 1st", [monthly(), monthly(50, since="2026-04-01")], "2026-01-01", "2026-04-30", 14_000,
        due=14_000, through="2026-04-30", under=("month", 5_000)),
    row("30 then 50 a month from the 2nd: April still 30", [monthly(), monthly(50, since="2026-04-02")], "2026-01-01",
        "2026-04-30", 12_000, due=12_000, through="2026-04-30", under=("month", 3_000)),
    row("30 then 50 a month from the 2nd: May at 50", [monthly(), monthly(50, since="2026-04-02")], "2026-01-01",
        "2026-05-01", 12_000, due=17_000, through="2026-04-30", behind=1, under=("month", 5_000)),
    # --- Days and years --------------------------------------------------------------------------------------------------------
    row("days to a year from March: days until the year ends", [daily(), yearly(since="2026-03-01")], "2026-01-01",
        "2026-12-31", 36_500, due=36_500, through="2026-12-31", under=("day", 100)),
    row("days to a year from March: 1 January, the year due", [daily(), yearly(since="2026-03-01")], "2026-01-01",
        "2027-01-01", 36_500, due=73_000, through="2026-12-31", behind=1, late=True, under=("year", 36_500)),
    row("a year to days from June: days from the next year", [yearly(), daily(since="2026-06-01")], "2025-01-01",
        "2027-01-05", 73_500, due=73_500, through="2027-01-05", under=("day", 100)),
    # --- Three plans -----------------------------------------------------------------------------------------------------------
    row("days, months, a year: all paid", [daily(), monthly(since="2026-02-10"), yearly(since="2026-06-15")], "2026-01-01",
        "2027-02-01", 72_400, due=72_400, through="2027-12-31", under=("year", 36_500)),
    row("days, months, a year: the year unpaid", [daily(), monthly(since="2026-02-10"), yearly(since="2026-06-15")],
        "2026-01-01", "2027-02-01", 35_900, due=72_400, through="2026-12-31", behind=1, late=True, under=("year", 36_500)),
    row("plans given in any order", [yearly(since="2026-06-15"), daily(), monthly(since="2026-02-10")], "2026-01-01",
        "2027-02-01", 72_400, due=72_400, through="2027-12-31", under=("year", 36_500)),
    # --- A plan entered by mistake and corrected before it took over: as if never made -------------------------------------
    row("mistaken year, corrected to 50 satang a day", [daily(), yearly(since="2026-01-05"), daily(0.5, since="2026-01-06")],
        "2025-01-01", "2026-06-30", 0, due=36_500 + 500 + 176 * 50, through=None, behind=916, late=True, under=("day", 50)),
    row("mistaken year, corrected, all paid", [daily(), yearly(since="2026-01-05"), daily(0.5, since="2026-01-06")],
        "2025-01-01", "2026-06-30", 45_800, due=45_800, through="2026-06-30", under=("day", 50)),
    row("mistaken month, corrected to 2 baht a day", [daily(), monthly(since="2026-03-10"), daily(2, since="2026-03-11")],
        "2026-03-01", "2026-03-20", 3_000, due=3_000, through="2026-03-20", under=("day", 200)),
    # ... but a mistake that has taken over has begun its period, and keeps it.
    row("mistaken 50 a month from the 1st, corrected on the 2nd: April at 50",
        [monthly(), monthly(50, since="2026-04-01"), monthly(since="2026-04-02")], "2026-03-01", "2026-04-30", 6_000,
        due=8_000, through="2026-03-31", behind=1, under=("month", 5_000)),
    row("the first plan a mistaken year, corrected the next day: the year stands",
        [yearly(since="2026-01-05"), daily(since="2026-01-06")], "2026-01-01", "2026-03-01", 5_600, due=36_500,
        through=None, behind=1, late=True, under=("year", 36_500)),
]


@pytest.mark.parametrize("case", CASES)
def test_standing(case: Case) -> None:
    member = uuid.uuid4()
    result = standing(member_id=member, joined_on=case.joined, contributed=case.paid, all_plans=list(case.plans), as_of=case.as_of)
    under = (result.plan.period, result.plan.amount_satang) if result.plan else None
    assert (result.due_satang, result.paid_through, result.periods_in_arrears, result.in_arrears, under) == (
        case.due, case.through, case.behind, case.late, case.under)
    assert (result.arrears_satang, result.contributed_satang) == (max(0, case.due - case.paid), case.paid)
    assert (result.member_id, result.joined_on, result.as_of) == (member, case.joined, case.as_of)


@pytest.mark.parametrize(
    ("start", "end", "period", "periods"),
    [
        ("2026-01-31", "2026-01-31", "day", 1), ("2026-01-31", "2026-01-30", "day", 0),
        ("2024-02-28", "2024-03-01", "day", 3), ("2025-02-28", "2025-03-01", "day", 2),
        ("2026-01-31", "2026-02-01", "month", 2), ("2026-01-01", "2026-01-31", "month", 1),
        ("2025-12-15", "2026-01-15", "month", 2), ("2026-02-01", "2026-01-31", "month", 0),
        ("2025-12-31", "2026-01-01", "year", 2), ("2026-01-01", "2026-12-31", "year", 1),
    ],
)
def test_periods_begun_are_counted_both_ends(start: str, end: str, period: str, periods: int) -> None:
    assert periods_between(d(start), d(end), period) == periods
