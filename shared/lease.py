"""Leases: how a worker takes a row of an outbox or a queue without holding a lock while it works.

A worker that locks a row (``FOR UPDATE``) and then calls LINE, the ledger or a grantor holds that
lock, and a connection, for as long as the call takes; a replica that dies in the call leaves the
row locked until PostgreSQL notices. Instead a row is *claimed*:

1. Claim, in a short transaction: ``SELECT ... FOR UPDATE SKIP LOCKED`` among the rows that are
   due and not claimed (no lease, or one that has run out), then set ``claim_token`` to a new
   UUID and ``claimed_until`` to the database's clock plus the lease. Commit. Other replicas skip
   the row while the claim transaction runs (``SKIP LOCKED``) and after it (the lease).
2. Work, holding nothing in the database: the network call.
3. Record, in another short transaction: the row is locked again only if ``claim_token`` is still
   ours (:func:`hold`). A worker whose lease ran out and whose row another replica has claimed
   since finds a different token, and its late write is refused: the token is a fencing token.
   Recording clears the claim (:func:`release`).

A replica that dies between 1 and 3 leaves the row claimed until ``claimed_until``; then any
replica takes it over. What the remote end was asked may therefore be asked again, so every call a
worker makes is idempotent at the other end (the ledger by the claim's or tranche's id, LINE by
``X-Line-Retry-Key``, an erase route by its nature, a webhook receiver by the delivery id).

Time is the database's (``clock_timestamp()``), never a replica's own clock.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, TypeVar

from sqlalchemy import DateTime, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import UUID


#: How long a claim lasts unless the worker says otherwise (``SAJJA_WORKER_LEASE_SECONDS``).
DEFAULT_LEASE_SECONDS = 60.0


class Leased:
    """The two columns of a row that workers claim with a lease."""

    #: Whose claim this is: a new UUID per claim, checked when the outcome is written.
    claim_token: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    #: Until when (the database's clock) the claim holds; after it another replica may take the row.
    claimed_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


#: A model with the two columns (the models that are claimed mix :class:`Leased` in).
T = TypeVar("T", bound=Leased)


def unclaimed(model: Any) -> ColumnElement[bool]:
    """Rows no live lease holds."""
    return or_(model.claimed_until.is_(None), model.claimed_until <= func.clock_timestamp())


async def claim(session: AsyncSession, model: type[T], *conditions: Any, order_by: Any = (), limit: int = 1,
                seconds: float = DEFAULT_LEASE_SECONDS) -> list[T]:
    """Claim up to ``limit`` rows of ``model`` that meet ``conditions`` and no live lease holds, in
    the caller's transaction (which should commit at once). Rows another transaction is claiming
    are skipped, not waited for. Each claimed row has a new ``claim_token``."""
    orders = order_by if isinstance(order_by, (list, tuple)) else (order_by,)
    rows = (await session.scalars(
        select(model).where(*conditions, unclaimed(model)).order_by(*orders).limit(limit)
        .with_for_update(skip_locked=True)
    )).all()
    if rows:
        until = await session.scalar(select(func.clock_timestamp() + dt.timedelta(seconds=seconds)))
        for row in rows:
            row.claim_token, row.claimed_until = uuid.uuid4(), until
        await session.flush()
    return list(rows)


async def hold(session: AsyncSession, model: type[T], key: Any, token: uuid.UUID) -> T | None:
    """Lock the row ``key`` of ``model`` for writing the outcome of a claim, if the claim is still
    ``token``'s; None when another replica has claimed the row since (the caller writes nothing).
    A lease that ran out with no one taking the row over is still ours: nobody else acted on it."""
    keys = key if isinstance(key, tuple) else (key,)
    primary = model.__mapper__.primary_key  # type: ignore[attr-defined]
    return await session.scalar(
        select(model).where(*(column == value for column, value in zip(primary, keys, strict=True)),
                            model.claim_token == token)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def release(row: Any) -> None:
    """The claim is over (its outcome written in the same transaction)."""
    row.claim_token, row.claimed_until = None, None
