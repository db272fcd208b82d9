"""Database access: an engine made in the app's lifespan and one transaction per request.

Routes and services receive an ``AsyncSession`` from :data:`DbSession`; they ``flush()`` but never
``commit()``. The dependency commits when the route returns and rolls back when it raises, and it
does so before the response is sent (``scope="function"``), so a failed commit is never reported
to the caller as a success.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from sqlalchemy import CursorResult, MetaData, Result, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from shared.metrics import watch_pool

#: Explicit constraint names, so Alembic migrations are stable and readable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def naming_metadata() -> MetaData:
    """A service's own metadata, with the project's naming convention. Each ``models.py`` declares
    ``class Base(DeclarativeBase): metadata = naming_metadata()``: a class statement mypy can see
    (a base class made by a function call is not a type to it)."""
    return MetaData(naming_convention=NAMING_CONVENTION)


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched (0 when the driver does not say). ``session.execute``
    answers such a statement with a ``CursorResult``, which SQLAlchemy types as any ``Result``."""
    return cast("CursorResult[Any]", result).rowcount or 0


def make_base() -> type[DeclarativeBase]:
    """A declarative base with its own metadata and the project's naming convention."""

    class Base(DeclarativeBase):
        metadata = naming_metadata()

    return Base


#: Every connection: UTC sessions, named in pg_stat_activity.
CONNECT_ARGS = {"server_settings": {"timezone": "UTC", "application_name": "sajja"}}


def _statement_name() -> str:
    return f"__sajja_{uuid.uuid4().hex}__"


#: Through PgBouncer in transaction mode (``SAJJA_DB_POOLER=pgbouncer``), each transaction may
#: run on another server connection: asyncpg caches no prepared statement (one would be looked
#: for on a server that never saw it), and the statements SQLAlchemy prepares inside a
#: transaction get names no other client uses, so two clients never meet on one name on a shared
#: server connection. No time zone in the start-up packet either: each database's default is UTC
#: (``ALTER DATABASE ... SET timezone``, made by ``sajja migrate``), so a server connection is in
#: UTC whichever client had it before, with no SET.
POOLED_CONNECT_ARGS = {
    "server_settings": {"application_name": "sajja"},
    "statement_cache_size": 0,
    "prepared_statement_cache_size": 0,
    "prepared_statement_name_func": _statement_name,
}


def connect_args(pooler: str = "") -> dict[str, Any]:
    return POOLED_CONNECT_ARGS if pooler else CONNECT_ARGS


class Database:
    """An engine (or, in tests, one connection inside an outer transaction) and its sessions."""

    def __init__(self, bind: AsyncEngine | AsyncConnection, *, pool_size: int = 10, pooler: str = "") -> None:
        self.bind = bind
        self.pooler = pooler
        #: Size of the autocommit pool (the main pool's size; see :meth:`autocommit`).
        self._pool_size = pool_size
        self._autocommit_engine: AsyncEngine | None = None
        kwargs: dict[str, Any] = {"expire_on_commit": False}
        if isinstance(bind, AsyncConnection):
            # Tests: every session works inside savepoints of the test's outer transaction.
            kwargs["join_transaction_mode"] = "create_savepoint"
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(bind, **kwargs)

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10, max_overflow: int = 10, pooler: str = "") -> Database:
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=True,
            connect_args=connect_args(pooler),
        )
        watch_pool("main", engine)
        return cls(engine, pool_size=pool_size, pooler=pooler)

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection on which each statement is its own transaction, committed by PostgreSQL
        as it finishes: no BEGIN or COMMIT round trips, and no lock it takes outlives the statement.
        For one call that must be atomic on its own (a posting function). In tests, bound to one
        shared connection, the statement runs in a savepoint of the test's transaction instead."""
        if isinstance(self.bind, AsyncEngine) and self.pooler:
            # Behind PgBouncer in transaction mode a statement outside a transaction may be parsed
            # on one server connection and run on another: the one statement gets a transaction.
            async with self.bind.begin() as conn:
                yield conn
        elif isinstance(self.bind, AsyncEngine):
            if self._autocommit_engine is None:
                # A pool of its own: in autocommit from the start, not pinged on checkout (the main
                # pool pings each connection it lends: BEGIN, a ping and ROLLBACK with asyncpg,
                # three round trips per call, during which the backend sits idle in a
                # transaction; the deposit poster makes a call again once when its connection was dead,
                # which is safe because posting is idempotent). As many connections as the main
                # pool's size and no overflow: a connection opened past the pool's size is closed
                # after one call, and a new backend plans the posting afresh; a call waits for a
                # connection instead.
                self._autocommit_engine = create_async_engine(
                    self.bind.url, isolation_level="AUTOCOMMIT", connect_args=CONNECT_ARGS,
                    pool_size=self._pool_size, max_overflow=0,
                )
                watch_pool("autocommit", self._autocommit_engine)
            async with self._autocommit_engine.connect() as conn:
                yield conn
        else:
            async with self.bind.begin_nested():
                yield self.bind

    async def ping(self) -> None:
        async with self.sessionmaker() as session:
            await session.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if isinstance(self.bind, AsyncEngine):
            await self.bind.dispose()
        if self._autocommit_engine is not None:
            await self._autocommit_engine.dispose()



async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One unit of work per request: commit on success, roll back on any error."""
    database: Database = request.app.state.db
    async with database.sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]
