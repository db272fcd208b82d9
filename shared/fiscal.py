"""A fund's fiscal year (docs/fiscal-years.md): the calendar year (start month 1) or October to
September (start month 10). A year is named by the calendar year it ends in, as the Thai budget
year is: fiscal year 2020 of an October fund runs 1 October 2019 to 30 September 2020."""

from __future__ import annotations

import datetime as dt

#: The start months a fund may choose.
START_MONTHS = (1, 10)
#: A Buddhist Era year is the Common Era year plus 543 (2563 is 2020).
BE_OFFSET = 543


def fiscal_year_of(day: dt.date, start_month: int = 1) -> int:
    """The fiscal year ``day`` falls in."""
    return day.year + 1 if start_month != 1 and day.month >= start_month else day.year


def year_bounds(year: int, start_month: int = 1) -> tuple[dt.date, dt.date]:
    """The first and last day of fiscal ``year``."""
    if start_month == 1:
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    return dt.date(year - 1, start_month, 1), dt.date(year, start_month, 1) - dt.timedelta(days=1)


def same_fiscal_year(a: dt.date, b: dt.date, start_month: int = 1) -> bool:
    return fiscal_year_of(a, start_month) == fiscal_year_of(b, start_month)
