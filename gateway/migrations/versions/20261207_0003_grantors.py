"""grantors: grant officers and grant systems act for one grantor

Revision ID: 20261207_0003_grantors
Revises: 20261122_0002_line
Create Date: 2026-12-07 07:30:00

A grant officer (``users.grantor_id``) and a grant system's client (``api_clients.grantor_id``,
and ``program_ids`` narrowing it to some of the grantor's programs) act for one grantor of the
grants service; the access token carries both (docs/grantors.md). Existing officers and clients
get none: they see no grant until a platform admin names their grantor.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '20261207_0003_grantors'
down_revision = '20261122_0002_line'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column('grantor_id', sa.UUID(), nullable=True))
    op.add_column('api_clients', sa.Column('grantor_id', sa.UUID(), nullable=True))
    op.add_column('api_clients', sa.Column('program_ids', postgresql.ARRAY(sa.UUID()), nullable=True))


def downgrade() -> None:
    op.drop_column('api_clients', 'program_ids')
    op.drop_column('api_clients', 'grantor_id')
    op.drop_column('users', 'grantor_id')
