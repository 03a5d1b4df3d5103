"""messaging services: services, their number pools, alpha senders and sticky-sender assignments

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 05:10:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "messaging_services",
        sa.Column("sid", sa.String(34), nullable=False),
        sa.Column("account_sid", sa.String(34), nullable=False),
        sa.Column("friendly_name", sa.String(64), nullable=False),
        sa.Column("inbound_request_url", sa.Text(), nullable=True),
        sa.Column("inbound_method", sa.String(8), nullable=False),
        sa.Column("fallback_url", sa.Text(), nullable=True),
        sa.Column("fallback_method", sa.String(8), nullable=False),
        sa.Column("status_callback", sa.Text(), nullable=True),
        sa.Column("sticky_sender", sa.Boolean(), nullable=False),
        sa.Column("mms_converter", sa.Boolean(), nullable=False),
        sa.Column("smart_encoding", sa.Boolean(), nullable=False),
        sa.Column("scan_message_content", sa.String(8), nullable=False),
        sa.Column("fallback_to_long_code", sa.Boolean(), nullable=False),
        sa.Column("area_code_geomatch", sa.Boolean(), nullable=False),
        sa.Column("validity_period", sa.Integer(), nullable=False),
        sa.Column("synchronous_validation", sa.Boolean(), nullable=False),
        sa.Column("usecase", sa.String(16), nullable=False),
        sa.Column("use_inbound_webhook_on_number", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_sid"], ["accounts.sid"], name="fk_messaging_services_account_sid_accounts"
        ),
        sa.PrimaryKeyConstraint("sid", name="pk_messaging_services"),
    )
    op.create_index("ix_messaging_services_account_sid", "messaging_services", ["account_sid", "sid"])
    op.create_table(
        "messaging_service_numbers",
        sa.Column("phone_number_sid", sa.String(34), nullable=False),
        sa.Column("service_sid", sa.String(34), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["phone_number_sid"],
            ["phone_numbers.sid"],
            name="fk_messaging_service_numbers_phone_number_sid_phone_numbers",
        ),
        sa.ForeignKeyConstraint(
            ["service_sid"],
            ["messaging_services.sid"],
            name="fk_messaging_service_numbers_service_sid_messaging_services",
        ),
        sa.PrimaryKeyConstraint("phone_number_sid", name="pk_messaging_service_numbers"),
    )
    op.create_index(
        "ix_messaging_service_numbers_service_number",
        "messaging_service_numbers",
        ["service_sid", "phone_number_sid"],
    )
    op.create_table(
        "messaging_service_alpha_senders",
        sa.Column("sid", sa.String(34), nullable=False),
        sa.Column("service_sid", sa.String(34), nullable=False),
        sa.Column("alpha_sender", sa.String(11), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_sid"],
            ["messaging_services.sid"],
            name="fk_ms_alpha_senders_service_sid",
        ),
        sa.PrimaryKeyConstraint("sid", name="pk_messaging_service_alpha_senders"),
        sa.UniqueConstraint("service_sid", name="uq_messaging_service_alpha_senders_service_sid"),
    )
    # Filled by the sender choice at delivery (sticky sender); created here so that the feature needs one migration.
    op.create_table(
        "messaging_service_sticky_senders",
        sa.Column("service_sid", sa.String(34), nullable=False),
        sa.Column("to_number", sa.String(32), nullable=False),
        sa.Column("phone_number_sid", sa.String(34), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_sid"],
            ["messaging_services.sid"],
            name="fk_ms_sticky_senders_service_sid",
        ),
        sa.ForeignKeyConstraint(
            ["phone_number_sid"],
            ["phone_numbers.sid"],
            name="fk_ms_sticky_senders_phone_number_sid",
        ),
        sa.PrimaryKeyConstraint("service_sid", "to_number", name="pk_messaging_service_sticky_senders"),
    )
    op.create_index(
        "ix_messaging_service_sticky_senders_phone_number_sid",
        "messaging_service_sticky_senders",
        ["phone_number_sid"],
    )


def downgrade() -> None:
    op.drop_table("messaging_service_sticky_senders")
    op.drop_table("messaging_service_alpha_senders")
    op.drop_table("messaging_service_numbers")
    op.drop_index("ix_messaging_services_account_sid", table_name="messaging_services")
    op.drop_table("messaging_services")
