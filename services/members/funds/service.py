"""Networks and funds: register, read, update, list within scope, and the fund summary."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from services.members.models import Fund, Member, Network
from services.members.schemas import (
    FundCreate,
    FundOut,
    FundOverview,
    FundSummary,
    FundUpdate,
    JoinedInYear,
    NetworkCreate,
)
from shared.auth import Principal, Role
from shared.errors import Forbidden, SajjaError, register_messages
from shared.figures import BE_OFFSET, be_year, coverage_pct
from shared.pagination import after_key, split_page
from shared.timeutil import bangkok_today

register_messages(
    {
        "network.not_found": {
            "th": ("ไม่พบเครือข่าย", "ไม่พบเครือข่ายที่ระบุ"),
            "en": ("Network not found", "No such network"),
        },
    }
)


def to_out(fund: Fund) -> FundOut:
    values = {name: getattr(fund, name) for name in FundOut.model_fields if name != "founded_year_be"}
    return FundOut.model_validate({**values, "founded_year_be": be_year(fund.founded_on)})


async def create_network(*, session: AsyncSession, data: NetworkCreate) -> Network:
    network = Network(id=uuid.uuid4(), **data.model_dump())
    session.add(network)
    await session.flush()
    return network


async def create(*, session: AsyncSession, principal: Principal, data: FundCreate) -> Fund:
    """Platform admins create any fund; network officers create funds in their own network (the
    route admits no one else: ``access.FundCreator``)."""
    network_id = data.network_id
    # The network is named in the body, so only here can it be held against the officer's own.
    if principal.role is Role.network_officer:
        network_id = network_id or principal.network_id
        if network_id != principal.network_id:
            raise Forbidden("auth.out_of_scope")
    if network_id is not None and await session.get(Network, network_id) is None:
        raise SajjaError("network.not_found", status_code=422)
    fund = Fund(id=uuid.uuid4(), **data.model_dump(exclude={"network_id"}), network_id=network_id)
    session.add(fund)
    await session.flush()
    return fund


async def update(*, session: AsyncSession, fund: Fund, data: FundUpdate) -> Fund:
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(fund, name, value)
    await session.flush()
    return fund


async def list_visible(
    *, session: AsyncSession, principal: Principal, limit: int, cursor: str | None
) -> tuple[list[Fund], str | None]:
    query = select(Fund).order_by(Fund.name, Fund.id).limit(limit + 1)
    if principal.role is Role.network_officer:
        query = query.where(Fund.network_id == principal.network_id)
    elif not principal.is_global:
        query = query.where(Fund.id == principal.fund_id)
    key = after_key(cursor, str, uuid.UUID)
    if key is not None:
        query = query.where(tuple_(Fund.name, Fund.id) > key)
    return split_page((await session.scalars(query)).all(), limit, lambda f: (f.name, f.id))


def _visible(principal: Principal) -> tuple[Any, ...]:
    if principal.role is Role.network_officer:
        return (Fund.network_id == principal.network_id,)
    if not principal.is_global:
        return (Fund.id == principal.fund_id,)
    return ()


async def overview(*, session: AsyncSession, principal: Principal, province: str | None,
                   network_id: uuid.UUID | None) -> list[FundOverview]:
    """Every fund the caller may see (narrowed to a province or network) with its members counted:
    two queries whatever the number of funds."""
    where = [*_visible(principal)]
    if province is not None:
        where.append(Fund.province == province)
    if network_id is not None:
        where.append(Fund.network_id == network_id)
    funds = (await session.scalars(select(Fund).where(*where).order_by(Fund.name, Fund.id))).all()
    counts = select(
        Member.fund_id, func.count().filter(Member.status == "active"),
        func.count().filter(Member.status.in_(("active", "suspended"))),
    ).group_by(Member.fund_id)
    if where:
        counts = counts.where(Member.fund_id.in_(select(Fund.id).where(*where)))
    counted = {f: (a, t) for f, a, t in (await session.execute(counts)).all()}
    answer = []
    for fund in funds:
        active, total = counted.get(fund.id, (0, 0))
        answer.append(FundOverview(**to_out(fund).model_dump(), members_active=active, members_total=total,
                                   coverage_pct=coverage_pct(active, fund.population)))
    return answer


def _years_before(today: dt.date, years: int) -> dt.date:
    try:
        return today.replace(year=today.year - years)
    except ValueError:  # 29 February
        return today.replace(year=today.year - years, day=28)


async def summary(*, session: AsyncSession, fund: Fund) -> FundSummary:
    today = bangkok_today()
    by_status = dict(
        (await session.execute(
            select(Member.status, func.count()).where(Member.fund_id == fund.id).group_by(Member.status)
        )).all()
    )
    active = Member.fund_id == fund.id, Member.status == "active"
    by_sex = dict((await session.execute(select(Member.sex, func.count()).where(*active).group_by(Member.sex))).all())
    adult_from = _years_before(today, 18)
    elderly_from = _years_before(today, 60)
    band = (
        select(
            func.count().filter(Member.birth_date > adult_from),
            func.count().filter(Member.birth_date <= adult_from, Member.birth_date > elderly_from),
            func.count().filter(Member.birth_date <= elderly_from),
            func.count().filter(Member.birth_date.is_(None)),
        ).where(*active)
    )
    under_18, working_age, elderly, unknown = (await session.execute(band)).one()
    year = func.extract("year", Member.joined_on).label("year")
    joined = (await session.execute(
        select(year, func.count()).where(Member.fund_id == fund.id).group_by(year).order_by(year)
    )).all()
    members_active = by_status.get("active", 0)
    return FundSummary(
        fund_id=fund.id,
        founded_year_be=be_year(fund.founded_on),
        members_total=members_active + by_status.get("suspended", 0),
        members_active=members_active,
        population=fund.population,
        coverage_pct=coverage_pct(members_active, fund.population),
        by_status={s: by_status.get(s, 0) for s in ("active", "suspended", "resigned", "deceased")},
        by_sex={s: by_sex.get(s, 0) for s in ("male", "female")},
        by_age_band={"under_18": under_18, "working_age": working_age, "elderly": elderly, "unknown": unknown},
        joined_per_year=[JoinedInYear(year=int(y), year_be=int(y) + BE_OFFSET, count=c) for y, c in joined],
        as_of=today,
    )
