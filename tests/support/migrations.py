"""Databases at a chosen revision, for the rolling-upgrade tests."""

from __future__ import annotations

import uuid

from shared.migrate import ensure_database, upgrade
from shared.settings import database_url_for


#: Processes whose code in this release needs the release's own newest revision, named with why
#: (docs/migrations.md: such a release is covered by the rollout order, its pods starting only on
#: its schema). An entry names the head it was written for: when a later revision becomes the
#: head, :func:`previous_schema` fails until the entry is looked at again and removed or renewed.
NEEDS_OWN_HEAD: dict[str, tuple[str, str]] = {}


def previous_schema(process: str) -> str:
    """The schema this release's code is tested on besides its own: head~1, or the head itself for a
    process listed in :data:`NEEDS_OWN_HEAD` for the current head."""
    from alembic.script import ScriptDirectory

    from shared.migrate import alembic_config

    head = ScriptDirectory.from_config(alembic_config(process)).get_revision("head")
    if process in NEEDS_OWN_HEAD:
        named, _why = NEEDS_OWN_HEAD[process]
        assert named == head.revision, (
            f"{process}: NEEDS_OWN_HEAD names {named}, the head is now {head.revision}: does this "
            "release's code still need its newest revision? (tests/support/migrations.py)")
        return head.revision
    return head.down_revision


async def fresh_database(pg_url: str, process: str, revision: str) -> str:
    name = f"sajja_t_{process}_{uuid.uuid4().hex[:8]}"
    await ensure_database(pg_url, name)
    url = database_url_for(pg_url, name)
    await upgrade(process, url, revision)
    return url
