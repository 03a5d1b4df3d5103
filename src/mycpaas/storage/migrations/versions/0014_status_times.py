"""messages: the time of each status a message passes (accepted_at … canceled_at)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 16:20:00.000000

The dashboard's timeline showed `sending` only while it lasted: a message kept the time of its creation, of
`sent` and of its latest change, nothing else. Each status a message reaches after its first now records its
moment in a nullable column of its own, set by the UPDATE that already moves the status (no row or statement
added per transition; domain/status_times.py). Rows written before stay NULL: the timeline falls back to
`updated_at` for their current status. Nullable columns without a default: adding them rewrites no row on
either database.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

COLUMNS = (
    "accepted_at",
    "queued_at",
    "sending_at",
    "delivered_at",
    "undelivered_at",
    "failed_at",
    "canceled_at",
)


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("messages", sa.Column(name, sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
