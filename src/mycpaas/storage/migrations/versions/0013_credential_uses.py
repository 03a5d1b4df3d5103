"""credential uses: when each Auth Token and API key last authenticated a request, and from where

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 16:30:00.000000

One row per credential, keyed by its keyed digest, upserted at most about once a minute per credential and
process (services/credential_uses.py), so the Credentials and API keys pages can tell whether a token is still
in use before it is promoted away.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credential_uses",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=False),
        sa.Column("used_from", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("digest", name="pk_credential_uses"),
    )


def downgrade() -> None:
    op.drop_table("credential_uses")
