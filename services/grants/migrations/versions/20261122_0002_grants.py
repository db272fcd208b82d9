"""grants: applications, reviews, tranches, reports, webhooks

Revision ID: 20261122_0002_grants
Revises: 20261122_0001_initial
Create Date: 2026-11-22 02:31:04.783723
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '20261122_0002_grants'
down_revision = '20261122_0001_initial'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('idempotency_keys',
    sa.Column('caller', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.SmallInteger(), nullable=False),
    sa.Column('response', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('caller', 'key', name=op.f('pk_idempotency_keys'))
    )
    op.create_table('webhook_subscriptions',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('secret', sa.String(length=128), nullable=False),
    sa.Column('events', postgresql.ARRAY(sa.String(length=64)), nullable=False),
    sa.Column('program_id', sa.UUID(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_subscriptions'))
    )
    op.create_table('applications',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('program_id', sa.UUID(), nullable=False),
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('fund_name', sa.String(length=300), nullable=False),
    sa.Column('province', sa.String(length=100), nullable=False),
    sa.Column('network_id', sa.UUID(), nullable=True),
    sa.Column('split', sa.String(length=64), server_default='', nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('budget_lines', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('documents', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('requested_satang', sa.BigInteger(), nullable=False),
    sa.Column('approved_satang', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('decision_note', sa.String(length=500), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('draft', 'submitted', 'screening', 'approved', 'rejected', 'awarded', 'closed')", name=op.f('ck_applications_status_known')),
    sa.CheckConstraint('requested_satang > 0', name=op.f('ck_applications_requested_positive')),
    sa.ForeignKeyConstraint(['program_id'], ['programs.id'], name=op.f('fk_applications_program_id_programs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_applications')),
    sa.UniqueConstraint('program_id', 'fund_id', 'split', name=op.f('uq_applications_program_id_fund_id_split'))
    )
    op.create_index('ix_applications_fund', 'applications', ['fund_id'], unique=False)
    op.create_index('ix_applications_province', 'applications', ['province', 'program_id'], unique=False)
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('subscription_id', sa.UUID(), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_status_code', sa.SmallInteger(), nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['subscription_id'], ['webhook_subscriptions.id'], name=op.f('fk_webhook_deliveries_subscription_id_webhook_subscriptions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries'))
    )
    op.create_index('ix_webhook_deliveries_due', 'webhook_deliveries', ['status', 'next_attempt_at'], unique=False)
    op.create_table('reviews',
    sa.Column('application_id', sa.UUID(), nullable=False),
    sa.Column('reviewer', sa.String(length=64), nullable=False),
    sa.Column('reviewer_role', sa.String(length=32), nullable=False),
    sa.Column('score', sa.SmallInteger(), nullable=False),
    sa.Column('recommendation', sa.String(length=16), nullable=False),
    sa.Column('comment', sa.String(length=2000), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('score BETWEEN 0 AND 100', name=op.f('ck_reviews_score_range')),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_reviews_application_id_applications')),
    sa.PrimaryKeyConstraint('application_id', 'reviewer', name=op.f('pk_reviews'))
    )
    op.create_table('tranches',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('application_id', sa.UUID(), nullable=False),
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('seq', sa.SmallInteger(), nullable=False),
    sa.Column('amount_satang', sa.BigInteger(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('requires_report', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('disbursed_on', sa.Date(), nullable=True),
    sa.Column('grantor_reference', sa.String(length=200), nullable=True),
    sa.Column('confirmed_by', sa.String(length=64), nullable=True),
    sa.Column('ledger_status', sa.String(length=16), nullable=False),
    sa.Column('ledger_attempts', sa.Integer(), nullable=False),
    sa.Column('ledger_error', sa.String(length=300), nullable=True),
    sa.Column('ledger_entry_id', sa.UUID(), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('scheduled', 'disbursed', 'cancelled')", name=op.f('ck_tranches_status_known')),
    sa.CheckConstraint('amount_satang > 0', name=op.f('ck_tranches_amount_positive')),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_tranches_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tranches')),
    sa.UniqueConstraint('application_id', 'seq', name=op.f('uq_tranches_application_id_seq'))
    )
    op.create_index('ix_tranches_ledger', 'tranches', ['ledger_status', 'next_attempt_at'], unique=False)
    op.create_table('use_reports',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('application_id', sa.UUID(), nullable=False),
    sa.Column('lines', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('narrative', sa.Text(), nullable=True),
    sa.Column('submitted_by', sa.String(length=64), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_use_reports_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_use_reports'))
    )
    op.add_column('programs', sa.Column('allocated_satang', sa.BigInteger(), server_default='0', nullable=False))
    op.add_column('programs', sa.Column('allocation_splits', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False))
    op.add_column('programs', sa.Column('eligible_provinces', postgresql.ARRAY(sa.String(length=100)), server_default='{}', nullable=False))
    op.add_column('programs', sa.Column('min_fund_age_years', sa.SmallInteger(), server_default='0', nullable=False))
    op.add_column('programs', sa.Column('matching_ratio_bp', sa.Integer(), nullable=True))
    op.add_column('programs', sa.Column('matching_cap_per_member_satang', sa.BigInteger(), nullable=True))
    op.add_column('programs', sa.Column('report_due_days', sa.Integer(), server_default='90', nullable=False))
    op.create_check_constraint(op.f('ck_programs_within_envelope'), 'programs',
                               'allocated_satang >= 0 AND allocated_satang <= envelope_satang')


def downgrade() -> None:
    op.drop_constraint(op.f('ck_programs_within_envelope'), 'programs', type_='check')
    op.drop_column('programs', 'report_due_days')
    op.drop_column('programs', 'matching_cap_per_member_satang')
    op.drop_column('programs', 'matching_ratio_bp')
    op.drop_column('programs', 'min_fund_age_years')
    op.drop_column('programs', 'eligible_provinces')
    op.drop_column('programs', 'allocation_splits')
    op.drop_column('programs', 'allocated_satang')
    op.drop_table('use_reports')
    op.drop_index('ix_tranches_ledger', table_name='tranches')
    op.drop_table('tranches')
    op.drop_table('reviews')
    op.drop_index('ix_webhook_deliveries_due', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_index('ix_applications_province', table_name='applications')
    op.drop_index('ix_applications_fund', table_name='applications')
    op.drop_table('applications')
    op.drop_table('webhook_subscriptions')
    op.drop_table('idempotency_keys')
