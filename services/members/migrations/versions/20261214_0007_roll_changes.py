"""roll changes: every write of a fund's roll stamps members.updated_at; roll_departures (expand)

Revision ID: 20261214_0007_roll_changes
Revises: 20261207_0006_worker_leases
Create Date: 2026-12-14 10:00:00

The ledger counts each fund's arrears again when the fund's roll changed, which it learns from
``GET /v1/members/internal/roll-changes`` (docs/aggregates.md "Arrears"): the funds of the member
rows whose ``updated_at`` is at or after an instant. The ORM stamps ``updated_at`` on the changes it
makes, but a write in SQL (an operator's fix, a restore, the benchmark's copies) does not, and a
change the stamp misses is a count the ledger never makes again. So a row trigger stamps it:

- a member row inserted, or updated in a fact the roll is made of (``fund_id``, ``joined_on``,
  ``status``, ``status_since``, ``anonymised_at``), gets ``updated_at`` = the database's clock at
  the write (``clock_timestamp()``, not the transaction's start: a stamp close to the commit keeps
  the ledger's overlap small), or the writer's own value if later. An update of other columns is
  left as the writer made it (the national ID's re-encryption keeps the stamp on purpose);
- a member row moved to another fund, or deleted, is noted in ``roll_departures`` under the fund
  it left, which no member row would name any more.

``ix_members_updated_at (updated_at, fund_id)`` answers the ledger's question from the index. It
is built plainly, in the revision's transaction (with its lock timeout): members are written at a
person's pace, and the build holds their writes back only for the seconds it takes. Expand only:
the previous release's writes pass through the trigger unchanged in what they store.
"""

import sqlalchemy as sa
from alembic import op

revision = '20261214_0007_roll_changes'
down_revision = '20261207_0006_worker_leases'
branch_labels = None
depends_on = None

STAMP = """
CREATE FUNCTION members_stamp_roll_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO roll_departures (fund_id, member_id, departed_at) VALUES (OLD.fund_id, OLD.id, clock_timestamp());
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF (NEW.fund_id, NEW.joined_on, NEW.status, NEW.status_since, NEW.anonymised_at)
           IS NOT DISTINCT FROM (OLD.fund_id, OLD.joined_on, OLD.status, OLD.status_since, OLD.anonymised_at) THEN
            RETURN NEW;
        END IF;
        IF NEW.fund_id IS DISTINCT FROM OLD.fund_id THEN
            INSERT INTO roll_departures (fund_id, member_id, departed_at) VALUES (OLD.fund_id, OLD.id, clock_timestamp());
        END IF;
    END IF;
    NEW.updated_at := greatest(NEW.updated_at, clock_timestamp());
    RETURN NEW;
END $$"""


def upgrade() -> None:
    op.create_table('roll_departures',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('member_id', sa.UUID(), nullable=False),
    sa.Column('departed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_roll_departures'))
    )
    op.create_index('ix_roll_departures_departed_at', 'roll_departures', ['departed_at', 'fund_id'], unique=False)
    op.create_index('ix_members_updated_at', 'members', ['updated_at', 'fund_id'], unique=False)
    op.execute(STAMP)
    op.execute("CREATE TRIGGER members_stamp_roll_change BEFORE INSERT OR UPDATE OR DELETE ON members"
               " FOR EACH ROW EXECUTE FUNCTION members_stamp_roll_change()")


def downgrade() -> None:
    op.execute("DROP TRIGGER members_stamp_roll_change ON members")
    op.execute("DROP FUNCTION members_stamp_roll_change()")
    op.drop_index('ix_members_updated_at', table_name='members')
    op.drop_index('ix_roll_departures_departed_at', table_name='roll_departures')
    op.drop_table('roll_departures')
