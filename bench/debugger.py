"""Benchmark: the Debugger's two lists (storage/failures.py) over a million messages and a million attempts.

    .venv/bin/python bench/debugger.py [--rows 1000000] [--postgres] [--repeat 15]

Fills a fresh database directly: `--rows` messages of one account (1% failed, 1% undelivered, one a second
over the past days) and as many webhook attempts (1% failed, 1% retrying), plus a second account's rows that
must never be read. Then times each query as the page runs it (the same storage function, 51 rows), one at a
time, and prints SQLite's plan for each. Results are appended to bench/results/debugger.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import insert  # noqa: E402
from sqlalchemy.dialects import sqlite  # noqa: E402

from mycpaas.domain.failures import FailureFilter  # noqa: E402
from mycpaas.storage import failures, migrate  # noqa: E402
from mycpaas.storage.database import Database  # noqa: E402
from mycpaas.storage.tables import messages, webhook_attempts  # noqa: E402
from tests.databases import create_postgres_database, drop_postgres_database  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "debugger.txt"
MINE, OTHER = "AC" + "1" * 32, "AC" + "2" * 32
CODES = (30003, 30005, 30007)


def message(account: str, i: int, start: datetime) -> dict[str, Any]:
    moment = start + timedelta(seconds=i)
    status = "failed" if i % 100 == 7 else "undelivered" if i % 100 == 8 else "delivered"
    return {
        "sid": f"SM{account[-1]}{i:031x}",
        "account_sid": account,
        "direction": "outbound-api",
        "from_number": "+15005550006",
        "to_number": f"+1555{i % 10_000_000:07d}",
        "body": "bulk row",
        "status": status,
        "num_segments": 1,
        "num_media": 0,
        "encoding": "GSM-7",
        "error_code": CODES[i % 3] if status != "delivered" else None,
        "created_at": moment,
        "updated_at": moment,
        "sent_at": moment,
    }


def attempt(account: str, i: int, start: datetime) -> dict[str, Any]:
    moment = start + timedelta(seconds=i)
    outcome = "failed" if i % 100 == 17 else "retrying" if i % 100 == 18 else "delivered"
    return {
        "sid": f"NO{account[-1]}{i:031x}",
        "account_sid": account,
        "message_sid": f"SM{account[-1]}{i:031x}",
        "kind": "webhook.status",
        "idempotency_token": secrets.token_hex(16),
        "message_status": "delivered",
        "request_method": "POST",
        "request_url": "https://app.example/status",
        "attempt": 1,
        "outcome": outcome,
        "response_status": 500 if outcome != "delivered" else 200,
        "duration_ms": 12,
        "error_code": 11200 if outcome != "delivered" else None,
        "created_at": moment,
    }


def fill_sqlite(path: Path, rows: int, start: datetime) -> None:
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA journal_mode=WAL")
    for table, make in ((messages, message), (webhook_attempts, attempt)):
        statement = insert(table).compile(dialect=sqlite.dialect(), column_keys=list(make(MINE, 0, start)))
        for account, count in ((MINE, rows), (OTHER, rows // 10)):
            for first in range(0, count, 50_000):
                batch = [make(account, i, start) for i in range(first, min(count, first + 50_000))]
                conn.executemany(
                    statement.string,
                    [
                        tuple(
                            v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v
                            for v in row.values()
                        )
                        for row in batch
                    ],
                )
                conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()


async def fill_postgres(url: str, rows: int, start: datetime) -> None:
    db = Database(url)
    try:
        await _fill_postgres(db, rows, start)
    finally:
        await db.dispose()


async def _fill_postgres(db: Database, rows: int, start: datetime) -> None:
    for table, make in ((messages, message), (webhook_attempts, attempt)):
        for account, count in ((MINE, rows), (OTHER, rows // 10)):
            for first in range(0, count, 20_000):
                async with db.write() as conn:
                    # The accounts are not made: the bench's rows skip the foreign key's trigger.
                    await conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
                    await conn.execute(
                        insert(table),
                        [make(account, i, start) for i in range(first, min(count, first + 20_000))],
                    )
    async with db.write() as conn:
        await conn.exec_driver_sql("ANALYZE")


async def timed(repeat: int, run: Callable[[], Awaitable[list[Any]]]) -> tuple[list[float], int]:
    times, found = [], 0
    for _ in range(repeat):
        began = time.perf_counter()
        found = len(await run())
        times.append((time.perf_counter() - began) * 1000)
    return times, found


async def measure(url: str, rows: int, start: datetime, repeat: int) -> list[str]:
    db = Database(url)
    oldest_day = FailureFilter(since=start, until=start + timedelta(days=1))
    cases: list[tuple[str, FailureFilter]] = [
        ("no filter, newest page", FailureFilter()),
        ("error code 30003 (a third)", FailureFilter(error_code=30003)),
        ("error code 99999 (no match)", FailureFilter(error_code=99999)),
        ("a number (To)", FailureFilter(number="+15550000007")),
        ("a number with no failures", FailureFilter(number="+15550000001")),
        ("the From of every message", FailureFilter(number="+15005550006")),
        ("date range: the oldest day", oldest_day),
        ("date range far in the past (none)", FailureFilter(until=start - timedelta(days=365))),
        ("oldest day + code 99999", FailureFilter(99999, None, oldest_day.since, oldest_day.until)),
    ]
    lines = []
    try:
        for kind, query in (("messages", failures.failed_messages), ("attempts", failures.failed_attempts)):
            for label, where in cases:
                async with db.read() as conn:
                    times, found = await timed(repeat, lambda: query(conn, MINE, where, 51))  # noqa: B023
                lines.append(
                    f"  {kind:8} {label:36} median {statistics.median(times):8.1f} ms  max {max(times):8.1f} ms"
                    f"  ({found} rows)"
                )
                print(lines[-1], flush=True)
    finally:
        await db.dispose()
    return lines


def plans(path: Path) -> list[str]:
    conn = sqlite3.connect(str(path))
    found = []
    for sql in (
        "SELECT id FROM messages WHERE account_sid = ? AND messages.status IN ('failed', 'undelivered') "
        "ORDER BY id DESC LIMIT 51",
        "SELECT webhook_attempts.id FROM webhook_attempts LEFT OUTER JOIN messages ON messages.sid = "
        "webhook_attempts.message_sid WHERE webhook_attempts.account_sid = ? AND webhook_attempts.outcome IN "
        "('failed', 'retrying') ORDER BY webhook_attempts.id DESC LIMIT 51",
    ):
        detail = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, [MINE])]
        found.append("  plan: " + "; ".join(detail))
    conn.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    start = datetime(2026, 11, 1) - timedelta(seconds=args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            url = create_postgres_database()
            migrate.upgrade(url)
            try:
                began = time.perf_counter()
                asyncio.run(fill_postgres(url, args.rows, start))
                print(f"filled in {time.perf_counter() - began:.0f} s", flush=True)
                lines = asyncio.run(measure(url, args.rows, start, args.repeat))
            finally:
                drop_postgres_database(url)
            backend = "postgresql"
        else:
            path = Path(tmp) / "bench.db"
            url = f"sqlite:///{path}"
            migrate.upgrade(url)
            began = time.perf_counter()
            fill_sqlite(path, args.rows, start)
            print(f"filled in {time.perf_counter() - began:.0f} s", flush=True)
            shown = plans(path)
            print("\n".join(shown), flush=True)
            lines = shown + asyncio.run(measure(url, args.rows, start, args.repeat))
            backend = "sqlite"
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
    header = f"{stamp} debugger {backend} rows={args.rows:,} (+{args.rows // 10:,} of another account) repeat={args.repeat}"
    with RESULTS.open("a") as results:
        results.write("\n".join([header, *lines]) + "\n")
    print(header)


if __name__ == "__main__":
    main()
