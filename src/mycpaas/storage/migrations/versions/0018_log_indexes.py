"""message log indexes: one partial index for failed and undelivered messages; PostgreSQL's word index over one text

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 20:00:00.000000

0015 gave the Debugger ix_messages_account_failed (account, id and its filters' columns; status failed or
undelivered) and 0017 gave the log ix_messages_account_failed_id and ix_messages_account_undelivered_id
(account, id; one status each): the same rows twice, so a message that failed wrote two index entries for one
use. The log's status filter now names the Debugger index's condition as well (storage/message_log.status_is),
and walks that index (half of its entries are of the other status: 1M messages, 10,000 failed, 10,000
undelivered, a page of either in under a millisecond on both databases); the two one-status indexes go.
ix_messages_account_canceled_id stays: no other index holds canceled messages.

PostgreSQL: ix_messages_search indexed To, From and body as three columns of one GIN index, so a search for
two words was two lookups the planner would not intersect (it read every row holding the first word and
tested the second: 0.5 s for two common words at 1M rows). It now indexes one text, To, From and body joined
by newlines (storage/message_log.SEARCH_TEXT): all the words go into one index scan, which intersects them
(two words each in 250,000 of 1M messages and never together: 4 s before, the whole search 50-100 ms at
load 3-5, bench/results/log_filters.txt). A word holds no whitespace, so the joined text holds it exactly
when one column does; the log keeps the per-column test besides. One GIN index before and after; inserting
100,000 messages into a table with each took 1.5-1.8 s with the joined text's, 2.35-2.4 s with the three
columns'.
"""

import sqlalchemy as sa
from alembic import op

from mycpaas.storage import online_indexes

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_ONE_STATUS = ("failed", "undelivered")
# Written out here as in storage/message_log.SEARCH_TEXT (a migration does not follow later code); the query
# must say the index's expression exactly for PostgreSQL to use it.
_SEARCH_TEXT = "(coalesce(to_number, '') || chr(10) || coalesce(from_number, '') || chr(10) || body)"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # While the running processes keep writing messages; searches keep the old index until the new one is
        # built (storage/online_indexes.py).
        for status in _ONE_STATUS:
            online_indexes.drop(f"ix_messages_account_{status}_id")
        online_indexes.replace("ix_messages_search", "messages", f"USING gin ({_SEARCH_TEXT} gin_trgm_ops)")
        return
    for status in _ONE_STATUS:
        op.drop_index(f"ix_messages_account_{status}_id", table_name="messages")


def downgrade() -> None:
    for status in _ONE_STATUS:
        op.create_index(
            f"ix_messages_account_{status}_id",
            "messages",
            ["account_sid", "id"],
            sqlite_where=sa.text(f"status = '{status}'"),
            postgresql_where=sa.text(f"status = '{status}'"),
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_messages_search")
        op.execute(
            "CREATE INDEX ix_messages_search ON messages USING gin"
            " (to_number gin_trgm_ops, from_number gin_trgm_ops, body gin_trgm_ops)"
        )
