"""Benchmark: signed status callbacks per second, and what a dead customer endpoint costs other accounts.

    .venv/bin/python bench/webhooks.py [--seconds 4]

1. Throughput: messages with a StatusCallback are created (wrk -t1 -c50 for --seconds) and delivered with the
   webhook dispatcher off, so their callbacks (sending, sent, delivered) wait in the queue. The server restarts
   with the dispatcher on and is timed until a fast loopback receiver (bench/fast_receiver.py, a separate
   process that checks one signature in 50 with twilio's RequestValidator) has every callback.
2. Isolation: account A's and account B's messages are queued with the worker off; A's callbacks point at an
   endpoint that accepts connections and never answers (baseline run: at the fast receiver), B's at the fast
   receiver. The server restarts with everything on and is timed until B's messages are delivered and B's
   callbacks received. The dead run's rates are compared with the baseline's.
SQLite by default, PostgreSQL with --postgres; one server process. Results are appended to
bench/results/webhooks.txt.
"""

from __future__ import annotations

import argparse
import base64
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_create import wrk  # noqa: E402
from tests.databases import create_postgres_database, drop_postgres_database  # noqa: E402
from tests.server import ServerProcess, free_port  # noqa: E402

FAST = {"MYCPAAS_SANDBOX_SEND_DELAY_SECONDS": "0.01", "MYCPAAS_SANDBOX_DELIVERY_DELAY_SECONDS": "0.2"}


class ReceiverProcess:
    def __init__(self, tmp: Path, name: str, token: str, hang: bool = False) -> None:
        self.port = free_port()
        self.count_file = tmp / f"{name}.count"
        args = [
            sys.executable,
            str(ROOT / "bench" / "fast_receiver.py"),
            str(self.port),
            token,
            str(self.count_file),
        ]
        self.process = subprocess.Popen([*args, "--hang"] if hang else args)
        while not self.count_file.exists():
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cb"

    def counts(self) -> tuple[int, int, int, int]:
        text = self.count_file.read_text().split()
        if len(text) != 4:
            return 0, 0, 0, 0
        requests, tokens, checked, bad = (int(x) for x in text)
        return requests, tokens, checked, bad

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def body(callback: str) -> str:
    return (
        f"To=%2B15558675310&From=%2B15005550006&Body=Hello+webhooks&StatusCallback={quote(callback, safe='')}"
    )


def auth_of(sid: str, token: str) -> str:
    return base64.b64encode(f"{sid}:{token}".encode()).decode()


