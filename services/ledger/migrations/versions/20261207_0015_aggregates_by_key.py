"""aggregates by key: the day totals of deposits read from the entries' postings, not from deposits

Revision ID: 20261207_0015_aggregates_by_key
Revises: 20261207_0014_fund_aggregates
Create Date: 2026-12-07 13:00:00

``deposits`` has no index on its entry (and one more index would cost every deposit posted), so
finding a queued entry's deposits there walked all of the fund's deposits: the worker's refresh,
every few seconds, cost more the more the fund had ever taken. A deposit is also a posting: line
``entry_line`` of its entry, crediting the member's contribution account with its amount, dated
with its business date. ``ledger_refresh_aggregates()`` now counts those postings (found by the
postings' key, ``(fund_id, entry_id, line)``), and a reversal finds the lines it undoes the same way.

Its query is planned at each call (``EXECUTE``): the plan PL/pgSQL caches is the one the worker's
connection made at its first refresh, while the tables were empty, and such a plan led the join
with every member account times every queued entry (minutes once the demo was loaded, past the
gateway's deadline for a read that waits behind the refresh). The queued entries' postings are
gathered first (materialized), through keys only, and the figures summed from them.
"""

from alembic import op

revision = '20261207_0015_aggregates_by_key'
down_revision = '20261207_0014_fund_aggregates'
branch_labels = None
depends_on = None

REFRESH_LOCK = 0x5A4A_A661

REFRESH = f"""
CREATE OR REPLACE FUNCTION ledger_refresh_aggregates() RETURNS timestamptz LANGUAGE plpgsql
-- By key only, whatever the statistics were when the connection planned it (as the posting
-- functions, revision 0007): a plan cached while the tables were small would scan them whole.
SET enable_seqscan = off AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
    v_taken bigint;
BEGIN
    -- One refresh at a time: a caller that finds one under way waits for it, then adds what
    -- was committed since (little), so whatever it reads includes every entry committed before.
    PERFORM pg_advisory_xact_lock({REFRESH_LOCK});
    -- Planned at each call (EXECUTE): a plan PL/pgSQL caches is the one its connection made the
    -- first time, maybe while the tables were empty, and may lead with any of them.
    EXECUTE $refresh$
    WITH taken AS (
        DELETE FROM aggregate_queue q RETURNING q.fund_id, q.entry_id
    ),
    -- Each queued entry's postings, and what each undoes, found from the queue through keys only
    -- (materialized, so no filter on a large table may lead the join and walk it whole).
    queued AS MATERIALIZED (
        SELECT p.fund_id, p.business_date, p.amount_satang, e.kind AS entry_kind, a.type, a.kind, a.source
          FROM taken k
          JOIN journal_entries e ON e.fund_id = k.fund_id AND e.id = k.entry_id
          JOIN postings p ON p.fund_id = k.fund_id AND p.entry_id = k.entry_id
          JOIN accounts a ON a.fund_id = p.fund_id AND a.id = p.account_id
    ),
    undone AS MATERIALIZED (
        SELECT p.fund_id, p.business_date, p.amount_satang, e.kind AS entry_kind, a.kind
          FROM taken k
          JOIN journal_entries r ON r.fund_id = k.fund_id AND r.id = k.entry_id
          JOIN journal_entries e ON e.fund_id = r.fund_id AND e.id = r.reverses_entry_id
          JOIN postings p ON p.fund_id = r.fund_id AND p.entry_id = r.reverses_entry_id
                         AND (r.reverses_line IS NULL OR p.line = r.reverses_line)
          JOIN accounts a ON a.fund_id = p.fund_id AND a.id = p.account_id
    ),
    income AS (
        INSERT INTO income_days AS t (fund_id, business_date, source, amount_satang)
        SELECT q.fund_id, q.business_date, coalesce(q.source, ''), -sum(q.amount_satang)
          FROM queued q WHERE q.type = 'income'
         GROUP BY 1, 2, 3
         ORDER BY 1, 2, 3
        ON CONFLICT (fund_id, business_date, source)
        DO UPDATE SET amount_satang = t.amount_satang + excluded.amount_satang
    ),
    counted AS (
        -- the deposits of new deposit entries (their lines crediting a member's contribution)
        -- count; those a new reversal undoes (one line, or a whole entry of one deposit from
        -- before revision 0008) stop counting, on their own date
        SELECT q.fund_id, q.business_date, 1 AS n, -q.amount_satang AS amount
          FROM queued q WHERE q.entry_kind = 'deposit' AND q.kind = 'member_contribution'
        UNION ALL
        SELECT u.fund_id, u.business_date, -1, u.amount_satang
          FROM undone u WHERE u.entry_kind = 'deposit' AND u.kind = 'member_contribution'
    ),
    deposited AS (
        INSERT INTO deposit_days AS t (fund_id, business_date, deposits, amount_satang)
        SELECT c.fund_id, c.business_date, sum(c.n), sum(c.amount) FROM counted c
         GROUP BY 1, 2
         ORDER BY 1, 2
        ON CONFLICT (fund_id, business_date)
        DO UPDATE SET deposits = t.deposits + excluded.deposits, amount_satang = t.amount_satang + excluded.amount_satang
    ),
    touched AS (
        UPDATE fund_arrears f SET stale = true
          FROM (SELECT DISTINCT k.fund_id FROM taken k) s
         WHERE f.fund_id = s.fund_id AND NOT f.stale
    )
    SELECT count(*) FROM taken
    $refresh$ INTO v_taken;
    RETURN v_now;
END $$
"""


def _previous() -> str:
    """The function as revision 0013 made it, for downgrade (read from that revision)."""
    from pathlib import Path

    source = Path(__file__).with_name("20261207_0014_fund_aggregates.py").read_text()
    start = source.index("CREATE FUNCTION ledger_refresh_aggregates()")
    end = source.index("END $$", start) + len("END $$")
    body = source[start:end].replace("{REFRESH_LOCK}", str(REFRESH_LOCK))
    return "CREATE OR REPLACE FUNCTION" + body[len("CREATE FUNCTION"):]


def upgrade() -> None:
    op.execute(REFRESH)


def downgrade() -> None:
    op.execute(_previous())
