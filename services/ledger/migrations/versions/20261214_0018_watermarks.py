"""watermarks: how far the ledger has read another service's feed (expand)

Revision ID: 20261214_0018_watermarks
Revises: 20261207_0017_refresh_by_key
Create Date: 2026-12-14 10:00:00

The aggregates worker asks the members service which funds' rolls changed since its last answer
(``members.roll_changes``) instead of counting every fund's arrears again every 15 minutes
(docs/aggregates.md "Arrears"); the ``as_of`` of the last answer it took in is kept here, one row
per feed, moved only forward. A new table: nothing of the previous release reads or writes it.
"""

import sqlalchemy as sa
from alembic import op

revision = '20261214_0018_watermarks'
down_revision = '20261207_0017_refresh_by_key'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('watermarks',
    sa.Column('feed', sa.String(length=64), nullable=False),
    sa.Column('as_of', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('feed', name=op.f('pk_watermarks'))
    )


def downgrade() -> None:
    op.drop_table('watermarks')
