"""grants' totals kept per fund, program and network (docs/aggregates.md)

Revision ID: 20261207_0008_kept_aggregates
Revises: 20261207_0007_worker_leases
Create Date: 2026-12-07 16:00:00

Statement triggers on ``applications`` and ``tranches`` (insert, update, delete) hand the rows a
statement changed (their figures changed: status, amounts, ledger status...) to
``grants_keep_totals(...)``, which moves ``grant_totals`` in the same transaction. The totals are
filled here from the applications and tranches as they stand.
"""

import sqlalchemy as sa
from alembic import op

revision = '20261207_0008_kept_aggregates'
down_revision = '20261207_0007_worker_leases'
branch_labels = None
depends_on = None

#: An application of no network is kept under the nil uuid, so the key can be a primary key.
NETWORK = """
CREATE FUNCTION grants_network(network_id uuid) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(network_id, '00000000-0000-0000-0000-000000000000'::uuid)
$$
"""

KEEP = """
CREATE FUNCTION grants_keep_totals(gone applications[], came applications[], gone_t tranches[], came_t tranches[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(gone) + cardinality(came) + cardinality(gone_t) + cardinality(came_t) = 0 THEN
        RETURN;
    END IF;
    WITH moved AS (
        -- an application beyond a draft: counted, with what it asked and what it was awarded
        SELECT s.fund_id, s.program_id, grants_network(s.network_id) AS network_id, s.sign AS applications,
               s.sign * s.requested_satang AS requested, s.sign * (s.approved_satang IS NOT NULL)::int AS awarded,
               s.sign * coalesce(s.approved_satang, 0) AS awarded_satang, 0::bigint AS disbursed, 0::bigint AS received
          FROM (SELECT -1 AS sign, g.* FROM unnest(gone) g UNION ALL SELECT 1, c.* FROM unnest(came) c) s
         WHERE s.status <> 'draft'
        UNION ALL
        -- a tranche (there are tranches only of an award): disbursed, and received by the fund's
        -- ledger, under its application's key
        SELECT a.fund_id, a.program_id, grants_network(a.network_id), 0, 0, 0, 0,
               s.sign * CASE WHEN s.status = 'disbursed' THEN s.amount_satang ELSE 0 END,
               s.sign * CASE WHEN s.ledger_status = 'posted' THEN s.amount_satang ELSE 0 END
          FROM (SELECT -1 AS sign, g.* FROM unnest(gone_t) g UNION ALL SELECT 1, c.* FROM unnest(came_t) c) s
          JOIN applications a ON a.id = s.application_id
        UNION ALL
        -- an application whose fund, program or network changed takes its tranches along
        SELECT k.fund_id, k.program_id, grants_network(k.network_id), 0, 0, 0, 0,
               k.sign * sum(CASE WHEN t.status = 'disbursed' THEN t.amount_satang ELSE 0 END),
               k.sign * sum(CASE WHEN t.ledger_status = 'posted' THEN t.amount_satang ELSE 0 END)
          FROM (SELECT -1 AS sign, o.id, o.fund_id, o.program_id, o.network_id FROM unnest(gone) o JOIN unnest(came) n ON n.id = o.id
                 WHERE (o.fund_id, o.program_id, o.network_id) IS DISTINCT FROM (n.fund_id, n.program_id, n.network_id)
                UNION ALL
                SELECT 1, n.id, n.fund_id, n.program_id, n.network_id FROM unnest(gone) o JOIN unnest(came) n ON n.id = o.id
                 WHERE (o.fund_id, o.program_id, o.network_id) IS DISTINCT FROM (n.fund_id, n.program_id, n.network_id)) k
          JOIN tranches t ON t.application_id = k.id
         GROUP BY k.sign, k.fund_id, k.program_id, k.network_id
    )
    INSERT INTO grant_totals AS g (fund_id, program_id, network_id, applications, requested_satang, awarded,
                                   awarded_satang, disbursed_satang, received_satang)
    SELECT m.fund_id, m.program_id, m.network_id, sum(m.applications), sum(m.requested), sum(m.awarded),
           sum(m.awarded_satang), sum(m.disbursed), sum(m.received)
      FROM moved m
     GROUP BY 1, 2, 3
    HAVING sum(m.applications) <> 0 OR sum(m.requested) <> 0 OR sum(m.awarded) <> 0 OR sum(m.awarded_satang) <> 0
        OR sum(m.disbursed) <> 0 OR sum(m.received) <> 0
     ORDER BY 1, 2, 3
    ON CONFLICT (fund_id, program_id, network_id) DO UPDATE SET
        applications = g.applications + excluded.applications,
        requested_satang = g.requested_satang + excluded.requested_satang,
        awarded = g.awarded + excluded.awarded,
        awarded_satang = g.awarded_satang + excluded.awarded_satang,
        disbursed_satang = g.disbursed_satang + excluded.disbursed_satang,
        received_satang = g.received_satang + excluded.received_satang;
END $$
"""

