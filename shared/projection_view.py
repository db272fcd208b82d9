"""The 20-year sustainability projection as people read it (issue 28 point 4), shown alike by the
fund's dashboard (an inline SVG, ``gateway/dashboard/charts.py``) and the annual statements PDF
(fpdf2 lines and polygons, ``services/ledger/years/render.py``).

The projection itself is the benefits service's (``GET /v1/benefits/funds/{fund_id}/projection``,
docs/projection.md); this module only reads its answer: the sentence that says when the reserve
first falls under the floor, the mortality basis in words, the rows of every fifth year, and the
chart's geometry in a box of the caller's size (y grows downwards, as in SVG and fpdf2), so the two
drawings are the same chart.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from shared.figures import BE_OFFSET

#: The basis of the mortality the projection assumed, as the benefits service names it.
MORTALITY_BASES: dict[str, tuple[str, str]] = {
    "table": ("ตารางมรณะของประเทศไทย", "Thai mortality table"),
    "fund_own": ("อัตราการเสียชีวิตของสมาชิกกองทุนเอง", "The fund's own members' deaths"),
}

TEXTS: dict[str, tuple[str, str]] = {
    "title": ("ประมาณการความยั่งยืน 20 ปี", "20-year sustainability projection"),
    "unavailable": ("ขณะนี้แสดงประมาณการไม่ได้ (ระบบสวัสดิการไม่ตอบหรือขัดข้อง)",
                    "The projection is unavailable (the benefits service did not answer or failed)"),
    "refused": ("แสดงประมาณการไม่ได้", "The projection cannot be shown"),
    "expected": ("ค่าคาดหมาย", "Expected"),
    "band": ("ช่วง 5–95%", "5–95% band"),
    "floor": ("เงินสำรองขั้นต่ำ", "Reserve floor"),
    "reserve": ("เงินสำรองของกองทุน", "The fund's reserve"),
    "members": ("จำนวนสมาชิก", "Members"),
    "mortality": ("ฐานอัตราการเสียชีวิต", "Mortality basis"),
}


#: What the views read of each year of the path (the band's fields of each figure).
PATH_FIGURES = ("members", "contributions_satang", "co_funding_satang", "benefits_satang", "reserve_satang")


def usable(answer: Any) -> dict[str, Any] | None:
    """The benefits service's answer if the views can show it: a path of years, each with every
    figure's expected value and 5-95% band; None otherwise (the view then says it is unavailable,
    rather than failing on a field it lacks)."""
    try:
        path = answer["path"]
        if not isinstance(path, list) or not path:
            return None
        for point in path:
            int(point["year"])
            for name in PATH_FIGURES:
                for field in ("expected", "p5", "p95"):
                    float(point[name][field])
        dt.date.fromisoformat(str(answer["as_of"])[:10])
        int(answer["reserve_floor_satang"])
        int(answer["starting"]["reserve_satang"])
        int(answer["starting"].get("members") or 0)
        for key in ("first_year_under_floor", "first_year_under_floor_p5"):
            if answer.get(key) is not None and not isinstance(answer[key], int):
                return None
        if not isinstance(answer.get("mortality") or {}, dict):
            return None
    except (KeyError, TypeError, ValueError):
        return None
    return answer if isinstance(answer, dict) else None


def text(key: str, lang: str = "th") -> str:
    th, en = TEXTS[key]
    return en if lang == "en" else th


def _year(year: int, lang: str) -> str:
    return str(year) if lang == "en" else f"พ.ศ. {year + BE_OFFSET}"


def under_floor_words(projection: dict[str, Any], lang: str = "th") -> str:
    """When the reserve first falls under the floor, in one or two sentences: on the expected path,
    and in the unlucky case (the 5th percentile), or that it stays above over every projected year."""
    expected, p5 = projection.get("first_year_under_floor"), projection.get("first_year_under_floor_p5")
    years = len(projection.get("path") or []) or projection.get("years")
    if lang == "en":
        first = (f"On the expected path the reserve falls under the floor in {_year(expected, lang)}."
                 if expected is not None else f"On the expected path the reserve stays above the floor for all {years} years.")
        if p5 is None:
            return first + " Even in the unlucky case (5th percentile) it stays above it."
        if expected is not None and p5 == expected:
            return first + " The unlucky case (5th percentile) falls under it the same year."
        return first + f" In the unlucky case (5th percentile) it falls under it in {_year(p5, lang)}."
    first = (f"ตามค่าคาดหมาย เงินสำรองของกองทุนจะต่ำกว่าเงินสำรองขั้นต่ำตั้งแต่ปี {_year(expected, lang)}"
             if expected is not None else f"ตามค่าคาดหมาย เงินสำรองของกองทุนไม่ต่ำกว่าเงินสำรองขั้นต่ำตลอด {years} ปี")
    if p5 is None:
        return first + " และแม้ในกรณีที่ไม่ดี (เปอร์เซ็นไทล์ที่ 5) ก็ไม่ต่ำกว่า"
    if expected is not None and p5 == expected:
        return first + " ในกรณีที่ไม่ดี (เปอร์เซ็นไทล์ที่ 5) ก็ต่ำกว่าในปีเดียวกัน"
    return first + f" ในกรณีที่ไม่ดี (เปอร์เซ็นไทล์ที่ 5) อาจต่ำกว่าตั้งแต่ปี {_year(p5, lang)}"


def mortality_words(projection: dict[str, Any], lang: str = "th") -> str:
    """``ฐานอัตราการเสียชีวิต: ตารางมรณะของประเทศไทย (source)``: the basis and where it comes from."""
    mortality = projection.get("mortality") or {}
    basis = mortality.get("basis", "")
    names = MORTALITY_BASES.get(basis)
    name = (names[1] if lang == "en" else names[0]) if names else str(basis)
    source = mortality.get("source")
    return f"{text('mortality', lang)}: {name}" + (f" ({source})" if source else "")


def every_fifth_year(path: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Years 5, 10, 15 and 20 of the path (and its last year, whatever its length)."""
    rows = [point for i, point in enumerate(path) if (i + 1) % 5 == 0]
    if path and (not rows or rows[-1] is not path[-1]):
        rows.append(path[-1])
    return rows