class Counter:
    """Runs a COUNT query against the server's database (sqlite3, or psql for PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._sqlite = sqlite3.connect(url.removeprefix("sqlite:///")) if url.startswith("sqlite") else None

    def __call__(self, sql: str, *args: str) -> int:
        if self._sqlite is not None:
            return int(self._sqlite.execute(sql, args).fetchone()[0])
        for value in args:  # only SIDs are substituted here
            sql = sql.replace("?", f"'{value}'", 1)
        out = subprocess.run(
            ["psql", "-Atq", self.url, "-c", sql], capture_output=True, text=True, check=True
        )
        return int(out.stdout.strip())


def database_url(tmp: Path, postgres: bool) -> str:
    return create_postgres_database() if postgres else f"sqlite:///{tmp / 'mycpaas.db'}"


def dispose(url: str) -> None:
    if url.startswith("postgresql"):
        drop_postgres_database(url)


def wait_until(check: object, limit: float = 600) -> float:
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - started > limit:
            raise TimeoutError("benchmark did not finish")
        time.sleep(0.05)
    return time.monotonic()


def throughput(seconds: int, postgres: bool) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="mycpaas-webhooks-"))
    server = ServerProcess(
        data_dir=tmp,
        database_url=database_url(tmp, postgres),
        env={**FAST, "MYCPAAS_WEBHOOK_DISPATCHER": "false"},
    )
    server.start()
    receiver = ReceiverProcess(tmp, "fast", server.auth_token)
    count = Counter(server.database_url)
    try:
        path = f"/2010-04-01/Accounts/{server.account_sid}/Messages.json"
        wrk(
            "post.lua",
            server.url,
            path,
            auth_of(server.account_sid, server.auth_token),
            seconds,
            body=body(receiver.url),
        )
        total_messages = count("select count(*) from messages")
        wait_until(
            lambda: count("select count(*) from messages where status = 'delivered'") >= total_messages
        )
        server.stop()
        callbacks = count("select count(*) from jobs where kind like 'webhook.%'")
        server.env["MYCPAAS_WEBHOOK_DISPATCHER"] = "true"
        server.start()
        ready = time.monotonic()
        done = wait_until(lambda: receiver.counts()[0] >= callbacks)
        requests, tokens, checked, bad = receiver.counts()
        wait_until(lambda: count("select count(*) from jobs") == 0, 60)
        attempts = count("select count(*) from webhook_attempts where outcome = 'delivered'")
    finally:
        server.stop()
        receiver.stop()
        dispose(server.database_url)
    rate = callbacks / (done - ready)
    return (
        f"throughput: {callbacks} queued callbacks ({total_messages} messages) received in {done - ready:.1f} s "
        f"after start-up = {rate:.0f} callbacks/s; {requests} requests, {tokens} distinct tokens, "
        f"{checked} signatures checked, {bad} bad; {attempts} attempts recorded as delivered"
    )


def isolation(seconds: int, dead: bool, postgres: bool) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="mycpaas-isolation-"))
    server = ServerProcess(
        data_dir=tmp,
        database_url=database_url(tmp, postgres),
        env={**FAST, "MYCPAAS_DELIVERY_WORKER": "false", "MYCPAAS_WEBHOOK_DISPATCHER": "false"},
    )
    server.start()
    healthy = ReceiverProcess(tmp, "healthy", server.auth_token)
    other = ReceiverProcess(tmp, "other", "unused", hang=dead)
    count = Counter(server.database_url)
    try:
        with server.client() as client:
            sub = client.post("/2010-04-01/Accounts.json", data={"FriendlyName": "A"}).json()
        a_path = f"/2010-04-01/Accounts/{sub['sid']}/Messages.json"
        wrk(
            "post.lua",
            server.url,
            a_path,
            auth_of(sub["sid"], sub["auth_token"]),
            seconds,
            body=body(other.url),
        )
        b_path = f"/2010-04-01/Accounts/{server.account_sid}/Messages.json"
        b_auth = auth_of(server.account_sid, server.auth_token)
        wrk("post.lua", server.url, b_path, b_auth, seconds, body=body(healthy.url))
        server.stop()
        of_account = "select count(*) from messages where account_sid = ?"
        a_total = count(of_account, sub["sid"])
        b_total = count(of_account, server.account_sid)
        server.env.update({"MYCPAAS_DELIVERY_WORKER": "true", "MYCPAAS_WEBHOOK_DISPATCHER": "true"})
        server.start()
        ready = time.monotonic()
        delivered = of_account + " and status = 'delivered'"
        checks = {
            "b_delivered": lambda: count(delivered, server.account_sid) >= b_total,
            "b_called": lambda: healthy.counts()[0] >= 3 * b_total,
            "all_delivered": lambda: (
                count("select count(*) from messages where status = 'delivered'") >= a_total + b_total
            ),
        }
        reached: dict[str, float] = {}
        while len(reached) < len(checks) and time.monotonic() - ready < 600:
            for name, check in checks.items():
                if name not in reached and check():
                    reached[name] = time.monotonic()
            time.sleep(0.05)
        b_delivered, b_called, all_delivered = (reached[name] for name in checks)
        a_requests = other.counts()[0]
    finally:
        server.stop()
        healthy.stop()
        other.stop()
        dispose(server.database_url)
    return {
        "a_messages": a_total,
        "b_messages": b_total,
        "b_delivered_per_s": b_total / (b_delivered - ready),
        "b_callbacks_per_s": 3 * b_total / (b_called - ready),
        "all_delivered_per_s": (a_total + b_total) / (all_delivered - ready),
        "a_requests": a_requests,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--skip-isolation", action="store_true")
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {'PostgreSQL' if args.postgres else 'SQLite'}"
    lines = [f"{stamp}, {throughput(args.seconds, args.postgres)}"]
    print(lines[-1], flush=True)
    if not args.skip_isolation:
        base = isolation(args.seconds, dead=False, postgres=args.postgres)
        dead = isolation(args.seconds, dead=True, postgres=args.postgres)

        def change(key: str) -> str:
            return f"{base[key]:.0f} -> {dead[key]:.0f} ({(dead[key] / base[key] - 1) * 100:+.1f}%)"

        lines.append(
            f"{stamp}, isolation (A {dead['a_messages']:.0f} msgs with callbacks to a hanging endpoint, "
            f"B {dead['b_messages']:.0f} msgs to a fast receiver; baseline: A's endpoint fast): "
            f"B delivered/s {change('b_delivered_per_s')}, B callbacks/s {change('b_callbacks_per_s')}, "
            f"all delivered/s {change('all_delivered_per_s')}"
        )
        print(lines[-1])
    with (ROOT / "bench" / "results" / "webhooks.txt").open("a") as handle:
        handle.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
