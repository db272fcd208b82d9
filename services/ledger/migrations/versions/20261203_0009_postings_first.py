"""deposits' entries and postings written before the fund's lock; only receipts and balances under it

Revision ID: 20261203_0009_postings_first
Revises: 20261203_0008_sync_entries
Create Date: 2026-12-03 13:00:00

A fund's deposits are posted one call at a time under the fund's row lock, because receipt
numbers are gapless and in commit order. Until now everything after the judging ran under that
lock: the journal entries, their postings, the statement check of the postings (a trigger), the
deposits, the balances and the receipt counter. Only the last three need it:

- the entries and their postings are new rows under new keys (``uuidv7()`` entry ids): writing
  them waits on no other posting call (the postings' keys are checked as a set, revision 0007,
  so no row of another table is locked), and the statement-level trigger on postings checks
  them when that statement ends;
- the deposits need their receipt numbers and posting times (taken after the lock, so that they
  follow commit order, which the feed relies on), the balances are the rows other postings of
  the fund update under the same lock, and the counter is the lock's row.

So ``ledger_post_deposits`` now judges the deposits, including the fund's late window, read
without the lock (a change of the window committed while a call runs applies from the next
call), and writes the entries and postings, all before ``FOR UPDATE``; under the lock it inserts
the deposits, updates the balances (summed per account before the lock) and the counter. The
call is still one statement of its own transaction: a failure anywhere (a deposit another call
committed in between fails on the deposits' key, and the service calls again) undoes the entries
and postings with the rest. One new wait: a call waiting for the fund's lock now holds
``postings`` and ``journal_entries`` for writing, so a schema change that locks either table
whole (``CREATE INDEX`` without ``CONCURRENTLY``, most ``ALTER TABLE``) queues behind it, and a
posting that holds the lock then queues behind the schema change; PostgreSQL finds the cycle and
cancels one of them. Run such changes with ``CONCURRENTLY`` or a ``lock_timeout``. An entry's
``posted_at`` is now when its postings were written, a moment before its deposits' own times
(statements show a deposit line at its deposit's time, revision 0008).

The fund's lock is then held for the least work that needs it, so one fund's calls overlap in
everything but their receipts and balances.
"""

from pathlib import Path

from alembic import op

from shared.migrate import function_of

revision = '20261203_0009_postings_first'
down_revision = '20261203_0008_sync_entries'
branch_labels = None
depends_on = None

