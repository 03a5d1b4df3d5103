"""overview counts: message_counts and webhook_counts, filled from existing rows, and the triggers that move a
message's count when its status changes

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 16:40:00.000000

The dashboard's overview charts read these small tables instead of scanning messages (docs/dashboard.md,
Overview). New messages and webhook attempts are counted by the code that inserts them, one upsert per batch
(storage/message_counts.py, storage/webhooks.insert_attempts). A status change is counted by the database:
every path that changes a message (SQLAlchemy, the raw sqlite3 and asyncpg statements, a future one) is covered
by construction, and the old status is known there (an UPDATE's RETURNING gives only the new one). On SQLite a
row trigger (SQLite has no other kind) that runs only when status, error code or segments changed; on
PostgreSQL one statement-level trigger over the statement's transition tables: one grouped upsert per UPDATE.
An hour is stored as SQLAlchemy stores a DateTime: on SQLite the text 'YYYY-MM-DD HH:00:00.000000'.
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_SQLITE_HOUR = "substr({0}.created_at, 1, 13) || ':00:00.000000'"
_PG_HOUR = "date_trunc('hour', {0}.created_at)"

_SQLITE_UPSERT = (
    "INSERT INTO message_counts (account_sid, hour, status, error_code, messages, segments) "
    "VALUES ({row}.account_sid, {hour}, {row}.status, coalesce({row}.error_code, 0), {sign}1, {sign}{row}.num_segments) "
    "ON CONFLICT (account_sid, hour, status, error_code) DO UPDATE SET "
    "messages = messages + excluded.messages, segments = segments + excluded.segments;"
)


def _sqlite_upsert(row: str, sign: str) -> str:
    return _SQLITE_UPSERT.format(row=row, hour=_SQLITE_HOUR.format(row), sign=sign)


_SQLITE_TRIGGERS = (
    "CREATE TRIGGER message_counts_update AFTER UPDATE OF status, error_code, num_segments ON messages "
    "WHEN OLD.status IS NOT NEW.status OR OLD.error_code IS NOT NEW.error_code "
    "OR OLD.num_segments IS NOT NEW.num_segments "
    f"BEGIN {_sqlite_upsert('OLD', '-')} {_sqlite_upsert('NEW', '')} END",
    f"CREATE TRIGGER message_counts_delete AFTER DELETE ON messages BEGIN {_sqlite_upsert('OLD', '-')} END",
)

_PG_UPSERT_TAIL = (
    "ON CONFLICT (account_sid, hour, status, error_code) DO UPDATE SET "
    "messages = message_counts.messages + excluded.messages, "
    "segments = message_counts.segments + excluded.segments"
)
_PG_KEY = "account_sid, {hour}, status, coalesce(error_code, 0)"

_PG_FUNCTIONS = (
    f"""
CREATE FUNCTION message_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO message_counts (account_sid, hour, status, error_code, messages, segments)
  SELECT k.account_sid, k.hour, k.status, k.error_code, sum(k.n), sum(k.s)
    FROM old_rows o JOIN new_rows c ON c.id = o.id
    CROSS JOIN LATERAL (VALUES
      (o.account_sid, {_PG_HOUR.format("o")}, o.status, coalesce(o.error_code, 0), -1, -o.num_segments),
      (c.account_sid, {_PG_HOUR.format("c")}, c.status, coalesce(c.error_code, 0), 1, c.num_segments)
    ) AS k (account_sid, hour, status, error_code, n, s)
   WHERE o.status IS DISTINCT FROM c.status OR o.error_code IS DISTINCT FROM c.error_code
      OR o.num_segments IS DISTINCT FROM c.num_segments
   GROUP BY k.account_sid, k.hour, k.status, k.error_code
  {_PG_UPSERT_TAIL};
  RETURN NULL;
END $$""",
    f"""
CREATE FUNCTION message_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO message_counts (account_sid, hour, status, error_code, messages, segments)
  SELECT account_sid, {_PG_HOUR.format("o")}, status, coalesce(error_code, 0), -count(*), -sum(num_segments)
    FROM old_rows o GROUP BY 1, 2, 3, 4
  {_PG_UPSERT_TAIL};
  RETURN NULL;
END $$""",
)
_PG_TRIGGERS = (
    "CREATE TRIGGER message_counts_update AFTER UPDATE ON messages "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION message_counts_update()",
    "CREATE TRIGGER message_counts_delete AFTER DELETE ON messages "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION message_counts_delete()",
)


def upgrade() -> None:
    op.create_table(
        "message_counts",
        sa.Column("account_sid", sa.String(34), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("segments", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_sid", "hour", "status", "error_code", name="pk_message_counts"),
    )
    op.create_table(
        "webhook_counts",
        sa.Column("account_sid", sa.String(34), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_sid", "hour", "outcome", name="pk_webhook_counts"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    hour = _PG_HOUR if postgres else _SQLITE_HOUR
    op.execute(
        "INSERT INTO message_counts (account_sid, hour, status, error_code, messages, segments) "
        f"SELECT {_PG_KEY.format(hour=hour.format('messages'))}, count(*), sum(num_segments) FROM messages "
        "GROUP BY 1, 2, 3, 4"
    )
    op.execute(
        "INSERT INTO webhook_counts (account_sid, hour, outcome, attempts) "
        f"SELECT account_sid, {hour.format('webhook_attempts')}, outcome, count(*) FROM webhook_attempts "
        "GROUP BY 1, 2, 3"
    )
    for statement in (*_PG_FUNCTIONS, *_PG_TRIGGERS) if postgres else _SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.execute(
        "DROP TRIGGER message_counts_update ON messages" if postgres else "DROP TRIGGER message_counts_update"
    )
    op.execute(
        "DROP TRIGGER message_counts_delete ON messages" if postgres else "DROP TRIGGER message_counts_delete"
    )
    if postgres:
        op.execute("DROP FUNCTION message_counts_update()")
        op.execute("DROP FUNCTION message_counts_delete()")
    op.drop_table("webhook_counts")
    op.drop_table("message_counts")
