"""benefit rules, claims, approvals, documents, settings

Revision ID: 20261122_0002_claims
Revises: 20261122_0001_initial
Create Date: 2026-11-22 02:24:38.524240
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '20261122_0002_claims'
down_revision = '20261122_0001_initial'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('benefit_funds',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('reserve_floor_satang', sa.BigInteger(), nullable=False),
    sa.Column('two_approvers_above_satang', sa.BigInteger(), nullable=False),
    sa.Column('paid_from', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('fund_id', name=op.f('pk_benefit_funds'))
    )
    op.create_table('claims',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('benefit_code', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('rule_version', sa.Integer(), nullable=False),
    sa.Column('event_date', sa.Date(), nullable=False),
    sa.Column('event_end_date', sa.Date(), nullable=True),
    sa.Column('days', sa.SmallInteger(), nullable=True),
    sa.Column('details', sa.String(length=2000), nullable=True),
    sa.Column('amount_satang', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('submitted_by', sa.String(length=64), nullable=False),
    sa.Column('submitted_role', sa.String(length=32), nullable=False),
    sa.Column('approvals_needed', sa.SmallInteger(), nullable=False),
    sa.Column('payout_status', sa.String(length=8), nullable=False),
    sa.Column('payout_attempts', sa.Integer(), nullable=False),
    sa.Column('payout_error', sa.String(length=300), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reserve_override', sa.Boolean(), nullable=False),
    sa.Column('paid_entry_id', sa.UUID(), nullable=True),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("payout_status IN ('none', 'pending', 'held', 'paid')", name=op.f('ck_claims_payout_known')),
    sa.CheckConstraint("status IN ('submitted', 'under_review', 'approved', 'rejected', 'paid', 'cancelled')", name=op.f('ck_claims_status_known')),
    sa.CheckConstraint('amount_satang > 0', name=op.f('ck_claims_amount_positive')),
    sa.CheckConstraint('event_end_date IS NULL OR event_end_date >= event_date', name=op.f('ck_claims_event_range')),
    sa.PrimaryKeyConstraint('fund_id', 'id', name=op.f('pk_claims'))
    )
    op.create_index('ix_claims_member', 'claims', ['fund_id', 'member_id', 'benefit_code'], unique=False)
    op.create_index('ix_claims_payout', 'claims', ['payout_status', 'next_attempt_at'], unique=False)
    op.create_index('ix_claims_status', 'claims', ['fund_id', 'status', 'created_at'], unique=False)
    op.create_table('benefit_rule_versions',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('rules', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['fund_id', 'code'], ['benefits.fund_id', 'benefits.code'], name=op.f('fk_benefit_rule_versions_fund_id_benefits')),
    sa.PrimaryKeyConstraint('fund_id', 'code', 'version', name=op.f('pk_benefit_rule_versions')),
    sa.UniqueConstraint('fund_id', 'code', 'effective_from', name=op.f('uq_benefit_rule_versions_fund_id_code_effective_from'))
    )
    op.create_table('claim_approvals',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('claim_id', sa.UUID(), nullable=False),
    sa.Column('approver', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['fund_id', 'claim_id'], ['claims.fund_id', 'claims.id'], name=op.f('fk_claim_approvals_fund_id_claims')),
    sa.PrimaryKeyConstraint('fund_id', 'claim_id', 'approver', name=op.f('pk_claim_approvals'))
    )
    op.create_table('claim_documents',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('claim_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('is_medical', sa.Boolean(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_by', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['fund_id', 'claim_id'], ['claims.fund_id', 'claims.id'], name=op.f('fk_claim_documents_fund_id_claims')),
    sa.PrimaryKeyConstraint('fund_id', 'claim_id', 'id', name=op.f('pk_claim_documents'))
    )
    op.create_table('claim_events',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('claim_id', sa.UUID(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('actor_role', sa.String(length=32), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['fund_id', 'claim_id'], ['claims.fund_id', 'claims.id'], name=op.f('fk_claim_events_fund_id_claims')),
    sa.PrimaryKeyConstraint('fund_id', 'claim_id', 'seq', name=op.f('pk_claim_events'))
    )


def downgrade() -> None:
    op.drop_table('claim_events')
    op.drop_table('claim_documents')
    op.drop_table('claim_approvals')
    op.drop_table('benefit_rule_versions')
    op.drop_index('ix_claims_status', table_name='claims')
    op.drop_index('ix_claims_payout', table_name='claims')
    op.drop_index('ix_claims_member', table_name='claims')
    op.drop_table('claims')
    op.drop_table('benefit_funds')
