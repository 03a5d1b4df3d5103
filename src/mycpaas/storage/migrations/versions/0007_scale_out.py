"""scale-out: the secret check, the change signal, SMPP bind leases, shared throttles and sender slots

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 02:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "platform_state",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_platform_state"),
    )
    op.create_table(
        "change_versions",
        sa.Column("topic", sa.String(32), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("topic", name="pk_change_versions"),
    )
    op.create_table(
        "carrier_binds",
        sa.Column("carrier", sa.String(64), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(128), nullable=True),
        sa.Column("claim", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("bound", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("carrier", "slot", name="pk_carrier_binds"),
    )
    op.create_table(
        "throttle_failures",
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", "bucket", name="pk_throttle_failures"),
    )
    op.create_index("ix_throttle_failures_bucket", "throttle_failures", ["bucket"])
    op.create_table(
        "sender_slots",
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("next_at", sa.DateTime(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("sender", name="pk_sender_slots"),
    )
    with op.batch_alter_table("carriers") as batch_op:
        batch_op.add_column(sa.Column("max_binds", sa.Integer(), server_default="1", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("carriers") as batch_op:
        batch_op.drop_column("max_binds")
    op.drop_table("sender_slots")
    op.drop_index("ix_throttle_failures_bucket", table_name="throttle_failures")
    op.drop_table("throttle_failures")
    op.drop_table("carrier_binds")
    op.drop_table("change_versions")
    op.drop_table("platform_state")
