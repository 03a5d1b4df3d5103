"""Benchmark: what clients without credentials sending 1 MB forms cost an authenticated client.

    PYTHONPATH=$PWD/src .venv/bin/python bench/preauth.py [--attackers 4] [--seconds 20] [--label after]

Starts `mycpaas serve` on SQLite (the failed-auth limit raised, as in the test servers, so every attacker
request is a 401 rather than a 429). One authenticated client times `GET …/Messages.json` one request at a
time: first alone (`--seconds`), then while `--attackers` processes, each on a keep-alive connection, POST a
1 MB form (`a=1&a=1&…`, 262,143 fields) with no Authorization header in a loop. Prints p50/p99/max of the
authenticated requests in each phase, the attackers' requests/s and statuses, and the load average
(/proc/loadavg) before and after; appends the lines to bench/results/preauth.txt. To measure another source
tree (say the commit before the fix), point PYTHONPATH at its src/ and give a `--label`.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.server import ServerProcess  # noqa: E402

FORM = b"a=1&" * ((1 << 20) // 4 - 1)  # just under the 1 MB limit


def attack(url: str, path: str, until: float, results: multiprocessing.Queue[Counter[int]]) -> None:
    statuses: Counter[int] = Counter()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    with httpx.Client(base_url=url, timeout=60) as client:
        while time.monotonic() < until:
            try:
                statuses[client.post(path, content=FORM, headers=headers).status_code] += 1
            except httpx.TransportError:
                statuses[0] += 1  # the connection was closed under the request; the client reconnects
    results.put(statuses)


def timed(client: httpx.Client, path: str, seconds: float) -> list[float]:
    took: list[float] = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        started = time.perf_counter()
        response = client.get(path)
        took.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return took


def summary(took: list[float]) -> str:
    cuts = statistics.quantiles(took, n=100, method="inclusive")
    return (
        f"mean {statistics.fmean(took):7.1f} ms  p50 {cuts[49]:7.1f} ms  p99 {cuts[98]:7.1f} ms  "
        f"max {max(took):7.1f} ms  ({len(took)} requests)"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the server process (all its threads; `serve` with 1 worker is one process)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--attackers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mycpaas-bench-preauth-"))
    server = ServerProcess(
        data_dir=tmp, database_url=f"sqlite:///{tmp / 'bench.db'}", env={"MYCPAAS_DELIVERY_WORKER": "false"}
    ).start()
    path = f"{server.accounts_path()}/Messages.json"
    assert server._process is not None
    pid = server._process.pid
    lines = [
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} preauth {args.label} attackers={args.attackers} "
        f"seconds={args.seconds:g} (sqlite, 1 process) load before {load_average()}"
    ]
    try:
        with httpx.Client(
            base_url=server.url, auth=(server.account_sid, server.auth_token), timeout=60
        ) as client:
            timed(client, path, 1)  # warm up
            cpu = cpu_seconds(pid)
            alone = timed(client, path, args.seconds)
            cpu_alone = cpu_seconds(pid) - cpu
            lines.append(f"  alone:            {summary(alone)}")
            print(lines[-1], flush=True)
            results: multiprocessing.Queue[Counter[int]] = multiprocessing.Queue()
            until = time.monotonic() + args.seconds + 2
            attackers = [
                multiprocessing.Process(target=attack, args=(server.url, path, until, results))
                for _ in range(args.attackers)
            ]
            for process in attackers:
                process.start()
            time.sleep(1)  # let the attackers get going
            cpu = cpu_seconds(pid)
            under_attack = timed(client, path, args.seconds)
            cpu_attack = cpu_seconds(pid) - cpu
            statuses: Counter[int] = Counter()
            for _ in attackers:
                statuses.update(results.get(timeout=120))
            for process in attackers:
                process.join()
        lines.append(f"  under attack:     {summary(under_attack)}")
        shown = ", ".join(f"{status or 'reset'}: {count}" for status, count in sorted(statuses.items()))
        rate = sum(statuses.values()) / (args.seconds + 2)
        lines.append(f"  attackers:        {rate:.0f} requests/s of 1 MB without credentials ({shown})")
        lines.append(
            f"  server CPU:       alone {cpu_alone / args.seconds:.0%} of a core; under attack "
            f"{cpu_attack / args.seconds:.0%} of a core"
        )
        lines.append(f"  load after        {load_average()}")
        print("\n".join(lines[-4:]), flush=True)
    finally:
        server.stop()
    with (ROOT / "bench" / "results" / "preauth.txt").open("a") as out:
        out.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
