"""Benchmark: authenticated POST .../Messages.json against the raw ASGI baseline, and list paging at scale.

    .venv/bin/python bench/http_create.py [--duration 10] [--rounds 2] [--rows 1000000] [--postgres]
        [--group-commit on|off|both] [--worker on|off|both] [--no-lists]

Both run under granian in one process (mycpaas as `mycpaas serve` runs it) and are loaded by wrk (-t1 -c50) in the same run. The list
benchmark measures GET Messages.json?PageSize=50 with 1,000 rows in the table, then with --rows rows.
`--group-commit both` measures message creation with group commit (MYCPAAS_GROUP_COMMIT, concurrent
creations share one commit) and without it (one commit each), side by side in one run. `--worker off` skips the
phase with the delivery worker on. Each round also gives the CPU time per request of the server process and of
the baseline's (from /proc: what a request costs, less noisy than req/s on a shared machine). Results are printed
and appended to bench/results/http_create.txt; with group commit on, the ratios over all rounds (sum of mycpaas's
req/s over sum of the baseline's) and the worst round's p99 go to bench/report.py's record() as issue 15's
targets (create_sqlite_api, create_sqlite_api_p99_ms, create_sqlite_worker, create_postgres_api; the others
as information, with the baseline's CPU per request over ours as `..._cpu`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import record  # noqa: E402
from bench.workload import Sender, make_senders, request_file  # noqa: E402
from tests.databases import create_postgres_database, drop_postgres_database  # noqa: E402
from tests.server import ServerProcess, free_port  # noqa: E402


def wrk(
    script: str,
    url: str,
    path: str,
    auth: str,
    duration: int,
    connections: int = 50,
    body: str = "",
    delay_ms: float = 0,
    requests: Path | None = None,
) -> dict[str, float]:
    """wrk's summary; `delay_ms` (post.lua) paces each connection to a steady rate; `requests` is
    post_mixed.lua's file of creates."""
    env = {**os.environ, "BENCH_PATH": path, "BENCH_AUTH": auth, "BENCH_BODY": body}
    env["BENCH_REQUESTS"] = str(requests or "")
    env["BENCH_DELAY_MS"] = f"{delay_ms:.0f}"
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(ROOT / "bench" / script),
            url,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    match = re.search(r"RESULT rps=(\d+) p50_ms=([\d.]+) p99_ms=([\d.]+) errors=(\d+)", out)
    assert match, out
    rps, p50, p99, errors = match.groups()
    return {"rps": float(rps), "p50_ms": float(p50), "p99_ms": float(p99), "errors": int(errors)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its descendants (`python -m granian` runs its worker
    in a child process), threads included, from /proc/PID/stat; a child that exited meanwhile is not counted."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
            times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    tree, todo = set(), [pid]
    while todo:
        current = todo.pop()
        tree.add(current)
        todo += [child for child, parent in parents.items() if parent == current and child not in tree]
    return sum(times.get(member, 0.0) for member in tree)


def measured(
    pid: int, script: str, url: str, path: str, auth: str, duration: int, requests: Path
) -> dict[str, float]:
    """wrk's summary, plus the CPU microseconds the process `pid` spent per request meanwhile."""
    before = cpu_seconds(pid)
    result = wrk(script, url, path, auth, duration, requests=requests)
    result["cpu_us"] = (cpu_seconds(pid) - before) * 1e6 / max(1.0, result["rps"] * duration)
    return result


def start_baseline(senders: list[Sender]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "granian",
            "bench.baseline_app:app",
            "--interface",
            "asgi",
            "--port",
            str(port),
            "--loop",
            "asyncio",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "BENCH_ACCOUNTS": ",".join(f"{s.sid}:{s.token}" for s in senders)},
    )
    time.sleep(2)
    return process, f"http://127.0.0.1:{port}"


def fill_sqlite(db: Path, account_sid: str, rows: int) -> None:
    conn = sqlite3.connect(db)
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=30)
    batch = []
    existing = conn.execute("select count(*) from messages").fetchone()[0]
    for i in range(existing, rows):
        moment = start + timedelta(seconds=i)
        batch.append(
            (
                "SM" + secrets.token_hex(16),
                account_sid,
                "outbound-api",
                "+15005550006",
                f"+1555{i % 10_000_000:07d}",
                "bulk row",
                "delivered",
                1,
                0,
                "GSM-7",
                "USD",
                moment,
                moment,
                moment,
            )
        )
        if len(batch) == 50_000:
            _insert(conn, batch)
            batch = []
    if batch:
        _insert(conn, batch)
    conn.close()


