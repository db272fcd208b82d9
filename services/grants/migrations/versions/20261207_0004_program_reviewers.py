"""program reviewers: each program says who may review its applications

Revision ID: 20261207_0004_program_reviewers
Revises: 20261207_0003_webhook_owner
Create Date: 2026-12-07 07:10:00

Any committee member or fund admin anywhere could review any application. Now a program names its
reviewers (roles and/or user ids; ``{grant_officer}`` by default, and for every program that
exists), and the service refuses a reviewer of the applying fund, a second review by the same
person, and a decision by one of the application's reviewers (docs/grantors.md).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '20261207_0004_program_reviewers'
down_revision = '20261207_0003_webhook_owner'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('programs', sa.Column('reviewers', postgresql.ARRAY(sa.String(length=64)),
                                        server_default='{grant_officer}', nullable=False))
    op.create_check_constraint(op.f('ck_programs_reviewers_named'), 'programs', 'cardinality(reviewers) > 0')


def downgrade() -> None:
    op.drop_constraint(op.f('ck_programs_reviewers_named'), 'programs', type_='check')
    op.drop_column('programs', 'reviewers')
