"""dashboard users: the platform administrator role; carrier binds: the window in use

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 16:20:00.000000

`dashboard_users.is_admin`: a platform administrator manages what belongs to no account (the carrier
connectors). The first user is one, so on an existing installation the oldest user becomes the administrator.
`carrier_binds.window_in_use`: how many submissions held a slot of the bind's window at its last renewal,
written by the renewal the holder makes anyway (never per message), for the dashboard's Carriers page.
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dashboard_users") as batch_op:
        batch_op.add_column(
            sa.Column("is_admin", sa.Boolean(), nullable=False, server_default=sa.text("false"))
        )
    with op.batch_alter_table("carrier_binds") as batch_op:
        batch_op.add_column(sa.Column("window_in_use", sa.Integer(), nullable=False, server_default="0"))
    users = sa.table("dashboard_users", sa.column("id", sa.Integer()), sa.column("is_admin", sa.Boolean()))
    oldest = sa.select(sa.func.min(users.c.id)).scalar_subquery()
    op.execute(users.update().where(users.c.id == oldest).values(is_admin=True))


def downgrade() -> None:
    with op.batch_alter_table("carrier_binds") as batch_op:
        batch_op.drop_column("window_in_use")
    with op.batch_alter_table("dashboard_users") as batch_op:
        batch_op.drop_column("is_admin")
