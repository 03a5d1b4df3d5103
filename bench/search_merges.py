"""How long SQLite's search indexer holds the write lock, each transaction of a batch of messages: with FTS5
merging its segments itself (automerge, as services/message_search.py runs it; --automerge: other values of
it), and with automerge off and explicit 'merge' steps of --pages pages after each batch, each a transaction
of its own (not in the product: see results/search_merges.txt).

    PYTHONPATH=src .venv/bin/python bench/search_merges.py [--rows 80000] [--batch 250] [--pages 50 ...]
        [--automerge N ...]

A migrated SQLite database gets --rows messages (tests/log_rows.py: every body different); then, for each
way, a copy of it is indexed from scratch by the indexer's own batch (message_log.index_batch), --batch
messages a transaction, and the time of every transaction is taken (BEGIN IMMEDIATE to COMMIT: what a create
waiting for the lock waits). Printed: the total, median, p90, p99 and longest transaction of the batches and
of the merge steps, and how long three searches take on the index it leaves. Appends to results/search_merges.txt.

Why: a create that arrives while the indexer holds the lock waits until it commits, so the longest of these
transactions is what the indexer adds to the create load's p99 (bench/create_ab.py measures that part).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import commit, load_average  # noqa: E402
from mycpaas.storage.message_log import index_batch  # noqa: E402
from tests.log_rows import fill_sqlite  # noqa: E402
from tests.platform_support import migrated_settings  # noqa: E402

_CONFIG = "INSERT INTO messages_search (messages_search, rank) VALUES (?, ?)"
_MERGE = "INSERT INTO messages_search (messages_search, rank) VALUES ('merge', ?)"
MERGE_PAGES = 50
MERGE_STEPS_PER_BATCH = 8


def timed(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], object]) -> tuple[float, int]:
    """One write transaction: its milliseconds and the rows it changed."""
    started, before = time.perf_counter(), conn.total_changes
    conn.execute("BEGIN IMMEDIATE")
    work(conn)
    conn.execute("COMMIT")
    return (time.perf_counter() - started) * 1000, conn.total_changes - before


def summary(times: list[float]) -> str:
    if not times:
        return "none"
    ordered, n = sorted(times), len(times)
    return (
        f"{n} transactions, total {sum(ordered):.0f} ms, median {ordered[n // 2]:.1f}, "
        f"p90 {ordered[int(n * 0.9)]:.1f}, p99 {ordered[int(n * 0.99)]:.1f}, longest {ordered[-1]:.1f} ms"
    )


def index_all(source: Path, rows: int, batch: int, config: dict[str, int], pages: int | None = None) -> str:
    """Index a copy of `source` from scratch with these FTS5 settings; with `pages`, a merge step of that many
    pages after each batch (up to MERGE_STEPS_PER_BATCH, until one finds nothing to do)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "copy.db"
        shutil.copy(source, path)
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        for name, value in config.items():
            conn.execute(_CONFIG, (name, value))
        batches: list[float] = []
        merges: list[float] = []
        now = datetime.now(UTC)
        indexed = 0
        while indexed < rows:  # the product's own batch (storage/message_log.index_batch), watermark included
            took, _ = timed(conn, lambda driver: index_batch(driver, batch, now))
            batches.append(took)
            indexed += batch
            for _ in range(MERGE_STEPS_PER_BATCH if pages else 0):
                took, changed = timed(conn, lambda driver: driver.execute(_MERGE, (pages,)))
                merges.append(took)
                if changed < 2:
                    break
            if len(batches) % 40 == 0:  # the server's checkpointer keeps the log short
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        started = time.perf_counter()
        for word in ("meeting", "payment", "5550123"):
            conn.execute("SELECT count(*) FROM messages_search WHERE messages_search MATCH ?", (f'"{word}"',))
        searches = (time.perf_counter() - started) * 1000
        conn.close()
    return f"batches: {summary(batches)}; merge steps: {summary(merges)}; three searches {searches:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=80_000)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--pages", type=int, nargs="*", default=[MERGE_PAGES], help="merge step sizes to try")
    parser.add_argument(
        "--automerge", type=int, nargs="*", default=[], help="other automerge values to try (no steps)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        settings = migrated_settings(Path(scratch))
        source = Path(settings.effective_database_url.removeprefix("sqlite:///"))
        start = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=args.rows + 60)
        fill_sqlite(str(source), "AC" + "0" * 32, args.rows, start)
        lines = [
            f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, bench/search_merges.py, commit {commit()}, "
            f"{args.rows} messages indexed {args.batch} a transaction, load {load_average()}"
        ]
        lines.append(f"automerge 4 (FTS5's default): {index_all(source, args.rows, args.batch, {})}")
        for value in args.automerge:
            # crisismerge (default 16) above it, or every merge of a level would be the emergency one
            config = {"automerge": value, "crisismerge": max(16, 4 * value)}
            lines.append(f"automerge {value}: {index_all(source, args.rows, args.batch, config)}")
        # FTS5 merges only when asked; its emergency merge of a crowded level stays, as a last resort.
        steps = {"automerge": 0, "crisismerge": 64}
        for pages in args.pages:
            lines.append(f"steps of {pages} pages: {index_all(source, args.rows, args.batch, steps, pages)}")
    text = "\n".join(lines)
    print(text)
    with (ROOT / "bench" / "results" / "search_merges.txt").open("a") as results:
        results.write(text + "\n")


if __name__ == "__main__":
    main()
