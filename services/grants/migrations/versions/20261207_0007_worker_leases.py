"""worker leases: tranches' ledger postings and webhook deliveries

Revision ID: 20261207_0007_worker_leases
Revises: 20261207_0006_audit_events
Create Date: 2026-12-07 14:00:00

A worker claims a row with a lease instead of holding its lock across a network call: the
claim's token (checked when the outcome is written) and until when it holds, by the database's
clock (shared/lease.py, docs/workers.md). Existing rows start unclaimed.
"""

import sqlalchemy as sa
from alembic import op

revision = '20261207_0007_worker_leases'
down_revision = '20261207_0006_audit_events'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('tranches', sa.Column('claim_token', sa.UUID(), nullable=True))
    op.add_column('tranches', sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('webhook_deliveries', sa.Column('claim_token', sa.UUID(), nullable=True))
    op.add_column('webhook_deliveries', sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('webhook_deliveries', 'claimed_until')
    op.drop_column('webhook_deliveries', 'claim_token')
    op.drop_column('tranches', 'claimed_until')
    op.drop_column('tranches', 'claim_token')
