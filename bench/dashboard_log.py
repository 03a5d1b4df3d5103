"""Benchmark: the dashboard's message log with a million messages, for each kind of filter.

    .venv/bin/python bench/dashboard_log.py [--rows 1000000] [--postgres] [--repeat 15]

Starts `mycpaas serve` (delivery worker off), fills the messages table directly (1% failed, 1% undelivered,
10% inbound, one row a second over the past days), signs a dashboard user in and times GET /messages with
each filter, one request at a time: the figure is what one person clicking through the log waits.
Results are printed and appended to bench/results/dashboard_log.txt.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.dashboard_support import create_user, signed_in  # noqa: E402
from tests.databases import create_postgres_database  # noqa: E402
from tests.server import ServerProcess  # noqa: E402

COLUMNS = (
    "sid, account_sid, direction, from_number, to_number, body, status, num_segments, num_media, encoding,"
    " price_unit, created_at, updated_at, sent_at"
)


def row(account_sid: str, i: int, start: datetime) -> tuple[object, ...]:
    moment = start + timedelta(seconds=i)
    status = "failed" if i % 100 == 7 else "undelivered" if i % 100 == 8 else "delivered"
    inbound = i % 10 == 3
    return (
        "SM" + secrets.token_hex(16),
        account_sid,
        "inbound" if inbound else "outbound-api",
        f"+1555{i % 10_000_000:07d}" if inbound else "+15005550006",
        "+15005550006" if inbound else f"+1555{i % 10_000_000:07d}",
        "bulk row",
        "received" if inbound else status,
        1,
        0,
        "GSM-7",
        "USD",
        moment,
        moment,
        moment,
    )


def fill_sqlite(db: Path, account_sid: str, rows: int, start: datetime) -> None:
    conn = sqlite3.connect(db)
    for first in range(0, rows, 50_000):
        batch = [row(account_sid, i, start) for i in range(first, min(rows, first + 50_000))]
        conn.executemany(f"insert into messages ({COLUMNS}) values ({','.join('?' * 14)})", batch)
        conn.commit()
    conn.execute("analyze")
    conn.commit()
    conn.close()


async def fill_postgres(url: str, account_sid: str, rows: int, start: datetime) -> None:
    conn = await asyncpg.connect(url)
    try:
        for first in range(0, rows, 50_000):
            batch = [row(account_sid, i, start) for i in range(first, min(rows, first + 50_000))]
            await conn.copy_records_to_table(
                "messages", records=batch, columns=[c.strip() for c in COLUMNS.split(",")]
            )
        await conn.execute("analyze messages")
    finally:
        await conn.close()


def timed(client: httpx.Client, path: str, repeat: int) -> tuple[float, float, int]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    shown = response.text.count('<a href="/messages/SM')
    return statistics.median(times), max(times), shown


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mycpaas-bench-log-"))
    url = create_postgres_database() if args.postgres else f"sqlite:///{tmp / 'bench.db'}"
    server = ServerProcess(data_dir=tmp, database_url=url, env={"MYCPAAS_DELIVERY_WORKER": "false"}).start()
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=args.rows)
    began = time.perf_counter()
    server.stop()
    if args.postgres:
        asyncio.run(fill_postgres(url, server.account_sid, args.rows, start))
    else:
        fill_sqlite(tmp / "bench.db", server.account_sid, args.rows, start)
    print(f"filled {args.rows:,} rows in {time.perf_counter() - began:.0f} s")
    server.start()
    create_user(server, "bench@example.com")
    client = signed_in(server, "bench@example.com")
    first_day = start.date().isoformat()
    middle = client.get(f"/messages?date_to={(start + timedelta(seconds=args.rows // 2)).date().isoformat()}")
    middle_sid = middle.text.split('<a href="/messages/', 1)[1][:34]
    cases = [
        ("no filter, newest page", "/messages"),
        ("to a number (indexed)", f"/messages?to=%2B1555{(args.rows - 5) % 10_000_000:07d}"),
        ("status=failed (1%)", "/messages?status=failed"),
        ("status=canceled (no match)", "/messages?status=canceled"),
        ("direction=inbound (10%)", "/messages?direction=inbound"),
        ("date range: the oldest day", f"/messages?date_from={first_day}&date_to={first_day}"),
        ("oldest day + status=failed", f"/messages?date_from={first_day}&date_to={first_day}&status=failed"),
        ("a page in the middle (before=)", f"/messages?before={middle_sid}"),
    ]
    backend = "postgresql" if args.postgres else "sqlite"
    lines = [
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} dashboard_log {backend} rows={args.rows:,} repeat={args.repeat}"
    ]
    for name, path in cases:
        median, worst, shown = timed(client, path, args.repeat)
        lines.append(f"  {name:<34} median {median:7.1f} ms  max {worst:7.1f} ms  ({shown} rows shown)")
        print(lines[-1], flush=True)
    server.stop()
    with (ROOT / "bench" / "results" / "dashboard_log.txt").open("a") as out:
        out.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
