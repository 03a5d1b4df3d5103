"""Benchmark: scale-out on PostgreSQL (issue 12): the same load on 1 and on 2 processes of a role.

    .venv/bin/python bench/scale.py [--phases creates,e2e] [--api 1,2] [--delivery 1,2]
        [--api-mode workers|ports] [--seconds 10] [--connections 50] [--rate 0] [--window 100]

Each phase runs a cluster of `mycpaas serve` processes (tests/cluster/harness.py: a role per process, one
shared secret) on a fresh database of $MYCPAAS_TEST_DATABASE_URL, loaded by wrk (bench/post.lua; one wrk per
API port, the connections split between them):

- creates: authenticated POST .../Messages.json with 1 and with 2 API processes and no delivery worker. With
  --api-mode workers (the default) the N processes are one `serve --workers N` on one port (a parent and N
  forked granian workers); with --api-mode ports, N separate `serve` processes on a port each. Reported:
  creates/s (rows counted in the database), p99 (the worst wrk's), and CPU microseconds per create of the
  server processes (each with its whole process tree: a --workers parent and its workers) plus the
  PostgreSQL backends of that database (utime+stime from /proc/<pid>/stat before and after; backends from
  pg_stat_activity). The load generator's CPU is not counted.
- e2e: the same POSTs for --seconds (--rate paces them to a steady total), then until every message is
  `delivered` through the node SMSC simulator (DLR_DELAY_MS=10, one connector allowing --max-binds binds,
  --window), with 1 and with 2 delivery processes beside one API process: messages/s from the first POST
  to the last receipt applied, and CPU per message as above.
- the jobs table: size (pg_total_relation_size) and live/dead tuples (pg_stat_user_tables) before and after
  each end-to-end run, the most dead tuples and the largest size seen (sampled every 30 s), and autovacuum
  runs during it. `--phases e2e --delivery 1 --seconds 600 --rate 50` gives the 10-minute figure.

On a 2-core machine PostgreSQL, wrk and the servers share the cores, so throughput may not grow with
processes; what must not grow is CPU per request. Every line carries the load average at its start. Results
are printed and appended to bench/results/scale.txt. bench/scale_profile.py runs the same phases under
py-spy and pg_stat_statements (where the limit is).
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
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_create import wrk  # noqa: E402
from bench.webhooks import auth_of  # noqa: E402
from tests.cluster.harness import Cluster, ThrowawayPostgres  # noqa: E402
from tests.databases import create_postgres_database, postgres_admin_url  # noqa: E402
from tests.smsc_support import Smsc  # noqa: E402

TICK_US = 1_000_000 / os.sysconf("SC_CLK_TCK")
SENDER = "+15005550006"  # post.lua's From
BENCH_TAG = (
    "/* bench */ "  # on the benchmark's own queries, so that bench/scale_profile.py can leave them out
)

# Called around each measured load with the cluster and the role under load ("api" for creates, "delivery"
# for end to end); bench/scale_profile.py passes one that profiles.
Watch = Callable[[Cluster, str], AbstractContextManager[None]]


def no_watch(cluster: Cluster, role: str) -> AbstractContextManager[None]:
    return nullcontext()


def proc_stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after "pid (comm)": [state, ppid, ...]; [] once it has gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process so far, in clock ticks (0 once it has gone)."""
    fields = proc_stat(pid)
    return int(fields[11]) + int(fields[12]) if fields else 0  # fields 14 and 15 of proc(5)


def process_tree(pids: set[int]) -> set[int]:
    """`pids` and all their descendants (a `serve --workers N` parent's forked workers)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := proc_stat(int(entry.name))):
            children[int(fields[1])].append(int(entry.name))
    found, todo = set(), list(pids)
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def load_average() -> str:
    return "load average " + " ".join(f"{value:.1f}" for value in os.getloadavg())


class Database:
    """A connection to the cluster's database for counts, backend PIDs and table statistics. Its queries
    carry BENCH_TAG."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.conn: asyncpg.Connection = self.loop.run_until_complete(asyncpg.connect(url))

    def value(self, sql: str) -> Any:
        return self.loop.run_until_complete(self.conn.fetchval(BENCH_TAG + sql))

    def row(self, sql: str) -> dict[str, Any]:
        return dict(self.loop.run_until_complete(self.conn.fetchrow(BENCH_TAG + sql)) or {})

    def rows(self, sql: str) -> list[dict[str, Any]]:
        return [dict(row) for row in self.loop.run_until_complete(self.conn.fetch(BENCH_TAG + sql))]

    def backends(self) -> set[int]:
        """The PostgreSQL backends serving this database, this connection's own aside."""
        rows = self.rows(
            "select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
        )
        return {int(row["pid"]) for row in rows}

    def jobs(self, settle: bool = True) -> dict[str, Any]:
        if settle:
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


