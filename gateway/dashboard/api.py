"""``/v1/dashboard``: a fund's dashboard in one call, roll-ups over a network, a province or the
country, the funds table, and downloads. Bearer tokens, as every ``/v1`` path.

Each figure is read from its service with the caller's own token, so each service applies its
own authorization and a refusal reaches the caller as the service's problem+json. A view of many
funds asks each service once (docs/aggregates.md); a service that times out or fails there leaves
its figures null and named in ``missing``. Roll-ups are
for platform admins (the country, any network or province) and network officers (their network,
and the provinces of its funds). Each route's signature says who may call it
(``gateway.access``); the roll-up functions check again for the web pages (``web.py``), whose
caller comes from their cookie rather than from a dependency.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from gateway.access import (
    NetworkRollupReader,
    PlatformAdmin,
    RollupReader,
    SignedIn,
    ensure_rollup_reader,
)
from gateway.dashboard import exports, figures
from gateway.dashboard.schemas import FundDashboard, FundsTable, Rollup
from gateway.dashboard.upstream import DashboardRoute, Upstream
from shared.audit import audit
from shared.auth import CurrentPrincipal, Principal, Role, bearer_token
from shared.db import DbSession
from shared.errors import Forbidden
from shared.schemas import QueryDate

router = APIRouter(prefix="/v1/dashboard", tags=["dashboard"], route_class=DashboardRoute)

DateFrom = Annotated[QueryDate | None, Query(alias="from", description="First day (default: 1 January this year)")]
DateTo = Annotated[QueryDate | None, Query(alias="to", description="Last day (default: today, Bangkok)")]
Fmt = Literal["csv", "xlsx"]


def upstream(request: Request) -> Upstream:
    return Upstream(request, bearer_token(request))


async def national(up: Upstream, principal: Principal, period: figures.Period) -> dict[str, Any]:
    # For the web page too, whose caller is not checked by a dependency (the route's is: PlatformAdmin).
    if principal.role is not Role.platform_admin:
        raise Forbidden()
    return await figures.rollup(up, period, {"kind": "national"})


async def network(up: Upstream, principal: Principal, network_id: uuid.UUID, period: figures.Period) -> dict[str, Any]:
    # For the web page too, whose caller is not checked by a dependency (the route's is: NetworkRollupReader).
    ensure_rollup_reader(principal, network_id)
    return await figures.rollup(up, period, {"kind": "network", "network_id": network_id}, network_id=network_id)


async def province(up: Upstream, principal: Principal, name: str, period: figures.Period) -> dict[str, Any]:
    # For the web page too, whose caller is not checked by a dependency (the route's is: RollupReader).
    ensure_rollup_reader(principal)
    return await figures.rollup(up, period, {"kind": "province", "province": name}, province=name)


@router.get("/funds/{fund_id}", response_model=FundDashboard)
async def fund_dashboard(fund_id: uuid.UUID, request: Request, _: SignedIn, date_from: DateFrom = None,
                         date_to: DateTo = None) -> Any:
    """Everything on one fund's dashboard: founded year (B.E.), accumulated fund, members and
    coverage, income by source and deposits by month over the period, benefits paid by category,
    members in arrears, claims pending, grants awarded and received."""
    return await figures.fund_figures(upstream(request), fund_id, figures.Period.of(date_from, date_to))


@router.get("/national", response_model=Rollup)
async def national_rollup(request: Request, principal: PlatformAdmin, date_from: DateFrom = None,
                          date_to: DateTo = None) -> Any:
    """The country: every fund's figures summed, and the funds table (platform admins)."""
    return await national(upstream(request), principal, figures.Period.of(date_from, date_to))


@router.get("/networks/{network_id}", response_model=Rollup)
async def network_rollup(network_id: NetworkRollupReader, request: Request, principal: CurrentPrincipal, date_from: DateFrom = None,
                         date_to: DateTo = None) -> Any:
    """A provincial network's funds, summed, with the funds table."""
    return await network(upstream(request), principal, network_id, figures.Period.of(date_from, date_to))


