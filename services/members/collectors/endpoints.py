"""``/v1/members/funds/{fund_id}/collectors``: volunteers and their rounds."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.members.access import (
    CollectorForRollWriters,
    CollectorForRoundReaders,
    CollectorOfFund,
    CollectorReader,
    RollWriter,
)
from services.members.collectors import service
from services.members.schemas import (
    CollectorCreate,
    CollectorOut,
    RoundPage,
    RoundUpdate,
)
from shared.db import DbSession
from shared.etag import cached_json
from shared.pagination import Cursor, Limit

router = APIRouter(prefix="/v1/members/funds/{fund_id}/collectors", tags=["collectors"])


@router.post("", response_model=CollectorOut, status_code=201)
async def create_collector(body: CollectorCreate, fund: RollWriter, session: DbSession) -> Any:
    """Make a collector user (created at ``/v1/auth/users``) a collector of this fund, with a round."""
    return CollectorOut.model_validate(await service.create(session=session, fund=fund, data=body))


@router.get("", response_model=list[CollectorOut])
async def list_collectors(fund: CollectorReader, session: DbSession) -> Any:
    """The fund's collectors."""
    return [CollectorOut.model_validate(c) for c in await service.list_for_fund(session, fund)]


@router.put("/{collector_id}/round", response_model=CollectorOut)
async def set_round(body: RoundUpdate, collector: CollectorForRollWriters, session: DbSession) -> Any:
    """Replace a round: whole villages and members by name."""
    return CollectorOut.model_validate(await service.update_round(session=session, collector=collector, data=body))


async def _round(request: Request, session: Any, collector: Any, limit: int, cursor: str | None) -> Response:
    items, next_cursor = await service.round_page(session=session, collector=collector, limit=limit, cursor=cursor)
    page = RoundPage(collector_id=collector.id, round_version=collector.round_version, items=items, next_cursor=next_cursor)
    return cached_json(request, page)


@router.get("/me/round", response_model=RoundPage)
async def my_round(
    collector: CollectorOfFund, request: Request, session: DbSession, limit: Limit = 200, cursor: Cursor = None,
) -> Response:
    """The calling collector's round, compact and paged, with an ETag (send If-None-Match)."""
    return await _round(request, session, collector, limit, cursor)


@router.get("/{collector_id}/round", response_model=RoundPage)
async def collector_round(
    collector: CollectorForRoundReaders, request: Request, session: DbSession, limit: Limit = 200, cursor: Cursor = None,
) -> Response:
    """A collector's round (fund staff, or the collector themself), with an ETag."""
    return await _round(request, session, collector, limit, cursor)