async def fill_postgres(url: str, account_sid: str, rows: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("delete from jobs")
        existing = await conn.fetchval("select count(*) from messages")
        await conn.execute(
            """
            insert into messages (sid, account_sid, direction, from_number, to_number, body, status,
                num_segments, num_media, encoding, price_unit, created_at, updated_at, sent_at)
            select 'SM' || md5(random()::text || i::text), $1, 'outbound-api', '+15005550006',
                '+1555' || lpad((i % 10000000)::text, 7, '0'), 'bulk row', 'delivered', 1, 0, 'GSM-7', 'USD',
                now() - interval '30 days' + i * interval '1 second',
                now() - interval '30 days' + i * interval '1 second',
                now() - interval '30 days' + i * interval '1 second'
            from generate_series($2::int, $3::int) as i
            """,
            account_sid,
            existing,
            rows - 1,
        )
        await conn.execute("analyze messages")
    finally:
        await conn.close()


def _insert(conn: sqlite3.Connection, batch: Sequence[tuple[object, ...]]) -> None:
    conn.executemany(
        "insert into messages (sid, account_sid, direction, from_number, to_number, body, status, num_segments,"
        " num_media, encoding, price_unit, created_at, updated_at, sent_at) values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        batch,
    )
    conn.commit()


def targets(
    backend: str, phase: str, rounds: list[tuple[dict[str, float], dict[str, float]]], duration: int
) -> None:
    """Issue 15's create targets from one phase's rounds (bench/report.py): the ratio of the summed req/s,
    and (SQLite, API only) the worst round's p99."""
    ratio = sum(real["rps"] for real, _ in rounds) / max(1.0, sum(base["rps"] for _, base in rounds))
    detail = "; ".join(
        f"round {n}: {real['rps']:.0f} vs {base['rps']:.0f} req/s, p99 {real['p99_ms']:.1f} vs"
        f" {base['p99_ms']:.1f} ms, CPU {real['cpu_us']:.0f} vs {base['cpu_us']:.0f} us/req,"
        f" errors {real['errors']:.0f}"
        for n, (real, base) in enumerate(rounds, 1)
    )
    detail = f"wrk -t1 -c50 -d{duration}s post_mixed.lua, mycpaas vs baseline_app: {detail}"
    record(f"create_{backend}_{phase}", ratio, detail)
    # Information, not a target: the baseline's CPU per request over ours, which a busy machine bends less
    # than req/s (shown by report.py as `info`).
    cpu = sum(base["cpu_us"] for _, base in rounds) / max(1.0, sum(real["cpu_us"] for real, _ in rounds))
    record(f"create_{backend}_{phase}_cpu", cpu, "baseline's CPU per request over mycpaas's: " + detail)
    if backend == "sqlite" and phase == "api":
        record(f"create_{backend}_{phase}_p99_ms", max(real["p99_ms"] for real, _ in rounds), detail)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--postgres", action="store_true", help="run on a fresh database of $MYCPAAS_TEST_DATABASE_URL"
    )
    parser.add_argument(
        "--group-commit",
        choices=["on", "off", "both"],
        default="on",
        help="create messages with group commit on, off, or both in turn (default: on)",
    )
    parser.add_argument(
        "--worker",
        choices=["on", "off", "both"],
        default="both",
        help="creates with the delivery worker on, off (API only), or both in turn (default: both)",
    )
    parser.add_argument("--no-lists", action="store_true", help="skip the list benchmark (and its big table)")
    args = parser.parse_args()
    commits = {"on": ["true"], "off": ["false"], "both": ["true", "false"]}[args.group_commit]
    workers = {"on": ["true"], "off": ["false"], "both": ["true", "false"]}[args.worker]
    backend = "postgres" if args.postgres else "sqlite"

    tmp = Path(tempfile.mkdtemp(prefix="mycpaas-bench-"))
    database_url = create_postgres_database() if args.postgres else f"sqlite:///{tmp / 'mycpaas.db'}"
    server = ServerProcess(
        data_dir=tmp,
        database_url=database_url,
        env={
            "MYCPAAS_SANDBOX_SEND_DELAY_SECONDS": "0.01",
            "MYCPAAS_SANDBOX_DELIVERY_DELAY_SECONDS": "0.5",
            # Four long codes sending thousands a second: unlimited, as a carrier agreement for such volume
            # would make them (at the default 1/s their queue limit, 14,400 each, would refuse the load).
            "MYCPAAS_SENDER_MPS_LONG_CODE": "0",
        },
    )
    server.start()
    auth = base64.b64encode(f"{server.account_sid}:{server.auth_token}".encode()).decode()
    path = f"/2010-04-01/Accounts/{server.account_sid}/Messages.json"
    senders = make_senders(server.url, server.account_sid, server.auth_token)
    creates = request_file(tmp / "creates.tsv", senders)
    baseline, baseline_url = start_baseline(senders)
    lines = [
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, wrk -t1 -c50 -d{args.duration}s, granian 1 process, "
        + ("PostgreSQL" if args.postgres else "SQLite")
        + f", {len(senders)} accounts (bench/workload.py), load {os.getloadavg()[0]:.1f}"
    ]
    try:
        wrk("post_mixed.lua", baseline_url, path, auth, 2, requests=creates)
        # The pipeline first, so that it starts with an empty queue rather than the API-only phase's backlog.
        for worker, commit in [(w, c) for w in workers for c in commits]:
            server.stop()
            server.env["MYCPAAS_DELIVERY_WORKER"] = worker
            server.env["MYCPAAS_GROUP_COMMIT"] = commit
            server.start()
            wrk("post_mixed.lua", server.url, path, auth, 2, requests=creates)
            label = "API only (delivery worker off)" if worker == "false" else "API + delivery worker"
            label += ", group commit " + ("on" if commit == "true" else "off")
            rounds: list[tuple[dict[str, float], dict[str, float]]] = []
            for round_ in range(args.rounds):
                assert server.pid is not None
                real = measured(server.pid, "post_mixed.lua", server.url, path, auth, args.duration, creates)
                base = measured(
                    baseline.pid, "post_mixed.lua", baseline_url, path, auth, args.duration, creates
                )
                rounds.append((real, base))
                lines.append(
                    f"create, {label}, round {round_ + 1}: mycpaas {real['rps']:.0f} req/s "
                    f"p99 {real['p99_ms']:.1f} ms {real['cpu_us']:.0f} us CPU/req (errors {real['errors']});"
                    f" baseline {base['rps']:.0f} req/s p99 {base['p99_ms']:.1f} ms {base['cpu_us']:.0f} us CPU/req;"
                    f" ratio {real['rps'] / base['rps']:.0%}, load {os.getloadavg()[0]:.1f}"
                )
                print(lines[-1], flush=True)
            if commit == "true":
                targets(backend, "worker" if worker == "true" else "api", rounds, args.duration)
    finally:
        baseline.terminate()
    server.stop()
    server.env.pop("MYCPAAS_GROUP_COMMIT", None)
    db = tmp / "mycpaas.db"
    for rows in () if args.no_lists else (1_000, args.rows):
        if args.postgres:
            asyncio.run(fill_postgres(database_url, server.account_sid, rows))
        else:
            conn = sqlite3.connect(db)
            conn.execute("delete from jobs")
            conn.commit()
            conn.close()
            fill_sqlite(db, server.account_sid, rows)
        server.start()
        list_path = f"{path}?PageSize=50"
        wrk("get.lua", server.url, list_path, auth, 2)
        first = wrk("get.lua", server.url, list_path, auth, args.duration)
        deep = wrk("get.lua", server.url, f"{path}?PageSize=50&To=%2B15550000042", auth, args.duration)
        lines.append(
            f"list PageSize=50 with >= {rows:,} rows: first page {first['rps']:.0f} req/s p99 {first['p99_ms']:.1f} ms;"
            f" filtered by To {deep['rps']:.0f} req/s p99 {deep['p99_ms']:.1f} ms"
        )
        print(lines[-1], flush=True)
        server.stop()
    if args.postgres:
        drop_postgres_database(database_url)
    results = ROOT / "bench" / "results" / "http_create.txt"
    results.parent.mkdir(exist_ok=True)
    with results.open("a") as handle:
        handle.write("\n".join(lines) + "\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