@router.get("/provinces/{province_name}", response_model=Rollup)
async def province_rollup(province_name: str, request: Request, principal: RollupReader, date_from: DateFrom = None,
                          date_to: DateTo = None) -> Any:
    """The funds of a province (that the caller may see), summed, with the funds table."""
    return await province(upstream(request), principal, province_name, figures.Period.of(date_from, date_to))


async def table(up: Upstream, principal: Principal, province_name: str | None,
                network_id: uuid.UUID | None) -> dict[str, Any]:
    # The query may name a network: a network officer's own only (and for the web page, whose
    # caller is not checked by a dependency, the role too).
    ensure_rollup_reader(principal, network_id)
    everything = principal.role is Role.platform_admin and province_name is None and network_id is None
    return await figures.funds_table(up, province=province_name, network_id=network_id, everything=everything)


@router.get("/funds-table", response_model=FundsTable)
async def funds_table(request: Request, principal: RollupReader,
                      province_name: Annotated[str | None, Query(alias="province", max_length=100)] = None,
                      network_id: uuid.UUID | None = None) -> Any:
    """Name, province, founded year (B.E.), accumulated fund, members and coverage of each fund the
    caller may see, as the source table of ten funds prints them."""
    return await table(upstream(request), principal, province_name, network_id)


@router.get("/exports/funds.{fmt}", response_class=Response)
async def funds_export(fmt: Fmt, request: Request, principal: RollupReader,
                       province_name: Annotated[str | None, Query(alias="province", max_length=100)] = None,
                       network_id: uuid.UUID | None = None) -> Response:
    """The funds table as CSV or XLSX."""
    return await exports.funds(await table(upstream(request), principal, province_name, network_id), fmt,
                         "ตารางกองทุนสวัสดิการชุมชน")


@router.get("/funds/{fund_id}/exports/members.{fmt}", response_class=Response)
async def members_export(fund_id: uuid.UUID, fmt: Fmt, request: Request, session: DbSession,
                         principal: SignedIn) -> Response:
    """The member roll as CSV or XLSX (those who may read the roll); each download is audited."""
    answer = await exports.members_roll(upstream(request), fund_id, fmt)
    await audit(session, principal, "export.members_roll", fund_id=fund_id, object_type="fund", object_id=fund_id,
                details={"format": fmt})
    return answer


@router.get("/funds/{fund_id}/members/{member_id}/exports/statement.{fmt}", response_class=Response)
async def statement_export(fund_id: uuid.UUID, member_id: uuid.UUID, fmt: Fmt, request: Request, session: DbSession,
                           principal: SignedIn) -> Response:
    """A member's statement as CSV or XLSX (the member, the fund's staff); each download is audited."""
    answer = await exports.statement(upstream(request), fund_id, member_id, fmt)
    await audit(session, principal, "export.statement", fund_id=fund_id, object_type="member", object_id=member_id,
                details={"format": fmt})
    return answer


@router.get("/funds/{fund_id}/exports/income.{fmt}", response_class=Response)
async def income_export(fund_id: uuid.UUID, fmt: Fmt, request: Request, _: SignedIn, date_from: DateFrom = None,
                        date_to: DateTo = None) -> Response:
    """Income by source over the period as CSV or XLSX."""
    return await exports.income(upstream(request), fund_id, figures.Period.of(date_from, date_to), fmt)


@router.get("/funds/{fund_id}/deposits/{deposit_id}/receipt.pdf", response_class=Response)
async def receipt_pdf(fund_id: uuid.UUID, deposit_id: uuid.UUID, request: Request, session: DbSession,
                      _: SignedIn) -> Response:
    """A deposit's receipt as PDF, in Thai."""
    return await exports.receipt(upstream(request), session, fund_id, deposit_id)


@router.get("/funds/{fund_id}/reports/monthly.pdf", response_class=Response)
async def monthly_pdf(fund_id: uuid.UUID, request: Request, _: SignedIn,
                      month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM (C.E.)")] = None) -> Response:
    """The monthly report for the committee meeting, as PDF, in Thai."""
    return await exports.monthly_report(upstream(request), fund_id, month)
