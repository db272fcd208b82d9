"""double-entry ledger: entries, postings, deposits, idempotency, plans

Revision ID: 20261122_0002_ledger
Revises: 20261122_0001_initial
Create Date: 2026-11-22 02:10:15.235784
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '20261122_0002_ledger'
down_revision = '20261122_0001_initial'
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("journal_entries", "postings", "deposits", "movements")

LEDGER_SQL = [
    # Append-only: entries, postings, deposits and movements are never changed or removed.
    """
    CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'ledger rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END $$
    """,
    *[
        statement
        for table in APPEND_ONLY_TABLES
        for statement in (
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()",
        )
    ],
    # Every entry balances, with two or more postings, checked at COMMIT.
    """
    CREATE FUNCTION ledger_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        v_entry uuid;
        v_sum bigint;
        v_count int;
    BEGIN
        -- Only the branch taken is evaluated: a postings row has no "id", an entry no "entry_id".
        IF TG_TABLE_NAME = 'postings' THEN
            v_entry := NEW.entry_id;
        ELSE
            v_entry := NEW.id;
        END IF;
        SELECT coalesce(sum(p.amount_satang), 0), count(*) INTO v_sum, v_count
          FROM postings p WHERE p.fund_id = NEW.fund_id AND p.entry_id = v_entry;
        IF v_sum <> 0 OR v_count < 2 THEN
            RAISE EXCEPTION 'journal entry % does not balance: sum % over % postings', v_entry, v_sum, v_count
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$
    """,
    """
    CREATE CONSTRAINT TRIGGER postings_balance AFTER INSERT ON postings
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced()
    """,
    """
    CREATE CONSTRAINT TRIGGER journal_entries_have_postings AFTER INSERT ON journal_entries
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced()
    """,
    # One balanced entry: its postings and the balances they move, under the fund's posting lock.
    """
    CREATE FUNCTION ledger_post_entry(
        p_fund uuid, p_entry uuid, p_kind text, p_date date, p_memo text, p_by text, p_reverses uuid,
        p_accounts uuid[], p_amounts bigint[]
    ) RETURNS timestamptz LANGUAGE plpgsql AS $$
    DECLARE
        v_now timestamptz := clock_timestamp();
    BEGIN
        PERFORM 1 FROM ledger_funds f WHERE f.fund_id = p_fund FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'fund % has no ledger', p_fund USING ERRCODE = 'foreign_key_violation';
        END IF;
        INSERT INTO journal_entries (fund_id, id, kind, business_date, posted_at, memo, reverses_entry_id, created_by)
            VALUES (p_fund, p_entry, p_kind, p_date, v_now, p_memo, p_reverses, p_by);
        INSERT INTO postings (fund_id, entry_id, line, account_id, amount_satang, business_date)
            SELECT p_fund, p_entry, t.line, t.account, t.amount, p_date
              FROM unnest(p_accounts, p_amounts) WITH ORDINALITY AS t(account, amount, line);
        UPDATE accounts a SET balance_satang = a.balance_satang + s.delta
          FROM (SELECT t.account, sum(t.amount) AS delta FROM unnest(p_accounts, p_amounts) AS t(account, amount)
                GROUP BY t.account) s
         WHERE a.fund_id = p_fund AND a.id = s.account;
        RETURN v_now;
    END $$
    """,
    # Deposits, one or many: receipt numbers without gaps, one entry each (collector's cash in
    # hand debited, member's contribution credited), balances moved once per account. A deposit
    # id seen before is a duplicate when the request is the same and a conflict when it is not.
    """
    CREATE FUNCTION ledger_post_deposits(
        p_fund uuid, p_ids uuid[], p_members uuid[], p_member_accounts uuid[], p_collectors uuid[],
        p_collector_accounts uuid[], p_amounts bigint[], p_collected timestamptz[], p_dates date[],
        p_hashes bytea[], p_by text
    ) RETURNS TABLE (id uuid, outcome text, receipt_no bigint, entry_id uuid, posted_at timestamptz)
    LANGUAGE plpgsql AS $$
    DECLARE
        v_seq bigint;
        v_now timestamptz := clock_timestamp();
    BEGIN
        SELECT f.receipt_seq INTO v_seq FROM ledger_funds f WHERE f.fund_id = p_fund FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'fund % has no ledger', p_fund USING ERRCODE = 'foreign_key_violation';
        END IF;
        RETURN QUERY
        WITH input AS (
            SELECT t.* FROM unnest(p_ids, p_members, p_member_accounts, p_collectors, p_collector_accounts,
                                   p_amounts, p_collected, p_dates, p_hashes)
                 WITH ORDINALITY AS t(id, member_id, member_account, collector_id, collector_account,
                                      amount, collected_at, bdate, hash, ord)
        ),
        known AS (
            SELECT i.ord, d.request_hash = i.hash AS same, d.receipt_no, d.entry_id, d.posted_at
              FROM input i JOIN deposits d ON d.fund_id = p_fund AND d.id = i.id
        ),
        fresh AS MATERIALIZED (
            SELECT i.*, row_number() OVER (ORDER BY i.ord) AS n, gen_random_uuid() AS new_entry,
                   -- distinct, increasing times keep a statement's order stable within a batch
                   v_now + (row_number() OVER (ORDER BY i.ord)) * interval '1 microsecond' AS at
              FROM input i WHERE NOT EXISTS (SELECT 1 FROM known k WHERE k.ord = i.ord)
        ),
        entries AS (
            INSERT INTO journal_entries (fund_id, id, kind, business_date, posted_at, created_by)
            SELECT p_fund, f.new_entry, 'deposit', f.bdate, f.at, p_by FROM fresh f
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
            SELECT p_fund, f.id, f.member_id, f.collector_id, f.amount, f.collected_at, f.bdate, f.at,
                   v_seq + f.n, f.new_entry, f.hash, p_by
              FROM fresh f
            RETURNING d.id, d.receipt_no, d.entry_id, d.posted_at
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
        SELECT i.id,
               CASE WHEN k.ord IS NULL THEN 'created' WHEN k.same THEN 'duplicate' ELSE 'conflict' END,
               coalesce(m.receipt_no, k.receipt_no), coalesce(m.entry_id, k.entry_id),
               coalesce(m.posted_at, k.posted_at)
          FROM input i
          LEFT JOIN known k ON k.ord = i.ord
          LEFT JOIN made m ON m.id = i.id AND k.ord IS NULL
         ORDER BY i.ord;
    END $$
    """,
]

LEDGER_SQL_DOWN = [
    "DROP FUNCTION ledger_post_deposits",
    "DROP FUNCTION ledger_post_entry",
    "DROP TRIGGER journal_entries_have_postings ON journal_entries",
    "DROP TRIGGER postings_balance ON postings",
    *[f"DROP TRIGGER {t}_{name} ON {t}" for t in APPEND_ONLY_TABLES for name in ("append_only", "no_truncate")],
    "DROP FUNCTION ledger_check_entry_balanced",
    "DROP FUNCTION ledger_refuse_change",
]


def upgrade() -> None:
    op.create_table('contribution_plans',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('amount_satang', sa.BigInteger(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('grace_periods', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("period IN ('day', 'month', 'year')", name=op.f('ck_contribution_plans_period_known')),
    sa.CheckConstraint('amount_satang > 0', name=op.f('ck_contribution_plans_amount_positive')),
    sa.PrimaryKeyConstraint('fund_id', 'id', name=op.f('pk_contribution_plans')),
    sa.UniqueConstraint('fund_id', 'effective_from', name=op.f('uq_contribution_plans_fund_id_effective_from'))
    )
    op.create_table('deposits',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('collector_id', sa.UUID(), nullable=False),
    sa.Column('amount_satang', sa.BigInteger(), nullable=False),
    sa.Column('collected_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('receipt_no', sa.BigInteger(), nullable=False),
    sa.Column('entry_id', sa.UUID(), nullable=False),
    sa.Column('request_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('posted_by', sa.String(length=64), nullable=False),
    sa.CheckConstraint('amount_satang > 0', name=op.f('ck_deposits_amount_positive')),
    sa.PrimaryKeyConstraint('fund_id', 'id', name=op.f('pk_deposits')),
    sa.UniqueConstraint('fund_id', 'receipt_no', name=op.f('uq_deposits_fund_id_receipt_no'))
    )
    op.create_index('ix_deposits_collector_day', 'deposits', ['fund_id', 'collector_id', 'business_date'], unique=False)
    op.create_index('ix_deposits_member', 'deposits', ['fund_id', 'member_id', 'collected_at'], unique=False)
    op.create_table('idempotency_keys',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('caller', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('status_code', sa.SmallInteger(), nullable=False),
    sa.Column('response', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('fund_id', 'caller', 'key', name=op.f('pk_idempotency_keys'))
    )
    op.create_table('journal_entries',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('posted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('memo', sa.String(length=300), nullable=True),
    sa.Column('reverses_entry_id', sa.UUID(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('fund_id', 'id', name=op.f('pk_journal_entries')),
    sa.UniqueConstraint('fund_id', 'reverses_entry_id', name=op.f('uq_journal_entries_fund_id_reverses_entry_id'))
    )
    op.create_index('ix_journal_entries_date', 'journal_entries', ['fund_id', 'business_date'], unique=False)
    op.create_table('ledger_collectors',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('collector_id', sa.UUID(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('fund_id', 'collector_id', name=op.f('pk_ledger_collectors'))
    )
    op.create_table('ledger_funds',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('receipt_seq', sa.BigInteger(), nullable=False),
    sa.Column('late_window_days', sa.SmallInteger(), nullable=False),
    sa.Column('admin_cap_bp', sa.SmallInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('admin_cap_bp BETWEEN 0 AND 10000', name=op.f('ck_ledger_funds_admin_cap_range')),
    sa.CheckConstraint('late_window_days BETWEEN 0 AND 3650', name=op.f('ck_ledger_funds_late_window_range')),
    sa.PrimaryKeyConstraint('fund_id', name=op.f('pk_ledger_funds'))
    )
    op.create_table('ledger_members',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('joined_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('fund_id', 'member_id', name=op.f('pk_ledger_members'))
    )
    op.create_table('matching_rules',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('ratio_bp', sa.Integer(), nullable=False),
    sa.Column('cap_per_member_year_satang', sa.BigInteger(), nullable=True),
    sa.CheckConstraint('ratio_bp >= 0', name=op.f('ck_matching_rules_ratio_non_negative')),
    sa.PrimaryKeyConstraint('fund_id', 'source', name=op.f('pk_matching_rules'))
    )
    op.create_table('movements',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('amount_satang', sa.BigInteger(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=True),
    sa.Column('collector_id', sa.UUID(), nullable=True),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('entry_id', sa.UUID(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('amount_satang > 0', name=op.f('ck_movements_amount_positive')),
    sa.PrimaryKeyConstraint('fund_id', 'id', name=op.f('pk_movements'))
    )
    op.create_index('ix_movements_collector', 'movements', ['fund_id', 'collector_id', 'business_date'], unique=False)
    op.create_index('ix_movements_kind_date', 'movements', ['fund_id', 'kind', 'business_date'], unique=False)
    op.create_table('postings',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('entry_id', sa.UUID(), nullable=False),
    sa.Column('line', sa.SmallInteger(), nullable=False),
    sa.Column('account_id', sa.UUID(), nullable=False),
    sa.Column('amount_satang', sa.BigInteger(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.CheckConstraint('amount_satang <> 0', name=op.f('ck_postings_amount_non_zero')),
    sa.ForeignKeyConstraint(['fund_id', 'account_id'], ['accounts.fund_id', 'accounts.id'], name=op.f('fk_postings_fund_id_accounts')),
    sa.ForeignKeyConstraint(['fund_id', 'entry_id'], ['journal_entries.fund_id', 'journal_entries.id'], name=op.f('fk_postings_fund_id_journal_entries')),
    sa.PrimaryKeyConstraint('fund_id', 'entry_id', 'line', name=op.f('pk_postings'))
    )
    op.create_index('ix_postings_account', 'postings', ['fund_id', 'account_id', 'entry_id'], unique=False)
    op.add_column('accounts', sa.Column('kind', sa.String(length=32), nullable=False, server_default='custom'))
    op.alter_column('accounts', 'kind', server_default=None)
    op.add_column('accounts', sa.Column('owner_id', sa.UUID(), nullable=True))
    op.add_column('accounts', sa.Column('source', sa.String(length=32), nullable=True))
    op.add_column('accounts', sa.Column('allow_negative', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.alter_column('accounts', 'allow_negative', server_default=None)
    op.alter_column('accounts', 'code',
               existing_type=sa.VARCHAR(length=64),
               type_=sa.String(length=80),
               existing_nullable=False)
    op.create_index('ix_accounts_owner', 'accounts', ['fund_id', 'kind', 'owner_id'], unique=True)
    op.create_check_constraint(
        op.f('ck_accounts_balance_sign'), 'accounts',
        "allow_negative OR (type IN ('asset', 'expense') AND balance_satang >= 0)"
        " OR (type IN ('liability', 'equity', 'income') AND balance_satang <= 0)",
    )


    for statement in LEDGER_SQL:
        op.execute(statement)


def downgrade() -> None:
    for statement in LEDGER_SQL_DOWN:
        op.execute(statement)
    op.drop_constraint(op.f('ck_accounts_balance_sign'), 'accounts', type_='check')
    op.drop_index('ix_accounts_owner', table_name='accounts')
    op.alter_column('accounts', 'code',
               existing_type=sa.String(length=80),
               type_=sa.VARCHAR(length=64),
               existing_nullable=False)
    op.drop_column('accounts', 'allow_negative')
    op.drop_column('accounts', 'source')
    op.drop_column('accounts', 'owner_id')
    op.drop_column('accounts', 'kind')
    op.drop_index('ix_postings_account', table_name='postings')
    op.drop_table('postings')
    op.drop_index('ix_movements_kind_date', table_name='movements')
    op.drop_index('ix_movements_collector', table_name='movements')
    op.drop_table('movements')
    op.drop_table('matching_rules')
    op.drop_table('ledger_members')
    op.drop_table('ledger_funds')
    op.drop_table('ledger_collectors')
    op.drop_index('ix_journal_entries_date', table_name='journal_entries')
    op.drop_table('journal_entries')
    op.drop_table('idempotency_keys')
    op.drop_index('ix_deposits_member', table_name='deposits')
    op.drop_index('ix_deposits_collector_day', table_name='deposits')
    op.drop_table('deposits')
    op.drop_table('contribution_plans')
