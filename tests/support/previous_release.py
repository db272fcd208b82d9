"""The calls the previous release makes on the schema, frozen as that release makes them, so the
rolling-upgrade tests (tests/shared/test_rolling_upgrade.py) run them against this release's
schema: during a rolling upgrade the migrate Job has already brought the databases to the new head
while pods of the previous release still serve (docs/migrations.md, expand then contract).

When a release changes one of these calls, the next release updates this file to the new shape
(the old shape has by then been served its last request). What matters most is the ledger's
posting function: every deposit goes through it.
"""

#: services/ledger/deposits/poster.py ``POST``: the deposits' posting function, its 11 arguments
#: by name, and the columns of its rows the poster reads.
LEDGER_POST_DEPOSITS = (
    "SELECT * FROM ledger_post_deposits(:fund, :today, :fresh_after, :ids, :members, :collectors, :amounts,"
    " :collected, :dates, :hashes, :by)"
)
LEDGER_POST_DEPOSITS_COLUMNS = ("id", "outcome", "receipt_no", "entry_id", "posted_at", "late_window_days")

#: services/ledger/posting.py: one balanced entry.
LEDGER_POST_ENTRY = (
    "SELECT ledger_post_entry(:fund, :entry, :kind, :date, :memo, :by, :reverses, :accounts, :amounts, :line)"
)

#: services/benefits/documents.py before the blob store: a document's row, with no object key or
#: wrapped key (its file in plaintext under ab/abcdef... by checksum).
BENEFITS_INSERT_DOCUMENT = (
    "INSERT INTO claim_documents (fund_id, claim_id, id, kind, is_medical, filename, content_type, size_bytes,"
    " sha256, uploaded_by) VALUES (:fund, :claim, :id, :kind, false, :filename, :type, :size, :sha, :by)"
)
