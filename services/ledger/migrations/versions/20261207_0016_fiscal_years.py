"""fiscal years: the fund's year, closings into the accumulated fund, the closed-period lock

Revision ID: 20261207_0016_fiscal_years
Revises: 20261207_0015_aggregates_by_key
Create Date: 2026-12-07 15:00:00

docs/fiscal-years.md. ``ledger_funds`` gains the fund's fiscal year (start month 1 or 10) and
``closed_through``, the last day of its latest closed year. ``year_closings`` records each closing
(the general meeting's date and minutes) and its reopening, if any; rows are never deleted and a
closing changes only once, when it is reopened. Every fund gains the accumulated fund (3200) and
the contra of members' contributions (4199).

The posting functions learn the lock, each by a small change of its text (the functions are
otherwise as the earlier revisions made them): ``ledger_post_entry`` refuses an entry dated into a
closed year (SQLSTATE ``SJ001``), except the closing and reopening entries; ``ledger_post_deposits``
posts a deposit collected in a closed year into the first day after it, the deposit itself keeping
its collection date. ``ledger_refresh_aggregates`` leaves closing and reopening entries out of the
income per day, as every flow by date does.
"""

from pathlib import Path

from alembic import op

from shared.migrate import function_of

revision = '20261207_0016_fiscal_years'
down_revision = '20261207_0015_aggregates_by_key'
branch_labels = None
depends_on = None

HERE = Path(__file__).parent
FLOWLESS = "('year_closing', 'year_reopening')"


