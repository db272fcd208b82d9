"""A fund's dashboard figures, composed from the four services, and their sums over many funds.

One fund costs nine calls, made at once: the fund and its summary (members), holdings, income by
source, deposits by month and arrears (ledger), benefits paid and claims pending (benefits), and
grants (grants). A roll-up does this for every fund the caller may see in the scope, a few funds
at a time, and adds the figures up; the funds table needs only the summary and holdings.

The accumulated fund (เงินกองทุนสะสม) is what the ledger holds: fund cash + bank + collectors' cash
in hand. A fund whose ledger has no entry has no known accumulated fund: it is null, never 0, and
sums over funds add only the known ones (``funds.with_books`` says how many).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from gateway.dashboard import thai
from gateway.dashboard.upstream import Upstream, bounded, gather_all
from shared.errors import SajjaError, register_messages
from shared.figures import coverage_pct, share_pct
from shared.timeutil import bangkok_today, utcnow

register_messages(
    {
        "dashboard.period_invalid": {
            "th": ("ช่วงเวลาไม่ถูกต้อง", "วันที่เริ่มต้องไม่หลังวันที่สิ้นสุด และช่วงเวลายาวได้ไม่เกิน 10 ปี"),
            "en": ("Invalid period", "The start must not be after the end, and a period may span at most 10 years"),
        },
        "dashboard.month_invalid": {
            "th": ("เดือนไม่ถูกต้อง", "ระบุเดือนเป็น ปปปป-ดด (ค.ศ.) เช่น 2026-10"),
            "en": ("Invalid month", "Give the month as YYYY-MM, e.g. 2026-10"),
        },
    }
)

MAX_PERIOD_DAYS = 3660


@dataclass(frozen=True)
class Period:
    """Dates (Bangkok, inclusive) the flows are counted over; balances are as of now."""

    start: dt.date
    end: dt.date

    @classmethod
    def of(cls, start: dt.date | None = None, end: dt.date | None = None) -> Period:
        """Default: this calendar year to today."""
        end = end or bangkok_today()
        start = start or dt.date(end.year, 1, 1)
        if start > end or (end - start).days > MAX_PERIOD_DAYS:
            raise SajjaError("dashboard.period_invalid", status_code=422)
        return cls(start, end)

    @classmethod
    def month(cls, month: str | None) -> Period:
        """One calendar month, ``YYYY-MM``; the current month when not given."""
        if not month:
            today = bangkok_today()
            return cls(dt.date(today.year, today.month, 1), today)
        try:
            year, number = (int(part) for part in month.split("-"))
            first = dt.date(year, number, 1)
        except ValueError:
            raise SajjaError("dashboard.month_invalid", status_code=422) from None
        after = dt.date(year + number // 12, number % 12 + 1, 1)
        return cls(first, after - dt.timedelta(days=1))

    def params(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}

    def json(self) -> dict[str, Any]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat(),
                "label": f"{thai.thai_date(self.start)} - {thai.thai_date(self.end)}"}


def _fund_out(fund: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "name", "name_en", "kind", "province", "district", "subdistrict", "network_id", "founded_on",
            "founded_year_be", "population", "status")
    return {k: fund.get(k) for k in keys}


async def fund_figures(up: Upstream, fund_id: uuid.UUID | str, period: Period,
                       fund: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every figure of one fund's dashboard; a service's refusal is raised as it came."""
    ledger, benefits = f"/v1/ledger/funds/{fund_id}", f"/v1/benefits/funds/{fund_id}"
    fetched = await gather_all(
        up.get("members", f"/v1/members/funds/{fund_id}") if fund is None else _given(fund),
        up.get("members", f"/v1/members/funds/{fund_id}/summary"),
        up.get("ledger", f"{ledger}/reports/holdings"),
        up.get("ledger", f"{ledger}/reports/sources", period.params()),
        up.get("ledger", f"{ledger}/reports/deposits-by-month", period.params()),
        up.get("ledger", f"{ledger}/arrears"),
        up.get("benefits", f"{benefits}/reports/paid", period.params()),
        up.get("benefits", f"{benefits}/reports/pending"),
        up.get("grants", f"/v1/grants/funds/{fund_id}/summary"),
    )
    fund, summary, holdings, sources, deposits, arrears, paid, pending, grants = fetched
    lang = up.lang
    months = {m["month"]: m for m in deposits["months"]}
    return {
        "fund": _fund_out(fund),
        "period": period.json(),
        "as_of": utcnow().isoformat(),
        "founded_year_be": summary["founded_year_be"],
        "accumulated_satang": holdings["accumulated_satang"],
        "holdings": {
            "fund_cash_satang": holdings["fund_cash_satang"], "bank_satang": holdings["bank_satang"],
            "collectors_cash_satang": holdings["collectors_cash_satang"],
        } if holdings["has_books"] else None,
        "members": {
            "active": summary["members_active"], "total": summary["members_total"],
            "population": summary["population"], "coverage_pct": summary["coverage_pct"],
        },
        "income_by_source": {
            "total_satang": sources["total_satang"],
            "sources": [{"source": s["source"], "label": thai.label(thai.SOURCES, s["source"], lang),
                         "amount_satang": s["amount_satang"], "share_pct": s["share_pct"]} for s in sources["sources"]],
        },
        "deposits_by_month": {
            "deposits": deposits["deposits"], "amount_satang": deposits["amount_satang"],
            "months": [{"month": m, "label": thai.month_label(m, lang=lang),
                        "deposits": months.get(m, {}).get("deposits", 0),
                        "amount_satang": months.get(m, {}).get("amount_satang", 0)}
                       for m in thai.months_between(period.start, period.end)],
        },
        "benefits_paid": {
            "total_satang": paid["total_satang"], "claims": paid["claims"], "members_helped": paid["members_helped"],
            "by_category": [{"category": c["key"], "label": thai.label(thai.CATEGORIES, c["key"], lang),
                             "claims": c["claims"], "amount_satang": c["amount_satang"]} for c in paid["by_category"]],
        },
        "arrears": {"members": len(arrears["items"]), "amount_satang": sum(i["arrears_satang"] for i in arrears["items"]),
                    "as_of": arrears["as_of"]},
        "pending_claims": {
            "claims": sum(line["claims"] for line in pending["lines"]),
            "by_status": [{"status": line["status"], "label": thai.label(thai.PENDING_STATES, line["status"], lang),
                           "claims": line["claims"], "oldest_days": line["oldest_days"]} for line in pending["lines"]],
        },
        "grants": {k: grants[k] for k in ("applications", "awarded", "requested_satang", "awarded_satang",
                                           "disbursed_satang", "received_satang", "in_transit_satang")},
    }


