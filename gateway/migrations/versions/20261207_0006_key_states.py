"""key states: signing keys can be revoked; one next key is always published

Revision ID: 20261207_0006_key_states
Revises: 20261207_0005_login_throttle
Create Date: 2026-12-07 07:05:00

``signing_keys.revoked_at``: a key revoked in an emergency leaves the JWKS at once and is never
trusted again (docs/signing-keys.md). The other states are read from what is there: ``next`` is a
key neither current nor retiring; the gateway makes one at its next start.
"""

import sqlalchemy as sa
from alembic import op

revision = '20261207_0006_key_states'
down_revision = '20261207_0005_login_throttle'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('signing_keys', sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Without the column a revoked key would be published again: it goes.
    op.execute("DELETE FROM signing_keys WHERE revoked_at IS NOT NULL")
    op.drop_column('signing_keys', 'revoked_at')