def _replaced(source: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    return source


def _post_entry() -> str:
    return _replaced(
        function_of(HERE / "20261203_0008_sync_entries.py", "ledger_post_entry"),
        ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
        ("v_now timestamptz := clock_timestamp();", "v_now timestamptz := clock_timestamp();\n    v_closed date;"),
        ("PERFORM 1 FROM ledger_funds f WHERE f.fund_id = p_fund FOR UPDATE;",
         "SELECT f.closed_through INTO v_closed FROM ledger_funds f WHERE f.fund_id = p_fund FOR UPDATE;"),
        ("    END IF;\n    INSERT INTO journal_entries",
         "    END IF;\n"
         f"    IF p_date <= v_closed AND p_kind NOT IN {FLOWLESS} THEN\n"
         "        RAISE EXCEPTION 'the books of fund % are closed through %: an entry dated % is refused', p_fund, v_closed, p_date\n"
         "            USING ERRCODE = 'SJ001';\n"
         "    END IF;\n    INSERT INTO journal_entries"),
    )


def _post_deposits() -> str:
    return _replaced(
        function_of(HERE / "20261203_0009_postings_first.py", "ledger_post_deposits"),
        ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"),
        ("    v_late smallint;\n", "    v_late smallint;\n    v_closed date;\n"),
        ("SELECT f.late_window_days INTO v_late FROM ledger_funds f WHERE f.fund_id = p_fund;",
         "SELECT f.late_window_days, f.closed_through INTO v_late, v_closed FROM ledger_funds f WHERE f.fund_id = p_fund;"),
        # a deposit collected in a closed year: its entry and postings go to the first open day
        ("SELECT i.ord, i.amount, i.bdate, i.who,",
         "SELECT i.ord, i.amount, greatest(i.bdate, v_closed + 1) AS bdate, i.who,"),
    )


def _refresh() -> str:
    source = (HERE / "20261207_0015_aggregates_by_key.py").read_text()
    start = source.index("CREATE OR REPLACE FUNCTION ledger_refresh_aggregates()")
    end = source.index("END $$", start) + len("END $$")
    body = source[start:end].replace("{REFRESH_LOCK}", str(0x5A4A_A661))
    return _replaced(body, ("FROM queued q WHERE q.type = 'income'",
                            f"FROM queued q WHERE q.type = 'income' AND q.entry_kind NOT IN {FLOWLESS}"))


def _previous_refresh() -> str:
    source = (HERE / "20261207_0015_aggregates_by_key.py").read_text()
    start = source.index("CREATE OR REPLACE FUNCTION ledger_refresh_aggregates()")
    end = source.index("END $$", start) + len("END $$")
    return source[start:end].replace("{REFRESH_LOCK}", str(0x5A4A_A661))


ACCOUNTS = (
    ("3200", "accumulated_fund", "equity", "กองทุนสะสม", "Accumulated fund", None),
    ("4199", "contribution_closed", "income", "เงินสัจจะสมาชิกที่ปิดเข้ากองทุนสะสม",
     "Members' contributions carried to the accumulated fund", "members"),
)


def upgrade() -> None:
    op.execute("ALTER TABLE ledger_funds ADD COLUMN fiscal_year_start_month smallint NOT NULL DEFAULT 1"
               " CONSTRAINT fiscal_year_start_known CHECK (fiscal_year_start_month IN (1, 10))")
    op.execute("ALTER TABLE ledger_funds ADD COLUMN closed_through date")
    op.execute("""
    CREATE TABLE year_closings (
        fund_id uuid NOT NULL,
        id uuid NOT NULL,
        year integer NOT NULL,
        starts_on date NOT NULL,
        ends_on date NOT NULL,
        entry_id uuid,
        request_hash bytea NOT NULL,
        meeting_on date NOT NULL,
        minutes_ref varchar(200) NOT NULL,
        surplus_satang bigint NOT NULL,
        closed_by varchar(64) NOT NULL,
        closed_role varchar(16) NOT NULL,
        closed_at timestamptz NOT NULL DEFAULT now(),
        reopen_id uuid,
        reopen_entry_id uuid,
        reopened_by varchar(64),
        reopened_at timestamptz,
        reopen_reason varchar(300),
        CONSTRAINT pk_year_closings PRIMARY KEY (fund_id, id),
        CONSTRAINT year_closings_reopened_whole CHECK (
            (reopened_at IS NULL AND reopened_by IS NULL AND reopen_reason IS NULL AND reopen_id IS NULL
             AND reopen_entry_id IS NULL)
            OR (reopened_at IS NOT NULL AND reopened_by IS NOT NULL AND reopen_reason IS NOT NULL
                AND reopen_id IS NOT NULL))
    )""")
    op.execute("CREATE UNIQUE INDEX uq_year_closings_standing ON year_closings (fund_id, year) WHERE reopened_at IS NULL")
    op.execute("CREATE UNIQUE INDEX uq_year_closings_reopen ON year_closings (fund_id, reopen_id) WHERE reopen_id IS NOT NULL")
    op.execute("""
    CREATE FUNCTION ledger_year_closing_kept() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'UPDATE' THEN
            RAISE EXCEPTION 'year closings are kept: % refused', TG_OP USING ERRCODE = 'restrict_violation';
        END IF;
        IF OLD.reopened_at IS NOT NULL
           OR (NEW.fund_id, NEW.id, NEW.year, NEW.starts_on, NEW.ends_on, NEW.entry_id, NEW.request_hash, NEW.meeting_on,
               NEW.minutes_ref, NEW.surplus_satang, NEW.closed_by, NEW.closed_role, NEW.closed_at)
              IS DISTINCT FROM
              (OLD.fund_id, OLD.id, OLD.year, OLD.starts_on, OLD.ends_on, OLD.entry_id, OLD.request_hash, OLD.meeting_on,
               OLD.minutes_ref, OLD.surplus_satang, OLD.closed_by, OLD.closed_role, OLD.closed_at) THEN
            RAISE EXCEPTION 'a year closing changes only once, when it is reopened' USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
    END $$""")
    op.execute("CREATE TRIGGER year_closings_kept BEFORE UPDATE OR DELETE ON year_closings"
               " FOR EACH ROW EXECUTE FUNCTION ledger_year_closing_kept()")
    op.execute("CREATE TRIGGER year_closings_no_truncate BEFORE TRUNCATE ON year_closings"
               " FOR EACH STATEMENT EXECUTE FUNCTION ledger_year_closing_kept()")
    for code, kind, type_, th, en, source in ACCOUNTS:
        op.execute(f"""
        INSERT INTO accounts (fund_id, id, code, kind, type, name_th, name_en, source, allow_negative, balance_satang)
        SELECT f.fund_id, gen_random_uuid(), '{code}', '{kind}', '{type_}', '{th}', '{en.replace("'", "''")}',
               {f"'{source}'" if source else 'NULL'}, true, 0
          FROM ledger_funds f
        ON CONFLICT (fund_id, code) DO NOTHING""")
    op.execute(_post_entry())
    op.execute(_post_deposits())
    op.execute(_refresh())


def downgrade() -> None:
    op.execute(_previous_refresh())
    op.execute("DROP FUNCTION ledger_post_deposits")
    op.execute(function_of(HERE / "20261203_0009_postings_first.py", "ledger_post_deposits"))
    op.execute("DROP FUNCTION ledger_post_entry")
    op.execute(function_of(HERE / "20261203_0008_sync_entries.py", "ledger_post_entry"))
    op.execute("DROP TABLE year_closings")
    op.execute("DROP FUNCTION ledger_year_closing_kept()")
    op.execute("ALTER TABLE ledger_funds DROP COLUMN closed_through")
    op.execute("ALTER TABLE ledger_funds DROP COLUMN fiscal_year_start_month")
