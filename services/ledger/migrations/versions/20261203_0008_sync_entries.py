"""one journal entry per collector, day and poster in a posting call; deposits reversed one by one

Revision ID: 20261203_0008_sync_entries
Revises: 20261203_0007_set_based_keys
Create Date: 2026-12-03 10:00:00

Until now every deposit was an entry of its own: the collector's cash in hand debited, the
member's contribution credited, one entry row and two postings per deposit. A phone syncing 500
deposits of one evening now makes one compound entry per collector, business date and poster in
the call: line 1 debits the collector's cash in hand with the total, and each deposit credits its
member's contribution on a line of its own (line 2 onwards), which the deposit names
(``deposits.entry_line``). Every deposit keeps its own receipt number, posting time and member
line, so statements, receipts and reports read the same; the books hold one entry row and one
posting fewer per deposit, and the per-entry balance check runs once per entry instead of once
per deposit.

``ledger_post_deposits`` also judges the deposits (an earlier posting of the same id, the
ledger's copy of member and collector) before it takes the fund's lock, so that one call's
look-ups run while another call of the fund posts; only the late window (a setting of the fund's
row) and the postings are left under the lock. A deposit another call commits between the look-up and the lock
fails the insert on the primary key; the service then calls again (``DepositPoster``), and it is
a duplicate. The statement trigger looks up each new posting's entry once per entry instead of
once per posting.

Deposits posted before this revision keep their one-deposit entries (their member's line is 2,
the default given here).

A deposit entry may hold other members' money, so it is no longer reversed whole: a deposit is
reversed on its own (``POST .../deposits/{id}/reverse``), by an entry that names the reversed
entry and line (``journal_entries.reverses_line``). An entry is reversed at most once, and so is
each line: the unique index now covers (entry, line), NULL line meaning the whole entry, with
NULLs not distinct; that an entry reversed whole is not also reversed line by line (a deposit
posted before this revision) is checked under the fund's lock before posting.
"""

from pathlib import Path

from alembic import op

from shared.migrate import function_of

revision = '20261203_0008_sync_entries'
down_revision = '20261203_0007_set_based_keys'
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
    v_member_accounts uuid[];
    v_collector_accounts uuid[];
    v_old_receipts bigint[];
    v_old_entries uuid[];
    v_old_posted timestamptz[];
    v_judged text[];
    v_seq bigint;
    v_late smallint;
    v_now timestamptz;
