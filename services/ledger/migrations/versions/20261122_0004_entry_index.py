"""drop the journal entries date index

Revision ID: 20261122_0004_entry_index
Revises: 20261122_0003_deposit_feed
Create Date: 2026-11-22 03:02:57.888124
"""

from alembic import op

revision = '20261122_0004_entry_index'
down_revision = '20261122_0003_deposit_feed'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index(op.f('ix_journal_entries_date'), table_name='journal_entries')


def downgrade() -> None:
    op.create_index(op.f('ix_journal_entries_date'), 'journal_entries', ['fund_id', 'business_date'], unique=False)
