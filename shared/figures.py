"""Figures every process shows alike: percentages rounded as the funds' own tables round them
(half up, not Python's half to even), years in the Buddhist Era, and short amounts for charts."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from shared.fiscal import BE_OFFSET as BE_OFFSET  # re-exported: years in B.E. are shown from here


def be_year(day: dt.date) -> int:
    return day.year + BE_OFFSET


def _percent(part: int, whole: int, places: str) -> float:
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal(places), rounding=ROUND_HALF_UP))


def share_pct(part: int, total: int) -> float:
    """Percent of a total, two decimals, half up (income by source); 0 of nothing is 0."""
    return _percent(part, total, "0.01") if total else 0.0


def coverage_pct(members: int, population: int | None) -> float | None:
    """Members over population, in percent, one decimal, half up (as the source table); none
    without a population."""
    return _percent(members, population, "0.1") if population else None


def short_baht(satang: int) -> str:
    """``1.3 ล.`` / ``350 พ.`` / ``900``: axis and bar labels that fit a phone screen or a chart."""
    value = satang / 100
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.1f} ล."
    if abs(value) >= 10_000:
        return f"{value / 1_000:.0f} พ."
    return f"{value:,.0f}"