async def _given(value: Any) -> Any:
    return value


def table_row(no: int, fund: dict[str, Any], summary: dict[str, Any], accumulated: int | None) -> dict[str, Any]:
    """One row of the funds table (as the source table of ten funds prints it)."""
    return {
        "no": no, "fund_id": fund["id"], "name": fund["name"], "province": fund["province"],
        "founded_year_be": fund["founded_year_be"], "accumulated_satang": accumulated,
        "accumulated_baht": thai.baht_plain(accumulated) or None, "members": summary["members_active"],
        "population": summary["population"], "coverage_pct": summary["coverage_pct"],
    }


async def visible_funds(up: Upstream, *, province: str | None = None, network_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """The funds the caller may see (the members service decides), narrowed to a province or network."""
    funds = await up.pages("members", "/v1/members/funds")
    if province is not None:
        funds = [f for f in funds if f["province"] == province]
    if network_id is not None:
        funds = [f for f in funds if f.get("network_id") == str(network_id)]
    return funds


async def funds_table(up: Upstream, funds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Name, province, founded (B.E.), accumulated, members and coverage of each fund."""

    def row_of(no: int, fund: dict[str, Any]) -> Any:
        async def row() -> dict[str, Any]:
            summary, holdings = await gather_all(
                up.get("members", f"/v1/members/funds/{fund['id']}/summary"),
                up.get("ledger", f"/v1/ledger/funds/{fund['id']}/reports/holdings"),
            )
            return table_row(no, fund, summary, holdings["accumulated_satang"])
        return row

    return await bounded([row_of(no, fund) for no, fund in enumerate(funds, start=1)])


async def rollup(up: Upstream, funds: list[dict[str, Any]], period: Period, scope: dict[str, Any]) -> dict[str, Any]:
    """The same figures summed over the funds, with the funds table."""

    def figures_of(fund: dict[str, Any]) -> Any:
        return lambda: fund_figures(up, fund["id"], period, fund=fund)

    each = await bounded([figures_of(f) for f in funds])
    table = [table_row(no, f["fund"], {"members_active": f["members"]["active"], "population": f["members"]["population"],
                                       "coverage_pct": f["members"]["coverage_pct"]}, f["accumulated_satang"])
             for no, f in enumerate(each, start=1)]
    return {"scope": scope, "period": period.json(), "as_of": utcnow().isoformat(), **add_up(each, period, up.lang),
            "table": table}


def add_up(each: list[dict[str, Any]], period: Period, lang: str = "th") -> dict[str, Any]:
    """Sums of fund figures. Accumulated adds the funds with books; coverage is the members of the
    funds with a known population over that population."""
    known = [f["accumulated_satang"] for f in each if f["accumulated_satang"] is not None]
    with_population = [f for f in each if f["members"]["population"]]
    population = sum(f["members"]["population"] for f in with_population)
    founded = [f["founded_year_be"] for f in each]
    sources: Counter[str] = Counter()
    for f in each:
        for s in f["income_by_source"]["sources"]:
            sources[s["source"]] += s["amount_satang"]
    income_total = sum(sources.values())
    months: dict[str, list[int]] = {m: [0, 0] for m in thai.months_between(period.start, period.end)}
    for f in each:
        for m in f["deposits_by_month"]["months"]:
            months[m["month"]][0] += m["deposits"]
            months[m["month"]][1] += m["amount_satang"]
    categories: dict[str, list[int]] = {}
    for f in each:
        for c in f["benefits_paid"]["by_category"]:
            line = categories.setdefault(c["category"], [0, 0])
            line[0] += c["claims"]
            line[1] += c["amount_satang"]
    pending: dict[str, list[int]] = {}
    for f in each:
        for p in f["pending_claims"]["by_status"]:
            line = pending.setdefault(p["status"], [0, 0])
            line[0] += p["claims"]
            line[1] = max(line[1], p["oldest_days"])
    grants = {k: sum(f["grants"][k] for f in each) for k in (
        "applications", "awarded", "requested_satang", "awarded_satang", "disbursed_satang", "received_satang",
        "in_transit_satang")}
    return {
        "funds": {"count": len(each), "with_books": len(known),
                  "founded_year_be_first": min(founded) if founded else None,
                  "founded_year_be_last": max(founded) if founded else None},
        "accumulated_satang": sum(known) if known else None,
        "members": {
            "active": sum(f["members"]["active"] for f in each), "total": sum(f["members"]["total"] for f in each),
            "population": population or None,
            "coverage_pct": coverage_pct(sum(f["members"]["active"] for f in with_population), population),
        },
        "income_by_source": {
            "total_satang": income_total,
            "sources": [{"source": s, "label": thai.label(thai.SOURCES, s, lang), "amount_satang": a,
                         "share_pct": share_pct(a, income_total)}
                        for s, a in sorted(sources.items(), key=lambda kv: (-kv[1], kv[0]))],
        },
        "deposits_by_month": {
            "deposits": sum(n for n, _ in months.values()), "amount_satang": sum(a for _, a in months.values()),
            "months": [{"month": m, "label": thai.month_label(m, lang=lang), "deposits": n, "amount_satang": a}
                       for m, (n, a) in months.items()],
        },
        "benefits_paid": {
            "total_satang": sum(f["benefits_paid"]["total_satang"] for f in each),
            "claims": sum(f["benefits_paid"]["claims"] for f in each),
            "members_helped": sum(f["benefits_paid"]["members_helped"] for f in each),
            "by_category": [{"category": c, "label": thai.label(thai.CATEGORIES, c, lang), "claims": n, "amount_satang": a}
                            for c, (n, a) in sorted(categories.items())],
        },
        "arrears": {"members": sum(f["arrears"]["members"] for f in each),
                    "amount_satang": sum(f["arrears"]["amount_satang"] for f in each)},
        "pending_claims": {
            "claims": sum(n for n, _ in pending.values()),
            "by_status": [{"status": s, "label": thai.label(thai.PENDING_STATES, s, lang), "claims": n, "oldest_days": d}
                          for s, (n, d) in sorted(pending.items())],
        },
        "grants": grants,
    }
