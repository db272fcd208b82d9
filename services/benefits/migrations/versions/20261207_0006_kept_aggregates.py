"""claims' aggregates kept per fund: paid per day and category, members helped, claims waiting
(docs/aggregates.md)

Revision ID: 20261207_0006_kept_aggregates
Revises: 20261207_0005_worker_leases
Create Date: 2026-12-07 16:00:00

Statement triggers on ``claims`` (insert, update, delete) hand the rows a statement changed (their
figures changed: status, payout status, paid_at, amount, category...) to
``benefits_keep_aggregates(gone, came)``, which moves ``benefit_paid_days``,
``benefit_helped_days`` and ``benefit_waiting`` in the same transaction. The tables are filled
here from the claims as they stand.
"""

import sqlalchemy as sa
from alembic import op

revision = '20261207_0006_kept_aggregates'
down_revision = '20261207_0005_worker_leases'
branch_labels = None
depends_on = None

#: The Bangkok day a paid claim counts on (what ``reports/paid`` groups by); null unless paid.
PAID_ON = """
CREATE FUNCTION benefits_paid_on(status text, paid_at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN status = 'paid' THEN (paid_at AT TIME ZONE 'Asia/Bangkok')::date END
$$
"""

#: How ``reports/pending`` says a claim waits: for a decision, or for its payout; null when not waiting.
WAITING = """
CREATE FUNCTION benefits_waiting(status text, payout_status text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN status IN ('submitted', 'under_review') THEN status
                WHEN status = 'approved' THEN 'payout_' || payout_status END
$$
"""

#: Since when it waits: its decision once approved, else its submission.
WAITING_SINCE = """
CREATE FUNCTION benefits_waiting_since(status text, created_at timestamptz, decided_at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN status = 'approved' AND decided_at IS NOT NULL THEN decided_at ELSE created_at END
$$
"""

