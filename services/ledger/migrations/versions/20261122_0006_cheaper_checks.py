"""cheaper balance checks: one per statement on postings, one per entry at commit

Revision ID: 20261122_0006_cheaper_checks
Revises: 20261122_0005_deposit_checks
Create Date: 2026-11-22 05:30:00

Before, each posting queued a deferred check of its whole entry: a sync ran look-ups at COMMIT
in proportion to its postings, a large part of PostgreSQL's work per deposit. Now:

- a statement-level trigger on postings checks, with the statement's new rows, that every entry
  they touch has two or more postings summing to zero when the statement ends (an entry's
  postings are always written by one statement; a later posting to an old entry is refused
  unless it keeps that entry balanced, as before);
- the deferred constraint trigger on journal entries stays: at COMMIT, each new entry has two or
  more postings summing to zero, so an entry can never be left without its postings.

Reversals are few: the unique index on ``reverses_entry_id`` now holds only them (a partial
index), instead of one NULL per deposit.
"""

from alembic import op

revision = '20261122_0006_cheaper_checks'
down_revision = '20261122_0005_deposit_checks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP TRIGGER postings_balance ON postings")
    op.execute("""
    CREATE FUNCTION ledger_check_postings_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        v_entry uuid;
        v_sum bigint;
        v_count bigint;
    BEGIN
        SELECT p.entry_id, sum(p.amount_satang), count(*) INTO v_entry, v_sum, v_count
          FROM (SELECT DISTINCT a.fund_id, a.entry_id FROM added a) t
          JOIN postings p ON p.fund_id = t.fund_id AND p.entry_id = t.entry_id
         GROUP BY p.fund_id, p.entry_id
        HAVING sum(p.amount_satang) <> 0 OR count(*) < 2
         LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'journal entry % does not balance: sum % over % postings', v_entry, v_sum, v_count
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$
    """)
    op.execute("""
    CREATE TRIGGER postings_balance AFTER INSERT ON postings REFERENCING NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_postings_balanced()
    """)
    op.drop_constraint('uq_journal_entries_fund_id_reverses_entry_id', 'journal_entries', type_='unique')
    op.create_index('uq_journal_entries_reverses', 'journal_entries', ['fund_id', 'reverses_entry_id'], unique=True,
                    postgresql_where='reverses_entry_id IS NOT NULL')


def downgrade() -> None:
    op.drop_index('uq_journal_entries_reverses', table_name='journal_entries',
                  postgresql_where='reverses_entry_id IS NOT NULL')
    op.create_unique_constraint('uq_journal_entries_fund_id_reverses_entry_id', 'journal_entries',
                                ['fund_id', 'reverses_entry_id'])
    op.execute("DROP TRIGGER postings_balance ON postings")
    op.execute("DROP FUNCTION ledger_check_postings_balanced")
    op.execute("""
    CREATE CONSTRAINT TRIGGER postings_balance AFTER INSERT ON postings
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced()
    """)