POST_DEPOSITS = """
CREATE FUNCTION ledger_post_deposits(
    p_fund uuid, p_today date, p_fresh_after timestamptz,
    p_ids uuid[], p_members uuid[], p_collectors uuid[], p_amounts bigint[], p_collected timestamptz[],
    p_dates date[], p_hashes bytea[], p_by text[]
) RETURNS TABLE (id uuid, outcome text, receipt_no bigint, entry_id uuid, posted_at timestamptz,
                 late_window_days smallint)
-- Plan once per connection (a custom plan per call cost half a one-deposit call), and read every
-- table by key whatever the statistics said when the plan was made (revision 0007).
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
DECLARE
    v_late smallint;
    v_outcomes text[];      -- per deposit, in the call's order
    v_numbers bigint[];     -- per deposit: its place among the created ones (receipt = counter + place), else NULL
    v_entries uuid[];
    v_lines smallint[];
    v_old_receipts bigint[];
    v_old_entries uuid[];
    v_old_posted timestamptz[];
    v_accounts uuid[];      -- the balances to move, one per account, in account order
    v_deltas bigint[];
    v_created bigint;
    v_seq bigint;
    v_now timestamptz;
BEGIN
    SELECT f.late_window_days INTO v_late FROM ledger_funds f WHERE f.fund_id = p_fund;
    IF NOT FOUND THEN
        RETURN QUERY SELECT t.id, 'no_ledger'::text, NULL::bigint, NULL::uuid, NULL::timestamptz, NULL::smallint
                       FROM unnest(p_ids) AS t(id);
        RETURN;
    END IF;
    v_now := clock_timestamp();
    -- Before the lock, so that other calls of the fund post meanwhile. Each deposit is judged:
    -- its earlier posting if any (same request: duplicate, other content: conflict), whether the
    -- ledger's copy of its member and collector is fresh enough to trust and lets them pay in,
    -- and the fund's late window. One primary-key probe each (LIMIT 1 keeps a look-up a look-up:
    -- a plain subquery would be flattened into a join that may hash a whole table). A deposit
    -- another call commits after this look-up makes the insert under the lock fail on the
    -- primary key, and the whole call with it: the service calls again, and then it is a
    -- duplicate. The created ones get their entry (one per collector, business date and poster;
    -- line 1 is the collector's total, each deposit its member's line), written here.
    WITH judged AS MATERIALIZED (
        SELECT i.ord, i.amount, i.bdate, i.who, m.account_id AS member_account, c.account_id AS collector_account,
               d.receipt_no AS old_receipt, d.entry_id AS old_entry, d.posted_at AS old_posted,
               CASE WHEN d.id IS NOT NULL THEN CASE WHEN d.request_hash = i.hash THEN 'duplicate' ELSE 'conflict' END
                    WHEN m.member_id IS NULL OR m.checked_at < p_fresh_after THEN 'refresh_member'
                    WHEN c.collector_id IS NULL OR c.checked_at < p_fresh_after THEN 'refresh_collector'
                    -- the statuses a member may still pay in
                    WHEN m.status NOT IN ('active', 'suspended') THEN 'member_not_current'
                    WHEN NOT c.is_active THEN 'collector_inactive'
                    WHEN i.bdate < p_today - v_late THEN 'too_late'
                    ELSE 'created' END AS outcome
          FROM unnest(p_ids, p_members, p_collectors, p_hashes, p_amounts, p_dates, p_by)
               WITH ORDINALITY AS i(id, member_id, collector_id, hash, amount, bdate, who, ord)
          LEFT JOIN LATERAL (SELECT * FROM deposits x WHERE x.fund_id = p_fund AND x.id = i.id LIMIT 1) d ON true
          LEFT JOIN LATERAL (SELECT * FROM ledger_members x
                              WHERE x.fund_id = p_fund AND x.member_id = i.member_id LIMIT 1) m ON true
          LEFT JOIN LATERAL (SELECT * FROM ledger_collectors x
                              WHERE x.fund_id = p_fund AND x.collector_id = i.collector_id LIMIT 1) c ON true
    ),
    fresh AS MATERIALIZED (
        SELECT j.*, row_number() OVER (ORDER BY j.ord) AS n,
               1 + row_number() OVER (PARTITION BY j.collector_account, j.bdate, j.who ORDER BY j.ord) AS line
          FROM judged j WHERE j.outcome = 'created'
    ),
    grouped AS MATERIALIZED (
        SELECT f.collector_account, f.bdate, f.who, sum(f.amount) AS total, min(f.n) AS first_n,
               uuidv7() AS entry
          FROM fresh f GROUP BY f.collector_account, f.bdate, f.who
    ),
    placed AS MATERIALIZED (
        SELECT f.*, g.entry AS new_entry
          FROM fresh f JOIN grouped g
            ON g.collector_account = f.collector_account AND g.bdate = f.bdate AND g.who = f.who
    ),
    entries AS (
        INSERT INTO journal_entries (fund_id, id, kind, business_date, posted_at, created_by)
        -- distinct, increasing times keep a call's order stable
        SELECT p_fund, g.entry, 'deposit', g.bdate, v_now + g.first_n * interval '1 microsecond', g.who
          FROM grouped g
    ),
    legs AS (
        INSERT INTO postings (fund_id, entry_id, line, account_id, amount_satang, business_date)
        SELECT p_fund, g.entry, 1, g.collector_account, g.total, g.bdate FROM grouped g
        UNION ALL
        SELECT p_fund, p.new_entry, p.line, p.member_account, -p.amount, p.bdate FROM placed p
    ),
    moves AS (
        SELECT array_agg(s.account ORDER BY s.account) AS accounts, array_agg(s.delta ORDER BY s.account) AS deltas
          FROM (SELECT x.account, sum(x.delta) AS delta
                  FROM (SELECT g.collector_account AS account, g.total AS delta FROM grouped g
                        UNION ALL SELECT p.member_account, -p.amount FROM placed p) x
                 GROUP BY x.account) s
    )
    SELECT array_agg(j.outcome ORDER BY j.ord), array_agg(p.n ORDER BY j.ord), array_agg(p.new_entry ORDER BY j.ord),
           array_agg(p.line::smallint ORDER BY j.ord), array_agg(j.old_receipt ORDER BY j.ord),
           array_agg(j.old_entry ORDER BY j.ord), array_agg(j.old_posted ORDER BY j.ord),
           (SELECT m.accounts FROM moves m), (SELECT m.deltas FROM moves m), count(p.n)
      INTO v_outcomes, v_numbers, v_entries, v_lines, v_old_receipts, v_old_entries, v_old_posted,
           v_accounts, v_deltas, v_created
      FROM judged j LEFT JOIN placed p ON p.ord = j.ord;
    SELECT f.receipt_seq INTO v_seq FROM ledger_funds f WHERE f.fund_id = p_fund FOR UPDATE;
    IF NOT FOUND THEN  -- funds are never deleted; if one were, nothing of this call is kept
        RAISE EXCEPTION 'fund % has no ledger', p_fund USING ERRCODE = 'foreign_key_violation';
    END IF;
    v_now := clock_timestamp();  -- after the lock: posting times follow commit order
    RETURN QUERY
    -- Under the lock: the deposits with their receipts and times, the balances, the counter.
    WITH made AS (
        INSERT INTO deposits AS d (fund_id, id, member_id, collector_id, amount_satang, collected_at,
                                   business_date, posted_at, receipt_no, entry_id, entry_line, request_hash,
                                   posted_by)
        SELECT p_fund, t.id, t.member_id, t.collector_id, t.amount, t.collected_at, t.bdate,
               v_now + t.n * interval '1 microsecond', v_seq + t.n, t.entry, t.line, t.hash, t.who
          FROM unnest(p_ids, p_members, p_collectors, p_amounts, p_collected, p_dates, p_hashes, p_by,
                      v_numbers, v_entries, v_lines)
               AS t(id, member_id, collector_id, amount, collected_at, bdate, hash, who, n, entry, line)
         WHERE t.n IS NOT NULL
    ),
    moved AS (
        UPDATE accounts a SET balance_satang = a.balance_satang + s.delta
          FROM unnest(v_accounts, v_deltas) AS s(account, delta)
         WHERE a.fund_id = p_fund AND a.id = s.account
    ),
    counted AS (
        UPDATE ledger_funds f SET receipt_seq = v_seq + v_created WHERE f.fund_id = p_fund
    )
    SELECT t.id, t.outcome, coalesce(v_seq + t.n, t.old_receipt), coalesce(t.entry, t.old_entry),
           coalesce(v_now + t.n * interval '1 microsecond', t.old_posted), v_late
      FROM unnest(p_ids, v_outcomes, v_numbers, v_entries, v_old_receipts, v_old_entries, v_old_posted)
           WITH ORDINALITY AS t(id, outcome, n, entry, old_receipt, old_entry, old_posted, ord)
     ORDER BY t.ord;
END $$
"""


def upgrade() -> None:
    op.execute("DROP FUNCTION ledger_post_deposits")
    op.execute(POST_DEPOSITS)


def downgrade() -> None:
    op.execute("DROP FUNCTION ledger_post_deposits")
    op.execute(function_of(Path(__file__).with_name("20261203_0008_sync_entries.py"), "ledger_post_deposits"))