KEEP = """
CREATE FUNCTION benefits_keep_aggregates(gone claims[], came claims[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_funds uuid[];
    v_states text[];
BEGIN
    IF cardinality(gone) + cardinality(came) = 0 THEN
        RETURN;
    END IF;

    -- Claims waiting, per fund and state: the count moves by the rows; the oldest is read again
    -- from the fund's claims in that state once the row is locked (a claim leaving may have been
    -- the oldest), so it is right whichever of two writers of one fund commits first.
    WITH moved AS (
        SELECT c.fund_id, benefits_waiting(c.status, c.payout_status) AS state, -1 AS n FROM unnest(gone) c
        UNION ALL
        SELECT c.fund_id, benefits_waiting(c.status, c.payout_status), 1 FROM unnest(came) c
    ),
    kept AS (
        INSERT INTO benefit_waiting AS w (fund_id, status, claims)
        SELECT m.fund_id, m.state, sum(m.n) FROM moved m WHERE m.state IS NOT NULL
         GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (fund_id, status) DO UPDATE SET claims = w.claims + excluded.claims
        RETURNING w.fund_id, w.status
    )
    SELECT array_agg(k.fund_id), array_agg(k.status) INTO v_funds, v_states FROM kept k;
    IF v_funds IS NOT NULL THEN
        UPDATE benefit_waiting w
           SET oldest = (SELECT min(benefits_waiting_since(c.status, c.created_at, c.decided_at))
                           FROM claims c
                          WHERE c.fund_id = w.fund_id
                            AND c.status = CASE WHEN w.status IN ('submitted', 'under_review') THEN w.status
                                                ELSE 'approved' END
                            AND benefits_waiting(c.status, c.payout_status) = w.status)
          FROM unnest(v_funds, v_states) AS t(fund_id, status)
         WHERE w.fund_id = t.fund_id AND w.status = t.status;
    END IF;

    -- Benefits paid, per fund, Bangkok day and category.
    INSERT INTO benefit_paid_days AS p (fund_id, paid_on, category, claims, amount_satang)
    SELECT m.fund_id, m.paid_on, m.category, sum(m.n), sum(m.amount) FROM (
        SELECT c.fund_id, benefits_paid_on(c.status, c.paid_at) AS paid_on, c.category, -1 AS n,
               -c.amount_satang AS amount FROM unnest(gone) c
        UNION ALL
        SELECT c.fund_id, benefits_paid_on(c.status, c.paid_at), c.category, 1, c.amount_satang FROM unnest(came) c
    ) m
     WHERE m.paid_on IS NOT NULL
     GROUP BY 1, 2, 3 HAVING sum(m.n) <> 0 OR sum(m.amount) <> 0
     ORDER BY 1, 2, 3
    ON CONFLICT (fund_id, paid_on, category)
    DO UPDATE SET claims = p.claims + excluded.claims, amount_satang = p.amount_satang + excluded.amount_satang;

    -- Members helped: each member's days paid, each with the member's previous day paid
    -- ('-infinity' for the first). The steps of the members whose days paid may have changed are
    -- taken out as they were before the statement and put back as they are now. One fund's
    -- members at a time (an advisory lock per fund, in order), so two transactions never both
    -- count a member's day; read after the lock, the claims include what the other committed.
    SELECT array_agg(DISTINCT c.fund_id ORDER BY c.fund_id) INTO v_funds
      FROM (SELECT * FROM unnest(gone) UNION ALL SELECT * FROM unnest(came)) c
     WHERE benefits_paid_on(c.status, c.paid_at) IS NOT NULL;
    IF v_funds IS NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('benefit_helped_days:' || f::text)) FROM unnest(v_funds) f;
    WITH changed AS (
        SELECT * FROM unnest(gone) UNION ALL SELECT * FROM unnest(came)
    ),
    members AS (
        SELECT DISTINCT c.fund_id, c.member_id FROM changed c WHERE benefits_paid_on(c.status, c.paid_at) IS NOT NULL
    ),
    paid_now AS (
        SELECT DISTINCT c.fund_id, c.member_id, benefits_paid_on(c.status, c.paid_at) AS day
          FROM claims c JOIN members m ON m.fund_id = c.fund_id AND m.member_id = c.member_id
         WHERE c.status = 'paid' AND c.paid_at IS NOT NULL
    ),
    paid_before AS (
        SELECT DISTINCT s.fund_id, s.member_id, benefits_paid_on(s.status, s.paid_at) AS day FROM (
            SELECT c.fund_id, c.member_id, c.status, c.paid_at
              FROM claims c JOIN members m ON m.fund_id = c.fund_id AND m.member_id = c.member_id
             WHERE c.status = 'paid' AND c.paid_at IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM unnest(came) n WHERE n.fund_id = c.fund_id AND n.id = c.id)
            UNION ALL
            SELECT g.fund_id, g.member_id, g.status, g.paid_at FROM unnest(gone) g
        ) s
         WHERE benefits_paid_on(s.status, s.paid_at) IS NOT NULL
    ),
    steps AS (
        SELECT a.fund_id, a.day, coalesce(lag(a.day) OVER w, '-infinity') AS previous_on, 1 AS n
          FROM paid_now a WINDOW w AS (PARTITION BY a.fund_id, a.member_id ORDER BY a.day)
        UNION ALL
        SELECT b.fund_id, b.day, coalesce(lag(b.day) OVER w, '-infinity'), -1
          FROM paid_before b WINDOW w AS (PARTITION BY b.fund_id, b.member_id ORDER BY b.day)
    )
    INSERT INTO benefit_helped_days AS h (fund_id, paid_on, previous_on, members)
    SELECT s.fund_id, s.day, s.previous_on, sum(s.n) FROM steps s
     GROUP BY 1, 2, 3 HAVING sum(s.n) <> 0
     ORDER BY 1, 2, 3
    ON CONFLICT (fund_id, paid_on, previous_on) DO UPDATE SET members = h.members + excluded.members;
END $$
"""

#: The columns a claim's figures depend on: an update that changes none of them (a lease, an
#: attempt, an erased text) moves nothing and locks no aggregate row.
FIGURES = "member_id, category, amount_satang, status, payout_status, paid_at, created_at, decided_at"


