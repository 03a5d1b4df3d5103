"""Benchmark: the create workload against servers built from different source trees, side by side.

    .venv/bin/python bench/create_ab.py [--postgres] [--worker] [--baseline] [--rounds 3] [--duration 8]
        [--py-spy PATH --profile PREFIX] LABEL=SRC_DIR [LABEL=SRC_DIR ...]

Each LABEL=SRC_DIR starts one `mycpaas serve` (SQLite, or a fresh database of $MYCPAAS_TEST_DATABASE_URL with
--postgres; the delivery worker on with --worker) whose PYTHONPATH is SRC_DIR, e.g. `before=/tmp/old/src` (from
`git archive <commit> src | tar -x -C /tmp/old`) and `after=$PWD/src`. Rounds alternate between the servers (and
the raw ASGI baseline of http_create.py with --baseline), each `wrk -t1 -c50` with http_create.py's workload
(bench/workload.py, post_mixed.lua). Reported per round: req/s, p99 and the server process's CPU time per create
(utime+stime of all its threads from /proc), with the load average. On a shared machine req/s follows the
neighbours' load; CPU per create, measured in the same run, is the figure to compare. With --profile the last
round of each server is recorded by py-spy (raw format) to PREFIX-LABEL.raw. Appends to results/create_ab.txt.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_create import start_baseline, wrk  # noqa: E402
from bench.workload import make_senders, request_file  # noqa: E402
from tests.databases import create_postgres_database  # noqa: E402
from tests.server import ServerProcess  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def granian_worker(pid: int) -> int:
    """The process that serves the baseline's requests: granian's CLI forks one worker (its only child)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return int(children[0]) if children else pid


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("trees", nargs="+", help="LABEL=SRC_DIR")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--worker", action="store_true", help="the delivery worker on, in the same process")
    parser.add_argument("--baseline", action="store_true", help="also the raw ASGI baseline, each round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--py-spy", default="py-spy")
    parser.add_argument("--profile", default="")
    args = parser.parse_args()

    servers: dict[str, tuple[ServerProcess, Path]] = {}
    senders = []
    for spec in args.trees:
        label, src = spec.split("=", 1)
        tmp = Path(tempfile.mkdtemp(prefix=f"create-ab-{label}-"))
        url = create_postgres_database() if args.postgres else f"sqlite:///{tmp / 'mycpaas.db'}"
        server = ServerProcess(
            data_dir=tmp,
            database_url=url,
            env={
                "PYTHONPATH": src,
                "MYCPAAS_SANDBOX_SEND_DELAY_SECONDS": "0.01",
                "MYCPAAS_SANDBOX_DELIVERY_DELAY_SECONDS": "0.5",
                "MYCPAAS_DELIVERY_WORKER": "true" if args.worker else "false",
            },
        )
        server.start()
        senders = make_senders(server.url, server.account_sid, server.auth_token)
        servers[label] = (server, request_file(tmp / "creates.tsv", senders))
    baseline = start_baseline(senders) if args.baseline else None
    lines = [
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        + ("PostgreSQL" if args.postgres else "SQLite")
        + (", API + delivery worker" if args.worker else ", API only")
        + f", wrk -t1 -c50 -d{args.duration}s, {' '.join(args.trees)}, load {load()}"
    ]
    print(lines[0], flush=True)
    try:
        for server, creates in servers.values():
            wrk("post_mixed.lua", server.url, "/", "", 2, requests=creates)
        for round_ in range(1, args.rounds + 1):
            for label, (server, creates) in servers.items():
                spy = None
                if args.profile and round_ == args.rounds:
                    spy = subprocess.Popen(
                        [
                            args.py_spy,
                            "record",
                            "-p",
                            str(server.pid),
                            "-d",
                            str(max(1, args.duration - 1)),
                            "-r",
                            "200",
                            "-f",
                            "raw",
                            "-o",
                            f"{args.profile}-{label}.raw",
                            "--nonblocking",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                assert server.pid is not None
                before = cpu_seconds(server.pid)
                result = wrk("post_mixed.lua", server.url, "/", "", args.duration, requests=creates)
                used = cpu_seconds(server.pid) - before
                if spy is not None:
                    spy.wait()
                creates_done = max(1.0, result["rps"] * args.duration)
                lines.append(
                    f"round {round_} {label}: {result['rps']:.0f} req/s p99 {result['p99_ms']:.1f} ms "
                    f"(errors {result['errors']}), CPU {1e6 * used / creates_done:.0f} us/create, load {load()}"
                )
                print(lines[-1], flush=True)
            if baseline is not None:
                # The baseline knows the accounts of the last server started (`senders`): its creates, not
                # another server's, whose credentials it would answer with 401s.
                last = list(servers.values())[-1][1]
                worker = granian_worker(baseline[0].pid)
                spy = None
                if args.profile and round_ == args.rounds:
                    spy = subprocess.Popen(
                        [args.py_spy, "record", "-p", str(worker), "-d", str(max(1, args.duration - 1)), "-r"]
                        + ["200", "-f", "raw", "-o", f"{args.profile}-baseline.raw", "--nonblocking"],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                before = cpu_seconds(worker)
                result = wrk("post_mixed.lua", baseline[1], "/", "", args.duration, requests=last)
                used = cpu_seconds(worker) - before
                if spy is not None:
                    spy.wait()
                done = max(1.0, result["rps"] * args.duration)
                lines.append(
                    f"round {round_} baseline: {result['rps']:.0f} req/s p99 {result['p99_ms']:.1f} ms, "
                    f"CPU {1e6 * used / done:.0f} us/request, load {load()}"
                )
                print(lines[-1], flush=True)
    finally:
        if baseline is not None:
            baseline[0].terminate()
        for server, _ in servers.values():
            server.stop()
    with (ROOT / "bench" / "results" / "create_ab.txt").open("a") as out:
        out.write("\n".join(lines) + "\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
