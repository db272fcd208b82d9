"""Databases and Alembic migrations, one history per process.

Each process keeps its revisions in ``<package>/migrations``; its ``env.py`` is two lines that
call :func:`run_env`. :func:`migrate` creates the process's database when missing and upgrades it
to head, on a connection it owns (so it also works inside a running event loop).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.exc import DBAPIError
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

    def run_on(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return

    async def run_online() -> None:
        engine = create_async_engine(context.config.get_main_option("sqlalchemy.url"))
        async with engine.connect() as conn:
            await conn.run_sync(run_on)
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


async def upgrade(process: str, url: str, revision: str = "head") -> None:
    """Upgrade one process's database to ``revision``."""
    config = alembic_config(process, url)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:

            def _run(sync_conn: Connection) -> None:
                # Replicas starting together (or a Job racing `sajja run`) migrate one at a time.
                sync_conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"sajja.migrate.{process}"})
                config.attributes["connection"] = sync_conn
                command.upgrade(config, revision)

            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


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