#: The columns each table's figures depend on: an update that changes none of them (a lease, an
#: attempt, a decision's note) moves nothing and locks no total.
FIGURES = {
    "applications": ("fund_id", "program_id", "network_id", "status", "requested_satang", "approved_satang"),
    "tranches": ("application_id", "amount_satang", "status", "ledger_status"),
}


def _changed(table: str, rows: str, other: str) -> str:
    """The rows of one transition table with no row of ``other`` (the same row) of the same figures."""
    figures = FIGURES[table]
    return (f"ARRAY(SELECT x::{table} FROM {rows} x WHERE NOT EXISTS (SELECT 1 FROM {other} y WHERE y.id = x.id"
            f" AND ({', '.join('y.' + c for c in figures)}) IS NOT DISTINCT FROM ({', '.join('x.' + c for c in figures)})))")


def _triggers(table: str) -> dict[str, tuple[str, str, str]]:
    """Each event's trigger on ``table`` (and its function): what it references, and the rows it hands on."""
    none = f"'{{}}'::{table}[]"
    every = {
        "INSERT": ("REFERENCING NEW TABLE AS new_rows", none, f"ARRAY(SELECT x::{table} FROM new_rows x)"),
        "UPDATE": ("REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
                   _changed(table, "old_rows", "new_rows"), _changed(table, "new_rows", "old_rows")),
        "DELETE": ("REFERENCING OLD TABLE AS old_rows", f"ARRAY(SELECT x::{table} FROM old_rows x)", none),
    }
    out = {}
    for event, (referencing, gone, came) in every.items():
        empty = ("'{}'::tranches[], '{}'::tranches[]" if table == "applications" else "'{}'::applications[], '{}'::applications[]")
        arguments = f"{gone}, {came}, {empty}" if table == "applications" else f"{empty}, {gone}, {came}"
        out[f"grants_{table}_{event.lower()}"] = (event, referencing, arguments)
    return out


TRIGGERS = {"applications": _triggers("applications"), "tranches": _triggers("tranches")}

BACKFILL = """
INSERT INTO grant_totals (fund_id, program_id, network_id, applications, requested_satang, awarded, awarded_satang,
                          disbursed_satang, received_satang)
SELECT a.fund_id, a.program_id, grants_network(a.network_id), count(*), sum(a.requested_satang),
       count(a.approved_satang), coalesce(sum(a.approved_satang), 0),
       coalesce(sum(t.disbursed), 0), coalesce(sum(t.received), 0)
  FROM applications a
  LEFT JOIN (SELECT t.application_id,
                    sum(CASE WHEN t.status = 'disbursed' THEN t.amount_satang ELSE 0 END) AS disbursed,
                    sum(CASE WHEN t.ledger_status = 'posted' THEN t.amount_satang ELSE 0 END) AS received
               FROM tranches t GROUP BY 1) t ON t.application_id = a.id
 WHERE a.status <> 'draft'
 GROUP BY 1, 2, 3;
"""


def upgrade() -> None:
    op.create_table('grant_totals',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('program_id', sa.UUID(), nullable=False),
    sa.Column('network_id', sa.UUID(), nullable=False),
    sa.Column('applications', sa.Integer(), nullable=False),
    sa.Column('requested_satang', sa.BigInteger(), nullable=False),
    sa.Column('awarded', sa.Integer(), nullable=False),
    sa.Column('awarded_satang', sa.BigInteger(), nullable=False),
    sa.Column('disbursed_satang', sa.BigInteger(), nullable=False),
    sa.Column('received_satang', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('fund_id', 'program_id', 'network_id', name=op.f('pk_grant_totals'))
    )
    op.execute(NETWORK)
    op.execute(KEEP)
    for table, triggers in TRIGGERS.items():
        for name, (event, referencing, arguments) in triggers.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$"
                       f" BEGIN PERFORM grants_keep_totals({arguments}); RETURN NULL; END $$")
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} {referencing}"
                       f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()")
    for statement in BACKFILL.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    for table, triggers in TRIGGERS.items():
        for name in triggers:
            op.execute(f"DROP TRIGGER {name} ON {table}")
            op.execute(f"DROP FUNCTION {name}")
    op.execute("DROP FUNCTION grants_keep_totals")
    op.execute("DROP FUNCTION grants_network")
    op.drop_table('grant_totals')
