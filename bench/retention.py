"""Benchmark: what housekeeping costs (services/housekeeping.py), on SQLite and on PostgreSQL.

    .venv/bin/python bench/retention.py [--rows 200000] [--backends sqlite,postgres]

Fills a fresh database with `--rows` webhook attempts past the retention and as many within it (plus a tenth of
each as unmatched receipts), then times one sweep: rows removed per second, and the longest single batch (one
transaction: what another writer may wait behind). Then the cost of a sweep with nothing to remove, and of
asking for the turn. PostgreSQL is `$MYCPAAS_TEST_DATABASE_URL`'s server (a throwaway database on it).
Results are appended to bench/results/retention.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mycpaas.bootstrap import build_platform  # noqa: E402
from mycpaas.domain.clock import utcnow  # noqa: E402
from mycpaas.services import housekeeping  # noqa: E402
from mycpaas.services.platform import Platform  # noqa: E402
from mycpaas.storage import parts  # noqa: E402
from mycpaas.storage import webhooks as webhook_store  # noqa: E402
from tests.databases import create_postgres_database, drop_postgres_database  # noqa: E402
from tests.integration.test_retention import attempt  # noqa: E402
from tests.platform_support import migrated_settings  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "retention.txt"


async def fill(platform: Platform, rows: int) -> None:
    now = utcnow()
    chunk = 5000
    for start in range(0, rows, chunk):
        async with platform.db.write() as conn:
            batch = []
            for n in range(start, min(rows, start + chunk)):
                sid = f"SM{n // 3:032x}"  # three attempts per message
                batch.append(attempt(sid, now - timedelta(days=40, seconds=n)))
                batch.append(attempt(sid.replace("SM", "SN"), now - timedelta(days=1, seconds=n)))
            await webhook_store.insert_attempts(conn, batch)
            receipts = [("uk-a", (f"{n:x}",), "delivered") for n in range(start, start + len(batch) // 20)]
            await parts.keep_pending(conn, receipts, now - timedelta(days=10))
            await parts.keep_pending(conn, receipts, now - timedelta(days=1))


async def measure(platform: Platform, rows: int) -> list[str]:
    await fill(platform, rows)
    batches: list[float] = []

    def timed(task: housekeeping.Task) -> housekeeping.Task:
        async def prune(conn: object, before: datetime, limit: int) -> int:
            started = time.perf_counter()
            removed = await task.prune(conn, before, limit)  # type: ignore[arg-type]
            batches.append(time.perf_counter() - started)
            return removed

        return replace(task, prune=prune)

    tasks = [timed(task) for task in housekeeping.TASKS]
    started = time.perf_counter()
    removed = await housekeeping.sweep(platform, tasks, seconds=600)
    took = time.perf_counter() - started
    total = sum(removed.values())
    lines = [
        f"  sweep: removed {removed} in {took:.2f} s = {total / took:,.0f} rows/s; {len(batches)} batches of "
        f"{housekeeping.BATCH}, each (its transaction's statement) median {statistics.median(batches) * 1000:.1f} ms, "
        f"max {max(batches) * 1000:.1f} ms"
    ]
    batches.clear()
    started = time.perf_counter()
    again = await housekeeping.sweep(platform, tasks)
    lines.append(
        f"  sweep with nothing past retention ({rows:,} attempts and {rows // 10:,} receipts within it): "
        f"{(time.perf_counter() - started) * 1000:.1f} ms, removed {again}"
    )
    turns = []
    for n in range(50):
        started = time.perf_counter()
        await housekeeping.take_turn(platform, f"bench{n}")
        turns.append(time.perf_counter() - started)
    lines.append(f"  asking for the turn: median {statistics.median(turns) * 1000:.2f} ms over 50")
    return lines


def run(backend: str, rows: int) -> list[str]:
    tmp = Path(tempfile.mkdtemp(prefix="mycpaas-retention-"))
    url = "" if backend == "sqlite" else create_postgres_database()
    try:
        settings = migrated_settings(tmp, url)

        async def main() -> list[str]:
            platform = build_platform(settings)
            try:
                return await measure(platform, rows)
            finally:
                await platform.db.dispose()

        return [f"{backend}:", *asyncio.run(main())]
    finally:
        if url:
            drop_postgres_database(url)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    lines = [f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, bench/retention.py --rows {args.rows}"]
    for backend in args.backends.split(","):
        lines += run(backend, args.rows)
        print("\n".join(lines[-4:]), flush=True)
    with RESULTS.open("a") as out:
        out.write("\n".join(lines) + "\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
