"""Databases and Alembic migrations, one history per process.

Each process keeps its revisions in ``<package>/migrations``; its ``env.py`` is two lines that
call :func:`run_env`. :func:`migrate` creates the process's database when missing and upgrades it
to head, on a connection it owns (so it also works inside a running event loop).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.settings import database_url_for

log = logging.getLogger("sajja.migrate")

PACKAGES: dict[str, str] = {
    "gateway": "gateway",
    "members": "services.members",
    "ledger": "services.ledger",
    "benefits": "services.benefits",
    "grants": "services.grants",
}


def alembic_config(process: str, url: str | None = None) -> Config:
    package = importlib.import_module(PACKAGES[process])
    assert package.__file__ is not None, f"{PACKAGES[process]} is a package of files"
    location = Path(package.__file__).parent / "migrations"
    config = Config()
    config.set_main_option("script_location", str(location))
    config.set_main_option("version_table", "alembic_version")
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def function_of(revision: Path, name: str) -> str:
    """The SQL function ``name`` as the revision file ``revision`` creates it (``CREATE [OR
    REPLACE] FUNCTION`` up to its ``END $$``): a later revision's downgrade puts it back."""
    source = revision.read_text()
    start = source.rindex("CREATE", 0, source.index(f"FUNCTION {name}("))
    end = source.index("END $$", start) + len("END $$")
    return source[start:end]


def run_env(metadata: MetaData) -> None:
    """Body of every ``env.py``: migrate on the given connection, or on a fresh engine."""

    def run_on(connection: Connection, own: bool = False) -> None:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            if own:
                # :func:`upgrade` sets it on the connection it passes; alembic run by hand gets it here.
                timeout = float(os.environ.get("SAJJA_MIGRATE_LOCK_TIMEOUT_SECONDS", LOCK_TIMEOUT_SECONDS))
                connection.execute(text(f"SET LOCAL lock_timeout = '{int(timeout * 1000)}ms'"))
            context.run_migrations()

    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return

    async def run_online() -> None:
        url = context.config.get_main_option("sqlalchemy.url")
        assert url is not None, "alembic_config(process, url) sets sqlalchemy.url"
        engine = create_async_engine(url)
        async with engine.connect() as conn:
            await conn.run_sync(run_on, True)
            await conn.commit()
        await engine.dispose()

    asyncio.run(run_online())


async def ensure_database(server_url: str, db_name: str) -> bool:
    """Create ``db_name`` on the server unless it exists, and make UTC its sessions' default time
    zone (so connections through a transaction pooler, which send none, are in UTC too). True
    when it was created."""
    admin_url = database_url_for(server_url, "postgres")
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": db_name})
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{db_name}"'))
            try:
                await conn.execute(text(f'ALTER DATABASE "{db_name}" SET timezone TO \'UTC\''))
            except DBAPIError as error:  # a database made beforehand by another owner
                log.warning("could not make UTC the time zone of %s (%s): set it as its owner", db_name, error.orig)
            return not exists
    finally:
        await engine.dispose()


#: How long a migration's statement may wait for a lock (``SET LOCAL lock_timeout``): past it the
#: revision's transaction is rolled back and tried again later, instead of queueing every query
#: of the running release behind an ALTER TABLE that waits for one long transaction
#: (docs/migrations.md). Overridden by ``SAJJA_MIGRATE_LOCK_TIMEOUT_SECONDS`` and
#: ``SAJJA_MIGRATE_ATTEMPTS``.
LOCK_TIMEOUT_SECONDS = 5.0
ATTEMPTS = 10
BACKOFF_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
#: PostgreSQL's lock_not_available: a statement gave up waiting for a lock (lock_timeout).
LOCK_NOT_AVAILABLE = "55P03"


class LockNotAvailable(RuntimeError):
    """A revision could not take its locks within the lock timeout, on every attempt."""


def _sqlstate(error: BaseException) -> str | None:
    orig = getattr(error, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)


