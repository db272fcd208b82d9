"""login_throttle: one row per phone, address, device or client id, claimed atomically

Revision ID: 20261207_0005_login_throttle
Revises: 20261207_0004_audit_events
Create Date: 2026-12-07 07:10:00

Replaces login_failures (a row per failure, counted, checked and inserted in three steps) with a
row per key whose turn is claimed in one statement before argon2 runs (docs/login-throttling.md).
Failures recorded before are dropped: the worst they could do now is nothing.
"""

import sqlalchemy as sa
from alembic import op

revision = '20261207_0005_login_throttle'
down_revision = '20261207_0004_audit_events'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_throttle',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_allowed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('kind', 'key', name=op.f('pk_login_throttle'))
    )
    op.create_index('ix_login_throttle_last_failure_at', 'login_throttle', ['last_failure_at'], unique=False)
    op.drop_index('ix_login_failures_phone_at', table_name='login_failures')
    op.drop_index('ix_login_failures_address_at', table_name='login_failures')
    op.drop_table('login_failures')


def downgrade() -> None:
    op.create_table('login_failures',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures'))
    )
    op.create_index('ix_login_failures_address_at', 'login_failures', ['address', 'at'], unique=False)
    op.create_index('ix_login_failures_phone_at', 'login_failures', ['phone', 'at'], unique=False)
    op.drop_index('ix_login_throttle_last_failure_at', table_name='login_throttle')
    op.drop_table('login_throttle')
