"""``/v1/members/funds/{fund_id}/collectors``: volunteers and their rounds."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.members.access import MEMBER_WRITERS, VisibleFund, ensure_role
from services.members.collectors import service
from services.members.schemas import (
    CollectorCreate,
    CollectorOut,
    RoundPage,
    RoundUpdate,
)
from shared.auth import CurrentPrincipal, Role
from shared.db import DbSession
from shared.errors import NotFound
from shared.etag import cached_json
from shared.pagination import Cursor, Limit

router = APIRouter(prefix="/v1/members/funds/{fund_id}/collectors", tags=["collectors"])

STAFF = MEMBER_WRITERS | {Role.network_officer}


@router.post("", response_model=CollectorOut, status_code=201)
async def create_collector(body: CollectorCreate, fund: VisibleFund, session: DbSession, principal: CurrentPrincipal) -> Any:
    """Make a collector user (created at ``/v1/auth/users``) a collector of this fund, with a round."""
    ensure_role(principal, MEMBER_WRITERS)
    return CollectorOut.model_validate(await service.create(session=session, fund=fund, data=body))


@router.get("", response_model=list[CollectorOut])
async def list_collectors(fund: VisibleFund, session: DbSession, principal: CurrentPrincipal) -> Any:
    """The fund's collectors."""
    ensure_role(principal, STAFF)
    return [CollectorOut.model_validate(c) for c in await service.list_for_fund(session, fund)]


@router.put("/{collector_id}/round", response_model=CollectorOut)
async def set_round(
    collector_id: uuid.UUID, body: RoundUpdate, fund: VisibleFund, session: DbSession, principal: CurrentPrincipal
) -> Any:
    """Replace a round: whole villages and members by name."""
    ensure_role(principal, MEMBER_WRITERS)
    collector = await service.get(session, fund, collector_id)
    return CollectorOut.model_validate(await service.update_round(session=session, collector=collector, data=body))


async def _round(request: Request, session: Any, collector: Any, limit: int, cursor: str | None) -> Response:
    items, next_cursor = await service.round_page(session=session, collector=collector, limit=limit, cursor=cursor)
    page = RoundPage(collector_id=collector.id, round_version=collector.round_version, items=items, next_cursor=next_cursor)
    return cached_json(request, page)


@router.get("/me/round", response_model=RoundPage)
async def my_round(
    fund: VisibleFund, request: Request, session: DbSession, principal: CurrentPrincipal,
    limit: Limit = 200, cursor: Cursor = None,
) -> Response:
    """The calling collector's round, compact and paged, with an ETag (send If-None-Match)."""
    if principal.role is not Role.collector or principal.user_id is None:
        raise NotFound("collector.not_found")
    collector = await service.for_user(session, fund, principal.user_id)
    return await _round(request, session, collector, limit, cursor)


@router.get("/{collector_id}/round", response_model=RoundPage)
async def collector_round(
    collector_id: uuid.UUID, fund: VisibleFund, request: Request, session: DbSession, principal: CurrentPrincipal,
    limit: Limit = 200, cursor: Cursor = None,
) -> Response:
    """A collector's round (fund staff, or the collector themself), with an ETag."""
    collector = await service.get(session, fund, collector_id)
    service.ensure_may_read_round(principal, collector)
    return await _round(request, session, collector, limit, cursor)