BEGIN
    -- Before the lock, so that other calls of the fund post meanwhile: each deposit's earlier
    -- posting if any (same request: duplicate, other content: conflict), and whether the ledger's
    -- copy of its member and collector is fresh enough to trust and lets them pay in. One
    -- primary-key probe each (LIMIT 1 keeps a look-up a look-up: a plain subquery would be
    -- flattened into a join that may hash a whole table). A deposit another call commits after
    -- this look-up makes the insert below fail on the primary key, and the whole call with it:
    -- the service calls again, and then it is a duplicate.
    SELECT array_agg(m.account_id ORDER BY i.ord), array_agg(c.account_id ORDER BY i.ord),
           array_agg(d.receipt_no ORDER BY i.ord), array_agg(d.entry_id ORDER BY i.ord), array_agg(d.posted_at ORDER BY i.ord),
           array_agg(CASE WHEN d.id IS NOT NULL THEN CASE WHEN d.request_hash = i.hash THEN 'duplicate' ELSE 'conflict' END
                    WHEN m.member_id IS NULL OR m.checked_at < p_fresh_after THEN 'refresh_member'
                    WHEN c.collector_id IS NULL OR c.checked_at < p_fresh_after THEN 'refresh_collector'
                    -- the statuses a member may still pay in
                    WHEN m.status NOT IN ('active', 'suspended') THEN 'member_not_current'
                    WHEN NOT c.is_active THEN 'collector_inactive' END ORDER BY i.ord)
      INTO v_member_accounts, v_collector_accounts, v_old_receipts, v_old_entries, v_old_posted, v_judged
      FROM unnest(p_ids, p_members, p_collectors, p_hashes) WITH ORDINALITY AS i(id, member_id, collector_id, hash, ord)
      LEFT JOIN LATERAL (SELECT * FROM deposits x WHERE x.fund_id = p_fund AND x.id = i.id LIMIT 1) d ON true
      LEFT JOIN LATERAL (SELECT * FROM ledger_members x
                          WHERE x.fund_id = p_fund AND x.member_id = i.member_id LIMIT 1) m ON true
      LEFT JOIN LATERAL (SELECT * FROM ledger_collectors x
                          WHERE x.fund_id = p_fund AND x.collector_id = i.collector_id LIMIT 1) c ON true;
    SELECT f.receipt_seq, f.late_window_days INTO v_seq, v_late
      FROM ledger_funds f WHERE f.fund_id = p_fund FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT t.id, 'no_ledger'::text, NULL::bigint, NULL::uuid, NULL::timestamptz, NULL::smallint
                       FROM unnest(p_ids) AS t(id);
        RETURN;
    END IF;
    v_now := clock_timestamp();  -- after the lock: posting times follow commit order
    RETURN QUERY
    -- Under the lock: the fund's late window, then the postings.
    WITH judged AS MATERIALIZED (
        SELECT t.*, coalesce(t.pre, CASE WHEN t.bdate < p_today - v_late THEN 'too_late' ELSE 'created' END) AS outcome
          FROM unnest(p_ids, p_members, p_collectors, p_amounts, p_collected, p_dates, p_hashes, p_by,
                      v_member_accounts, v_collector_accounts, v_old_receipts, v_old_entries, v_old_posted, v_judged)
               WITH ORDINALITY AS t(id, member_id, collector_id, amount, collected_at, bdate, hash, who,
                                    member_account, collector_account, old_receipt, old_entry, old_posted, pre, ord)
    ),
    -- The deposits to post, numbered in the call's order (receipts), and each on its line of the
    -- entry of its collector, business date and poster (line 1 is the collector's).
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
    made AS (
        INSERT INTO deposits AS d (fund_id, id, member_id, collector_id, amount_satang, collected_at,
                                   business_date, posted_at, receipt_no, entry_id, entry_line, request_hash,
                                   posted_by)
        SELECT p_fund, p.id, p.member_id, p.collector_id, p.amount, p.collected_at, p.bdate,
               v_now + p.n * interval '1 microsecond', v_seq + p.n, p.new_entry, p.line, p.hash, p.who
          FROM placed p
    ),
    moved AS (
        UPDATE accounts a SET balance_satang = a.balance_satang + s.delta
          FROM (SELECT x.account, sum(x.delta) AS delta
                  FROM (SELECT g.collector_account AS account, g.total AS delta FROM grouped g
                        UNION ALL SELECT p.member_account, -p.amount FROM placed p) x
                 GROUP BY x.account) s
         WHERE a.fund_id = p_fund AND a.id = s.account
    ),
    counted AS (
        UPDATE ledger_funds f SET receipt_seq = v_seq + (SELECT count(*) FROM fresh) WHERE f.fund_id = p_fund
    )
    SELECT j.id, j.outcome,
           coalesce(v_seq + p.n, j.old_receipt), coalesce(p.new_entry, j.old_entry),
           coalesce(v_now + p.n * interval '1 microsecond', j.old_posted), v_late
      FROM judged j LEFT JOIN placed p ON p.ord = j.ord
     ORDER BY j.ord;
END $$
"""

POST_ENTRY = """
CREATE FUNCTION ledger_post_entry(
    p_fund uuid, p_entry uuid, p_kind text, p_date date, p_memo text, p_by text, p_reverses uuid,
    p_accounts uuid[], p_amounts bigint[], p_reverses_line smallint DEFAULT NULL
) RETURNS timestamptz LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
    v_now timestamptz := clock_timestamp();
BEGIN
    PERFORM 1 FROM ledger_funds f WHERE f.fund_id = p_fund FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'fund % has no ledger', p_fund USING ERRCODE = 'foreign_key_violation';
    END IF;
    INSERT INTO journal_entries (fund_id, id, kind, business_date, posted_at, memo, reverses_entry_id,
                                 reverses_line, created_by)
        VALUES (p_fund, p_entry, p_kind, p_date, v_now, p_memo, p_reverses, p_reverses_line, p_by);
    INSERT INTO postings (fund_id, entry_id, line, account_id, amount_satang, business_date)
        SELECT p_fund, p_entry, t.line, t.account, t.amount, p_date
          FROM unnest(p_accounts, p_amounts) WITH ORDINALITY AS t(account, amount, line);
    UPDATE accounts a SET balance_satang = a.balance_satang + s.delta
      FROM (SELECT t.account, sum(t.amount) AS delta FROM unnest(p_accounts, p_amounts) AS t(account, amount)
            GROUP BY t.account) s
     WHERE a.fund_id = p_fund AND a.id = s.account;
    RETURN v_now;
END $$
"""


CHECK_POSTINGS = """
CREATE OR REPLACE FUNCTION ledger_check_postings_balanced() RETURNS trigger LANGUAGE plpgsql
-- Every look-up here is by key (revision 0007).
SET enable_seqscan = off AS $$
DECLARE
    v_missing text;
    v_entry uuid;
    v_sum bigint;
    v_count bigint;
BEGIN
    -- Every new posting belongs to an entry of its own fund (one look-up per entry, not per
    -- posting: a sync's 501 postings share one entry) and moves an account of its own fund...
    SELECT 'journal entry ' || t.entry_id INTO v_missing
      FROM (SELECT DISTINCT a.fund_id, a.entry_id FROM added a) t
      LEFT JOIN LATERAL (SELECT true AS hit FROM journal_entries e WHERE e.fund_id = t.fund_id AND e.id = t.entry_id LIMIT 1) e ON true
     WHERE e.hit IS NULL LIMIT 1;
    IF NOT FOUND THEN
        SELECT 'account ' || a.account_id INTO v_missing FROM added a
          LEFT JOIN LATERAL (SELECT true AS hit FROM accounts x WHERE x.fund_id = a.fund_id AND x.id = a.account_id LIMIT 1) x ON true
         WHERE x.hit IS NULL LIMIT 1;
    END IF;
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'a posting refers to %, which its fund does not have', v_missing USING ERRCODE = 'foreign_key_violation';
    END IF;
    -- ...and every entry it touches has two or more postings summing to zero.
    SELECT t.entry_id, s.total, s.n INTO v_entry, v_sum, v_count
      FROM (SELECT DISTINCT a.fund_id, a.entry_id FROM added a) t
     CROSS JOIN LATERAL (SELECT sum(p.amount_satang) AS total, count(*) AS n FROM postings p
                          WHERE p.fund_id = t.fund_id AND p.entry_id = t.entry_id) s
     WHERE s.total <> 0 OR s.n < 2
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % does not balance: sum % over % postings', v_entry, v_sum, v_count
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$
"""


def _function_of(revision_file: str, name: str) -> str:
    return function_of(Path(__file__).with_name(revision_file), name)


def upgrade() -> None:
    op.execute("ALTER TABLE deposits ADD COLUMN entry_line smallint NOT NULL DEFAULT 2")
    op.execute("ALTER TABLE deposits ALTER COLUMN entry_line DROP DEFAULT")
    op.execute("ALTER TABLE journal_entries ADD COLUMN reverses_line smallint")
    op.execute("DROP INDEX uq_journal_entries_reverses")
    op.execute("CREATE UNIQUE INDEX uq_journal_entries_reverses ON journal_entries (fund_id, reverses_entry_id, reverses_line)"
               " NULLS NOT DISTINCT WHERE reverses_entry_id IS NOT NULL")
    op.execute("DROP FUNCTION ledger_post_deposits")
    op.execute(POST_DEPOSITS)
    op.execute("DROP FUNCTION ledger_post_entry")
    op.execute(POST_ENTRY)
    op.execute(CHECK_POSTINGS)


def downgrade() -> None:
    # The earlier code reads a deposit's receipt by its entry alone and reverses entries whole:
    # with entries of several deposits in the books it would show a member other members'
    # receipts and reverse their money with theirs. Refuse rather than go back to that.
    op.execute("""
    DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM deposits WHERE entry_line <> 2) THEN
            RAISE EXCEPTION 'entries of several deposits exist: revision 0008 cannot be undone'
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    END $$
    """)
    op.execute(_function_of("20261203_0007_set_based_keys.py", "ledger_check_postings_balanced"))
    op.execute("DROP FUNCTION ledger_post_entry")
    op.execute(_function_of("20261122_0002_ledger.py", "ledger_post_entry"))
    op.execute("DROP FUNCTION ledger_post_deposits")
    op.execute(_function_of("20261122_0005_deposit_checks.py", "ledger_post_deposits"))
    for function in ("ledger_post_entry", "ledger_post_deposits"):
        op.execute(f"ALTER FUNCTION {function} SET enable_seqscan = off")
    op.execute("DROP INDEX uq_journal_entries_reverses")
    op.execute("CREATE UNIQUE INDEX uq_journal_entries_reverses ON journal_entries (fund_id, reverses_entry_id)"
               " WHERE reverses_entry_id IS NOT NULL")
    op.execute("ALTER TABLE journal_entries DROP COLUMN reverses_line")
    op.execute("ALTER TABLE deposits DROP COLUMN entry_line")
