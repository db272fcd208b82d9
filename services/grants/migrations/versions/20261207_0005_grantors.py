"""grantors: programs belong to a grantor organisation, not a kind

Revision ID: 20261207_0005_grantors
Revises: 20261207_0004_program_reviewers
Create Date: 2026-12-07 07:40:00

``grantors(id, kind, name)``: an organisation (CODI, a provincial office, ...); its kind picks the
ledger's income source for its tranches. Each program belongs to one (``programs.grantor_id``);
``programs.grantor`` stays, the grantor's kind. Every existing program gets a grantor made here
for its kind, one per kind, so old data stays valid. Webhook subscriptions keep their owner's
grantor and programs, as its token said (a subscription made before hears nothing of grants
until it is made again: its owner acted for no grantor). docs/grantors.md.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '20261207_0005_grantors'
down_revision = '20261207_0004_program_reviewers'
branch_labels = None
depends_on = None

NAMES = {
    "codi": "สถาบันพัฒนาองค์กรชุมชน (พอช.)",
    "state": "หน่วยงานรัฐ",
    "provincial_office": "สำนักงานพัฒนาสังคมและความมั่นคงของมนุษย์จังหวัด (พมจ.)",
    "local_government": "องค์กรปกครองส่วนท้องถิ่น",
    "other": "ผู้ให้ทุนอื่น",
}


def upgrade() -> None:
    op.create_table('grantors',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('codi', 'state', 'provincial_office', 'local_government', 'other')", name=op.f('ck_grantors_kind_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grantors'))
    )
    op.add_column('programs', sa.Column('grantor_id', sa.UUID(), nullable=True))
    for kind, name in NAMES.items():
        op.execute(sa.text(
            "INSERT INTO grantors (id, kind, name, created_by) SELECT gen_random_uuid(), :kind, :name, 'migration'"
            " WHERE EXISTS (SELECT 1 FROM programs WHERE grantor = :kind)").bindparams(kind=kind, name=name))
    op.execute("UPDATE programs p SET grantor_id = g.id FROM grantors g WHERE g.kind = p.grantor")
    op.alter_column('programs', 'grantor_id', nullable=False)
    op.create_foreign_key(op.f('fk_programs_grantor_id_grantors'), 'programs', 'grantors', ['grantor_id'], ['id'])
    op.create_index(op.f('ix_programs_grantor_id'), 'programs', ['grantor_id'], unique=False)
    op.add_column('webhook_subscriptions', sa.Column('owner_grantor_id', sa.UUID(), nullable=True))
    op.add_column('webhook_subscriptions', sa.Column('owner_program_ids', postgresql.ARRAY(sa.UUID()), nullable=True))


def downgrade() -> None:
    op.drop_column('webhook_subscriptions', 'owner_program_ids')
    op.drop_column('webhook_subscriptions', 'owner_grantor_id')
    op.drop_index(op.f('ix_programs_grantor_id'), table_name='programs')
    op.drop_constraint(op.f('fk_programs_grantor_id_grantors'), 'programs', type_='foreignkey')
    op.drop_column('programs', 'grantor_id')
    op.drop_table('grantors')