def _nice_step(span: float, ticks: int = 4) -> float:
    raw = span / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


@dataclass(frozen=True)
class Plot:
    """A band chart over the projected years in a box (``left``, ``top``, ``width``, ``height``):
    the expected line, the 5-95% band as a polygon (the 95th percentile forwards, the 5th back),
    the floor's height (None when the chart has no floor), and the ticks of both axes."""

    expected: list[tuple[float, float]]
    band: list[tuple[float, float]]
    floor_y: float | None
    y_ticks: list[tuple[float, int]]
    x_ticks: list[tuple[float, int]]
    left: float
    top: float
    width: float
    height: float

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def right(self) -> float:
        return self.left + self.width


def band_plot(path: list[dict[str, Any]], key: str, *, left: float, top: float, width: float, height: float,
              floor: int | None = None, unit: int = 1) -> Plot:
    """The geometry of ``path[i][key]``'s expected value and 5-95% band (with ``floor`` as a line);
    the value axis's ticks are whole multiples of ``unit`` (100 for satang: whole baht), at least
    four of them, even when every value is 0."""
    years = [int(point["year"]) for point in path]
    p5 = [float(point[key]["p5"]) for point in path]
    p95 = [float(point[key]["p95"]) for point in path]
    expected = [float(point[key]["expected"]) for point in path]
    values = [*p5, *p95, *expected, *([float(floor)] if floor is not None else [])]
    low, high = min(0.0, *values), max(0.0, *values)
    high = max(high, low + 4 * unit)
    step = max(_nice_step(high - low), unit)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    span_years = max(years[-1] - years[0], 1)

    def x(year: int) -> float:
        return left + width * (year - years[0]) / span_years

    def y(value: float) -> float:
        return top + height * (high - value) / (high - low)

    line = [(x(yr), y(v)) for yr, v in zip(years, expected)]
    band = [(x(yr), y(v)) for yr, v in zip(years, p95)] + [(x(yr), y(v)) for yr, v in reversed(list(zip(years, p5)))]
    ticks, value = [], low
    while value <= high + step / 2:
        ticks.append((y(value), round(value)))
        value += step
    every = 5 if len(years) > 10 else 1
    x_ticks = [(x(yr), yr) for i, yr in enumerate(years) if i == 0 or (i + 1) % every == 0]
    return Plot(expected=line, band=band, floor_y=y(floor) if floor is not None else None, y_ticks=ticks, x_ticks=x_ticks,
                left=left, top=top, width=width, height=height)
