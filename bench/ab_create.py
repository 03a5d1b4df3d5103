"""Benchmark: two source trees side by side under the same create load, in alternating rounds.

    .venv/bin/python bench/ab_create.py --before /work/main/src --after src [--postgres] [--rounds 3]
        [--duration 10] [--label TEXT]

On a shared machine a before/after taken minutes apart measures the neighbours as much as the change. Here both
trees run at once (`mycpaas serve`, API only, one process each, own database: a fresh SQLite file or a fresh
PostgreSQL database of $MYCPAAS_TEST_DATABASE_URL) under bench/workload.py's creates through post_mixed.lua
(wrk -t1 -c50), the rounds alternating A, B, B, A, ... so drift hits both alike. Each round reports req/s, p99
and the server's CPU per create (user + system of its process tree from /proc, the number least moved by other
load), with the load average. Appends to bench/results/http_create.txt.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_create import wrk  # noqa: E402
from bench.workload import make_senders, request_file  # noqa: E402
from tests.databases import create_postgres_database  # noqa: E402
from tests.server import ServerProcess  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its live descendants, from /proc."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
        cpu[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / TICKS
    total, wanted = 0.0, {pid}
    while wanted:
        total += sum(cpu.get(p, 0.0) for p in wanted)
        wanted = {child for child, parent in parents.items() if parent in wanted}
    return total


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--before", required=True, help="source tree A (its src/ directory)")
    parser.add_argument("--after", required=True, help="source tree B (its src/ directory)")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per tree")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--label", default="")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mycpaas-ab-"))
    servers: dict[str, ServerProcess] = {}
    creates: dict[str, Path] = {}
    for name, tree in (("A", args.before), ("B", args.after)):
        server = ServerProcess(
            data_dir=tmp / name,
            database_url=create_postgres_database() if args.postgres else f"sqlite:///{tmp / name / 'db'}",
            env={
                "PYTHONPATH": str(Path(tree).resolve()),
                "MYCPAAS_DELIVERY_WORKER": "false",
                "MYCPAAS_SENDER_MPS_LONG_CODE": "0",
            },
        )
        server.start()
        senders = make_senders(server.url, server.account_sid, server.auth_token)
        creates[name] = request_file(tmp / f"creates-{name}.tsv", senders)
        servers[name] = server
    lines = [
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, bench/ab_create.py, wrk -t1 -c50 -d{args.duration}s, API only, "
        + ("PostgreSQL" if args.postgres else "SQLite")
        + f", A = {args.before}, B = {args.after}{', ' + args.label if args.label else ''}"
    ]
    totals: dict[str, list[float]] = {"A": [0.0, 0.0, 0.0], "B": [0.0, 0.0, 0.0]}  # requests, CPU s, seconds
    try:
        for name, server in servers.items():
            auth = base64.b64encode(f"{server.account_sid}:{server.auth_token}".encode()).decode()
            wrk("post_mixed.lua", server.url, "", auth, 2, requests=creates[name])  # warm-up
        order = [("A", "B") if r % 2 == 0 else ("B", "A") for r in range(args.rounds)]
        for round_, pair in enumerate(order, 1):
            for name in pair:
                server = servers[name]
                assert server.pid is not None
                before = tree_cpu_seconds(server.pid)
                result = wrk("post_mixed.lua", server.url, "", "", args.duration, requests=creates[name])
                cpu = tree_cpu_seconds(server.pid) - before
                done = result["rps"] * args.duration
                totals[name][0] += done
                totals[name][1] += cpu
                totals[name][2] += args.duration
                lines.append(
                    f"round {round_} {name}: {result['rps']:.0f} req/s p99 {result['p99_ms']:.1f} ms "
                    f"(errors {result['errors']:.0f}); server CPU {cpu / done * 1e6:.0f} µs/create; "
                    f"load {Path('/proc/loadavg').read_text().split()[0]}"
                )
                print(lines[-1], flush=True)
    finally:
        for server in servers.values():
            server.stop()
    a, b = totals["A"], totals["B"]
    lines.append(
        f"total: A {a[0] / a[2]:.0f} req/s, {a[1] / a[0] * 1e6:.0f} µs/create; B {b[0] / b[2]:.0f} req/s, "
        f"{b[1] / b[0] * 1e6:.0f} µs/create; B/A throughput {b[0] / a[0]:.2f}, CPU per create "
        f"{(b[1] / b[0]) / (a[1] / a[0]):.2f}"
    )
    print(lines[-1], flush=True)
    results = ROOT / "bench" / "results" / "http_create.txt"
    with results.open("a") as handle:
        handle.write("\n".join(lines) + "\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
