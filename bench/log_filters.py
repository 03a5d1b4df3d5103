"""Benchmark: every filter of the dashboard's message log, and its CSV export, with a million messages.

    .venv/bin/python bench/log_filters.py [--rows 1000000] [--postgres] [--repeat 7]

Starts `mycpaas serve` (delivery worker off), writes the messages straight into the database
(tests/log_rows.py: one a second up to now, 10% inbound, 1% failed, 1% undelivered, every body different),
waits on SQLite until the batch indexer (services/message_search.py) has indexed them all (and reports how
fast), then times GET /messages with each filter, one request at a time (what one person clicking through the
log waits), and one export of the whole log as CSV: rows/s and the server's peak RSS against its RSS before.
Results are printed and appended to bench/results/log_filters.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.dashboard_support import create_user, signed_in  # noqa: E402
from tests.databases import create_postgres_database  # noqa: E402
from tests.log_rows import RARE_WORD, fill_postgres, fill_sqlite, their_number  # noqa: E402
from tests.server import ServerProcess  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_indexed(path: str, rows: int) -> float:
    began = time.perf_counter()
    conn = sqlite3.connect(path)
    try:
        while True:
            found = conn.execute("select value from platform_state where name = 'message_search'").fetchone()
            if found and int(found[0]) >= rows:
                return time.perf_counter() - began
            time.sleep(0.5)
    finally:
        conn.close()


def timed(client: httpx.Client, path: str, repeat: int) -> tuple[float, float, int]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    shown = response.text.count('<a href="/messages/SM')
    return statistics.median(times), max(times), shown


def export(client: httpx.Client, pid: int) -> tuple[int, float, float, float]:
    before = peak = rss_mb(pid)
    lines = 0
    began = time.perf_counter()
    with client.stream("GET", "/messages.csv", timeout=3600) as response:
        for chunk in response.iter_bytes():
            lines += chunk.count(b"\r\n")
            peak = max(peak, rss_mb(pid))
    return lines - 1, time.perf_counter() - began, before, peak


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mycpaas-bench-filters-"))
    url = create_postgres_database() if args.postgres else f"sqlite:///{tmp / 'bench.db'}"
    server = ServerProcess(data_dir=tmp, database_url=url, env={"MYCPAAS_DELIVERY_WORKER": "false"}).start()
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=args.rows)
    began = time.perf_counter()
    server.stop()
    if args.postgres:
        asyncio.run(fill_postgres(url, server.account_sid, args.rows, start))
    else:
        fill_sqlite(str(tmp / "bench.db"), server.account_sid, args.rows, start)
    backend = "postgresql" if args.postgres else "sqlite"
    lines = [
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} log_filters {backend} rows={args.rows:,} repeat={args.repeat}",
        f"  filled {args.rows:,} rows in {time.perf_counter() - began:.0f} s",
    ]
    print(lines[-1], flush=True)
    server.start()
    if not args.postgres:
        took = wait_indexed(str(tmp / "bench.db"), args.rows)
        lines.append(
            f"  indexed by the server's batch indexer in {took:.0f} s ({args.rows / took:,.0f} rows/s)"
        )
        print(lines[-1], flush=True)
    create_user(server, "bench@example.com")
    client = signed_in(server, "bench@example.com")
    sample = client.get("/messages?date_to=" + (start + timedelta(seconds=args.rows // 2)).date().isoformat())
    middle_sid = sample.text.split('<a href="/messages/', 1)[1][:34]
    first_day = start.date().isoformat()
    near_end = their_number(args.rows - 5)
    cases = [
        ("no filter, newest page", "/messages"),
        ("match nothing: a number", "/messages?q=%2B19998887777"),
        ("match nothing: a word", "/messages?q=xylophone"),
        ("match nothing: status=canceled", "/messages?status=canceled"),
        ("match nothing: 1970", "/messages?date_from=1970-01-01&date_to=1970-01-31"),
        ("far past: the oldest day", f"/messages?date_from={first_day}&date_to={first_day}"),
        (
            "far past: oldest day + failed",
            f"/messages?date_from={first_day}&date_to={first_day}&status=failed",
        ),
        ("far past: oldest day + a word", f"/messages?date_from={first_day}&date_to={first_day}&q=invoice"),
        ("partial number (7 digits)", f"/messages?q={near_end[-7:]}"),
        ("partial number (4 digits)", f"/messages?q={near_end[-4:]}"),
        ("body word, common", "/messages?q=invoice"),
        (f"body word, rare ({RARE_WORD})", f"/messages?q={RARE_WORD}"),
        ("two body words", "/messages?q=meeting+reminder"),
        ("SID", f"/messages?q={middle_sid}"),
        ("to a number (exact)", f"/messages?to=%2B{near_end[1:]}"),
        ("a page in the middle (before=)", f"/messages?before={middle_sid}"),
        ("two common words together", "/messages?q=meeting+appointment"),
        ("status=failed", "/messages?status=failed"),
        ("status=queued (none)", "/messages?status=queued"),
        ("status=sending (none)", "/messages?status=sending"),
        ("status=scheduled (none)", "/messages?status=scheduled"),
        ("status=accepted (none)", "/messages?status=accepted"),
        ("direction=outbound-reply (none)", "/messages?direction=outbound-reply"),
        ("delivered + outbound-reply (none)", "/messages?status=delivered&direction=outbound-reply"),
        ("delivered + to nobody", "/messages?status=delivered&to=%2B19998887777"),
        ("direction=inbound", "/messages?direction=inbound"),
        ("Debugger, first page", "/debugger"),
    ]
    for name, path in cases:
        median, worst, shown = timed(client, path, args.repeat)
        lines.append(f"  {name:<34} median {median:7.1f} ms  max {worst:7.1f} ms  ({shown} rows shown)")
        print(lines[-1], flush=True)
    assert server.pid is not None
    count, seconds, before, peak = export(client, server.pid)
    lines.append(
        f"  CSV export of the whole log: {count:,} rows in {seconds:.1f} s ({count / seconds:,.0f} rows/s),"
        f" server RSS {before:.0f} MB before, peak {peak:.0f} MB"
    )
    print(lines[-1], flush=True)
    lines.append(f"  load average {Path('/proc/loadavg').read_text().split()[0]}")
    server.stop()
    with (ROOT / "bench" / "results" / "log_filters.txt").open("a") as out:
        out.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
