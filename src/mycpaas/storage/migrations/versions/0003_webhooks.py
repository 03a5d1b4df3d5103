"""webhooks: job payloads, per-kind claiming, per-message ordering and the attempt log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 00:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("origin", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_jobs_kind_run_at", ["kind", "run_at"], unique=False)
        batch_op.create_index("ix_jobs_ref_id", ["ref", "id"], unique=False)
    op.create_table(
        "webhook_attempts",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("sid", sa.String(length=34), nullable=False),
        sa.Column("account_sid", sa.String(length=34), nullable=False),
        sa.Column("message_sid", sa.String(length=34), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("idempotency_token", sa.String(length=64), nullable=False),
        sa.Column("message_status", sa.String(length=20), nullable=False),
        sa.Column("request_method", sa.String(length=8), nullable=False),
        sa.Column("request_url", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
        sa.UniqueConstraint("sid", name=op.f("uq_webhook_attempts_sid")),
    )
    op.create_index("ix_webhook_attempts_message_id", "webhook_attempts", ["message_sid", "id"], unique=False)
    op.create_index("ix_webhook_attempts_account_id", "webhook_attempts", ["account_sid", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_webhook_attempts_account_id", table_name="webhook_attempts")
    op.drop_index("ix_webhook_attempts_message_id", table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_ref_id")
        batch_op.drop_index("ix_jobs_kind_run_at")
        batch_op.drop_column("origin")
        batch_op.drop_column("payload")
