"""The fund's fiscal years: the list, closing one (its committee, with the general meeting's
approval), reopening one (platform admins, with a reason), and the statements of any year for the
general meeting as JSON, XLSX or PDF (docs/fiscal-years.md)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from services.ledger import deps
from services.ledger.access import FundReader, YearCloser, YearReopener
from services.ledger.posting import REPLAY_HEADER
from services.ledger.schemas import FiscalYears, YearCloseIn, YearClosingOut, YearReopenIn, YearStatements
from services.ledger.years import render, service
from shared.auth import CurrentPrincipal
from shared.db import DbSession
from shared.errors import SajjaError

log = logging.getLogger("sajja.ledger.years")

router = APIRouter(prefix="/v1/ledger/funds/{fund_id}", tags=["fiscal years"])

#: A fiscal year, named by the calendar year it ends in.
Year = Annotated[int, Path(ge=service.YEARS[0], le=service.YEARS[1], description="The calendar year the fiscal year ends in")]


def _answer(result: service.Answer) -> JSONResponse:
    status, body, replayed = result
    return JSONResponse(body, status_code=200 if replayed else status, headers={REPLAY_HEADER: "true"} if replayed else {})


@router.get("/years", response_model=FiscalYears)
async def list_fiscal_years(fund_id: FundReader, request: Request, session: DbSession) -> Any:
    """The fund's fiscal years, from its first entry to the current one, each open or closed."""
    return await service.fiscal_years(session, deps.directory(request), fund_id)


@router.post("/years/{year}/close", response_model=YearClosingOut, status_code=201,
             responses={200: {"description": "A replay (``Idempotency-Replayed: true``)"}})
async def close_fiscal_year(fund_id: YearCloser, year: Year, body: YearCloseIn, request: Request, session: DbSession,
                            principal: CurrentPrincipal) -> Any:
    """Close the year with the general meeting's approval: its result goes to the accumulated fund
    and nothing more can be dated in it (late-synced deposits go to the open year)."""
    return _answer(await service.close_year(session=session, directory=deps.directory(request), fund_id=fund_id,
                                            principal=principal, year=year, data=body))


@router.post("/years/{year}/reopen", response_model=YearClosingOut,
             responses={200: {"description": "Reopened now, or a replay (``Idempotency-Replayed: true``)"}})
async def reopen_fiscal_year(fund_id: YearReopener, year: Year, body: YearReopenIn, request: Request, session: DbSession,
                             principal: CurrentPrincipal) -> Any:
    """Reopen the latest closed year (platform admins, with a reason): the closing entry is reversed."""
    return _answer(await service.reopen_year(session=session, directory=deps.directory(request), fund_id=fund_id,
                                             principal=principal, year=year, data=body))


@router.get("/statements/{year}", response_model=YearStatements,
            responses={200: {"content": {render.XLSX_TYPE: {}, render.PDF_TYPE: {}}}})
async def year_statements(
    fund_id: FundReader, year: Year, request: Request, session: DbSession,
    format: Annotated[Literal["json", "xlsx", "pdf"], Query()] = "json",  # noqa: A002 - the query's name
) -> Any:
    """The year's financial position and income and expenditure, beside the previous year's, for
    the general meeting: JSON, XLSX or a Thai PDF (whose last page is the fund's 20-year
    sustainability projection as of the day it is made, or says the projection is unavailable)."""
    statements = await service.statements(session, deps.directory(request), fund_id, year)
    if format == "json":
        return statements
    if format == "xlsx":
        body = await asyncio.to_thread(render.xlsx, statements)
        return Response(body, media_type=render.XLSX_TYPE, headers=render.attachment(f"statements-{year}.xlsx"))
    # The PDF's last page is the fund's projection, asked of the benefits service once the books
    # are read (one after the other: a year refused costs no simulation).
    projection = await _projection(request, fund_id)
    body = await asyncio.to_thread(render.pdf, statements, None, projection)
    return Response(body, media_type=render.PDF_TYPE, headers=render.attachment(f"statements-{year}.pdf"))


async def _projection(request: Request, fund_id: uuid.UUID) -> dict[str, Any] | None:
    """The fund's 20-year projection as of today with the defaults (no what-ifs), or None when the
    benefits service is down or refuses: the PDF is made all the same, its page saying so."""
    try:
        return await deps.benefits(request).projection(fund_id, years=20)
    except (SajjaError, ValueError) as error:
        log.warning("no projection for the statements of fund %s: %s", fund_id, error)
        return None
