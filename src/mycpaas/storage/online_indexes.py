"""Index changes in migrations that let PostgreSQL keep taking writes while they run.

docs/deployment.md's upgrade runs `mycpaas migrate` while the old processes keep serving. A plain CREATE INDEX
holds a SHARE lock on its table for the whole build, so on `messages` every create, status change and receipt
would wait for it (a GIN trigram index over a few million messages takes minutes). CREATE and DROP INDEX
CONCURRENTLY take no lock that blocks writes, but cannot run inside a transaction: Alembic's autocommit_block
commits the migration's transaction first and runs them on their own. A step that fails there leaves what
came before committed and the schema's revision where it was, so each step can be run again by the next
`mycpaas migrate`: an index an interrupted build left invalid is dropped and built again, a valid one is kept.

SQLite has no such lock to avoid (its writes are serialised anyway): migrations call these on PostgreSQL only.
Stable on purpose: migrations of past revisions call them, and must keep doing what they did.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text


def create(name: str, table: str, definition: str) -> None:
    """CREATE INDEX CONCURRENTLY `name` ON `table` `definition` (e.g. "USING gin (...)" or "(a, b) WHERE ...")."""
    with op.get_context().autocommit_block():
        valid = (
            op.get_bind()
            .execute(
                text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"), {"name": name}
            )
            .scalar()
        )
        if valid:
            return
        if valid is not None:  # left invalid by a build that was interrupted
            op.execute(f"DROP INDEX CONCURRENTLY {name}")
        op.execute(f"CREATE INDEX CONCURRENTLY {name} ON {table} {definition}")


def drop(name: str) -> None:
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def replace(name: str, table: str, definition: str) -> None:
    """The index `name` rebuilt with a new definition: the new one is built beside the old under a temporary
    name, so searches keep an index until the old one is dropped and the new one takes its name."""
    building = f"{name}_new"
    create(building, table, definition)
    drop(name)
    op.execute(f"ALTER INDEX {building} RENAME TO {name}")
