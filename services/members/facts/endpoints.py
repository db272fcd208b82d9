"""``/v1/members/internal``: membership facts for other Sajja services (service tokens only).

Fast and cacheable: indexed reads (the member, its status history), an ETag, and
``Cache-Control: max-age=30`` so a service may keep the answer for half a minute (a status change
reaches it within that). A member's facts carry the status history, so a status change changes the
body and with it the ETag.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from services.members.access import (
    CollectorFactsReader,
    CurrentMembersReader,
    FundFactsReader,
    ProjectionRollReader,
    RollChangesReader,
    ServiceCaller,
)
from services.members.collectors import service as collectors
from services.members.models import CURRENT_STATUSES, Fund, Member, MemberStatusChange, RollDeparture
from services.members.schemas import (
    CollectorFacts,
    FactsBatch,
    FactsRequest,
    MemberFacts,
    StatusFact,
)
from shared.db import DbSession
from shared.errors import NotFound
from shared.etag import cached_json
from shared.pagination import Cursor, Limit, after_key, split_page
from shared.schemas import QueryTime

router = APIRouter(prefix="/v1/members/internal/funds/{fund_id}", tags=["internal"])

FACTS_MAX_AGE = 30


async def status_histories(session: AsyncSession, members: Sequence[Member]) -> dict[uuid.UUID, list[StatusFact]]:
    """Each member's changes of status in the order recorded (one read for them all). An entry that
    repeats the status before it (anonymisation notes the status it found) is left out."""
    found: dict[uuid.UUID, list[StatusFact]] = {m.id: [] for m in members}
    if not members:
        return found
    rows = await session.execute(
        select(MemberStatusChange.member_id, MemberStatusChange.status, MemberStatusChange.effective_on)
        .where(MemberStatusChange.member_id.in_(list(found)))
        .order_by(MemberStatusChange.member_id, MemberStatusChange.id)
    )
    for member_id, status, effective_on in rows:
        history = found[member_id]
        if not history or history[-1].status != status:
            history.append(StatusFact(status=status, effective_on=effective_on))
    return found


def to_facts(member: Member, history: list[StatusFact]) -> MemberFacts:
    return MemberFacts(
        member_id=member.id, fund_id=member.fund_id, member_no=member.member_no, status=member.status,
        status_since=member.status_since, joined_on=member.joined_on, birth_date=member.birth_date, sex=member.sex,
        anonymised=member.anonymised_at is not None, status_history=history,
    )


@router.get("/members/{member_id}/facts", response_model=MemberFacts)
async def member_facts(fund_id: uuid.UUID, member_id: uuid.UUID, request: Request, session: DbSession, _: ServiceCaller) -> Response:
    """Status, dates, birth date and sex for eligibility; 404 when the member is not in this fund."""
    member = await session.get(Member, member_id)
    if member is None or member.fund_id != fund_id:
        raise NotFound("member.not_found")
    history = (await status_histories(session, [member]))[member.id]
    return cached_json(request, to_facts(member, history), max_age=FACTS_MAX_AGE)


@router.post("/members/facts", response_model=FactsBatch)
async def member_facts_batch(fund_id: uuid.UUID, body: FactsRequest, session: DbSession, _: ServiceCaller) -> Any:
    """Facts for up to 500 members at once (a collector's synced batch); unknown ids are listed."""
    rows = (await session.scalars(
        select(Member).where(Member.fund_id == fund_id, Member.id.in_(body.member_ids))
    )).all()
    found = {m.id for m in rows}
    histories = await status_histories(session, rows)
    return FactsBatch(facts=[to_facts(m, histories[m.id]) for m in rows], missing=[i for i in dict.fromkeys(body.member_ids) if i not in found])


@router.get("/collectors/by-user/{user_id}", response_model=CollectorFacts)
async def collector_facts(fund_id: uuid.UUID, user_id: uuid.UUID, request: Request, session: DbSession, _: CollectorFactsReader) -> Response:
    """Whether this user is a collector of this fund; 404 when not."""
    fund = await session.get(Fund, fund_id)
    if fund is None:
        raise NotFound("fund.not_found")
    collector = await collectors.for_user(session, fund, user_id)
    facts = CollectorFacts(collector_id=collector.id, fund_id=fund_id, user_id=collector.user_id, is_active=collector.is_active)
    return cached_json(request, facts, max_age=FACTS_MAX_AGE)


class FundFacts(BaseModel):
    fund_id: uuid.UUID
    network_id: uuid.UUID | None
    name: str
    province: str
    status: str
    founded_on: dt.date


@router.get("", response_model=FundFacts)
async def fund_facts(fund_id: uuid.UUID, request: Request, session: DbSession, _: FundFactsReader) -> Response:
    """Whether the fund exists, and its status."""
    fund = await session.get(Fund, fund_id)
    if fund is None:
        raise NotFound("fund.not_found")
    facts = FundFacts(fund_id=fund.id, network_id=fund.network_id, name=fund.name, province=fund.province,
                      status=fund.status, founded_on=fund.founded_on)
    return cached_json(request, facts, max_age=FACTS_MAX_AGE)


class NetworkFunds(BaseModel):
    network_id: uuid.UUID
    fund_ids: list[uuid.UUID]


network_router = APIRouter(prefix="/v1/members/internal/networks/{network_id}", tags=["internal"])


@network_router.get("/funds", response_model=NetworkFunds)
async def network_funds(network_id: uuid.UUID, session: DbSession, _: FundFactsReader) -> Any:
    """The funds of a network (empty for an unknown one): what a network officer's aggregates cover."""
    rows = (await session.scalars(select(Fund.id).where(Fund.network_id == network_id).order_by(Fund.id))).all()
    return NetworkFunds(network_id=network_id, fund_ids=list(rows))


class MemberFactsPage(BaseModel):
    items: list[MemberFacts]
    next_cursor: str | None


@router.get("/members", response_model=MemberFactsPage)
async def current_members(
    fund_id: uuid.UUID, session: DbSession, _: CurrentMembersReader, limit: Limit = 500, cursor: Cursor = None
) -> Any:
    """Every current (active or suspended) member of the fund, by id, for reports such as arrears."""
    query = select(Member).where(Member.fund_id == fund_id, Member.status.in_(CURRENT_STATUSES))
    key = after_key(cursor, uuid.UUID)
    if key is not None:
        query = query.where(Member.id > key[0])
    rows, next_cursor = split_page((await session.scalars(query.order_by(Member.id).limit(limit + 1))).all(), limit, lambda m: (m.id,))
    histories = await status_histories(session, rows)
    return MemberFactsPage(items=[to_facts(m, histories[m.id]) for m in rows], next_cursor=next_cursor)


class RollOut(BaseModel):
    """Every member the fund has had, current or not, one row each, no name: what a
    projection of the fund needs (ages, sex, when they joined, and when and how they left)."""

    fund_id: uuid.UUID
    columns: list[str]
    #: ``[member_id, birth_date | null, sex, joined_on, status, status_since]`` per member, by member number.
    rows: list[list[Any]]


ROLL_COLUMNS = ["member_id", "birth_date", "sex", "joined_on", "status", "status_since"]


@router.get("/roll", response_model=RollOut)
async def roll(fund_id: uuid.UUID, session: DbSession, _: ProjectionRollReader) -> Any:
    """The fund's whole roll, compact, for the benefits service's sustainability projection
    (``members.roll``): the member's id (to match claims the benefits service holds), birth date
    (null when not known), sex, joining date, status and since when. No name, no national id."""
    if await session.get(Fund, fund_id) is None:
        raise NotFound("fund.not_found")
    rows = (await session.execute(
        select(Member.id, Member.birth_date, Member.sex, Member.joined_on, Member.status, Member.status_since)
        .where(Member.fund_id == fund_id).order_by(Member.member_no))).all()
    return {"fund_id": fund_id, "columns": ROLL_COLUMNS,
            "rows": [[str(i), b.isoformat() if b else None, sex, j.isoformat(), st, since.isoformat()]
                     for i, b, sex, j, st, since in rows]}


class RollChange(BaseModel):
    fund_id: uuid.UUID
    #: The latest change of the fund's roll at or after ``since``.
    changed_at: dt.datetime


class RollChanges(BaseModel):
    """The funds whose rolls changed at or after ``since``, and the database's clock when asked."""

    #: Every change committed before this instant is in the answer (a later ``since`` may start
    #: from it, less an overlap for a change stamped before it and committed after: docs/aggregates.md).
    as_of: dt.datetime
    funds: list[RollChange]


changes_router = APIRouter(prefix="/v1/members/internal", tags=["internal"])


@changes_router.get("/roll-changes", response_model=RollChanges)
async def roll_changes(since: QueryTime, session: DbSession, _: RollChangesReader) -> Any:
    """The funds with a member row inserted, or changed in a fact the roll is made of (fund,
    joining date, status and since when, anonymised), or moved out or deleted, at or after
    ``since``: each fund once, with its latest change (``members.updated_at``, stamped by the
    trigger of revision 0007 however the row was written; ``roll_departures``). The ledger asks it
    every pass to know which funds' arrears to count again (``members.roll_changes``). At most one
    row per fund, from ``ix_members_updated_at``: no paging."""
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    # Taken by a statement before the query's: every change committed before it is in the query's snapshot.
    as_of = await session.scalar(select(func.statement_timestamp()))
    changed = union_all(
        select(Member.fund_id, Member.updated_at.label("at")).where(Member.updated_at >= since),
        select(RollDeparture.fund_id, RollDeparture.departed_at.label("at")).where(RollDeparture.departed_at >= since),
    ).subquery()
    rows = (await session.execute(
        select(changed.c.fund_id, func.max(changed.c.at)).group_by(changed.c.fund_id).order_by(changed.c.fund_id)
    )).all()
    return RollChanges(as_of=as_of, funds=[RollChange(fund_id=f, changed_at=at) for f, at in rows])
