"""debugger: attempts record a redelivery; partial indexes on failed messages and failed attempts by account

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 16:30:00.000000

The dashboard's Debugger lists an account's failures newest first. Failures are a small subset of the rows, so
each index holds only them (partial, as ix_messages_awaiting_receipt): a delivered message or attempt pays
nothing for it, and the page reads only failures however many rows the tables hold. Each also holds the
columns the Debugger's filters test (error code, time, number or message), so a failure that does not match is
passed over in the index, without reading its row: with 20,000 failures among a million messages, a filter
that matches none read every row behind the index for 0.2-0.5 s on SQLite (bench/debugger.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

FAILED_MESSAGES = "status IN ('failed', 'undelivered')"
FAILED_ATTEMPTS = "outcome IN ('failed', 'retrying')"


def upgrade() -> None:
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("redelivery_of", sa.String(34), nullable=True))
        batch_op.create_index(
            "ix_webhook_attempts_account_failed",
            ["account_sid", "id", "error_code", "created_at", "message_sid"],
            unique=False,
            sqlite_where=sa.text(FAILED_ATTEMPTS),
            postgresql_where=sa.text(FAILED_ATTEMPTS),
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_account_failed",
            ["account_sid", "id", "error_code", "updated_at", "to_number", "from_number"],
            unique=False,
            sqlite_where=sa.text(FAILED_MESSAGES),
            postgresql_where=sa.text(FAILED_MESSAGES),
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_account_failed")
    with op.batch_alter_table("webhook_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_attempts_account_failed")
        batch_op.drop_column("redelivery_of")
