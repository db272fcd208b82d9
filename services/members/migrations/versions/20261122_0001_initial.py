"""initial schema

Revision ID: 20261122_0001_initial
Revises:
Create Date: 2026-11-22 01:44:18.181625
"""

import sqlalchemy as sa
from alembic import op

revision = '20261122_0001_initial'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('networks',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('name_th', sa.String(length=300), nullable=False),
    sa.Column('name_en', sa.String(length=300), nullable=True),
    sa.Column('province', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_networks'))
    )
    op.create_table('funds',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('network_id', sa.UUID(), nullable=True),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('name_en', sa.String(length=300), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('province', sa.String(length=100), nullable=False),
    sa.Column('district', sa.String(length=100), nullable=False),
    sa.Column('subdistrict', sa.String(length=100), nullable=False),
    sa.Column('founded_on', sa.Date(), nullable=False),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('tambon', 'municipal')", name=op.f('ck_funds_kind_known')),
    sa.CheckConstraint("status IN ('active', 'suspended', 'closed')", name=op.f('ck_funds_status_known')),
    sa.CheckConstraint('population IS NULL OR population >= 0', name=op.f('ck_funds_population_non_negative')),
    sa.ForeignKeyConstraint(['network_id'], ['networks.id'], name=op.f('fk_funds_network_id_networks')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_funds'))
    )
    op.create_index('ix_funds_network', 'funds', ['network_id'], unique=False)
    op.create_index('ix_funds_province', 'funds', ['province'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_funds_province', table_name='funds')
    op.drop_index('ix_funds_network', table_name='funds')
    op.drop_table('funds')
    op.drop_table('networks')