def _next_revision(config: Config, sync_conn: Connection, target: str) -> str | None:
    """The revision after the database's current one on the way to ``target``; None at target."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config)
    current = MigrationContext.configure(sync_conn).get_current_revision()
    ahead = [r.revision for r in script.iterate_revisions(target, current)]
    return ahead[-1] if ahead else None


async def upgrade(process: str, url: str, revision: str = "head", *, lock_timeout: float | None = None,
                  attempts: int | None = None, backoff: float = BACKOFF_SECONDS,
                  on_retry: Callable[[str, int, BaseException], Awaitable[None] | None] | None = None) -> None:
    """Upgrade one process's database to ``revision``, one revision per transaction. Each takes
    the process's migration lock (replicas starting together, or a Job racing ``sajja run``,
    migrate one at a time) and runs with ``lock_timeout``; a revision that times out on a lock
    (LockNotAvailable) is rolled back whole and tried again after a backoff (doubling, capped),
    up to ``attempts`` times; ``on_retry(revision, attempt, error)`` is told of each retry."""
    lock_timeout = float(os.environ.get("SAJJA_MIGRATE_LOCK_TIMEOUT_SECONDS", LOCK_TIMEOUT_SECONDS)) \
        if lock_timeout is None else lock_timeout
    attempts = int(os.environ.get("SAJJA_MIGRATE_ATTEMPTS", ATTEMPTS)) if attempts is None else attempts
    config = alembic_config(process, url)
    engine = create_async_engine(url)
    try:
        while True:
            async with engine.connect() as conn:
                def step(sync_conn: Connection) -> str | None:
                    sync_conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"sajja.migrate.{process}"})
                    following = _next_revision(config, sync_conn, revision)
                    if following is None:
                        return None
                    sync_conn.execute(text(f"SET LOCAL lock_timeout = '{int(lock_timeout * 1000)}ms'"))
                    config.attributes["connection"] = sync_conn
                    command.upgrade(config, following)
                    return following

                for attempt in range(1, attempts + 1):
                    try:
                        done = await conn.run_sync(step)
                        await conn.commit()
                        break
                    except DBAPIError as error:
                        await conn.rollback()
                        if _sqlstate(error) != LOCK_NOT_AVAILABLE:
                            raise
                        if attempt == attempts:
                            raise LockNotAvailable(
                                f"{process}: a revision could not take its locks within {lock_timeout} s,"
                                f" {attempts} times; nothing of it was applied") from error
                        log.warning("%s: migration waited %s s for a lock; rolled back, again in %s s (attempt %d of %d)",
                                    process, lock_timeout, min(backoff * 2 ** (attempt - 1), BACKOFF_CAP_SECONDS),
                                    attempt, attempts)
                        if on_retry is not None:
                            told = on_retry(process, attempt, error)
                            if inspect.isawaitable(told):
                                await told
                        await asyncio.sleep(min(backoff * 2 ** (attempt - 1), BACKOFF_CAP_SECONDS))
            if done is None:
                return
    finally:
        await engine.dispose()


def code_head(process: str) -> str:
    """The newest revision this code knows for ``process``."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(process)).get_current_head()
    assert head is not None, f"{process} has migrations"
    return head


async def schema_ready(process: str, url: str, pooler: str = "") -> tuple[bool, str | None]:
    """Whether the database is at this code's head revision, or at a revision this code does not
    know (a later release's: expand-only migrations keep this code working on it). And its revision."""
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    from shared.db import connect_args

    engine = create_async_engine(url, connect_args=connect_args(pooler), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
            current = await conn.scalar(text("SELECT version_num FROM alembic_version")) if exists else None
    finally:
        await engine.dispose()
    if current is None:
        return False, None
    script = ScriptDirectory.from_config(alembic_config(process))
    if current == script.get_current_head():
        return True, current
    try:
        script.get_revision(current)
    except CommandError:
        return True, current  # unknown here: a later release's revision
    return False, current


async def analyze_new_tables(url: str) -> list[str]:
    """ANALYZE tables PostgreSQL has never analyzed. Until autovacuum gets to a new table, plans
    (the foreign-key checks' included) are made for an empty table and can pick a poor index."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            tables = (await conn.scalars(text(
                "SELECT quote_ident(relname) FROM pg_stat_user_tables"
                " WHERE last_analyze IS NULL AND last_autoanalyze IS NULL"))).all()
            for table in tables:
                await conn.execute(text(f"ANALYZE {table}"))
            return list(tables)
    finally:
        await engine.dispose()


async def migrate(process: str, server_url: str, db_name: str | None = None) -> str:
    """Create (if needed) and upgrade one process's database; returns its URL."""
    name = db_name or f"sajja_{process}"
    await ensure_database(server_url, name)
    url = database_url_for(server_url, name)
    await upgrade(process, url)
    await analyze_new_tables(url)
    return url


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
