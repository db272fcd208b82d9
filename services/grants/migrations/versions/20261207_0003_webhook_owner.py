"""webhook owners: a subscription keeps its owner's role and scope, to hear only what it may see

Revision ID: 20261207_0003_webhook_owner
Revises: 20261122_0002_grants
Create Date: 2026-12-07 07:00:00

Deliveries were written for every subscription of an event, whoever owned it. Now an event reaches
a subscription only when its owner, as its token said when it subscribed, may see the program (and
the application): ``service.may_see_program``. A subscription made before has no role kept and
hears nothing until it is made again (docs/webhooks.md).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '20261207_0003_webhook_owner'
down_revision = '20261122_0002_grants'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('webhook_subscriptions', sa.Column('owner_role', sa.String(length=32), nullable=True))
    op.add_column('webhook_subscriptions', sa.Column('owner_fund_id', sa.UUID(), nullable=True))
    op.add_column('webhook_subscriptions', sa.Column('owner_network_id', sa.UUID(), nullable=True))
    op.add_column('webhook_subscriptions', sa.Column('owner_scopes', postgresql.ARRAY(sa.String(length=64)),
                                                     server_default='{}', nullable=False))


def downgrade() -> None:
    for column in ('owner_scopes', 'owner_network_id', 'owner_fund_id', 'owner_role'):
        op.drop_column('webhook_subscriptions', column)
