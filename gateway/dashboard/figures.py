"""A fund's dashboard figures, composed from the four services, and their sums over many funds.

One fund costs nine calls, made at once: the fund and its summary (members), holdings, income by
source, deposits by month and arrears (ledger), benefits paid and claims pending (benefits), and
grants (grants). A view of many funds (a roll-up, the funds table, its exports) makes one call to
each service whatever the number of funds: each service sums the scope's funds from per-fund
aggregates it keeps (docs/aggregates.md), and a service that is slow or down leaves its figures
out, said to be missing, rather than failing the whole view.

The accumulated fund (เงินกองทุนสะสม) is what the ledger holds: fund cash + bank + collectors' cash
in hand. A fund whose ledger has no entry has no known accumulated fund: it is null, never 0, and
sums over funds add only the known ones (``funds.with_books`` says how many).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from collections.abc import Coroutine
from typing import Any

from gateway.dashboard import thai
from gateway.dashboard.upstream import Upstream, UpstreamProblem, gather_all
from shared import projection_view
from shared.errors import SajjaError, register_messages
from shared.figures import coverage_pct
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
                       fund: dict[str, Any] | None = None, *, without_benefits_ok: bool = False) -> dict[str, Any]:
    """Every figure of one fund's dashboard; a service's refusal is raised as it came. With
    ``without_benefits_ok`` (the web page, which also shows the projection of benefits), a benefits
    service that fails or cannot be reached leaves its figures null, named in ``missing`` and
    ``unavailable`` as a roll-up names them, rather than failing the page."""
    ledger, benefits = f"/v1/ledger/funds/{fund_id}", f"/v1/benefits/funds/{fund_id}"

    def of_benefits(call: Coroutine[Any, Any, Any]) -> Coroutine[Any, Any, Any]:
        return _or_missing("benefits", call) if without_benefits_ok else call

    fetched = await gather_all(
        up.get("members", f"/v1/members/funds/{fund_id}") if fund is None else _given(fund),
        up.get("members", f"/v1/members/funds/{fund_id}/summary"),
        up.get("ledger", f"{ledger}/reports/holdings"),
        up.get("ledger", f"{ledger}/reports/sources", period.params()),
        up.get("ledger", f"{ledger}/reports/deposits-by-month", period.params()),
        up.get("ledger", f"{ledger}/arrears"),
        of_benefits(up.get("benefits", f"{benefits}/reports/paid", period.params())),
        of_benefits(up.get("benefits", f"{benefits}/reports/pending")),
        up.get("grants", f"/v1/grants/funds/{fund_id}/summary"),
    )
    fund, summary, holdings, sources, deposits, arrears, paid, pending, grants = fetched
    lang = up.lang
    months = {m["month"]: m for m in deposits["months"]}
    down = next((x for x in (paid, pending) if isinstance(x, Missing)), None)
    if down is not None:
        paid = {"total_satang": None, "claims": None, "members_helped": None, "by_category": []}
        pending = {"lines": None}
    out = {
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
        } if pending["lines"] is not None else {"claims": None, "by_status": []},
        "grants": {k: grants[k] for k in ("applications", "awarded", "requested_satang", "awarded_satang",
                                           "disbursed_satang", "received_satang", "in_transit_satang")},
    }
    if without_benefits_ok:
        out["missing"] = list(GROUPS["benefits"]) if down is not None else []
        out["unavailable"] = _unavailable({"benefits": down}) if down is not None else []
    return out


#: How long a fund's page waits for its projection (a simulation of many runs) before it shows the
#: projection as unavailable and the rest of the page as usual.
PROJECTION_SECONDS = 10.0
#: The projection's what-ifs, passed through to the benefits service as the page was asked them
#: (``stop_co_funding`` may be repeated, a source each time).
WHAT_IFS = ("contribution_per_day_satang", "benefit", "new_members_per_year", "stop_co_funding")
REPEATED_WHAT_IFS = ("stop_co_funding",)


async def fund_projection(up: Upstream, fund_id: uuid.UUID | str, what_if: dict[str, Any] | None = None) -> dict[str, Any]:
    """The fund's 20-year sustainability projection, asked of the benefits service with the
    caller's token (so it is for those who may read the fund's benefit reports), with the what-ifs
    given. Never raises: ``{"projection": answer}``, or ``{"projection": None, "problem": text}``
    when the service refused, failed, was slow or answered what the page cannot show."""
    params = {"years": 20, **{k: v for k, v in (what_if or {}).items() if k in WHAT_IFS and v not in (None, "")}}
    try:
        answer = await up.get("benefits", f"/v1/benefits/funds/{fund_id}/projection", params, timeout=PROJECTION_SECONDS)
    except UpstreamProblem as problem:
        detail = problem.problem().get("detail") if problem.status < 500 else None
        return {"projection": None, "problem": str(detail) if detail else None}
    except SajjaError:
        return {"projection": None, "problem": None}
    usable = projection_view.usable(answer)
    return {"projection": usable, "problem": None}


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


#: How long a view of many funds waits for a service before it shows that service's figures as
#: missing rather than failing whole.
DEADLINE_SECONDS = 5.0

#: The figure groups of a roll-up each service answers.
GROUPS: dict[str, tuple[str, ...]] = {
    "members": ("funds", "members", "table"),
    "ledger": ("accumulated_satang", "income_by_source", "deposits_by_month", "arrears"),
    "benefits": ("benefits_paid", "pending_claims"),
    "grants": ("grants",),
}


@dataclass(frozen=True)
class Missing:
    """A service that timed out or failed: its figures are left out, and said to be."""

    service: str
    reason: str


async def _or_missing(service: str, call: Coroutine[Any, Any, Any]) -> Any:
    """The answer, or :class:`Missing` when the service timed out, could not be reached or failed
    (5xx). A refusal (4xx) is the caller's answer and is raised as it came."""
    try:
        return await call
    except UpstreamProblem as problem:
        if problem.status < 500:
            raise
        return Missing(service, "failed")
    except SajjaError as error:
        if error.code == "upstream.timeout":
            return Missing(service, "timeout")
        if error.code.startswith("upstream."):
            return Missing(service, "unavailable")
        raise


