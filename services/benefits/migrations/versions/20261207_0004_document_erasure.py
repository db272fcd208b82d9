"""claim documents erased with their member's personal data (docs/personal-data.md)

Revision ID: 20261207_0004_document_erasure
Revises: 20261207_0003_audit_events
Create Date: 2026-12-07 12:00:00

claim_documents.erased_at: the row stays (a claim paid keeps its record of what was shown), its file
name is gone; file_released_at: the document sweep has let go of its file (removed from disk when no
document that is not erased has the same checksum).
"""

import sqlalchemy as sa
from alembic import op

revision = '20261207_0004_document_erasure'
down_revision = '20261207_0003_audit_events'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('claim_documents', sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('claim_documents', sa.Column('file_released_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column('claim_documents', 'file_released_at')
    op.drop_column('claim_documents', 'erased_at')
