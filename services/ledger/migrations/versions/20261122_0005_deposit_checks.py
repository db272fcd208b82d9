"""deposits judged and posted in one call: membership, collector, late window, receipts

Revision ID: 20261122_0005_deposit_checks
Revises: 20261122_0004_entry_index
Create Date: 2026-11-22 05:00:00

``ledger_post_deposits`` now does every check that reads the ledger's own tables, under the fund's
posting lock, in the same statement that posts: a duplicate or conflicting id, whether the
ledger's copy of the member and of the collector is fresh enough to trust (else the caller asks
the members service and calls again), the member's status, the collector being active, and the
fund's late window. One round trip per call, autocommitted, so the lock is never held while
the application thinks. The posting time is read after the lock is taken, so within a fund
``posted_at`` follows commit order, as receipt numbers do. Deposits of several requests (and
callers) may be posted in one call, so ``posted_by`` comes per deposit. Entry ids are time-ordered
(``uuidv7()``), so the entries' and postings' primary keys grow at their right edge instead of
touching a random page (and writing it whole to the WAL after a checkpoint) for every deposit.
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = '20261122_0005_deposit_checks'
down_revision = '20261122_0004_entry_index'
branch_labels = None
depends_on = None

POST_DEPOSITS = """
CREATE FUNCTION ledger_post_deposits(
    p_fund uuid, p_today date, p_fresh_after timestamptz,
    p_ids uuid[], p_members uuid[], p_collectors uuid[], p_amounts bigint[], p_collected timestamptz[],
    p_dates date[], p_hashes bytea[], p_by text[]
) RETURNS TABLE (id uuid, outcome text, receipt_no bigint, entry_id uuid, posted_at timestamptz,
                 late_window_days smallint)
-- Plan once per connection. Left to choose, PostgreSQL planned the posting statement afresh on
-- every call (much of a one-deposit call's time): with parameters unknown, its estimate of the
-- cached plan came out dearer than the custom one it planned again.
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_seq bigint;
    v_late smallint;
    v_now timestamptz;
BEGIN
    SELECT f.receipt_seq, f.late_window_days INTO v_seq, v_late
      FROM ledger_funds f WHERE f.fund_id = p_fund FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT t.id, 'no_ledger'::text, NULL::bigint, NULL::uuid, NULL::timestamptz, NULL::smallint
                       FROM unnest(p_ids) AS t(id);
        RETURN;
    END IF;
    v_now := clock_timestamp();  -- after the lock: posting times follow commit order
    RETURN QUERY
    WITH input AS (
        SELECT t.* FROM unnest(p_ids, p_members, p_collectors, p_amounts, p_collected, p_dates, p_hashes, p_by)
             WITH ORDINALITY AS t(id, member_id, collector_id, amount, collected_at, bdate, hash, who, ord)
    ),
    judged AS MATERIALIZED (
        SELECT i.*, m.account_id AS member_account, c.account_id AS collector_account,
               d.receipt_no AS old_receipt, d.entry_id AS old_entry, d.posted_at AS old_posted,
               CASE WHEN d.id IS NOT NULL THEN CASE WHEN d.request_hash = i.hash THEN 'duplicate' ELSE 'conflict' END
                    WHEN m.member_id IS NULL OR m.checked_at < p_fresh_after THEN 'refresh_member'
                    WHEN c.collector_id IS NULL OR c.checked_at < p_fresh_after THEN 'refresh_collector'
                    -- the statuses a member may still pay in
                    WHEN m.status NOT IN ('active', 'suspended') THEN 'member_not_current'
                    WHEN NOT c.is_active THEN 'collector_inactive'
                    WHEN i.bdate < p_today - v_late THEN 'too_late'
                    ELSE 'created' END AS outcome
          -- One primary-key probe per deposit, whatever the plan guesses of an array's length: a
          -- cached plan expecting 10 rows hashed the fund's whole member table for one deposit.
          -- (LIMIT 1 keeps each look-up a look-up: a plain subquery would be flattened into a join.)
          FROM input i
          LEFT JOIN LATERAL (SELECT * FROM deposits x WHERE x.fund_id = p_fund AND x.id = i.id LIMIT 1) d ON true
          LEFT JOIN LATERAL (SELECT * FROM ledger_members x
                              WHERE x.fund_id = p_fund AND x.member_id = i.member_id LIMIT 1) m ON true
          LEFT JOIN LATERAL (SELECT * FROM ledger_collectors x
                              WHERE x.fund_id = p_fund AND x.collector_id = i.collector_id LIMIT 1) c ON true
    ),
    fresh AS MATERIALIZED (
        SELECT j.*, row_number() OVER (ORDER BY j.ord) AS n, uuidv7() AS new_entry
          FROM judged j WHERE j.outcome = 'created'
    ),
    entries AS (
        INSERT INTO journal_entries (fund_id, id, kind, business_date, posted_at, created_by)
        -- distinct, increasing times keep a call's order stable
        SELECT p_fund, f.new_entry, 'deposit', f.bdate, v_now + f.n * interval '1 microsecond', f.who FROM fresh f
    ),
    legs AS (
        INSERT INTO postings (fund_id, entry_id, line, account_id, amount_satang, business_date)
        SELECT p_fund, f.new_entry, 1, f.collector_account, f.amount, f.bdate FROM fresh f
        UNION ALL
        SELECT p_fund, f.new_entry, 2, f.member_account, -f.amount, f.bdate FROM fresh f
    ),
    made AS (
        INSERT INTO deposits AS d (fund_id, id, member_id, collector_id, amount_satang, collected_at,
                                   business_date, posted_at, receipt_no, entry_id, request_hash, posted_by)
        SELECT p_fund, f.id, f.member_id, f.collector_id, f.amount, f.collected_at, f.bdate,
               v_now + f.n * interval '1 microsecond', v_seq + f.n, f.new_entry, f.hash, f.who
          FROM fresh f
    ),
    moved AS (
        UPDATE accounts a SET balance_satang = a.balance_satang + s.delta
          FROM (SELECT x.account, sum(x.delta) AS delta
                  FROM (SELECT f.collector_account AS account, f.amount AS delta FROM fresh f
                        UNION ALL SELECT f.member_account, -f.amount FROM fresh f) x
                 GROUP BY x.account) s
         WHERE a.fund_id = p_fund AND a.id = s.account
    ),
    counted AS (
        UPDATE ledger_funds f SET receipt_seq = v_seq + (SELECT count(*) FROM fresh) WHERE f.fund_id = p_fund
    )
    SELECT j.id, j.outcome,
           coalesce(v_seq + f.n, j.old_receipt), coalesce(f.new_entry, j.old_entry),
           coalesce(v_now + f.n * interval '1 microsecond', j.old_posted), v_late
      FROM judged j LEFT JOIN fresh f ON f.ord = j.ord
     ORDER BY j.ord;
END $$
"""


def _previous_post_deposits() -> str:
    """The function as revision 0002 made it, for downgrade (read from that revision's module)."""
    path = Path(__file__).with_name("20261122_0002_ledger.py")
    spec = importlib.util.spec_from_file_location("ledger_0002", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    statement: str
    [statement] = [s for s in module.LEDGER_SQL if "CREATE FUNCTION ledger_post_deposits" in s]
    return statement


def upgrade() -> None:
    op.execute("DROP FUNCTION ledger_post_deposits")
    op.execute(POST_DEPOSITS)


def downgrade() -> None:
    op.execute("DROP FUNCTION ledger_post_deposits")
    op.execute(_previous_post_deposits())
