"""postings' keys checked once per statement: foreign keys declared, enforced by the statement trigger

Revision ID: 20261203_0007_set_based_keys
Revises: 20261122_0006_cheaper_checks
Create Date: 2026-12-03 08:00:00

PostgreSQL checks a foreign key with one query per inserted row (and a share lock on the row it
finds). A sync writes postings by the hundred, so twice as many such queries per sync, a large
part of the posting function's time. Here the two keys of ``postings`` (its entry, its account, each within its fund) stay declared
but ``NOT ENFORCED`` (PostgreSQL 18), and the statement-level trigger that already checks that
the statement's entries balance also checks, with the statement's new rows as a set, that each
posting's entry and account exist in its fund: one index probe per row inside one query (a
LATERAL look-up, so a plan can never hash a whole table), which keeps most of what dropping the
per-row checks would save.

What the keys also did was keep a referenced row from going away. Entries already cannot be
changed or removed (append-only); accounts now cannot be removed, truncated, or given another
key (their balances and names still change). A row another transaction has inserted but not
committed is not seen, so a posting can never refer to one.

The balance check of revision 0006 joined the statement's entries to postings; a connection that
planned it while postings was small kept a plan that read the whole table on every statement,
so on a new system each sync was slower than the one before as the fund's postings grew. Every
query here now looks up by key, and this function and the posting functions forbid sequential
scans (``enable_seqscan = off`` for their own queries, which costs nothing when every look-up is
by key anyway).
"""

from pathlib import Path

from alembic import op

revision = '20261203_0007_set_based_keys'
down_revision = '20261122_0006_cheaper_checks'
branch_labels = None
depends_on = None

KEYS = ('fk_postings_fund_id_accounts', 'fk_postings_fund_id_journal_entries')
#: Functions that post: every table they read is read by key (see the docstring).
BY_KEY_ONLY = ('ledger_post_deposits', 'ledger_post_entry', 'ledger_check_entry_balanced')

CHECK_POSTINGS = """
CREATE OR REPLACE FUNCTION ledger_check_postings_balanced() RETURNS trigger LANGUAGE plpgsql
-- Every look-up here is by key: never a scan of a whole table, whatever the statistics said when
-- the connection planned these queries (a plan cached while postings was small scanned all of it
-- for every statement, each call slower as the fund's history grew).
SET enable_seqscan = off AS $$
DECLARE
    v_missing text;
    v_entry uuid;
    v_sum bigint;
    v_count bigint;
BEGIN
    -- Every new posting belongs to an entry of its own fund and moves an account of its own fund...
    SELECT CASE WHEN e.hit IS NULL THEN 'journal entry ' || a.entry_id ELSE 'account ' || a.account_id END
      INTO v_missing FROM added a
      LEFT JOIN LATERAL (SELECT true AS hit FROM journal_entries e WHERE e.fund_id = a.fund_id AND e.id = a.entry_id LIMIT 1) e ON true
      LEFT JOIN LATERAL (SELECT true AS hit FROM accounts x WHERE x.fund_id = a.fund_id AND x.id = a.account_id LIMIT 1) x ON true
     WHERE e.hit IS NULL OR x.hit IS NULL LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'a posting refers to %, which its fund does not have', v_missing USING ERRCODE = 'foreign_key_violation';
    END IF;
    -- ...and every entry it touches has two or more postings summing to zero.
    -- (an aggregate in a LATERAL subquery: one probe of the postings' key per entry)
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

KEEP_ACCOUNTS = """
CREATE FUNCTION ledger_keep_accounts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.fund_id IS DISTINCT FROM OLD.fund_id OR NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'accounts are never removed nor given another key: % on accounts refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$
"""


def _previous_check() -> str:
    """The trigger function as revision 0006 made it, for downgrade (read from that revision)."""
    source = Path(__file__).with_name("20261122_0006_cheaper_checks.py").read_text()
    start = source.index("CREATE FUNCTION ledger_check_postings_balanced()")
    end = source.index('END $$', start) + len('END $$')
    return "CREATE OR REPLACE FUNCTION" + source[start + len("CREATE FUNCTION"):end]


def upgrade() -> None:
    op.execute(KEEP_ACCOUNTS)
    # Only when a key column is named in the UPDATE: balance updates never fire it.
    op.execute("CREATE TRIGGER accounts_kept BEFORE DELETE OR UPDATE OF fund_id, id ON accounts"
               " FOR EACH ROW EXECUTE FUNCTION ledger_keep_accounts()")
    op.execute("CREATE TRIGGER accounts_no_truncate BEFORE TRUNCATE ON accounts"
               " FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()")
    op.execute(CHECK_POSTINGS)
    for key in KEYS:
        op.execute(f"ALTER TABLE postings ALTER CONSTRAINT {key} NOT ENFORCED")
    for function in BY_KEY_ONLY:
        op.execute(f"ALTER FUNCTION {function} SET enable_seqscan = off")


def downgrade() -> None:
    for function in BY_KEY_ONLY:
        op.execute(f"ALTER FUNCTION {function} RESET enable_seqscan")
    for key in KEYS:
        op.execute(f"ALTER TABLE postings ALTER CONSTRAINT {key} ENFORCED")
    op.execute(_previous_check())
    op.execute("DROP TRIGGER accounts_no_truncate ON accounts")
    op.execute("DROP TRIGGER accounts_kept ON accounts")
    op.execute("DROP FUNCTION ledger_keep_accounts")
