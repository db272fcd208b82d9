"""fund aggregates: income and deposits per fund and day, arrears per fund (docs/aggregates.md)

Revision ID: 20261207_0014_fund_aggregates
Revises: 20261207_0013_memo_erasure
Create Date: 2026-12-07 12:00:00

A statement trigger on ``journal_entries`` queues each new entry (one insert per posting call, no
row shared between calls); ``ledger_refresh_aggregates()`` takes the committed queue and adds its
entries to ``income_days`` and ``deposit_days`` (a reversal takes its deposits out of their day).
The day totals are filled here from the books as they stand.
"""

import sqlalchemy as sa
from alembic import op

revision = '20261207_0014_fund_aggregates'
down_revision = '20261207_0013_memo_erasure'
branch_labels = None
depends_on = None

#: The advisory lock one refresh holds at a time (two refreshes would add the same entries in
#: different orders and could deadlock on the day rows).
REFRESH_LOCK = 0x5A4A_A661

QUEUE = """
CREATE FUNCTION ledger_queue_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO aggregate_queue (fund_id, entry_id) SELECT e.fund_id, e.id FROM new_entries e;
    RETURN NULL;
END $$
"""

REFRESH = f"""
CREATE FUNCTION ledger_refresh_aggregates() RETURNS timestamptz LANGUAGE plpgsql AS $$
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
        -- deposits of the new entries count; those a new reversal undoes (one line, or a whole
        -- entry of one deposit from before revision 0008) stop counting, on their own date
        SELECT d.fund_id, d.business_date, 1 AS n, d.amount_satang AS amount
          FROM taken k JOIN deposits d ON d.fund_id = k.fund_id AND d.entry_id = k.entry_id
        UNION ALL
        SELECT d.fund_id, d.business_date, -1, -d.amount_satang
          FROM taken k
          JOIN journal_entries r ON r.fund_id = k.fund_id AND r.id = k.entry_id AND r.reverses_entry_id IS NOT NULL
          JOIN deposits d ON d.fund_id = r.fund_id AND d.entry_id = r.reverses_entry_id
                         AND (r.reverses_line IS NULL OR d.entry_line = r.reverses_line)
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

BACKFILL = """
INSERT INTO income_days (fund_id, business_date, source, amount_satang)
SELECT p.fund_id, p.business_date, coalesce(a.source, ''), -sum(p.amount_satang)
  FROM postings p JOIN accounts a ON a.fund_id = p.fund_id AND a.id = p.account_id AND a.type = 'income'
 GROUP BY 1, 2, 3;
INSERT INTO deposit_days (fund_id, business_date, deposits, amount_satang)
SELECT d.fund_id, d.business_date, count(*), sum(d.amount_satang)
  FROM deposits d
 WHERE NOT EXISTS (SELECT 1 FROM journal_entries r
                    WHERE r.fund_id = d.fund_id AND r.reverses_entry_id = d.entry_id
                      AND (r.reverses_line IS NULL OR r.reverses_line = d.entry_line))
 GROUP BY 1, 2;
"""


def upgrade() -> None:
    op.create_table('aggregate_queue',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('entry_id', sa.UUID(), nullable=False),
    sa.PrimaryKeyConstraint('fund_id', 'entry_id', name=op.f('pk_aggregate_queue'))
    )
    op.create_table('income_days',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('amount_satang', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('fund_id', 'business_date', 'source', name=op.f('pk_income_days'))
    )
    op.create_table('deposit_days',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('deposits', sa.Integer(), nullable=False),
    sa.Column('amount_satang', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('fund_id', 'business_date', name=op.f('pk_deposit_days'))
    )
    op.create_table('fund_arrears',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('members', sa.Integer(), nullable=False),
    sa.Column('amount_satang', sa.BigInteger(), nullable=False),
    sa.Column('counted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stale', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('fund_id', name=op.f('pk_fund_arrears'))
    )
    op.execute(QUEUE)
    op.execute("CREATE TRIGGER journal_entries_queued AFTER INSERT ON journal_entries"
               " REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION ledger_queue_entries()")
    op.execute(REFRESH)
    for statement in BACKFILL.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER journal_entries_queued ON journal_entries")
    op.execute("DROP FUNCTION ledger_queue_entries")
    op.execute("DROP FUNCTION ledger_refresh_aggregates")
    for table in ('fund_arrears', 'deposit_days', 'income_days', 'aggregate_queue'):
        op.drop_table(table)
