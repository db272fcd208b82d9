"""national ID key ring: members.national_id_key_id, pii_reencryptions (docs/national-id-keys.md)

Revision ID: 20261207_0004_pii_key_ids
Revises: 20261207_0003_audit_events
Create Date: 2026-12-07 12:00:00

Every existing ciphertext was written with SAJJA_MEMBERS_PII_KEY, key 1 of the ring: the column is
added with default 1 (PostgreSQL stores the default once, no rewrite of the table), and rows with
no ciphertext (anonymised) get NULL. The default stays, so a process of the previous release,
which writes ciphertexts under key 1 without naming it, labels its rows rightly during a rolling
upgrade.
"""

import sqlalchemy as sa
from alembic import op

revision = '20261207_0004_pii_key_ids'
down_revision = '20261207_0003_audit_events'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('members', sa.Column('national_id_key_id', sa.SmallInteger(), server_default='1', nullable=True))
    op.execute("UPDATE members SET national_id_key_id = NULL WHERE national_id_enc IS NULL")
    op.create_check_constraint(
        op.f('ck_members_national_id_key_known'), 'members', 'national_id_enc IS NULL OR national_id_key_id IS NOT NULL'
    )
    op.create_index(
        'ix_members_national_id_key_id', 'members', ['national_id_key_id'], unique=False,
        postgresql_where=sa.text('national_id_enc IS NOT NULL'),
    )
    op.create_table('pii_reencryptions',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('to_key_id', sa.SmallInteger(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_by', sa.String(length=64), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pii_reencryptions'))
    )
    op.create_index('uq_pii_reencryptions_open', 'pii_reencryptions', ['to_key_id'], unique=True,
                    postgresql_where=sa.text('finished_at IS NULL'))


def downgrade() -> None:
    # Without the column every ciphertext would be read as key 1: refuse while any row is not.
    op.execute("""
    DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM members WHERE national_id_enc IS NOT NULL AND national_id_key_id <> 1) THEN
            RAISE EXCEPTION 'national IDs under keys other than 1 exist: re-encrypt them to key 1 first';
        END IF;
    END $$
    """)
    op.drop_index('uq_pii_reencryptions_open', table_name='pii_reencryptions')
    op.drop_table('pii_reencryptions')
    op.drop_index('ix_members_national_id_key_id', table_name='members')
    op.drop_constraint(op.f('ck_members_national_id_key_known'), 'members', type_='check')
    op.drop_column('members', 'national_id_key_id')
