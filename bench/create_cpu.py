"""CPU per create of source trees side by side: one `mycpaas serve` per tree, loaded in alternating rounds.

    .venv/bin/python bench/create_cpu.py [--seconds 8] [--rounds 3] [--postgres] [--worker] [--baseline] \
        before=/path/to/old/src after=src

On a machine shared with other work, req/s mostly measure the load; the server's CPU time per request (its
process tree's utime + stime from /proc, around each round) compares code. Each tree's server runs with
PYTHONPATH set to that tree (a `git worktree` of the commit to compare, or a copy of its src/), on SQLite (or a
fresh PostgreSQL database of $MYCPAAS_TEST_DATABASE_URL), API only unless --worker; the creates are
bench/workload.py's through post_mixed.lua, as bench/http_create.py's. --baseline adds the raw ASGI baseline
(bench/baseline_app.py) to every round. Prints each round and the medians, with the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_create import start_baseline, wrk  # noqa: E402
from bench.workload import make_senders, request_file  # noqa: E402
from tests.databases import create_postgres_database  # noqa: E402
from tests.server import ServerProcess  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found += tree(int(child))
    return found


def cpu_seconds(pid: int) -> float:
    total = 0
    for member in tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--worker", action="store_true", help="the delivery worker on, in the same process")
    parser.add_argument("--baseline", action="store_true", help="the raw ASGI baseline in every round too")
    parser.add_argument("trees", nargs="+", metavar="LABEL=SRC")
    args = parser.parse_args()
    servers: dict[str, tuple[ServerProcess, Path]] = {}
    senders = []
    for spec in args.trees:
        label, src = spec.split("=", 1)
        tmp = Path(tempfile.mkdtemp(prefix=f"create-cpu-{label}-"))
        server = ServerProcess(
            data_dir=tmp,
            database_url=create_postgres_database() if args.postgres else f"sqlite:///{tmp / 'mycpaas.db'}",
            env={
                "PYTHONPATH": str(Path(src).resolve()),
                "MYCPAAS_SENDER_MPS_LONG_CODE": "0",
                "MYCPAAS_DELIVERY_WORKER": "true" if args.worker else "false",
                "MYCPAAS_SANDBOX_SEND_DELAY_SECONDS": "0.01",
                "MYCPAAS_SANDBOX_DELIVERY_DELAY_SECONDS": "0.5",
            },
        )
        server.start()
        made = make_senders(server.url, server.account_sid, server.auth_token)
        senders = senders or made  # the baseline knows the first tree's accounts and replays its creates
        servers[label] = (server, request_file(tmp / "creates.tsv", made))
        wrk("post_mixed.lua", server.url, "/", "", 2, requests=servers[label][1])
    baseline = start_baseline(senders) if args.baseline else None
    results: dict[str, list[tuple[float, float]]] = {label: [] for label in servers}
    try:
        for round_ in range(1, args.rounds + 1):
            rounds = [
                (label, server.pid, server.url, creates) for label, (server, creates) in servers.items()
            ]
            if baseline is not None:
                rounds.append(("baseline", baseline[0].pid, baseline[1], next(iter(servers.values()))[1]))
            for label, pid, url, creates in rounds:
                assert pid is not None
                before, started = cpu_seconds(pid), time.monotonic()
                out = wrk("post_mixed.lua", url, "/", "", args.seconds, requests=creates)
                used, elapsed = cpu_seconds(pid) - before, time.monotonic() - started
                per = 1e6 * used / max(1.0, out["rps"] * args.seconds)
                results.setdefault(label, []).append((out["rps"], per))
                print(
                    f"{label:10s} r{round_} {out['rps']:6.0f} req/s p99 {out['p99_ms']:6.1f} ms "
                    f"errors {out['errors']} cpu {per:6.0f} us/req ({100 * used / elapsed:.0f}% of a core) "
                    f"load {load()}",
                    flush=True,
                )
    finally:
        if baseline is not None:
            baseline[0].terminate()
        for server, _ in servers.values():
            server.stop()
    for label, rows in results.items():
        rps, per = sorted(r for r, _ in rows), sorted(p for _, p in rows)
        print(
            f"median {label:10s} {rps[len(rps) // 2]:.0f} req/s, {per[len(per) // 2]:.0f} us of CPU per request"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
