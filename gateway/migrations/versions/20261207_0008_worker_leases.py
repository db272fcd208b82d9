"""worker leases: LINE outbox and feed cursors

Revision ID: 20261207_0008_worker_leases
Revises: 20261207_0007_accounts
Create Date: 2026-12-07 14:00:00

A worker claims a row with a lease instead of holding its lock across a network call: the
claim's token (checked when the outcome is written) and until when it holds, by the database's
clock (shared/lease.py, docs/workers.md). Existing rows start unclaimed.

A feed cursor is NULL until its fund's feed is first read (the LINE worker makes a row per
fund and feed to claim), and ``read_at`` orders the funds so the least recently read go first.
"""

import sqlalchemy as sa
from alembic import op

revision = '20261207_0008_worker_leases'
down_revision = '20261207_0007_accounts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('line_outbox', sa.Column('claim_token', sa.UUID(), nullable=True))
    op.add_column('line_outbox', sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('feed_cursors', sa.Column('claim_token', sa.UUID(), nullable=True))
    op.add_column('feed_cursors', sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('feed_cursors', sa.Column('read_at', sa.DateTime(timezone=True), nullable=True))
    op.alter_column('feed_cursors', 'cursor', existing_type=sa.String(length=512), nullable=True)
    op.create_index('ix_feed_cursors_read', 'feed_cursors', ['read_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_feed_cursors_read', table_name='feed_cursors')
    op.execute('DELETE FROM feed_cursors WHERE cursor IS NULL')
    op.alter_column('feed_cursors', 'cursor', existing_type=sa.String(length=512), nullable=False)
    op.drop_column('feed_cursors', 'read_at')
    op.drop_column('feed_cursors', 'claimed_until')
    op.drop_column('feed_cursors', 'claim_token')
    op.drop_column('line_outbox', 'claimed_until')
    op.drop_column('line_outbox', 'claim_token')