def _unchanged(other: str) -> str:
    """Rows of one transition table with no row of ``other`` (the same claim) of the same figures."""
    return (f"NOT EXISTS (SELECT 1 FROM {other} y WHERE y.fund_id = x.fund_id AND y.id = x.id"
            f" AND ({', '.join('y.' + c for c in FIGURES.split(', '))})"
            f" IS NOT DISTINCT FROM ({', '.join('x.' + c for c in FIGURES.split(', '))}))")


#: Each event's trigger (and its function): what it references, and the rows it hands on.
TRIGGERS = {
    "INSERT": ("benefits_claims_inserted", "REFERENCING NEW TABLE AS new_claims",
               "'{}'::claims[], ARRAY(SELECT x::claims FROM new_claims x)"),
    "UPDATE": ("benefits_claims_updated", "REFERENCING OLD TABLE AS old_claims NEW TABLE AS new_claims",
               f"ARRAY(SELECT x::claims FROM old_claims x WHERE {_unchanged('new_claims')}),"
               f" ARRAY(SELECT x::claims FROM new_claims x WHERE {_unchanged('old_claims')})"),
    "DELETE": ("benefits_claims_deleted", "REFERENCING OLD TABLE AS old_claims",
               "ARRAY(SELECT x::claims FROM old_claims x), '{}'::claims[]"),
}

BACKFILL = """
INSERT INTO benefit_paid_days (fund_id, paid_on, category, claims, amount_satang)
SELECT c.fund_id, benefits_paid_on(c.status, c.paid_at), c.category, count(*), sum(c.amount_satang)
  FROM claims c WHERE c.status = 'paid' AND c.paid_at IS NOT NULL
 GROUP BY 1, 2, 3;
INSERT INTO benefit_helped_days (fund_id, paid_on, previous_on, members)
SELECT d.fund_id, d.day, d.previous_on, count(*) FROM (
    SELECT p.fund_id, p.day, coalesce(lag(p.day) OVER (PARTITION BY p.fund_id, p.member_id ORDER BY p.day), '-infinity') AS previous_on
      FROM (SELECT DISTINCT c.fund_id, c.member_id, benefits_paid_on(c.status, c.paid_at) AS day
              FROM claims c WHERE c.status = 'paid' AND c.paid_at IS NOT NULL) p
) d
 GROUP BY 1, 2, 3;
INSERT INTO benefit_waiting (fund_id, status, claims, oldest)
SELECT c.fund_id, benefits_waiting(c.status, c.payout_status), count(*),
       min(benefits_waiting_since(c.status, c.created_at, c.decided_at))
  FROM claims c WHERE benefits_waiting(c.status, c.payout_status) IS NOT NULL
 GROUP BY 1, 2;
"""


def upgrade() -> None:
    op.create_table('benefit_paid_days',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('claims', sa.Integer(), nullable=False),
    sa.Column('amount_satang', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('fund_id', 'paid_on', 'category', name=op.f('pk_benefit_paid_days'))
    )
    op.create_table('benefit_helped_days',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('previous_on', sa.Date(), nullable=False),
    sa.Column('members', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('fund_id', 'paid_on', 'previous_on', name=op.f('pk_benefit_helped_days'))
    )
    op.create_table('benefit_waiting',
    sa.Column('fund_id', sa.UUID(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('claims', sa.Integer(), nullable=False),
    sa.Column('oldest', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('fund_id', 'status', name=op.f('pk_benefit_waiting'))
    )
    for function in (PAID_ON, WAITING, WAITING_SINCE, KEEP):
        op.execute(function)
    for event, (name, referencing, arguments) in TRIGGERS.items():
        op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$"
                   f" BEGIN PERFORM benefits_keep_aggregates({arguments}); RETURN NULL; END $$")
        op.execute(f"CREATE TRIGGER {name} AFTER {event} ON claims {referencing}"
                   f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()")
    for statement in BACKFILL.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    for name, _, _ in TRIGGERS.values():
        op.execute(f"DROP TRIGGER {name} ON claims")
        op.execute(f"DROP FUNCTION {name}")
    for function in ("benefits_keep_aggregates", "benefits_waiting_since", "benefits_waiting", "benefits_paid_on"):
        op.execute(f"DROP FUNCTION {function}")
    for table in ('benefit_waiting', 'benefit_helped_days', 'benefit_paid_days'):
        op.drop_table(table)
