"""Benchmark: scale-out on PostgreSQL (issue 12): the same load on 1 and on 2 processes of a role.

    .venv/bin/python bench/scale.py [--seconds 10] [--connections 50] [--window 100]

Each phase runs a cluster of `mycpaas serve` processes (tests/cluster/harness.py: a role per process, one
shared secret) on a fresh database of $MYCPAAS_TEST_DATABASE_URL, loaded by wrk (bench/post.lua; one wrk per
API port, the connections split between them):

- creates: authenticated POST .../Messages.json with 1 and with 2 API processes and no delivery worker:
  creates/s (rows counted in the database), p99 (the worst wrk's), and CPU microseconds per create of the
  server processes plus the PostgreSQL backends of that database (utime+stime from /proc/<pid>/stat before
  and after; backends from pg_stat_activity). The load generator's CPU is not counted.
- end to end: the same POSTs for --seconds, then until every message is `delivered` through the node SMSC
  simulator (DLR_DELAY_MS=10, one connector, --window), with 1 and with 2 delivery processes beside one API
  process: messages/s from the first POST to the last receipt applied, and CPU per message as above.
- the jobs table: size (pg_total_relation_size) and live/dead tuples (pg_stat_user_tables) before and after
  each end-to-end run, and autovacuum runs during it. --seconds 600 gives the 10-minute figure.

On a 2-core machine PostgreSQL, wrk and the servers share the cores, so throughput may not grow with
processes; what must not grow is CPU per request. Results are printed and appended to bench/results/scale.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_create import wrk  # noqa: E402
from bench.webhooks import auth_of  # noqa: E402
from tests.cluster.harness import Cluster  # noqa: E402
from tests.databases import create_postgres_database, postgres_admin_url  # noqa: E402
from tests.smsc_support import Smsc  # noqa: E402

TICK_US = 1_000_000 / os.sysconf("SC_CLK_TCK")
SENDER = "+15005550006"  # post.lua's From


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process so far, in clock ticks (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), counted after "pid (comm)"


class Database:
    """A connection to the cluster's database for counts, backend PIDs and table statistics."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn: asyncpg.Connection = self.loop.run_until_complete(asyncpg.connect(url))

    def value(self, sql: str) -> Any:
        return self.loop.run_until_complete(self.conn.fetchval(sql))

    def row(self, sql: str) -> dict[str, Any]:
        return dict(self.loop.run_until_complete(self.conn.fetchrow(sql)) or {})

    def backends(self) -> set[int]:
        """The PostgreSQL backends serving this database, this connection's own aside."""
        rows = self.loop.run_until_complete(
            self.conn.fetch(
                "select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
            )
        )
        return {int(row["pid"]) for row in rows}

    def jobs(self) -> dict[str, Any]:
        time.sleep(1.5)  # backends report their table statistics at most once a second
        stats = self.row(
            "select n_live_tup, n_dead_tup, autovacuum_count, vacuum_count from pg_stat_user_tables "
            "where relname = 'jobs'"
        )
        stats["bytes"] = self.value("select pg_total_relation_size('jobs')")
        return stats

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


class CpuMeter:
    """CPU time of the cluster's server processes and of the database's backends between start() and
    microseconds(). Backends are sampled as the run goes (a pool may open one late); one that exits mid-run
    loses its share."""

    def __init__(self, cluster: Cluster, db: Database) -> None:
        self.cluster, self.db = cluster, db
        self.start_ticks: dict[int, int] = {}
        self.last_ticks: dict[int, int] = {}
        self.servers: set[int] = set()

    def sample(self) -> None:
        self.servers = {p.pid for p in self.cluster.processes if p.pid is not None}
        for pid in self.servers | self.db.backends():
            ticks = cpu_ticks(pid)
            self.start_ticks.setdefault(pid, ticks)
            if ticks:
                self.last_ticks[pid] = ticks

    def start(self) -> CpuMeter:
        self.sample()
        return self

    def microseconds(self) -> tuple[float, float]:
        """(servers, PostgreSQL) CPU microseconds since start()."""
        self.sample()
        spent = {pid: (ticks - self.start_ticks[pid]) * TICK_US for pid, ticks in self.last_ticks.items()}
        servers = sum(us for pid, us in spent.items() if pid in self.servers)
        return servers, sum(spent.values()) - servers


def per(count: int, cpu: tuple[float, float], what: str) -> str:
    servers, postgres = (us / max(count, 1) for us in cpu)
    return f"CPU {servers + postgres:.0f} us per {what} (servers {servers:.0f} + PostgreSQL {postgres:.0f})"


