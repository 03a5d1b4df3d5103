"""retention: indexes by age for housekeeping (webhook attempts, unmatched receipts)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 04:50:00.000000
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Housekeeping deletes the oldest rows past their retention in batches: without these, each batch would
    # scan the whole table.
    op.create_index("ix_webhook_attempts_created_at", "webhook_attempts", ["created_at"])
    op.create_index("ix_pending_receipts_received_at", "pending_receipts", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_pending_receipts_received_at", table_name="pending_receipts")
    op.drop_index("ix_webhook_attempts_created_at", table_name="webhook_attempts")
