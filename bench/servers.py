"""Benchmark: which ASGI server runs `mycpaas serve` — throughput, p99 and the limits each one enforces.

    .venv/bin/python bench/servers.py [--duration 10] [--hypercorn /tmp/hc-lib] [--no-limits]

Candidates: uvicorn (what `serve` ran until issue 12), granian and hypercorn, each with 1 and 2 worker
processes, on the standard asyncio loop; then `mycpaas serve --workers 1|2` itself (granian embedded in one
process, or 2 worker processes accepting on the one socket `serve` bound). Loaded by wrk (-t1 -c50) against (a) the raw ASGI baseline
(bench/baseline_app.py: form parsing, a Basic check, JSON, no database) and (b) mycpaas's own authenticated
`POST …/Messages.json` on a fresh PostgreSQL database of $MYCPAAS_TEST_DATABASE_URL (delivery worker and
webhook dispatcher off: this measures the HTTP process). hypercorn is not a dependency: install it for the bench
only (`pip install --target /tmp/hc-lib hypercorn`) and pass the directory.

Then each server's limits, with its defaults (what an operator gets) against the baseline app: a 16 MB header
line, 10,000 headers, headers never finished, a body never finished (does the server answer, and does it close
the connection — after how long, up to 40 s?). Results are printed and appended to bench/results/servers.txt.
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_create import wrk  # noqa: E402
from tests.databases import create_postgres_database  # noqa: E402
from tests.server import FAST_SANDBOX, ServerProcess, free_port  # noqa: E402

PROBE_WAIT = 40.0  # seconds a limit probe waits for the server to answer or close


def command(server: str, workers: int, target: str, port: int) -> list[str]:
    py = [sys.executable, "-m"]
    if server == "uvicorn":
        return [*py, "uvicorn", target, "--port", str(port), "--workers", str(workers), "--loop", "asyncio",
                "--log-level", "warning", "--no-access-log"]  # fmt: skip
    if server == "granian":
        return [*py, "granian", target, "--interface", "asgi", "--port", str(port), "--workers", str(workers),
                "--loop", "asyncio", "--log-level", "warning", "--no-ws"]  # fmt: skip
    if server == "mycpaas serve":  # granian as `serve` runs it: one socket bound by serve, shared by workers
        # No access log, as the other servers here (`serve` logs requests by default in development).
        return [*py, "mycpaas", "serve", "--port", str(port), "--workers", str(workers), "--no-access-log"]
    return [*py, "hypercorn", target, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--worker-class", "asyncio", "--log-level", "warning"]  # fmt: skip


def start(server: str, workers: int, target: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(command(server, workers, target, port), cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    time.sleep(1.0 * workers)  # every worker's lifespan start-up, not only the first one listening
    return process, f"http://127.0.0.1:{port}"


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def probe(port: int, first: bytes, then: Callable[[socket.socket], None] | None = None) -> str:
    """Send `first` (and run `then`), wait for the server; what it did and when."""
    began = time.monotonic()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(PROBE_WAIT)
    sent_all = True
    try:
        sock.sendall(first)
        if then:
            then(sock)
    except OSError:
        sent_all = False
    try:
        answer = sock.recv(200)
    except TimeoutError:
        sock.close()
        return f"no answer, connection still open after {PROBE_WAIT:.0f} s"
    except OSError as error:
        answer = f"({error.strerror})".encode()
    finally:
        sock.close()
    took = time.monotonic() - began
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace") or "closed without an answer"
    return f"{status} after {took:.1f} s" + (
        "" if sent_all else " (stopped reading before we finished sending)"
    )


def limits(port: int) -> dict[str, str]:
    big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (16 << 20) + b"\r\n\r\n"
    many = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(10_000)) + b"\r\n"
    unfinished = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "
    body = b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Basic eDp4\r\nContent-Length: 1000\r\n\r\nTo=1"
    cases = {"16 MB header line": big, "10,000 headers": many, "headers never finished": unfinished,
             "body never finished": body}  # fmt: skip
    results: dict[str, str] = {}

    def run(name: str, data: bytes) -> None:
        results[name] = probe(port, data)

    threads = [threading.Thread(target=run, args=item) for item in cases.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {name: results[name] for name in cases}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument(
        "--hypercorn", metavar="DIR", help="a directory where hypercorn is installed (--target)"
    )
    parser.add_argument("--servers", default="uvicorn,granian,hypercorn,mycpaas serve")
    parser.add_argument("--no-limits", action="store_true", help="skip the limit probes")
    args = parser.parse_args()
    servers = [s for s in args.servers.split(",") if s != "hypercorn" or args.hypercorn]

    tmp = Path(tempfile.mkdtemp(prefix="mycpaas-bench-"))
    database_url = create_postgres_database()
    provision = ServerProcess(data_dir=tmp, database_url=database_url).start()  # schema, owner account
    provision.stop()
    sid, token = provision.account_sid, provision.auth_token
    auth = base64.b64encode(f"{sid}:{token}".encode()).decode()
    path = f"/2010-04-01/Accounts/{sid}/Messages.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYCPAAS_")}
    paths = [str(ROOT), str(ROOT / "src"), *([args.hypercorn] if args.hypercorn else [])]
    env.update(FAST_SANDBOX)  # among others: no per-sender pacing, so no sender's queue fills up (21611)
    env.update(
        PYTHONPATH=os.pathsep.join(paths),
        BENCH_SID=sid,
        BENCH_TOKEN=token,
        MYCPAAS_DATABASE_URL=database_url,
        MYCPAAS_DATA_DIR=str(tmp),
        MYCPAAS_DELIVERY_WORKER="false",
        MYCPAAS_WEBHOOK_DISPATCHER="false",
        MYCPAAS_AUTH_MAX_FAILURES="100000",
    )
    lines = [f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, wrk -t1 -c50 -d{args.duration}s, {os.cpu_count()} CPUs, "
             "PostgreSQL, asyncio loop; mycpaas = API only (delivery worker and dispatcher off)"]  # fmt: skip
    targets = {"raw ASGI": "bench.baseline_app:app", "mycpaas": "bench.servers_app:app"}
    for server in servers:
        for workers in (1, 2):
            for label, target in targets.items():
                if server == "mycpaas serve" and label != "mycpaas":
                    continue
                process, url = start(server, workers, target, env)
                try:
                    wrk("post.lua", url, path, auth, 2)
                    got = wrk("post.lua", url, path, auth, args.duration)
                finally:
                    stop(process)
                lines.append(
                    f"{server} {workers} process(es), {label}: {got['rps']:.0f} req/s p50 {got['p50_ms']:.1f} ms "
                    f"p99 {got['p99_ms']:.1f} ms (errors {got['errors']})"
                )
                print(lines[-1], flush=True)
        if not args.no_limits and server != "mycpaas serve":
            process, url = start(server, 1, targets["raw ASGI"], env)
            try:
                for case, outcome in limits(int(url.rsplit(":", 1)[1])).items():
                    lines.append(f"{server} limits, {case}: {outcome}")
                    print(lines[-1], flush=True)
            finally:
                stop(process)
    results = ROOT / "bench" / "results" / "servers.txt"
    with results.open("a") as handle:
        handle.write("\n".join(lines) + "\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
