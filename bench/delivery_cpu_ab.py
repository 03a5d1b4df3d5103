"""Benchmark: the delivery side's CPU per message (sandbox carrier, SQLite), source trees side by side.

    .venv/bin/python bench/delivery_cpu_ab.py [--seconds 4] [--rounds 3] LABEL=SRC_DIR [LABEL=SRC_DIR ...]

The delivery worker's share of create_ab.py --worker, without the HTTP creates beside it: one database is
filled once through the API with the worker off (bench/workload.py's mix from three accounts, wrk -t1 -c50
for --seconds), its send jobs set to run in the far future, and kept as a template. Each round, for each tree
in turn: a copy of the template, `mycpaas serve` from that tree (PYTHONPATH) with the worker on, and once it
listens the jobs made due; the server's CPU (utime+stime from /proc) from then until every message is
`delivered` (queued -> sending -> sent -> receipt -> delivered, and the sandbox's inbound offer of each), over
the messages. The same messages in the same order for every tree and round, so CPU per message compares
trees in one run even on a shared machine. Appends to results/delivery_writes.txt.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_create import wrk  # noqa: E402
from bench.workload import make_senders, request_file  # noqa: E402
from tests.server import ServerProcess  # noqa: E402

SANDBOX = {"MYCPAAS_SANDBOX_SEND_DELAY_SECONDS": "0.01", "MYCPAAS_SANDBOX_DELIVERY_DELAY_SECONDS": "0.2"}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def fill(src: str, seconds: int) -> tuple[Path, int, ServerProcess]:
    template = Path(tempfile.mkdtemp(prefix="delivery-cpu-template-"))
    server = ServerProcess(
        data_dir=template,
        database_url=f"sqlite:///{template / 'mycpaas.db'}",
        env={"PYTHONPATH": src, "MYCPAAS_DELIVERY_WORKER": "false", **SANDBOX},
    )
    server.start()
    senders = make_senders(server.url, server.account_sid, server.auth_token)
    creates = request_file(template / "creates.tsv", senders)
    wrk("post_mixed.lua", server.url, "/", "", seconds, requests=creates)
    server.stop()
    db = sqlite3.connect(template / "mycpaas.db")
    with db:
        db.execute("UPDATE jobs SET run_at = '2999' || substr(run_at, 5)")
    total = db.execute("SELECT count(*) FROM messages").fetchone()[0]
    db.close()
    for log in template.glob("server-*.log"):
        log.unlink()
    return template, total, server


def drain(
    template: Path, src: str, total: int, like: ServerProcess, profile: str = "", py_spy: str = "py-spy"
) -> tuple[float, float]:
    data = Path(tempfile.mkdtemp(prefix="delivery-cpu-run-"))
    shutil.copytree(template, data, dirs_exist_ok=True)
    server = ServerProcess(
        data_dir=data,
        database_url=f"sqlite:///{data / 'mycpaas.db'}",
        env={"PYTHONPATH": src, "MYCPAAS_DELIVERY_WORKER": "true", **SANDBOX},
        account_sid=like.account_sid,
        auth_token=like.auth_token,
    )
    server.start()
    try:
        assert server.pid is not None
        time.sleep(1.0)  # start-up's own work settles
        db = sqlite3.connect(data / "mycpaas.db", timeout=30)
        before = cpu_seconds(server.pid)
        started = time.monotonic()
        spy = None
        if profile:
            spy = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "-p",
                    str(server.pid),
                    "-r",
                    "200",
                    "-f",
                    "raw",
                    "-o",
                    profile,
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(0.5)
        with db:
            db.execute("UPDATE jobs SET run_at = '2000' || substr(run_at, 5)")
        while db.execute("SELECT count(*) FROM messages WHERE status = 'delivered'").fetchone()[0] < total:
            time.sleep(0.25)
            if time.monotonic() - started > 600:
                raise RuntimeError("not drained in 600 s")
        used = cpu_seconds(server.pid) - before
        db.close()
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait()
        return used, time.monotonic() - started
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("trees", nargs="+", help="LABEL=SRC_DIR")
    parser.add_argument("--seconds", type=int, default=4, help="how long wrk fills the queue")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--py-spy", default="py-spy")
    parser.add_argument(
        "--profile", default="", help="py-spy the last round of each tree to PREFIX-LABEL.raw"
    )
    args = parser.parse_args()
    trees = [spec.split("=", 1) for spec in args.trees]
    template, total, like = fill(trees[0][1], args.seconds)
    lines = [
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, bench/delivery_cpu_ab.py: {total} messages drained through "
        f"the sandbox, SQLite, {' '.join(args.trees)}, load {load()}"
    ]
    print(lines[0], flush=True)
    try:
        for round_ in range(1, args.rounds + 1):
            for label, src in trees:
                spy = f"{args.profile}-{label}.raw" if args.profile and round_ == args.rounds else ""
                used, elapsed = drain(template, src, total, like, spy, args.py_spy)
                lines.append(
                    f"round {round_} {label}: {1e6 * used / total:.0f} us/message ({total / elapsed:.0f} msg/s), "
                    f"load {load()}"
                )
                print(lines[-1], flush=True)
    finally:
        shutil.rmtree(template, ignore_errors=True)
    with (ROOT / "bench" / "results" / "delivery_writes.txt").open("a") as handle:
        handle.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
