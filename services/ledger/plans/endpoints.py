"""Contribution plans, members' standing and arrears, co-funders' matching."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.ledger import deps
from services.ledger.models import LedgerFund
from services.ledger.access import FundActor, FundBookkeeper, FundReader, StandingReader
from services.ledger.chart import ensure_fund
from services.ledger.plans import service
from services.ledger.schemas import (
    ArrearsPage,
    MatchingReport,
    MatchingRuleIn,
    PlanIn,
    PlanOut,
    Standing,
)
from shared.audit import audit
from shared.auth import CurrentPrincipal
from shared.db import DbSession
from shared.errors import NotFound
from shared.fiscal import fiscal_year_of
from shared.timeutil import bangkok_today
from shared.schemas import QueryDate

router = APIRouter(prefix="/v1/ledger/funds/{fund_id}", tags=["plans"])


@router.post("/plans", response_model=PlanOut, status_code=201)
async def add_plan(fund_id: FundBookkeeper, body: PlanIn, request: Request, session: DbSession,
                   principal: CurrentPrincipal) -> Any:
    """A contribution plan from a date on (1 baht a day, 30 baht a month, 365 baht a year...)."""
    await ensure_fund(session, deps.directory(request), fund_id)
    plan = PlanOut.model_validate(await service.add_plan(session, fund_id, body))
    await audit(session, principal, "ledger.plan_create", fund_id=fund_id, object_type="plan",
                object_id=plan.id, details=body.model_dump(mode="json"))
    return plan


@router.get("/plans", response_model=list[PlanOut])
async def list_plans(fund_id: FundActor, session: DbSession) -> Any:
    """The fund's plans, oldest first; every member and officer of the fund may read them."""
    return [PlanOut.model_validate(p) for p in await service.plans(session, fund_id)]


@router.get("/members/{member_id}/standing", response_model=Standing)
async def member_standing(
    member: StandingReader, request: Request, session: DbSession, as_of: Annotated[QueryDate | None, Query()] = None,
) -> Any:
    """Paid through which date, how far in arrears (benefits use this for eligibility)."""
    fund_id, member_id = member
    directory = deps.directory(request)
    facts = await directory.members(fund_id, [member_id])
    if member_id not in facts:
        raise NotFound("deposit.member_unknown")
    day = as_of or bangkok_today()
    contributed = (await service.contributed_by_member(session, fund_id, [member_id], day)).get(member_id, 0)
    answer = service.standing(
        member_id=member_id, joined_on=dt.date.fromisoformat(facts[member_id]["joined_on"]), contributed=contributed,
        all_plans=await service.plans(session, fund_id), as_of=day,
    )
    fund = await session.get(LedgerFund, fund_id)
    answer.fiscal_year_start_month = fund.fiscal_year_start_month if fund is not None else 1
    return answer


@router.get("/arrears", response_model=ArrearsPage)
async def arrears(
    fund_id: FundReader, request: Request, session: DbSession, as_of: Annotated[QueryDate | None, Query()] = None,
) -> Any:
    """Current members behind their plan by more than its grace, most behind first."""
    day = as_of or bangkok_today()
    behind = await service.in_arrears(session, deps.directory(request), fund_id, day)
    return ArrearsPage(as_of=day, items=behind)


@router.put("/matching-rules", response_model=MatchingReport)
async def set_matching_rule(fund_id: FundBookkeeper, body: MatchingRuleIn, request: Request, session: DbSession,
                            principal: CurrentPrincipal) -> Any:
    """Set what a co-funder owes per member baht (e.g. 1:1, capped at 365 baht a member a year)."""
    await ensure_fund(session, deps.directory(request), fund_id)
    await service.set_matching_rule(session, fund_id, body.source, body.ratio_bp, body.cap_per_member_year_satang)
    await audit(session, principal, "ledger.matching_rules_set", fund_id=fund_id, object_type="matching_rule",
                object_id=body.source, details=body.model_dump(mode="json"))
    fund = await ensure_fund(session, deps.directory(request), fund_id)
    return await service.matching(session, fund_id, fiscal_year_of(bangkok_today(), fund.fiscal_year_start_month))


@router.get("/reports/matching", response_model=MatchingReport)
async def matching(
    fund_id: FundReader, session: DbSession, year: Annotated[int, Query(ge=2000, le=2200)],
) -> Any:
    """For a fiscal year of the fund: what each co-funder owes under its rule, received, and outstanding."""
    return await service.matching(session, fund_id, year)
