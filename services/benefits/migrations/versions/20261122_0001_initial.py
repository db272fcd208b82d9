"""initial schema

Revision ID: 20261122_0001_initial
Revises:
Create Date: 2026-11-22 01:44:18.611172
"""

import sqlalchemy as sa
from alembic import op

revision = '20261122_0001_initial'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('benefits',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('name_th', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("category IN ('birth', 'sickness_medical', 'elderly', 'death', 'education', 'disadvantaged_disabled', 'occupation', 'housing_repair', 'disaster_relief')", name=op.f('ck_benefits_category_known')),
    sa.PrimaryKeyConstraint('fund_id', 'code', name=op.f('pk_benefits'))
    )


def downgrade() -> None:
    op.drop_table('benefits')
