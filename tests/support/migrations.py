"""Databases at a chosen revision, for the rolling-upgrade tests."""

from __future__ import annotations

import uuid

from shared.migrate import ensure_database, upgrade
from shared.settings import database_url_for


def head_minus_one(process: str) -> str:
    from alembic.script import ScriptDirectory

    from shared.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config(process)).get_revision("head").down_revision


async def fresh_database(pg_url: str, process: str, revision: str) -> str:
    name = f"sajja_t_{process}_{uuid.uuid4().hex[:8]}"
    await ensure_database(pg_url, name)
    url = database_url_for(pg_url, name)
    await upgrade(process, url, revision)
    return url
