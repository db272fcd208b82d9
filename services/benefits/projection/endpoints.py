"""``GET /v1/benefits/funds/{fund_id}/projection``: the fund's sustainability projection, with what-ifs.

A read: the what-ifs change this answer only, never the fund's rules or books."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Query, Request

from services.benefits import deps
from services.benefits.access import ProjectionReader
from services.benefits.projection import model
from services.benefits.projection.inputs import LEDGER_YEARS, Books, Estimate, WhatIf, benefits_books, estimate
from services.benefits.schemas import Projection
from shared.db import DbSession
from shared.errors import SajjaError, register_messages
from shared.schemas import SATANG_CHECK
from shared.timeutil import bangkok_today

register_messages(
    {
        "projection.benefit_invalid": {
            "th": ("รูปแบบ benefit ไม่ถูกต้อง", "ระบุ benefit เป็น รหัสสวัสดิการ:จำนวนสตางค์ เช่น death:2500000"),
            "en": ("Invalid benefit", "Give benefit as code:amount in satang, e.g. death:2500000"),
        },
        "projection.benefit_unknown": {
            "th": ("ไม่พบสวัสดิการ", "กองทุนนี้ไม่มีสวัสดิการรหัส {code} ที่มีระเบียบใช้อยู่"),
            "en": ("Benefit not found", "This fund has no benefit {code} with rules in force"),
        },
        "projection.source_unknown": {
            "th": ("ไม่พบแหล่งเงินสมทบ", "กองทุนนี้ไม่มีเงินสมทบจาก {source} ในปีที่ใช้คาดการณ์ (มี: {known})"),
            "en": ("Co-funding source not found", "This fund has no co-funding from {source} in the years projected from (it has: {known})"),
        },
        "projection.too_large": {
            "th": ("คำขอใหญ่เกินไป", "จำนวนปีคูณจำนวนรอบต้องไม่เกิน {limit}"),
            "en": ("Too large", "Years times runs must not exceed {limit}"),
        },
    }
)

router = APIRouter(prefix="/v1/benefits/funds/{fund_id}", tags=["benefits"])

#: The seed when none is given: the same books give the same answer.
DEFAULT_SEED = 28
MIN_RUNS, MAX_RUNS = 1_000, 5_000
#: Years x runs at most: the default (20 x 1,000) five times over, a few seconds of one core.
MAX_YEAR_RUNS = 100_000
BENEFIT_CHANGE = re.compile(r"^([a-z0-9_\-]{2,64}):([0-9]{1,12})$")
SOURCE_NAME = re.compile(r"^[a-z0-9_]{1,32}$")


def parse_benefit(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    found = BENEFIT_CHANGE.match(value)
    if not found or int(found.group(2)) <= 0:
        raise SajjaError("projection.benefit_invalid", status_code=422)
    return found.group(1), int(found.group(2))


async def gather(request: Request, session: Any, fund_id: uuid.UUID, as_of: dt.date) -> Books:
    """The books from the members service, the ledger and this service's own tables."""
    # Both asked at once; both answered (or failed) before this returns, so neither is left running.
    roll, books = await asyncio.gather(deps.directory(request).roll(fund_id),
                                       deps.ledger(request).projection_inputs(fund_id, LEDGER_YEARS), return_exceptions=True)
    if isinstance(roll, BaseException):
        raise roll
    if isinstance(books, BaseException):
        raise books
    floor, catalog, claims = await benefits_books(session, fund_id, as_of)
    plan = books.get("plan")
    return Books(
        as_of=as_of, roll=roll, reserve_satang=int(books["reserve_satang"]), reserve_floor_satang=floor,
        income_by_year={int(y["year"]): {s: int(a) for s, a in y["sources"].items()} for y in books["income_by_year"]},
        plan=(plan["period"], int(plan["amount_satang"])) if plan else None, benefits=catalog, claims=claims)


