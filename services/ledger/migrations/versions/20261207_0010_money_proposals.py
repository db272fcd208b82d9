"""money proposals: expenses and reversals proposed by one person of a fund, confirmed by another

Revision ID: 20261207_0010_money_proposals
Revises: 20261203_0009_postings_first
Create Date: 2026-12-07 06:00:00

An administration expense, the reversal of an entry and the reversal of a deposit are no longer
posted on one person's word: ``money_proposals`` holds each as proposed (the body, its hash, the
reason, who proposed it), and it is posted when a different person of the fund confirms it, in
the same transaction as the row's change to ``confirmed`` (docs/maker-checker.md).

The database keeps the rules a bug in the service must not break: a confirmed proposal names a
decider other than its proposer (a CHECK); a row is never deleted or truncated, a decided row never
changes, and a decision changes only the decision's columns (a trigger).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '20261207_0010_money_proposals'
down_revision = '20261203_0009_postings_first'
branch_labels = None
depends_on = None

DECIDED_ONCE = """
CREATE FUNCTION ledger_proposal_decided_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'money proposals are kept: DELETE of % refused', OLD.id USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.status <> 'proposed' THEN
        RAISE EXCEPTION 'money proposal % is % already', OLD.id, OLD.status USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.fund_id, NEW.id, NEW.kind, NEW.target_id, NEW.body, NEW.request_hash, NEW.amount_satang, NEW.reason,
        NEW.proposed_by, NEW.proposed_role, NEW.proposed_at)
       IS DISTINCT FROM
       (OLD.fund_id, OLD.id, OLD.kind, OLD.target_id, OLD.body, OLD.request_hash, OLD.amount_satang, OLD.reason,
        OLD.proposed_by, OLD.proposed_role, OLD.proposed_at) THEN
        RAISE EXCEPTION 'only the decision of money proposal % may change', OLD.id USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END $$
"""

STATUS_CONSISTENT = (
    "(status = 'proposed' AND decided_by IS NULL AND decided_at IS NULL AND entry_id IS NULL AND result IS NULL)"
    " OR (status = 'confirmed' AND decided_by IS NOT NULL AND decided_by <> proposed_by AND decided_at IS NOT NULL"
    " AND entry_id IS NOT NULL AND result IS NOT NULL)"
    " OR (status = 'withdrawn' AND decided_by IS NOT NULL AND decided_at IS NOT NULL AND entry_id IS NULL"
    " AND result IS NULL)"
)


def upgrade() -> None:
    op.create_table('money_proposals',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('target_id', sa.UUID(), nullable=True),
    sa.Column('body', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('request_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('amount_satang', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.Column('proposed_by', sa.String(length=64), nullable=False),
    sa.Column('proposed_role', sa.String(length=16), nullable=False),
    sa.Column('proposed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_role', sa.String(length=16), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('entry_id', sa.UUID(), nullable=True),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.CheckConstraint("kind IN ('admin_expense', 'entry_reversal', 'deposit_reversal')", name=op.f('ck_money_proposals_kind_known')),
    sa.CheckConstraint("(kind = 'admin_expense') = (target_id IS NULL)", name=op.f('ck_money_proposals_target_of_kind')),
    sa.CheckConstraint('amount_satang > 0', name=op.f('ck_money_proposals_amount_positive')),
    sa.CheckConstraint(STATUS_CONSISTENT, name=op.f('ck_money_proposals_status_consistent')),
    sa.PrimaryKeyConstraint('fund_id', 'id', name=op.f('pk_money_proposals'))
    )
    op.create_index('ix_money_proposals_status', 'money_proposals', ['fund_id', 'status', 'proposed_at', 'id'], unique=False)
    op.execute(DECIDED_ONCE)
    op.execute("CREATE TRIGGER money_proposals_decided_once BEFORE UPDATE OR DELETE ON money_proposals"
               " FOR EACH ROW EXECUTE FUNCTION ledger_proposal_decided_once()")
    op.execute("CREATE TRIGGER money_proposals_no_truncate BEFORE TRUNCATE ON money_proposals"
               " FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()")


def downgrade() -> None:
    # Proposals still open or withdrawn are lost with the table; confirmed ones are in the books.
    op.drop_table('money_proposals')  # its triggers and index with it
    op.execute("DROP FUNCTION ledger_proposal_decided_once")
