"""inbound parts keep their user data (decoded once whole); fingerprints of recent inbound deliveries

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 04:40:00.000000

Parts stored before keep their decoded `text` (their bytes are gone): a message completed from old and new
parts joins the old parts' text with the new parts' decoded payloads, in order.
"""

import sqlalchemy as sa
from alembic import op

from mycpaas.domain.alphabets import assemble

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_parts") as batch_op:
        batch_op.alter_column("text", existing_type=sa.Text(), nullable=True)
        batch_op.add_column(sa.Column("payload", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("data_coding", sa.Integer(), nullable=True))
    op.create_index("ix_inbound_parts_received_at", "inbound_parts", ["received_at"])
    op.create_table(
        "inbound_seen",
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_inbound_seen"),
    )
    op.create_index("ix_inbound_seen_received_at", "inbound_seen", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_inbound_seen_received_at", table_name="inbound_seen")
    op.drop_table("inbound_seen")
    op.drop_index("ix_inbound_parts_received_at", table_name="inbound_parts")
    # A part stored with its payload only gets its text decoded alone, as the older code would have.
    conn = op.get_bind()
    parts = sa.table(
        "inbound_parts",
        sa.column("id", sa.Integer()),
        sa.column("text", sa.Text()),
        sa.column("payload", sa.LargeBinary()),
        sa.column("data_coding", sa.Integer()),
    )
    rows = conn.execute(
        sa.select(parts.c.id, parts.c.payload, parts.c.data_coding).where(parts.c.text.is_(None))
    )
    for row in rows.all():
        text = assemble([(row.payload or b"", row.data_coding or 0)])
        conn.execute(sa.update(parts).where(parts.c.id == row.id).values(text=text))
    with op.batch_alter_table("inbound_parts") as batch_op:
        batch_op.drop_column("data_coding")
        batch_op.drop_column("payload")
        batch_op.alter_column("text", existing_type=sa.Text(), nullable=False)