def answer(fund_id: uuid.UUID, books: Books, found: Estimate, what_if: WhatIf, *, years: int, runs: int, seed: int) -> dict[str, Any]:
    """Run the model and shape the answer (``schemas.Projection``)."""
    outcome = model.project(found.inputs, years=years, runs=runs, seed=seed)
    floor = books.reserve_floor_satang
    path: list[dict[str, Any]] = []
    for i in range(years):
        reserve = model.band(outcome.reserve[i])

        def short(values: np.ndarray) -> dict[str, int]:
            b = model.band(values)
            return {"expected": b["expected"], "p5": b["p5"], "p95": b["p95"]}

        path.append({
            "year": outcome.first_year + i, "members": short(outcome.members[i]),
            "contributions_satang": short(outcome.contributions[i]), "co_funding_satang": short(outcome.co_funding[i]),
            "benefits_satang": short(outcome.benefits[i]), "reserve_satang": reserve,
            "under_floor_share": round(float((outcome.reserve[i] < floor).mean()), 4), "deaths": short(outcome.deaths[i]),
            "benefits_by_code_satang": {code: int(round(float(v[i]))) for code, v in outcome.benefits_by_code.items()},
        })
    return {
        "fund_id": fund_id, "as_of": books.as_of, "first_year": outcome.first_year, "years": years, "runs": runs, "seed": seed,
        "mortality": found.mortality,
        "what_if": {"contribution_per_day_satang": what_if.contribution_per_day_satang,
                    "benefit": what_if.benefit[0] if what_if.benefit else None,
                    "benefit_amount_satang": what_if.benefit[1] if what_if.benefit else None,
                    "new_members_per_year": what_if.new_members_per_year, "stop_co_funding": list(what_if.stop_co_funding)},
        "reserve_floor_satang": floor, "starting": found.starting, "path": path,
        "first_year_under_floor": model.first_year_under([p["reserve_satang"]["expected"] for p in path], floor, outcome.first_year),
        "first_year_under_floor_p5": model.first_year_under([p["reserve_satang"]["p5"] for p in path], floor, outcome.first_year),
        "assumptions": found.assumptions,
    }


@router.get("/projection", response_model=Projection)
async def projection(
    fund_id: ProjectionReader, request: Request, session: DbSession,
    years: Annotated[int, Query(ge=1, le=50, description="Years ahead")] = 20,
    runs: Annotated[int, Query(ge=MIN_RUNS, le=MAX_RUNS, description="Simulated runs")] = MIN_RUNS,
    seed: Annotated[int, Query(ge=0, le=2**31 - 1, description="The generator's seed: the same books and seed give the same answer")] = DEFAULT_SEED,
    contribution_per_day_satang: Annotated[Annotated[int, SATANG_CHECK] | None, Query(
        ge=0, le=100_000, description="What if: members' contribution per day")] = None,
    benefit: Annotated[str | None, Query(max_length=80, description="What if: a benefit's code and a new amount in satang, code:amount")] = None,
    new_members_per_year: Annotated[int | None, Query(ge=0, le=100_000, description="What if: new members a year")] = None,
    stop_co_funding: Annotated[list[str] | None, Query(max_length=20, description="What if: a co-funding source stops (repeatable)")] = None,
) -> Any:
    """Will the fund keep its promises? Members, contributions, co-funding, benefits and the
    reserve, year by year for ``years`` years: the expected path (the mean of ``runs`` seeded
    simulations) and the 5th to 95th percentile band, and the first year the reserve would fall
    under the fund's floor. The what-ifs change this answer only; nothing is written."""
    if years * runs > MAX_YEAR_RUNS:
        raise SajjaError("projection.too_large", status_code=422, params={"limit": f"{MAX_YEAR_RUNS:,}"})
    changed = parse_benefit(benefit)
    what_if = WhatIf(contribution_per_day_satang=contribution_per_day_satang, benefit=changed,
                     new_members_per_year=new_members_per_year, stop_co_funding=tuple(dict.fromkeys(stop_co_funding or ())))
    books = await gather(request, session, fund_id, bangkok_today())
    if changed and changed[0] not in {code for code, _, _ in books.benefits}:
        raise SajjaError("projection.benefit_unknown", status_code=422, params={"code": changed[0]})
    found = await asyncio.to_thread(estimate, books, what_if)
    known = found.assumptions["co_funding_sources"]
    for source in what_if.stop_co_funding:
        if source not in known:
            shown = source if SOURCE_NAME.match(source) else "?"  # never echo arbitrary input in the problem
            raise SajjaError("projection.source_unknown", status_code=422,
                             params={"source": shown, "known": ", ".join(known) or "-"})
    return await asyncio.to_thread(answer, fund_id, books, found, what_if, years=years, runs=runs, seed=seed)