async def overview(up: Upstream, *, province: str | None = None, network_id: uuid.UUID | None = None,
                   timeout: float | None = None) -> dict[str, Any]:
    """The funds the caller may see (the members service decides), narrowed to a province or a
    network, with their members counted: one call."""
    return await up.get("members", "/v1/members/funds-overview", {"province": province, "network_id": network_id},
                        timeout=timeout)


def _scope_body(fund_ids: list[str] | None, period: Period | None = None) -> dict[str, Any]:
    return {"fund_ids": fund_ids, **(period.params() if period else {})}


async def _many(up: Upstream, calls: dict[str, Coroutine[Any, Any, Any]]) -> dict[str, Any]:
    names = list(calls)
    answers = await gather_all(*(_or_missing(name, calls[name]) for name in names))
    return dict(zip(names, answers))


def _unavailable(answers: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"service": a.service, "reason": a.reason, "figures": list(GROUPS[a.service])}
            for a in answers.values() if isinstance(a, Missing)]


def _table(funds: list[dict[str, Any]], by_fund: dict[str, dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [table_row(no, f, f, by_fund.get(f["id"], {}).get("accumulated_satang") if by_fund is not None else None)
            for no, f in enumerate(funds, start=1)]


async def funds_table(up: Upstream, *, province: str | None = None, network_id: uuid.UUID | None = None,
                      everything: bool = False) -> dict[str, Any]:
    """Name, province, founded (B.E.), accumulated, members and coverage of each fund: one call to
    the members service, one to the ledger (``everything``: the caller sees every fund, so the
    ledger is asked for all of them rather than a list)."""
    deadline = DEADLINE_SECONDS
    if everything:
        answers = await _many(up, {
            "members": overview(up, province=province, network_id=network_id, timeout=deadline),
            "ledger": up.post("ledger", "/v1/ledger/aggregates", _scope_body(None), timeout=deadline)})
        if isinstance(answers["members"], Missing):
            raise SajjaError("upstream.unavailable", status_code=503, params={"service": "members"})
    else:
        answers = {"members": await overview(up, province=province, network_id=network_id, timeout=deadline)}
        ids = [f["id"] for f in answers["members"]["funds"]]
        answers |= await _many(up, {"ledger": up.post("ledger", "/v1/ledger/aggregates", _scope_body(ids), timeout=deadline)})
    ledger = answers["ledger"]
    by_fund = None if isinstance(ledger, Missing) else {f["fund_id"]: f for f in ledger["funds"]}
    return {"rows": _table(answers["members"]["funds"], by_fund), "unavailable": _unavailable(answers),
            "missing": ["accumulated_satang"] if by_fund is None else []}


async def rollup(up: Upstream, period: Period, scope: dict[str, Any], *, province: str | None = None,
                 network_id: uuid.UUID | None = None) -> dict[str, Any]:
    """The figures of a fund's dashboard summed over the scope's funds, with the funds table: one
    call to each service, whatever the number of funds. The country asks each service for every
    fund at once; a province or a network first asks the members service which funds it has. A
    service that times out or fails leaves its figures out (null), listed in ``missing``."""
    deadline = DEADLINE_SECONDS
    services = {
        "ledger": lambda body: up.post("ledger", "/v1/ledger/aggregates", body, timeout=deadline),
        "benefits": lambda body: up.post("benefits", "/v1/benefits/aggregates", body, timeout=deadline),
        "grants": lambda body: up.post("grants", "/v1/grants/aggregates", body, timeout=deadline),
    }
    if scope["kind"] == "national":
        body = _scope_body(None, period)
        answers = await _many(up, {"members": overview(up, timeout=deadline),
                                   **{name: call(body) for name, call in services.items()}})
    else:  # the scope's funds come from the members service: without it there is no scope
        answers = {"members": await overview(up, province=province, network_id=network_id, timeout=deadline)}
        body = _scope_body([f["id"] for f in answers["members"]["funds"]], period)
        answers |= await _many(up, {name: call(body) for name, call in services.items()})
    return {"scope": scope, "period": period.json(), "as_of": utcnow().isoformat(),
            **sum_up(answers, period, up.lang), "unavailable": _unavailable(answers)}


def sum_up(answers: dict[str, Any], period: Period, lang: str = "th") -> dict[str, Any]:
    """The roll-up's figures from each service's aggregates; a missing service's are null."""
    members, ledger, benefits, grants = (None if isinstance(a, Missing) else a for a in
                                         (answers["members"], answers["ledger"], answers["benefits"], answers["grants"]))
    out: dict[str, Any] = {name: None for group in GROUPS.values() for name in group}
    out["missing"] = [name for service, group in GROUPS.items() if isinstance(answers[service], Missing) for name in group]
    by_fund = {f["fund_id"]: f for f in ledger["funds"]} if ledger is not None else None
    if members is not None:
        funds = members["funds"]
        with_population = [f for f in funds if f["population"]]
        population = sum(f["population"] for f in with_population)
        founded = [f["founded_year_be"] for f in funds]
        out["funds"] = {"count": len(funds),
                        "with_books": sum(1 for f in funds if (by_fund or {}).get(f["id"], {}).get("has_books"))
                        if by_fund is not None else None,
                        "founded_year_be_first": min(founded) if founded else None,
                        "founded_year_be_last": max(founded) if founded else None}
        out["members"] = {
            "active": sum(f["members_active"] for f in funds), "total": sum(f["members_total"] for f in funds),
            "population": population or None,
            "coverage_pct": coverage_pct(sum(f["members_active"] for f in with_population), population),
        }
        out["table"] = _table(funds, by_fund)
    if ledger is not None:
        known = [f["accumulated_satang"] for f in ledger["funds"] if f["accumulated_satang"] is not None]
        out["accumulated_satang"] = sum(known) if known else None
        income = ledger["income_by_source"]
        out["income_by_source"] = {
            "total_satang": income["total_satang"],
            "sources": [{"source": x["source"], "label": thai.label(thai.SOURCES, x["source"], lang),
                         "amount_satang": x["amount_satang"], "share_pct": x["share_pct"]} for x in income["sources"]],
        }
        months = {m["month"]: m for m in ledger["deposits_by_month"]["months"]}
        out["deposits_by_month"] = {
            "deposits": ledger["deposits_by_month"]["deposits"], "amount_satang": ledger["deposits_by_month"]["amount_satang"],
            "months": [{"month": m, "label": thai.month_label(m, lang=lang), "deposits": months.get(m, {}).get("deposits", 0),
                        "amount_satang": months.get(m, {}).get("amount_satang", 0)}
                       for m in thai.months_between(period.start, period.end)],
        }
        arrears = ledger["arrears"]
        out["arrears"] = {"members": arrears["members"], "amount_satang": arrears["amount_satang"],
                          "counted_since": arrears["counted_since"],
                          "funds_not_counted": arrears["funds_with_plans"] - arrears["funds_counted"] + arrears["funds_stale"]}
    if benefits is not None:
        paid = benefits["paid"]
        out["benefits_paid"] = {
            "total_satang": paid["total_satang"], "claims": paid["claims"], "members_helped": paid["members_helped"],
            "by_category": [{"category": c["key"], "label": thai.label(thai.CATEGORIES, c["key"], lang),
                             "claims": c["claims"], "amount_satang": c["amount_satang"]} for c in paid["by_category"]],
        }
        out["pending_claims"] = {
            "claims": sum(p["claims"] for p in benefits["pending"]),
            "by_status": [{"status": p["status"], "label": thai.label(thai.PENDING_STATES, p["status"], lang),
                           "claims": p["claims"], "oldest_days": p["oldest_days"]} for p in benefits["pending"]],
        }
    if grants is not None:
        out["grants"] = {k: grants[k] for k in ("applications", "awarded", "requested_satang", "awarded_satang",
                                                 "disbursed_satang", "received_satang", "in_transit_satang")}
    return out
