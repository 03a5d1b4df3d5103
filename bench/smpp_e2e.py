"""Benchmark: API -> database -> SMPP -> receipt -> database -> status callback, end to end, sustained.

    .venv/bin/python bench/smpp_e2e.py [--seconds 60] [--connections 50] [--window 100] [--postgres] [--profile]

One `mycpaas serve` process (SQLite by default) with one SMPP connector (one bind_transceiver, window 100) to
the node SMSC simulator (tests/smsc, DLR_DELAY_MS=10), sender rate limits off. wrk posts messages with a
StatusCallback to a fast loopback receiver (bench/fast_receiver.py) for --seconds; the run ends when every
message created is `delivered` and every callback (sending, sent, delivered) has arrived. Reported:
messages/s accepted by the API, messages/s delivered over the whole run (first POST to last receipt
applied), callbacks/s, and the simulator's own counts (submits, receipts sent and acknowledged).

--profile samples the server with py-spy (`pip install py-spy`) during the load and attributes each sample to
the innermost frame that belongs to SMPP (mycpaas/smpp, the SMPP carrier), the database (SQLAlchemy, the
drivers, mycpaas/storage), HTTP (uvicorn, starlette, h11/httptools, mycpaas/api, aiohttp for callbacks), or
other (the event loop itself, services, JSON, ...). Results are appended to bench/results/smpp_e2e.txt.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_create import wrk  # noqa: E402
from bench.webhooks import Counter, ReceiverProcess, auth_of, body, database_url, dispose, wait_until  # noqa: E402
from tests.server import ServerProcess  # noqa: E402
from tests.smsc_support import Smsc  # noqa: E402

CATEGORIES = [
    ("smpp", ("mycpaas/smpp/", "mycpaas/delivery/carriers/smpp.py")),
    (
        "database",
        ("sqlalchemy/", "aiosqlite/", "sqlite3/", "asyncpg/", "mycpaas/storage/", "<built-in method execute"),
    ),
    (
        "http",
        ("uvicorn/", "starlette/", "h11/", "httptools/", "mycpaas/api/", "aiohttp/", "mycpaas/webhooks/"),
    ),
]


def categorize(stack: str) -> str:
    """The category of the innermost frame of a collapsed py-spy stack that belongs to one."""
    for frame in reversed(stack.split(";")):
        for name, markers in CATEGORIES:
            if any(marker in frame for marker in markers):
                return name
    return "other"


def profile(pid: int, seconds: int, out: Path) -> dict[str, float]:
    subprocess.run(
        [
            "py-spy",
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--format",
            "raw",
            "--rate",
            "200",
            "--output",
            str(out),
            "--nonblocking",
        ],
        check=True,
        capture_output=True,
    )
    counts: collections.Counter[str] = collections.Counter()
    for line in out.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if number.isdigit():
            idle = "select (selectors.py" in stack or "_run_once" in stack.split(";")[-1]
            counts["idle" if idle else categorize(stack)] += int(number)
    busy = sum(v for k, v in counts.items() if k != "idle") or 1
    return {k: 100.0 * v / busy for k, v in counts.items() if k != "idle"}


def wait_stable(read: object) -> int:
    """A count that has stopped changing for half a second."""
    last = -1
    while True:
        current = int(read())  # type: ignore[operator]
        if current == last:
            return current
        last = current
        time.sleep(0.5)


def run(
    seconds: int,
    connections: int,
    window: int,
    postgres: bool,
    with_profile: bool,
    callbacks: bool,
    sandbox: bool = False,
) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="mycpaas-smpp-bench-"))
    smsc = Smsc(tmp / "smsc", DLR_DELAY_MS=10)
    no_limits = {f"MYCPAAS_SENDER_MPS_{kind}": "0" for kind in ("LONG_CODE", "TOLL_FREE", "SHORT_CODE")}
    server = ServerProcess(data_dir=tmp, database_url=database_url(tmp, postgres), env=no_limits)
    env = server._environment()
    setup = (
        (["migrate"], None),
        (
            [
                "carriers",
                "add",
                "sim",
                "--host",
                smsc.host,
                "--port",
                str(smsc.port),
                "--system-id",
                "test",
                "--password-stdin",
                "--window",
                str(window),
            ],
            "secret\n",
        ),
    )
    for args, stdin in setup[:1] if sandbox else setup:
        subprocess.run(
            [sys.executable, "-m", "mycpaas", *args],
            input=stdin,
            text=True,
            env=env,
            check=True,
            capture_output=True,
            cwd=tmp,
        )
    server.start()
    receiver = ReceiverProcess(tmp, "fast", server.auth_token)
    count = Counter(server.database_url)
    try:
        with server.client() as client:
            client.post(
                f"{server.accounts_path()}/IncomingPhoneNumbers.json", data={"PhoneNumber": "+15005550006"}
            )
        if not sandbox:
            wait_until(lambda: "bound as" in server.log_text(), 20)
        path = f"/2010-04-01/Accounts/{server.account_sid}/Messages.json"
        shares: dict[str, float] = {}
        started = time.monotonic()
        profiler = None
        if with_profile:
            assert server._process is not None
            profiler_seconds = max(5, seconds - 5)
            import threading

            def sample() -> None:
                shares.update(profile(server._process.pid, profiler_seconds, tmp / "profile.txt"))  # type: ignore[union-attr]

            profiler = threading.Thread(target=sample)
            profiler.start()
        load = wrk(
            "post.lua",
            server.url,
            path,
            auth_of(server.account_sid, server.auth_token),
            seconds,
            connections=connections,
            body=body(receiver.url),
        )
        if profiler:
            profiler.join()
        created = count("select count(*) from messages")
        delivered_at = wait_until(
            lambda: count("select count(*) from messages where status = 'delivered'") >= created, 900
        )
        created = wait_stable(
            lambda: count("select count(*) from messages")
        )  # wrk's last requests finish late
        delivered_at = wait_until(
            lambda: count("select count(*) from messages where status = 'delivered'") >= created, 900
        )
        called_at = (
            wait_until(lambda: receiver.counts()[0] >= 3 * created, 900) if callbacks else delivered_at
        )
        stats = smsc.stats()
        failed = count("select count(*) from messages where status in ('failed', 'undelivered')")
        pending = count("select count(*) from pending_receipts")
    finally:
        server.stop()
        receiver.stop()
        smsc.stop()
        dispose(server.database_url)
    requests, tokens, checked, bad = receiver.counts()
    line = (
        f"{created} messages: API accepted {load['rps']:.0f}/s (p50 {load['p50_ms']:.0f} ms, p99 "
        f"{load['p99_ms']:.0f} ms, {load['errors']:.0f} errors) for {seconds} s; all delivered "
        f"{delivered_at - started:.1f} s after the first POST = {created / (delivered_at - started):.0f} msg/s end "
        f"to end; {requests} callbacks by {called_at - started:.1f} s = {requests / (called_at - started):.0f}/s "
        f"({bad} bad signatures of {checked} checked); failed/undelivered {failed}; receipts unmatched {pending}; "
        f"SMSC: {stats.get('submits')} submits, {stats.get('receipts_sent')} receipts sent, "
        f"{stats.get('receipts_acked')} acknowledged"
    )
    if shares:
        line += "; CPU of the server while loaded: " + ", ".join(
            f"{k} {v:.0f}%" for k, v in sorted(shares.items(), key=lambda kv: -kv[1])
        )
    return line


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--sandbox", action="store_true", help="no connector: the sandbox carrier, to compare"
    )
    parser.add_argument("--no-callbacks", action="store_true", help="messages without a StatusCallback")
    args = parser.parse_args()
    line = run(
        args.seconds,
        args.connections,
        args.window,
        args.postgres,
        args.profile,
        not args.no_callbacks,
        args.sandbox,
    )
    backend = "postgres" if args.postgres else "sqlite"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    result = f"{stamp} {backend} window={args.window} c={args.connections}: {line}"
    print(result)
    with (ROOT / "bench" / "results" / "smpp_e2e.txt").open("a") as handle:
        handle.write(result + "\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
