"""claim documents encrypted in a blob store (docs/documents.md)

Revision ID: 20261207_0007_doc_envelopes
Revises: 20261207_0006_kept_aggregates
Create Date: 2026-12-07 15:00:00

claim_documents.object_key: where the document's object is in the blob store; key_id and
wrapped_key: its data key, wrapped by that key-encryption key. All three nullable (expand only,
docs/migrations.md): documents from before stay in plaintext by checksum, and the previous
release, during a rolling upgrade, still writes rows without them, which this one reads.
"""

import sqlalchemy as sa
from alembic import op

revision = '20261207_0007_doc_envelopes'
down_revision = '20261207_0006_kept_aggregates'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('claim_documents', sa.Column('object_key', sa.String(300), nullable=True))
    op.add_column('claim_documents', sa.Column('key_id', sa.SmallInteger(), nullable=True))
    op.add_column('claim_documents', sa.Column('wrapped_key', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column('claim_documents', 'wrapped_key')
    op.drop_column('claim_documents', 'key_id')
    op.drop_column('claim_documents', 'object_key')
