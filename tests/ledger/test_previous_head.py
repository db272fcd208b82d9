"""This release's code on the previous migration head (docs/migrations.md): every process's
database at head~1 (or at its head where this release's code needs its newest revision,
``tests.support.migrations.NEEDS_OWN_HEAD``), the real ledger and members apps on them, and the ledger's key paths: a
deposit, a sync of offline deposits, a reversal's proposal, balances, statements and the trial
balance. Together with tests/shared/test_rolling_upgrade.py (the previous release's calls on this
release's schema), a release and the one before it each run on the other's schema."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.settings import PROCESS_NAMES
from tests.support.migrations import fresh_database, previous_schema
from tests.support.factories import make_books


@pytest.fixture(scope="module")
async def engines(pg_url: str) -> AsyncIterator[dict[str, AsyncEngine]]:
    """Overrides the session's databases in this module: every process's at its previous head."""
    made = {name: create_async_engine(await fresh_database(pg_url, name, previous_schema(name)), pool_size=5)
            for name in PROCESS_NAMES}
    yield made
    for engine in made.values():
        await engine.dispose()


async def test_the_ledgers_key_paths_on_the_previous_head(service_client, tokens) -> None:
    books = await make_books(service_client, tokens)
    single = await books.post("/deposits", books.deposit(0, amount=2500), books.collector_headers)
    assert single.status_code == 201 and single.json()["receipt_no"] == 1, single.text
    synced = await books.post("/deposits/batch", {"deposits": [books.deposit(i, amount=100 * (i + 1)) for i in range(3)]},
                              books.collector_headers)
    assert synced.status_code == 200 and synced.json()["created"] == 3, synced.text
    assert (await books.get(f"/members/{books.member_ids[0]}/balance")).json()["contributed_satang"] == 2600
    statement = await books.get(f"/members/{books.member_ids[2]}/statement")
    assert statement.status_code == 200, statement.text
    trial = await books.get("/trial-balance")
    assert trial.status_code == 200, trial.text
    reversal = await books.post_confirmed(f"/deposits/{single.json()['id']}/reverse", {"id": str(uuid.uuid4()), "reason": "ผิดคน"})
    assert reversal.status_code in (200, 201), reversal.text
    assert (await books.get(f"/members/{books.member_ids[0]}/balance")).json()["contributed_satang"] == 100
