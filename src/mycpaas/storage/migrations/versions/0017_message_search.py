"""message log search: a trigram index over messages' To, From and body; rare statuses' partial indexes

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 16:30:00.000000

SQLite: `messages_search`, a contentless FTS5 table (trigram tokenizer; it stores the index, not a copy of
the text), filled off the hot path in batches by services/message_search.py up to the id kept in
platform_state's `message_search` row (none: nothing indexed yet): a trigger per created message made each create's small transaction
write and merge an index segment (bench/results/create_ab.txt, 2026-12-07). Triggers keep what is indexed
true: a deleted message leaves the index, an update of To, From or body (redaction, a service's sender)
replaces its entry; status changes do not fire them, nor do rows not yet indexed. Existing messages are
indexed by the running server, a batch at a time.

PostgreSQL: pg_trgm (a trusted extension since PostgreSQL 13, in Debian's postgresql package) and one GIN
index over the three columns with its trigram operator class, for ILIKE '%word%'.

Three partial indexes on (account_sid, id), one for each status few messages reach (failed, undelivered,
canceled), so the log filtered by one of them does not walk every message when it matches little or nothing;
a row enters one only when it fails or is canceled.

The search objects cannot be described by tables.py's metadata; storage/message_log.py names them for the schema comparison.
"""

import sqlalchemy as sa
from alembic import op

from mycpaas.storage import online_indexes

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_COLUMNS = "to_number, from_number, body"
_INDEXED = "old.id <= (SELECT CAST(value AS INTEGER) FROM platform_state WHERE name = 'message_search')"
_FORGET = (
    f" INSERT INTO messages_search(messages_search, rowid, {_COLUMNS})"
    " VALUES ('delete', old.id, old.to_number, old.from_number, old.body);"
)
_SQLITE = [
    f"CREATE VIRTUAL TABLE messages_search USING fts5({_COLUMNS}, content='', tokenize='trigram')",
    # SQLite gives a new row max(id) + 1 (messages has no AUTOINCREMENT): once the newest messages are
    # deleted, the mark comes down to the newest left, so that an id given again is indexed again.
    f"CREATE TRIGGER messages_search_delete AFTER DELETE ON messages WHEN {_INDEXED} BEGIN{_FORGET}"
    " UPDATE platform_state SET value = CAST((SELECT coalesce(max(id), 0) FROM messages) AS TEXT)"
    " WHERE name = 'message_search' AND CAST(value AS INTEGER) > (SELECT coalesce(max(id), 0) FROM messages);"
    " END",
    f"CREATE TRIGGER messages_search_update AFTER UPDATE OF {_COLUMNS} ON messages WHEN {_INDEXED} BEGIN"
    f"{_FORGET}"
    f" INSERT INTO messages_search(rowid, {_COLUMNS}) VALUES (new.id, new.to_number, new.from_number, new.body);"
    " END",
]
_POSTGRES_SEARCH = "USING gin (to_number gin_trgm_ops, from_number gin_trgm_ops, body gin_trgm_ops)"


_RARE_STATUSES = ("failed", "undelivered", "canceled")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Built while the running processes keep writing messages (storage/online_indexes.py).
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for status in _RARE_STATUSES:
            online_indexes.create(
                f"ix_messages_account_{status}_id", "messages", f"(account_sid, id) WHERE status = '{status}'"
            )
        online_indexes.create("ix_messages_search", "messages", _POSTGRES_SEARCH)
        return
    for status in _RARE_STATUSES:
        op.create_index(
            f"ix_messages_account_{status}_id",
            "messages",
            ["account_sid", "id"],
            sqlite_where=sa.text(f"status = '{status}'"),
        )
    for statement in _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    for status in _RARE_STATUSES:
        op.drop_index(f"ix_messages_account_{status}_id", table_name="messages")
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("delete", "update"):
            op.execute(f"DROP TRIGGER messages_search_{trigger}")
        op.execute("DROP TABLE messages_search")
        op.execute("DELETE FROM platform_state WHERE name = 'message_search'")
    else:
        # pg_trgm stays: other objects may use it, and it holds no data.
        op.execute("DROP INDEX ix_messages_search")
