"""webhook attempts: drop the (account_sid, id) index, which no query uses

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 10:40:00.000000

Every read of the attempt log goes by message (the API's WebhookAttempts list, the dashboard's message page,
the page token's cursor), by sid, or by age (housekeeping); none by account. Each attempt inserted paid for
the index all the same: about a tenth of the INSERT's CPU at the driver on SQLite, where one writer serialises
the dispatcher's outcomes (28 -> 25 us a row in 64-row transactions over 100,000 rows; the two random-keyed
indexes, sid and message, cost the most, and the queries need them; bench/results/webhooks.txt, 2026-12-07).
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_webhook_attempts_account_id", table_name="webhook_attempts")


def downgrade() -> None:
    op.create_index("ix_webhook_attempts_account_id", "webhook_attempts", ["account_sid", "id"])
