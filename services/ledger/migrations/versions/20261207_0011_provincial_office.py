"""provincial office income: a provincial office's grants are booked as its own source

Revision ID: 20261207_0011_provincial_office
Revises: 20261207_0010_money_proposals
Create Date: 2026-12-07 07:20:00

A tranche from a provincial office (the provincial social development office, พมจ.) was booked as
CODI income (4300). It now has its own income account, 4350 ``provincial_office``, in every fund's
chart: added here to the chart of every fund whose ledger exists (a new fund's chart has it from
``services/ledger/chart.py``), and shown in the income-by-source report as its own line.
Money already booked stays where it was.
"""

from alembic import op

revision = '20261207_0011_provincial_office'
down_revision = '20261207_0010_money_proposals'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        INSERT INTO accounts (fund_id, id, code, kind, type, name_th, name_en, source, allow_negative, balance_satang)
        SELECT f.fund_id, gen_random_uuid(), '4350', 'income', 'income',
               'เงินสนับสนุนจากสำนักงานพัฒนาสังคมฯ จังหวัด (พมจ.)', 'Provincial office co-funding', 'provincial_office', false, 0
          FROM ledger_funds f
        ON CONFLICT (fund_id, code) DO NOTHING
    """)


def downgrade() -> None:
    op.execute("DELETE FROM accounts a WHERE a.code = '4350' AND a.source = 'provincial_office' AND a.balance_satang = 0"
               " AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.fund_id = a.fund_id AND p.account_id = a.id)")
