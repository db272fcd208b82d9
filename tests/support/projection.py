"""A canned answer of the benefits service's projection (``GET /v1/benefits/funds/{id}/projection``),
of the shape its engine answers, for the tests of what shows it: the dashboard's chart and the
annual statements' page."""

from __future__ import annotations

import copy
from typing import Any

FIRST_YEAR = 2027


def _band(expected: int, spread: int) -> dict[str, int]:
    return {"expected": expected, "p5": expected - spread, "p50": expected, "p95": expected + spread}


def canned_projection(fund_id: str = "00000000-0000-0000-0000-000000000001", *, first_under: int | None = 2038,
                      first_under_p5: int | None = 2033) -> dict[str, Any]:
    """Twenty years of a fund whose reserve grows for ten years, then falls under its floor of
    500,000 baht: expected in ``first_under``, in the unlucky case in ``first_under_p5``."""
    path = []
    for i in range(20):
        year = FIRST_YEAR + i
        reserve = 1_000_000_000 + 40_000_000 * min(i, 10) - 90_000_000 * max(0, i - 10)
        path.append({
            "year": year,
            "members": {"expected": 1_000 + 10 * i, "p5": 980 + 8 * i, "p95": 1_020 + 12 * i},
            "contributions_satang": {"expected": 36_500_000 + 100_000 * i, "p5": 35_000_000, "p95": 38_000_000 + 200_000 * i},
            "co_funding_satang": {"expected": 20_000_000, "p5": 18_000_000, "p95": 22_000_000},
            "benefits_satang": {"expected": 30_000_000 + 5_000_000 * i, "p5": 25_000_000, "p95": 40_000_000 + 6_000_000 * i},
            "reserve_satang": _band(reserve, 20_000_000 + 8_000_000 * i),
            "under_floor_share": 0.0 if year < 2033 else min(1.0, 0.1 * (year - 2032)),
            "deaths": {"expected": 10, "p5": 5, "p95": 16},
            "benefits_by_code_satang": {"death": 20_000_000, "elderly": 10_000_000 + 5_000_000 * i},
        })
    return copy.deepcopy({
        "fund_id": fund_id, "as_of": "2026-12-07", "first_year": FIRST_YEAR, "years": 20, "runs": 1000, "seed": 28,
        "mortality": {"basis": "table", "source": "ตารางชีพประเทศไทย พ.ศ. 2560 (TMO2017)",
                      "note": "กองทุนมีผู้เสียชีวิตน้อยเกินกว่าจะใช้อัตราของกองทุนเอง"},
        "what_if": {}, "reserve_floor_satang": 50_000_000,
        "starting": {"reserve_satang": 1_000_000_000, "members": 1_000, "members_without_birth_date": 12,
                     "contribution_per_member_year_satang": 36_500,
                     "co_funding_per_year_satang": {"codi": 12_000_000, "local_government": 8_000_000}},
        "path": path, "first_year_under_floor": first_under, "first_year_under_floor_p5": first_under_p5,
        "assumptions": {},
    })
