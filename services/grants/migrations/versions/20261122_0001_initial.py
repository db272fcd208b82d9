"""initial schema

Revision ID: 20261122_0001_initial
Revises:
Create Date: 2026-11-22 01:44:18.775973
"""

import sqlalchemy as sa
from alembic import op

revision = '20261122_0001_initial'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('programs',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('grantor', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('fiscal_year_be', sa.Integer(), nullable=False),
    sa.Column('envelope_satang', sa.BigInteger(), nullable=False),
    sa.Column('per_fund_ceiling_satang', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("grantor IN ('codi', 'state', 'provincial_office', 'local_government', 'other')", name=op.f('ck_programs_grantor_known')),
    sa.CheckConstraint('envelope_satang >= 0', name=op.f('ck_programs_envelope_non_negative')),
    sa.CheckConstraint('per_fund_ceiling_satang IS NULL OR per_fund_ceiling_satang > 0', name=op.f('ck_programs_ceiling_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programs'))
    )


def downgrade() -> None:
    op.drop_table('programs')