def load(cluster: Cluster, seconds: int, connections: int) -> dict[str, float]:
    """wrk on every API port at once, the connections split between them; the worst p99, summed errors."""
    results: list[dict[str, float]] = []
    api = cluster.api
    path = f"/2010-04-01/Accounts/{api[0].account_sid}/Messages.json"
    auth = auth_of(api[0].account_sid, api[0].auth_token)

    def one(url: str) -> None:
        results.append(wrk("post.lua", url, path, auth, seconds, connections=max(1, connections // len(api))))

    threads = [threading.Thread(target=one, args=(server.url,)) for server in api]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "p99_ms": max(r["p99_ms"] for r in results),
        "errors": sum(r["errors"] for r in results),
    }


def new_cluster(root: Path, name: str) -> Cluster:
    return Cluster(root / name, create_postgres_database())


def own_sender(cluster: Cluster) -> None:
    server = cluster.api[0]
    with server.client() as client:
        client.post(f"{server.accounts_path()}/IncomingPhoneNumbers.json", data={"PhoneNumber": SENDER})


def wait(check: Callable[[], bool], limit: float = 1800) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > limit:
            raise TimeoutError("the run did not finish")
        time.sleep(0.2)
    return time.monotonic()


def creates(root: Path, processes: int, seconds: int, connections: int) -> str:
    cluster = new_cluster(root, f"creates-{processes}")
    try:
        cluster.start(api=processes, delivery=0, webhook=0)
        own_sender(cluster)
        db = Database(cluster.database_url)
        load(cluster, 2, connections)  # warm-up: connections opened, statements prepared
        before = db.value("select count(*) from messages")
        meter = CpuMeter(cluster, db).start()
        result = load(cluster, seconds, connections)
        created = db.value("select count(*) from messages") - before
        cpu = meter.microseconds()
        db.close()
    finally:
        cluster.dispose()
    return (
        f"creates, {processes} API process(es): {created / seconds:.0f}/s, p99 {result['p99_ms']:.1f} ms, "
        f"errors {result['errors']:.0f}; " + per(created, cpu, "create")
    )


def end_to_end(root: Path, delivery: int, seconds: int, connections: int, window: int) -> list[str]:
    smsc = Smsc(root / f"smsc-{delivery}", DLR_DELAY_MS=10)
    cluster = new_cluster(root, f"e2e-{delivery}")
    try:
        cluster.migrate().add_carrier("sim", smsc, "--window", str(window))
        cluster.start(api=1, delivery=delivery, webhook=0)
        own_sender(cluster)
        db = Database(cluster.database_url)
        wait(lambda: len(smsc.stats()["binds"]) >= 1, 30)
        jobs_before = db.jobs()
        meter = CpuMeter(cluster, db).start()
        started = time.monotonic()
        result = load(cluster, seconds, connections)
        meter.sample()
        total = "select count(*) from messages"
        final = "select count(*) from messages where status in ('delivered', 'undelivered', 'failed')"
        # wrk's last requests may commit after it stops: done when every message there is final.
        done = wait(lambda: db.value(final) == db.value(total))
        created = db.value(total)
        delivered = db.value("select count(*) from messages where status = 'delivered'")
        cpu = meter.microseconds()
        jobs_after = db.jobs()
        binds = len(smsc.stats()["binds"])
        db.close()
    finally:
        cluster.dispose()
        smsc.stop()
    elapsed = done - started
    return [
        f"end to end, 1 API + {delivery} delivery process(es), {binds} bind(s), window {window}: {created} messages "
        f"for {seconds} s of load, {delivered} delivered, all final {elapsed:.1f} s after the first POST = {created / elapsed:.0f} msg/s; "
        f"POST p99 {result['p99_ms']:.1f} ms, errors {result['errors']:.0f}; " + per(created, cpu, "message"),
        f"  jobs table before: {describe(jobs_before)}; after: {describe(jobs_after)}",
    ]


def describe(jobs: dict[str, Any]) -> str:
    return (
        f"{jobs['bytes'] / 1024:.0f} kB, {jobs['n_live_tup']} live, {jobs['n_dead_tup']} dead tuples, "
        f"autovacuum runs {jobs['autovacuum_count']}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="load per measurement (600 for the note)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--window", type=int, default=100)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mycpaas-scale-"))
    version = subprocess.run(
        ["psql", "-Atq", postgres_admin_url(), "-c", "show server_version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    lines = [
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, PostgreSQL {version}, {os.cpu_count()} cores, "
        f"--seconds {args.seconds} --connections {args.connections}, wrk -t1 per API port, "
        f"load average at start {os.getloadavg()[0]:.1f}"
    ]
    for processes in (1, 2):
        lines.append(creates(root, processes, args.seconds, args.connections))
        print(lines[-1], flush=True)
    for delivery in (1, 2):
        for line in end_to_end(root, delivery, args.seconds, args.connections, args.window):
            lines.append(line)
            print(line, flush=True)
    results = ROOT / "bench" / "results" / "scale.txt"
    with results.open("a") as handle:
        handle.write("\n".join(lines) + "\n\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