class JobsWatch(threading.Thread):
    """The jobs table every 30 s during a run (a connection of its own): the most dead tuples and the
    largest size seen."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stopping = url, threading.Event()
        self.peak_dead, self.peak_bytes, self.samples = 0, 0, 0

    def run(self) -> None:
        db = Database(self.url)
        try:
            while not self.stopping.wait(30):
                stats = db.jobs(settle=False)
                self.peak_dead = max(self.peak_dead, stats["n_dead_tup"])
                self.peak_bytes = max(self.peak_bytes, stats["bytes"])
                self.samples += 1
        finally:
            db.close()

    def stop(self) -> str:
        self.stopping.set()
        self.join()
        if not self.samples:
            return ""
        return f"; at most {self.peak_dead} dead tuples and {self.peak_bytes / 1024:.0f} kB seen (every 30 s)"


class CpuMeter:
    """CPU time of the cluster's server processes (with their process trees) and of the database's
    backends between start() and microseconds(). Processes are sampled as the run goes (a pool may open a
    backend late); one that exits mid-run loses its share."""

    def __init__(self, cluster: Cluster, db: Database) -> None:
        self.cluster, self.db = cluster, db
        self.start_ticks: dict[int, int] = {}
        self.last_ticks: dict[int, int] = {}
        self.servers: set[int] = set()

    def sample(self) -> None:
        self.servers |= process_tree({p.pid for p in self.cluster.processes if p.pid is not None})
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


def load(cluster: Cluster, seconds: int, connections: int, rate: float = 0) -> dict[str, float]:
    """wrk on every API port at once, the connections split between them; the worst p99, summed errors.
    With `rate` (messages/s in all) each connection pauses connections/rate seconds between requests."""
    results: list[dict[str, float]] = []
    api = cluster.api
    path = f"/2010-04-01/Accounts/{api[0].account_sid}/Messages.json"
    auth = auth_of(api[0].account_sid, api[0].auth_token)
    each = max(1, connections // len(api))
    delay_ms = each * len(api) * 1000 / rate if rate else 0

    def one(url: str) -> None:
        results.append(wrk("post.lua", url, path, auth, seconds, connections=each, delay_ms=delay_ms))

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


def creates(
    root: Path, processes: int, mode: str, seconds: int, connections: int, watch: Watch = no_watch
) -> str:
    """Creates with `processes` API processes: one `serve --workers N` (mode "workers") or N ports."""
    cluster = new_cluster(root, f"creates-{processes}-{mode}")
    label = (
        f"1 port, serve --workers {processes}"
        if mode == "workers" and processes > 1
        else f"{processes} port(s), {processes} serve process(es)"
    )
    try:
        if mode == "workers":
            cluster.start(api=1, delivery=0, webhook=0, workers=processes)
        else:
            cluster.start(api=processes, delivery=0, webhook=0)
        own_sender(cluster)
        db = Database(cluster.database_url)
        load(cluster, 2, connections)  # warm-up: connections opened, statements prepared
        average = load_average()
        before = db.value("select count(*) from messages")
        with watch(cluster, "api"):
            meter = CpuMeter(cluster, db).start()
            result = load(cluster, seconds, connections)
            created = db.value("select count(*) from messages") - before
            cpu = meter.microseconds()
        db.close()
    finally:
        cluster.dispose()
    return (
        f"creates, {processes} API process(es) ({label}): {created / seconds:.0f}/s, p99 {result['p99_ms']:.1f} ms, "
        f"errors {result['errors']:.0f}; " + per(created, cpu, "create") + f"; {average}"
    )


def end_to_end(
    root: Path,
    delivery: int,
    seconds: int,
    connections: int,
    window: int,
    max_binds: int,
    rate: float = 0,
    jobs_settings: str = "",
    watch: Watch = no_watch,
) -> list[str]:
    smsc = Smsc(root / f"smsc-{delivery}", DLR_DELAY_MS=10)
    cluster = new_cluster(root, f"e2e-{delivery}")
    try:
        cluster.migrate().add_carrier("sim", smsc, "--window", str(window), "--max-binds", str(max_binds))
        db = Database(cluster.database_url)
        if jobs_settings:
            db.value(f"alter table jobs set ({jobs_settings})")
        cluster.start(api=1, delivery=delivery, webhook=0)
        own_sender(cluster)
        wait(lambda: len(smsc.stats()["binds"]) >= min(delivery, max_binds), 30)
        jobs_before = db.jobs()
        average = load_average()
        jobs_watch = JobsWatch(cluster.database_url)
        jobs_watch.start()
        with watch(cluster, "delivery"):
            meter = CpuMeter(cluster, db).start()
            started = time.monotonic()
            result = load(cluster, seconds, connections, rate)
            meter.sample()
            total = "select count(*) from messages"
            final = "select count(*) from messages where status in ('delivered', 'undelivered', 'failed')"
            # wrk's last requests may commit after it stops: done when every message there is final.
            done = wait(lambda: db.value(final) == db.value(total))
            created = db.value(total)
            delivered = db.value("select count(*) from messages where status = 'delivered'")
            cpu = meter.microseconds()
        peaks = jobs_watch.stop()
        jobs_after = db.jobs()
        binds = len(smsc.stats()["binds"])
        db.close()
    finally:
        cluster.dispose()
        smsc.stop()
    elapsed = done - started
    paced = f" paced to {rate:g}/s" if rate else ""
    tuned = f" (jobs set {jobs_settings})" if jobs_settings else ""
    return [
        f"end to end, 1 API + {delivery} delivery process(es), {binds} bind(s) (--max-binds {max_binds}), "
        f"window {window}: {created} messages for {seconds} s of load{paced}, {delivered} delivered, all final "
        f"{elapsed:.1f} s after the first POST = {created / elapsed:.0f} msg/s; "
        f"POST p99 {result['p99_ms']:.1f} ms, errors {result['errors']:.0f}; "
        + per(created, cpu, "message")
        + f"; {average}",
        f"  jobs table before: {describe(jobs_before)}; after: {describe(jobs_after)}; autovacuum runs "
        f"during the run {jobs_after['autovacuum_count'] - jobs_before['autovacuum_count']}{peaks}{tuned}",
    ]


def describe(jobs: dict[str, Any]) -> str:
    return f"{jobs['bytes'] / 1024:.0f} kB, {jobs['n_live_tup']} live, {jobs['n_dead_tup']} dead tuples"


def counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def parser(description: str | None = __doc__) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--phases", default="creates,e2e", help="which phases, comma-separated")
    parser.add_argument("--api", type=counts, default=[1, 2], help="API process counts for creates")
    parser.add_argument("--delivery", type=counts, default=[1, 2], help="delivery process counts for e2e")
    parser.add_argument(
        "--api-mode",
        choices=("workers", "ports"),
        default="workers",
        help="N API processes as one `serve --workers N` on one port, or N `serve` processes on N ports",
    )
    parser.add_argument("--seconds", type=int, default=10, help="load per measurement (600 for the note)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rate", type=float, default=0, help="e2e: messages/s offered in all; 0: flat out")
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--max-binds", type=int, default=2, help="the connector's --max-binds")
    parser.add_argument(
        "--jobs-settings",
        default="",
        help="e2e: storage parameters for the jobs table before the run, as in docs/deployment.md, e.g. "
        "'autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000'",
    )
    return parser


def header(args: argparse.Namespace) -> str:
    version = subprocess.run(
        ["psql", "-Atq", postgres_admin_url(), "-c", "show server_version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return (
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, PostgreSQL {version}, {os.cpu_count()} cores, "
        f"{' '.join(sys.argv[1:]) or 'defaults'} (--seconds {args.seconds} --connections {args.connections}), "
        f"wrk -t1 per API port, {load_average()} at start"
    )


def run(args: argparse.Namespace, watch: Watch = no_watch) -> list[str]:
    """The selected phases; their result lines."""
    root = Path(tempfile.mkdtemp(prefix="mycpaas-scale-"))
    phases = set(args.phases.split(","))
    lines = []
    if "creates" in phases:
        for processes in args.api:
            lines.append(creates(root, processes, args.api_mode, args.seconds, args.connections, watch))
            print(lines[-1], flush=True)
    if "e2e" in phases:
        for delivery in args.delivery:
            for line in end_to_end(
                root,
                delivery,
                args.seconds,
                args.connections,
                args.window,
                args.max_binds,
                args.rate,
                args.jobs_settings,
                watch,
            ):
                lines.append(line)
                print(line, flush=True)
    return lines


@contextmanager
def throwaway(**settings: str) -> Iterator[None]:
    """A PostgreSQL cluster of the benchmark's own (never the machine's shared server), started with
    `settings`, on which the phases make their databases."""
    postgres = ThrowawayPostgres(**settings).start()
    os.environ["MYCPAAS_TEST_DATABASE_URL"] = postgres.url
    try:
        yield
    finally:
        postgres.dispose()


def main() -> int:
    options = parser()
    options.add_argument(
        "--throwaway",
        action="store_true",
        help="run on a throwaway PostgreSQL cluster with the stock settings (fsync on, autovacuum on) "
        "instead of $MYCPAAS_TEST_DATABASE_URL",
    )
    args = options.parse_args()
    with throwaway(fsync="on") if args.throwaway else nullcontext():
        lines = [header(args) + (" (throwaway cluster, stock settings)" if args.throwaway else "")]
        print(lines[0], flush=True)
        lines += run(args)
    with (ROOT / "bench" / "results" / "scale.txt").open("a") as handle:
        handle.write("\n".join(lines) + "\n\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
