"""refresh by key always: each queued entry's rows looked up one by one, whatever the estimates

Revision ID: 20261207_0017_refresh_by_key
Revises: 20261207_0016_fiscal_years
Create Date: 2026-12-07 20:30:00

Revision 0015 meant ``ledger_refresh_aggregates()`` to read only by key, but left the join order
to the planner, and the planner takes the queue's size from its statistics: a queue analyzed while
it was long (the dead rows of earlier refreshes counted) made it hash every posting and every
account of the queued funds, once per refresh, so that each refresh cost what the funds had ever
posted rather than what was queued. Under a steady flow of deposits the refresh then took one of
the database's cores for a long moment every pass, and every deposit in flight waited behind it.

The queued entries' rows are now found through ``LATERAL`` subqueries fenced with ``OFFSET 0``
(never flattened into the outer join): for each queued entry, its entry by key, its postings by
``(fund_id, entry_id)``, each posting's account by key; for a reversal, the entry and the lines it
undoes the same way. The plan's shape is the query's, whatever the statistics say. The rest of the
function is as revision 0016 made it.
"""

from pathlib import Path
from typing import Any

from alembic import op

revision = '20261207_0017_refresh_by_key'
down_revision = '20261207_0016_fiscal_years'
branch_labels = None
depends_on = None

HERE = Path(__file__).parent

#: The two lookups as this revision makes them; they take the place of revision 0016's, which
#: stand in its text from ``FIRST`` up to ``AFTER``.
FIRST = "    queued AS MATERIALIZED ("
AFTER = "    income AS ("

QUEUED_BY_KEY = """    queued AS MATERIALIZED (
        SELECT p.fund_id, p.business_date, p.amount_satang, e.kind AS entry_kind, a.type, a.kind, a.source
          FROM taken k
         CROSS JOIN LATERAL (SELECT e.kind FROM journal_entries e
                              WHERE e.fund_id = k.fund_id AND e.id = k.entry_id OFFSET 0) e
         CROSS JOIN LATERAL (SELECT p.fund_id, p.account_id, p.business_date, p.amount_satang FROM postings p
                              WHERE p.fund_id = k.fund_id AND p.entry_id = k.entry_id OFFSET 0) p
         CROSS JOIN LATERAL (SELECT a.type, a.kind, a.source FROM accounts a
                              WHERE a.fund_id = p.fund_id AND a.id = p.account_id OFFSET 0) a
    ),"""

# The reversal looked up by the entry's key (no condition on reverses_entry_id, which would let the
# partial index of reversals lead and walk every reversal of the fund for each queued entry).
UNDONE_BY_KEY = """    undone AS MATERIALIZED (
        SELECT p.fund_id, p.business_date, p.amount_satang, e.kind AS entry_kind, a.kind
          FROM taken k
         CROSS JOIN LATERAL (SELECT r.reverses_entry_id, r.reverses_line FROM journal_entries r
                              WHERE r.fund_id = k.fund_id AND r.id = k.entry_id OFFSET 0) r
         CROSS JOIN LATERAL (SELECT e.kind FROM journal_entries e
                              WHERE e.fund_id = k.fund_id AND e.id = r.reverses_entry_id OFFSET 0) e
         CROSS JOIN LATERAL (SELECT p.fund_id, p.account_id, p.business_date, p.amount_satang FROM postings p
                              WHERE p.fund_id = k.fund_id AND p.entry_id = r.reverses_entry_id
                                AND (r.reverses_line IS NULL OR p.line = r.reverses_line) OFFSET 0) p
         CROSS JOIN LATERAL (SELECT a.kind FROM accounts a
                              WHERE a.fund_id = p.fund_id AND a.id = p.account_id OFFSET 0) a
    ),"""


def _fiscal_years() -> Any:
    """Revision 0016's module: the function as it made it (``_refresh``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fiscal_years_0016", HERE / "20261207_0016_fiscal_years.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade() -> None:
    previous = str(_fiscal_years()._refresh())
    assert previous.count(FIRST) == 1 and previous.count(AFTER) == 1
    start, end = previous.index(FIRST), previous.index(AFTER)
    op.execute(previous[:start] + QUEUED_BY_KEY + "\n" + UNDONE_BY_KEY + "\n" + previous[end:])


def downgrade() -> None:
    op.execute(_fiscal_years()._refresh())
