"""aggregates by key: the day totals of deposits read from the entries' postings, not from deposits

Revision ID: 20261207_0014_aggregates_by_key
Revises: 20261207_0013_fund_aggregates
Create Date: 2026-12-07 13:00:00

``deposits`` has no index on its entry (and one more index would cost every deposit posted), so
finding a queued entry's deposits there walked all of the fund's deposits: the worker's refresh,
every few seconds, cost more the more the fund had ever taken. A deposit is also a posting: line
``entry_line`` of its entry, crediting the member's contribution account with its amount, dated
with its business date. ``ledger_refresh_aggregates()`` now counts those postings (found by the
postings' key, ``(fund_id, entry_id, line)``), and a reversal finds the lines it undoes the same way.
"""

from alembic import op

revision = '20261207_0014_aggregates_by_key'
down_revision = '20261207_0013_fund_aggregates'
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
    WITH taken AS (
        DELETE FROM aggregate_queue q RETURNING q.fund_id, q.entry_id
    ),
    income AS (
        INSERT INTO income_days AS t (fund_id, business_date, source, amount_satang)
        SELECT p.fund_id, p.business_date, coalesce(a.source, ''), -sum(p.amount_satang)
          FROM taken k
          JOIN postings p ON p.fund_id = k.fund_id AND p.entry_id = k.entry_id
          JOIN accounts a ON a.fund_id = p.fund_id AND a.id = p.account_id AND a.type = 'income'
         GROUP BY 1, 2, 3
         ORDER BY 1, 2, 3
        ON CONFLICT (fund_id, business_date, source)
        DO UPDATE SET amount_satang = t.amount_satang + excluded.amount_satang
    ),
    counted AS (
        -- the deposits of new deposit entries (their lines crediting a member's contribution)
        -- count; those a new reversal undoes (one line, or a whole entry of one deposit from
        -- before revision 0008) stop counting, on their own date
        SELECT p.fund_id, p.business_date, 1 AS n, -p.amount_satang AS amount
          FROM taken k
          JOIN journal_entries e ON e.fund_id = k.fund_id AND e.id = k.entry_id AND e.kind = 'deposit'
          JOIN postings p ON p.fund_id = k.fund_id AND p.entry_id = k.entry_id
          JOIN accounts a ON a.fund_id = p.fund_id AND a.id = p.account_id AND a.kind = 'member_contribution'
        UNION ALL
        SELECT p.fund_id, p.business_date, -1, p.amount_satang
          FROM taken k
          JOIN journal_entries r ON r.fund_id = k.fund_id AND r.id = k.entry_id AND r.reverses_entry_id IS NOT NULL
          JOIN journal_entries e ON e.fund_id = r.fund_id AND e.id = r.reverses_entry_id AND e.kind = 'deposit'
          JOIN postings p ON p.fund_id = r.fund_id AND p.entry_id = r.reverses_entry_id
                         AND (r.reverses_line IS NULL OR p.line = r.reverses_line)
          JOIN accounts a ON a.fund_id = p.fund_id AND a.id = p.account_id AND a.kind = 'member_contribution'
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
    SELECT count(*) INTO v_taken FROM taken;
    RETURN v_now;
END $$
"""


def _previous() -> str:
    """The function as revision 0013 made it, for downgrade (read from that revision)."""
    from pathlib import Path

    source = Path(__file__).with_name("20261207_0013_fund_aggregates.py").read_text()
    start = source.index("CREATE FUNCTION ledger_refresh_aggregates()")
    end = source.index("END $$", start) + len("END $$")
    body = source[start:end].replace("{REFRESH_LOCK}", str(REFRESH_LOCK))
    return "CREATE OR REPLACE FUNCTION" + body[len("CREATE FUNCTION"):]


def upgrade() -> None:
    op.execute(REFRESH)


def downgrade() -> None:
    op.execute(_previous())
