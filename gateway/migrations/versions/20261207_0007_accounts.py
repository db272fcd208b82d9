"""accounts: token versions, revocations, PIN resets, client secret rotation

Revision ID: 20261207_0007_accounts
Revises: 20261207_0006_key_states
Create Date: 2026-12-07 08:00:00

Users and API clients get a ``token_version`` their access tokens carry (``ver``); a bump is
recorded in ``token_revocations`` so every process refuses older tokens within seconds. Users get
the PIN-reset flag and ticket; clients keep their previous secret for a grace period after a
rotation (docs/accounts.md). Existing rows start at version 0, as do tokens without ``ver``.
"""

import sqlalchemy as sa
from alembic import op

revision = '20261207_0007_accounts'
down_revision = '20261207_0006_key_states'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('users', sa.Column('token_version', sa.Integer(), server_default='0', nullable=False))
    op.add_column('users', sa.Column('pin_change_required', sa.Boolean(), server_default='false', nullable=False))
    op.add_column('users', sa.Column('pin_ticket_hash', sa.String(length=64), nullable=True))
    op.add_column('users', sa.Column('pin_ticket_expires_at', sa.DateTime(timezone=True), nullable=True))
    op.create_unique_constraint(op.f('uq_users_pin_ticket_hash'), 'users', ['pin_ticket_hash'])
    op.add_column('api_clients', sa.Column('token_version', sa.Integer(), server_default='0', nullable=False))
    op.add_column('api_clients', sa.Column('previous_secret_hash', sa.Text(), nullable=True))
    op.add_column('api_clients', sa.Column('previous_secret_expires_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'token_revocations',
        sa.Column('subject', sa.String(length=64), nullable=False),
        sa.Column('min_version', sa.Integer(), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('subject', name=op.f('pk_token_revocations')),
    )
    op.create_index('ix_token_revocations_changed_at', 'token_revocations', ['changed_at'])


def downgrade() -> None:
    op.drop_index('ix_token_revocations_changed_at', table_name='token_revocations')
    op.drop_table('token_revocations')
    op.drop_column('api_clients', 'previous_secret_expires_at')
    op.drop_column('api_clients', 'previous_secret_hash')
    op.drop_column('api_clients', 'token_version')
    op.drop_constraint(op.f('uq_users_pin_ticket_hash'), 'users', type_='unique')
    op.drop_column('users', 'pin_ticket_expires_at')
    op.drop_column('users', 'pin_ticket_hash')
    op.drop_column('users', 'pin_change_required')
    op.drop_column('users', 'token_version')
