"""a fencing token on jobs: `claim` grows at every claim and never goes down; job ids never reused

SQLite reuses the id of a deleted newest row unless the table is AUTOINCREMENT; a reused id would let a
stale runner's (id, claim) match a new job, so the jobs table is rebuilt with AUTOINCREMENT there. PostgreSQL's
identity sequence never hands an id out twice: there the column is only added (a rebuild would replace the
sequence with a new one starting at 1, below the ids of jobs still queued).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 23:40:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _claim() -> sa.Column[int]:
    return sa.Column("claim", sa.Integer(), server_default="0", nullable=False)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.add_column("jobs", _claim())
        return
    with op.batch_alter_table(
        "jobs", schema=None, recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ) as batch_op:
        batch_op.add_column(_claim())


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_column("jobs", "claim")
        return
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("claim")
