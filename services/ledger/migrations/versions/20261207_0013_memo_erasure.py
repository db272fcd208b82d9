"""a member's erasure may clear free text in the books, and nothing else (docs/personal-data.md)

Revision ID: 20261207_0013_memo_erasure
Revises: 20261207_0012_audit_events
Create Date: 2026-12-07 12:00:00

Journal entries stay append-only, with one exception: an UPDATE that sets a memo to NULL and
changes no other column (PDPA erasure of free text that may name a member). A money proposal's
reason may likewise become '-' and its body lose its 'reason' and 'memo', and nothing else. Amounts,
dates, accounts, receipts and decisions can still never change.
"""

from alembic import op

revision = '20261207_0013_memo_erasure'
down_revision = '20261207_0012_audit_events'
branch_labels = None
depends_on = None

ENTRY_MEMO_ERASURE = """
CREATE FUNCTION ledger_entry_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.memo IS NULL AND (to_jsonb(NEW) - 'memo') = (to_jsonb(OLD) - 'memo') THEN
        RETURN NEW;  -- a memo erased, nothing else changed
    END IF;
    RAISE EXCEPTION 'ledger rows are append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$
"""

DECIDED_ONCE_BODY = """
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'money proposals are kept: DELETE of % refused', OLD.id USING ERRCODE = 'restrict_violation';
    END IF;
    {erasure}IF OLD.status <> 'proposed' THEN
        RAISE EXCEPTION 'money proposal % is % already', OLD.id, OLD.status USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.fund_id, NEW.id, NEW.kind, NEW.target_id, NEW.body, NEW.request_hash, NEW.amount_satang, NEW.reason,
        NEW.proposed_by, NEW.proposed_role, NEW.proposed_at)
       IS DISTINCT FROM
       (OLD.fund_id, OLD.id, OLD.kind, OLD.target_id, OLD.body, OLD.request_hash, OLD.amount_satang, OLD.reason,
        OLD.proposed_by, OLD.proposed_role, OLD.proposed_at) THEN
        RAISE EXCEPTION 'only the decision of money proposal % may change', OLD.id USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END
"""

PROPOSAL_ERASURE = """IF NEW.reason = '-' AND NEW.body = (OLD.body - 'reason' - 'memo')
       AND (to_jsonb(NEW) - 'reason' - 'body') = (to_jsonb(OLD) - 'reason' - 'body') THEN
        RETURN NEW;  -- free text erased, nothing else changed
    END IF;
    """


def _decided_once(erasure: str) -> str:
    return ("CREATE OR REPLACE FUNCTION ledger_proposal_decided_once() RETURNS trigger LANGUAGE plpgsql AS $$"
            + DECIDED_ONCE_BODY.format(erasure=erasure) + "$$")


def upgrade() -> None:
    op.execute(ENTRY_MEMO_ERASURE)
    op.execute("DROP TRIGGER journal_entries_append_only ON journal_entries")
    op.execute("CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries"
               " FOR EACH ROW EXECUTE FUNCTION ledger_entry_refuse_change()")
    op.execute(_decided_once(PROPOSAL_ERASURE))


def downgrade() -> None:
    op.execute(_decided_once(""))
    op.execute("DROP TRIGGER journal_entries_append_only ON journal_entries")
    op.execute("CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries"
               " FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()")
    op.execute("DROP FUNCTION ledger_entry_refuse_change")
