"""deposits feed index

Revision ID: 20261122_0003_deposit_feed
Revises: 20261122_0002_ledger
Create Date: 2026-11-22 02:37:31.193211
"""

from alembic import op

revision = '20261122_0003_deposit_feed'
down_revision = '20261122_0002_ledger'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_deposits_feed', 'deposits', ['fund_id', 'posted_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_deposits_feed', table_name='deposits')
