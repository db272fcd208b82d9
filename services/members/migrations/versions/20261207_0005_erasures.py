"""erasures: a member's erasure and each process's step (docs/personal-data.md)

Revision ID: 20261207_0005_erasures
Revises: 20261207_0004_pii_key_ids
Create Date: 2026-12-07 12:00:00

One row per member erased: who asked, when, and per process whether its part is done and what it
erased (counts and kinds). The worker finds the rows still due by the partial index.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '20261207_0005_erasures'
down_revision = '20261207_0004_pii_key_ids'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('erasures',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('requested_role', sa.String(length=32), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('steps', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_erasures_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erasures')),
    sa.UniqueConstraint('member_id', name=op.f('uq_erasures_member_id'))
    )
    op.create_index('ix_erasures_due', 'erasures', ['next_attempt_at'], unique=False,
                    postgresql_where=sa.text('completed_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_erasures_due', table_name='erasures', postgresql_where=sa.text('completed_at IS NULL'))
    op.drop_table('erasures')
