"""initial schema

Revision ID: 20261122_0001_initial
Revises:
Create Date: 2026-11-22 01:44:18.419995
"""

import sqlalchemy as sa
from alembic import op

revision = '20261122_0001_initial'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name_th', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('balance_satang', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("type IN ('asset', 'liability', 'equity', 'income', 'expense')", name=op.f('ck_accounts_type_known')),
    sa.PrimaryKeyConstraint('fund_id', 'id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('fund_id', 'code', name=op.f('uq_accounts_fund_id_code'))
    )


def downgrade() -> None:
    op.drop_table('accounts')
