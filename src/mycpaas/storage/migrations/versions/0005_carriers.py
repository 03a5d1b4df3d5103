"""carriers: SMSC connections, per-part carrier ids, receipts awaiting their message, inbound parts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 11:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.create_index(
            "ix_messages_queued_from",
            ["from_number"],
            sqlite_where=sa.text("status = 'queued'"),
            postgresql_where=sa.text("status = 'queued'"),
        )
    op.create_table(
        "carriers",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.String(length=15), nullable=False),
        sa.Column("password_sealed", sa.Text(), nullable=False),
        sa.Column("system_type", sa.String(length=12), nullable=False),
        sa.Column("bind_type", sa.String(length=12), nullable=False),
        sa.Column("window", sa.Integer(), nullable=False),
        sa.Column("max_mps", sa.Integer(), nullable=False),
        sa.Column("source_ton", sa.Integer(), nullable=False),
        sa.Column("source_npi", sa.Integer(), nullable=False),
        sa.Column("dest_ton", sa.Integer(), nullable=False),
        sa.Column("dest_npi", sa.Integer(), nullable=False),
        sa.Column("coding", sa.String(length=8), nullable=False),
        sa.Column("concatenation", sa.String(length=4), nullable=False),
        sa.Column("prefixes", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_carriers"),
        sa.UniqueConstraint("name", name="uq_carriers_name"),
    )
    op.create_table(
        "message_parts",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("message_sid", sa.String(length=34), nullable=False),
        sa.Column("carrier", sa.String(length=64), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("carrier_message_id", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_message_parts"),
    )
    op.create_index("ix_message_parts_message_sid", "message_parts", ["message_sid"])
    op.create_index("ix_message_parts_carrier_id", "message_parts", ["carrier", "carrier_message_id"])
    op.create_table(
        "pending_receipts",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("carrier", sa.String(length=64), nullable=False),
        sa.Column("carrier_message_id", sa.String(length=64), nullable=False),
        sa.Column("alternate_id", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pending_receipts"),
    )
    op.create_index("ix_pending_receipts_carrier_id", "pending_receipts", ["carrier", "carrier_message_id"])
    op.create_table(
        "inbound_parts",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("carrier", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("destination", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("seqnum", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_inbound_parts"),
    )
    op.create_index(
        "ix_inbound_parts_carrier_source_destination_reference",
        "inbound_parts",
        ["carrier", "source", "destination", "reference"],
    )


def downgrade() -> None:
    op.drop_table("inbound_parts")
    op.drop_table("pending_receipts")
    op.drop_table("message_parts")
    op.drop_table("carriers")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_index("ix_messages_queued_from")
