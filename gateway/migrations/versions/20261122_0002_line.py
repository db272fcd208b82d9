"""LINE links, link codes, webhook events, outbox, feed cursors

Revision ID: 20261122_0002_line
Revises: 20261122_0001_initial
Create Date: 2026-11-22 02:37:27.154071
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '20261122_0002_line'
down_revision = '20261122_0001_initial'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feed_cursors',
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('cursor', sa.String(length=512), nullable=False),
    sa.PrimaryKeyConstraint('source', 'fund_id', name=op.f('pk_feed_cursors'))
    )
    op.create_table('line_link_codes',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('code_hash', name=op.f('pk_line_link_codes'))
    )
    op.create_table('line_outbox',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('line_user_id', sa.String(length=64), nullable=True),
    sa.Column('reply_token', sa.String(length=200), nullable=True),
    sa.Column('dedupe_key', sa.String(length=200), nullable=True),
    sa.Column('messages', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_line_outbox')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_line_outbox_dedupe_key'))
    )
    op.create_index('ix_line_outbox_due', 'line_outbox', ['status', 'next_attempt_at'], unique=False)
    op.create_table('line_webhook_events',
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_line_webhook_events'))
    )
    op.create_table('line_links',
    sa.Column('line_user_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('notify_receipts', sa.Boolean(), nullable=False),
    sa.Column('notify_claims', sa.Boolean(), nullable=False),
    sa.Column('notify_arrears', sa.Boolean(), nullable=False),
    sa.Column('linked_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_line_links_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('line_user_id', name=op.f('pk_line_links'))
    )
    op.create_index('ix_line_links_fund', 'line_links', ['fund_id'], unique=False)
    op.create_index('uq_line_links_user', 'line_links', ['user_id'], unique=True)


def downgrade() -> None:
    op.drop_index('uq_line_links_user', table_name='line_links')
    op.drop_index('ix_line_links_fund', table_name='line_links')
    op.drop_table('line_links')
    op.drop_table('line_webhook_events')
    op.drop_index('ix_line_outbox_due', table_name='line_outbox')
    op.drop_table('line_outbox')
    op.drop_table('line_link_codes')
    op.drop_table('feed_cursors')
