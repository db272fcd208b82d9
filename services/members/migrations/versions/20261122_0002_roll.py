"""members roll, households, collectors, PDPA log, imports

Revision ID: 20261122_0002_roll
Revises: 20261122_0001_initial
Create Date: 2026-11-22 01:58:26.887665
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '20261122_0002_roll'
down_revision = '20261122_0001_initial'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pii_access_log',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('actor_role', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=200), nullable=False),
    sa.Column('request_id', sa.String(length=128), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pii_access_log'))
    )
    op.create_index('ix_pii_access_log_member', 'pii_access_log', ['member_id', 'at'], unique=False)
    op.create_table('collectors',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('user_id', sa.UUID(), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('villages', postgresql.ARRAY(sa.SmallInteger()), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('round_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['fund_id'], ['funds.id'], name=op.f('fk_collectors_fund_id_funds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collectors')),
    sa.UniqueConstraint('fund_id', 'user_id', name=op.f('uq_collectors_fund_id_user_id'))
    )
    op.create_table('households',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('village_no', sa.SmallInteger(), nullable=False),
    sa.Column('house_no', sa.String(length=30), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['fund_id'], ['funds.id'], name=op.f('fk_households_fund_id_funds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_households')),
    sa.UniqueConstraint('fund_id', 'village_no', 'house_no', name=op.f('uq_households_fund_id_village_no_house_no'))
    )
    op.create_table('import_runs',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('file_sha256', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('duplicates', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('by', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['fund_id'], ['funds.id'], name=op.f('fk_import_runs_fund_id_funds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_runs'))
    )
    op.create_table('members',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('member_no', sa.Integer(), nullable=False),
    sa.Column('national_id_hash', sa.LargeBinary(length=32), nullable=True),
    sa.Column('national_id_enc', sa.Text(), nullable=True),
    sa.Column('national_id_tail', sa.String(length=3), nullable=True),
    sa.Column('title', sa.String(length=50), nullable=True),
    sa.Column('first_name', sa.String(length=100), nullable=False),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('name_sort_key', sa.String(length=500, collation='C'), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('sex', sa.String(length=8), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('house_no', sa.String(length=30), nullable=True),
    sa.Column('village_no', sa.SmallInteger(), nullable=True),
    sa.Column('village_name', sa.String(length=100), nullable=True),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('household_id', sa.UUID(), nullable=True),
    sa.Column('joined_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_since', sa.Date(), nullable=False),
    sa.Column('consent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consent_version', sa.String(length=32), nullable=True),
    sa.Column('consent_recorded_by', sa.String(length=64), nullable=True),
    sa.Column('anonymised_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("sex IN ('male', 'female')", name=op.f('ck_members_sex_known')),
    sa.CheckConstraint("status IN ('active', 'suspended', 'resigned', 'deceased')", name=op.f('ck_members_status_known')),
    sa.CheckConstraint('village_no IS NULL OR village_no BETWEEN 1 AND 99', name=op.f('ck_members_village_no_range')),
    sa.ForeignKeyConstraint(['fund_id'], ['funds.id'], name=op.f('fk_members_fund_id_funds')),
    sa.ForeignKeyConstraint(['household_id'], ['households.id'], name=op.f('fk_members_household_id_households')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_members')),
    sa.UniqueConstraint('fund_id', 'member_no', name=op.f('uq_members_fund_id_member_no')),
    sa.UniqueConstraint('fund_id', 'national_id_hash', name=op.f('uq_members_fund_id_national_id_hash'))
    )
    op.create_index('ix_members_fund_phone', 'members', ['fund_id', 'phone'], unique=False)
    op.create_index('ix_members_fund_sort', 'members', ['fund_id', 'name_sort_key', 'id'], unique=False)
    op.create_index('ix_members_fund_village', 'members', ['fund_id', 'village_no'], unique=False)
    op.create_index('uq_members_current_person', 'members', ['national_id_hash'], unique=True, postgresql_where=sa.text("status IN ('active', 'suspended')"))
    op.create_table('beneficiaries',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('relationship', sa.String(length=50), nullable=False),
    sa.Column('share_bp', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.CheckConstraint('share_bp > 0 AND share_bp <= 10000', name=op.f('ck_beneficiaries_share_range')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_beneficiaries_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_beneficiaries'))
    )
    op.create_index('ix_beneficiaries_member', 'beneficiaries', ['member_id'], unique=False)
    op.create_table('member_status_changes',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('recorded_by', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_status_changes_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_status_changes'))
    )
    op.create_index('ix_member_status_changes_member', 'member_status_changes', ['member_id', 'id'], unique=False)
    op.create_table('round_members',
    sa.Column('collector_id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.ForeignKeyConstraint(['collector_id'], ['collectors.id'], name=op.f('fk_round_members_collector_id_collectors')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_round_members_member_id_members')),
    sa.PrimaryKeyConstraint('collector_id', 'member_id', name=op.f('pk_round_members'))
    )
    op.add_column('funds', sa.Column('province_code', sa.String(length=2), nullable=True))
    op.add_column('funds', sa.Column('district_code', sa.String(length=4), nullable=True))
    op.add_column('funds', sa.Column('subdistrict_code', sa.String(length=6), nullable=True))
    op.add_column('funds', sa.Column('next_member_no', sa.Integer(), server_default='1', nullable=False))
    op.add_column('networks', sa.Column('province_code', sa.String(length=2), nullable=True))


def downgrade() -> None:
    op.drop_column('networks', 'province_code')
    op.drop_column('funds', 'next_member_no')
    op.drop_column('funds', 'subdistrict_code')
    op.drop_column('funds', 'district_code')
    op.drop_column('funds', 'province_code')
    op.drop_table('round_members')
    op.drop_index('ix_member_status_changes_member', table_name='member_status_changes')
    op.drop_table('member_status_changes')
    op.drop_index('ix_beneficiaries_member', table_name='beneficiaries')
    op.drop_table('beneficiaries')
    op.drop_index('uq_members_current_person', table_name='members', postgresql_where=sa.text("status IN ('active', 'suspended')"))
    op.drop_index('ix_members_fund_village', table_name='members')
    op.drop_index('ix_members_fund_sort', table_name='members')
    op.drop_index('ix_members_fund_phone', table_name='members')
    op.drop_table('members')
    op.drop_table('import_runs')
    op.drop_table('households')
    op.drop_table('collectors')
    op.drop_index('ix_pii_access_log_member', table_name='pii_access_log')
    op.drop_table('pii_access_log')
