"""Benchmark: signed status callbacks per second against a bare signed-POST loop, and what a dead customer
endpoint costs other accounts.

    .venv/bin/python bench/webhooks.py [--messages 4000] [--accounts 4] [--seconds 4] [--postgres]
        [--skip-isolation] [--py-spy PATH]

1. Throughput: --accounts accounts (the owner and subaccounts), each with its own fast loopback receiver
   (bench/fast_receiver.py, a separate process per account that checks one signature in 50 with twilio's
   RequestValidator and that account's token), create --messages messages with a StatusCallback through the
   API (a mix: varying destinations, bodies of 1 to 10 segments in GSM-7 and UCS-2, one in 20 to a sandbox
   number that ends undelivered or failed). They are delivered with the webhook dispatcher off, so their
   callbacks (sending, sent, delivered...) wait in the queue. Then, in this order:
   - bare: a signed-POST loop with no database, as many of each receiver's callbacks as the queue holds, sent
     by aiohttp as the product sends them (webhooks/client.py: the same session settings, form body of the
     same status-callback parameters encoded by its form_body, X-Twilio-Signature by domain/signatures.py,
     idempotency token) at the
     dispatcher's concurrency (MYCPAAS_WEBHOOK_ORIGIN_CONCURRENCY in flight per receiver);
   - product: the server restarts with the dispatcher on and is timed until the receivers have every callback;
   - bare again. The ratio is the product's rate over the mean of the two bare runs. Each side's CPU per
     callback: the bare loop's process, the server process (and on PostgreSQL its backends) over the drain.
   With --py-spy, the server is sampled while it drains and a summary is printed.
2. Isolation: account A's and account B's messages are queued with the worker off; A's callbacks point at an
   endpoint that accepts connections and never answers (baseline run: at the fast receiver), B's at the fast
   receiver. The server restarts with everything on and is timed until B's messages are delivered and B's
   callbacks received. The dead run's rates are compared with the baseline's.
SQLite by default, PostgreSQL with --postgres; one server process. Results are appended to
bench/results/webhooks.txt with the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import aiohttp
from yarl import URL

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_create import wrk  # noqa: E402
from bench.report import record  # noqa: E402
from bench.workload import message_body  # noqa: E402
from mycpaas.domain.signatures import twilio_signature  # noqa: E402
from mycpaas.settings import Settings  # noqa: E402
from mycpaas.webhooks.client import form_body  # noqa: E402
from tests.databases import (  # noqa: E402
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)
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


def psql(url: str, sql: str) -> str:
    """One statement's output; tried again for a few seconds when psql cannot connect (a test elsewhere may be
    restarting the shared PostgreSQL)."""
    for _ in range(20):
        out = subprocess.run(["psql", "-Atq", url, "-c", sql], capture_output=True, text=True)
        if out.returncode != 2:  # 2: the connection failed
            break
        time.sleep(0.5)
    out.check_returncode()
    return out.stdout


class Counter:
    """Runs a COUNT query against the server's database (sqlite3, or psql for PostgreSQL), on a connection of
    its own each time: the throughput phase puts a copy of the file back between drains."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._sqlite = url.removeprefix("sqlite:///") if url.startswith("sqlite") else None

    def __call__(self, sql: str, *args: str) -> int:
        if self._sqlite is not None:
            with contextlib.closing(sqlite3.connect(self._sqlite)) as conn:
                return int(conn.execute(sql, args).fetchone()[0])
        for value in args:  # only SIDs are substituted here
            sql = sql.replace("?", f"'{value}'", 1)
        return int(psql(self.url, sql).strip())

    def backends(self) -> set[int]:
        """PostgreSQL: the backends serving this database (this query's own aside); SQLite: none."""
        if self._sqlite is not None:
            return set()
        sql = (
            "select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
        )
        return {int(line) for line in psql(self.url, sql).split()}


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


UNDELIVERABLE = ["+15005550010", "+15005550011", "+15005550012", "+15005550013", "+15005550014"]
TICK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process so far, in clock ticks (0 once it has gone); as bench/scale.py's."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def load_average() -> str:
    return "load average " + " ".join(f"{value:.1f}" for value in os.getloadavg())


@dataclass
class Account:
    sid: str
    token: str
    receiver: ReceiverProcess


async def create_messages(server_url: str, accounts: list[Account], total: int) -> int:
    """`total` messages spread over the accounts, 50 requests at once; returns how many were created."""
    rng = random.Random(15)
    forms = []
    for n in range(total):
        account = accounts[n % len(accounts)]
        to = rng.choice(UNDELIVERABLE) if rng.random() < 0.05 else f"+1555{rng.randint(2000000, 9999999)}"
        form = {"To": to, "From": "+15005550006", "Body": message_body(rng)}
        form["StatusCallback"] = account.receiver.url
        forms.append((account, form))
    created = 0
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            nonlocal created
            while forms:
                account, form = forms.pop()
                path = f"{server_url}/2010-04-01/Accounts/{account.sid}/Messages.json"
                auth = {"Authorization": "Basic " + auth_of(account.sid, account.token)}
                async with session.post(path, data=form, headers=auth) as response:
                    await response.read()
                    created += response.status == 201

        await asyncio.gather(*(worker() for _ in range(50)))
    return created


def status_params(account_sid: str, rng: random.Random) -> dict[str, str]:
    """A status callback's parameters as domain/webhooks.status_callback_event builds them."""
    sid = "SM" + uuid.UUID(int=rng.getrandbits(128)).hex
    status = rng.choice(("sending", "sent", "delivered"))
    return {
        "ApiVersion": "2010-04-01",
        "AccountSid": account_sid,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "From": "+15005550006",
        "To": f"+1555{rng.randint(2000000, 9999999)}",
    }


async def bare_loop(work: list[tuple[Account, int]], per_origin: int, limit: int) -> tuple[float, float, int]:
    """Signed status-callback POSTs with no database: `per_origin` in flight to each receiver, with the
    product's aiohttp settings, headers, signature and timeouts. Returns (seconds, CPU seconds, failures)."""
    rng = random.Random(16)
    queues = [
        (account, [(status_params(account.sid, rng), str(uuid.uuid4())) for _ in range(count)])
        for account, count in work
    ]
    failures = 0
    policy = Settings()
    timeout = aiohttp.ClientTimeout(
        total=None,
        sock_connect=policy.webhook_connect_timeout_seconds,
        sock_read=policy.webhook_timeout_seconds,
    )
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0)
    async with aiohttp.ClientSession(
        connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
    ) as session:

        async def worker(account: Account, events: list[tuple[dict[str, str], str]]) -> None:
            nonlocal failures
            url = URL(account.receiver.url, encoded=True)
            signed = str(url)
            while events:
                params, token = events.pop()
                signature = twilio_signature(account.token, signed, params)
                headers = {
                    "User-Agent": "TwilioProxy/1.1 (mycpaas webhooks)",
                    "I-Twilio-Idempotency-Token": token,
                    "Accept-Encoding": "identity",
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": signature,
                    "X-Mycpaas-Signature": signature,
                    "X-SignalWire-Signature": signature,
                }
                content = form_body(params)
                async with session.request(
                    "POST", url, data=content, headers=headers, allow_redirects=False, timeout=timeout
                ) as response:
                    await response.content.read(64 * 1024 + 1)
                    failures += not 200 <= response.status < 300

        cpu, started = time.process_time(), time.perf_counter()
        await asyncio.gather(
            *(worker(account, events) for account, events in queues for _ in range(per_origin))
        )
        return time.perf_counter() - started, time.process_time() - cpu, failures


class Profiler:
    """py-spy on a process from start() to stop(); stop() returns the summary lines."""

    def __init__(self, py_spy: str | None, directory: Path) -> None:
        self.py_spy, self.raw = py_spy, directory / "drain.raw"
        self.spy: subprocess.Popen[bytes] | None = None

    def start(self, pid: int) -> None:
        if self.py_spy:
            self.spy = subprocess.Popen(
                [self.py_spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(self.raw),
                 "--rate", "200", "--nonblocking"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )  # fmt: skip

    def stop(self) -> list[str]:
        if self.spy is None:
            return []
        from bench.scale_profile import summarise  # bench.scale imports this module

        self.spy.send_signal(signal.SIGINT)
        _, errors = self.spy.communicate(timeout=60)
        if not self.raw.exists():
            return [f"  py-spy wrote nothing: {errors.decode(errors='replace')[-300:]}"]
        return [*summarise(self.raw, "the server while it drains"), f"  raw stacks: {self.raw}"]


class Snapshot:
    """The filled database, kept aside so that every product round drains the same queue: a copy of the SQLite
    file, or a PostgreSQL template database."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            self.path = Path(url.removeprefix("sqlite:///"))
            self.copy = self.path.with_suffix(".snapshot")
            shutil.copyfile(self.path, self.copy)
        else:
            self.name, self.copy_name = url.rsplit("/", 1)[1], url.rsplit("/", 1)[1] + "_snap"
            admin(f'CREATE DATABASE "{self.copy_name}" TEMPLATE "{self.name}"')

    def restore(self) -> None:
        if self.url.startswith("sqlite"):
            for suffix in ("-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
            shutil.copyfile(self.copy, self.path)
        else:
            admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            admin(f'CREATE DATABASE "{self.name}" TEMPLATE "{self.copy_name}"')

    def dispose(self) -> None:
        if not self.url.startswith("sqlite"):
            admin(f'DROP DATABASE IF EXISTS "{self.copy_name}" WITH (FORCE)')


def admin(sql: str) -> None:
    subprocess.run(["psql", "-Atq", postgres_admin_url(), "-c", sql], capture_output=True, check=True)


@dataclass
class Drain:
    rate: float  # callbacks/s
    cpu_us: float  # CPU per callback: the bare loop's process, or the server's
    db_us: float = 0.0  # PostgreSQL backends' CPU per callback
    note: str = ""


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def throughput(
    messages: int, accounts_wanted: int, postgres: bool, rounds: int, trees: list[str], py_spy: str | None
) -> list[str]:
    """Fill the queue once, then alternate: bare, each source tree's product drain, bare, ... (`rounds`)."""
    tmp = Path(tempfile.mkdtemp(prefix="mycpaas-webhooks-"))
    server = ServerProcess(
        data_dir=tmp,
        database_url=database_url(tmp, postgres),
        env={**FAST, "MYCPAAS_WEBHOOK_DISPATCHER": "false"},
    )
    server.start()
    accounts = [
        Account(server.account_sid, server.auth_token, ReceiverProcess(tmp, "owner", server.auth_token))
    ]
    count = Counter(server.database_url)
    snapshot: Snapshot | None = None
    settings = Settings()
    per_origin, limit = settings.webhook_origin_concurrency, settings.webhook_concurrency
    bare: list[Drain] = []
    product: dict[str, list[Drain]] = {tree: [] for tree in trees}
    profile: list[str] = []

    def received() -> int:
        return sum(a.receiver.counts()[0] for a in accounts)

    try:
        with server.client() as client:
            for n in range(1, accounts_wanted):
                sub = client.post("/2010-04-01/Accounts.json", data={"FriendlyName": f"sub {n}"}).json()
                accounts.append(
                    Account(sub["sid"], sub["auth_token"], ReceiverProcess(tmp, f"sub{n}", sub["auth_token"]))
                )
        created = asyncio.run(create_messages(server.url, accounts, messages))
        final = "('delivered', 'undelivered', 'failed')"
        wait_until(lambda: count(f"select count(*) from messages where status in {final}") >= created)
        server.stop()
        webhook_jobs = "select count(*) from jobs where kind like 'webhook.%'"
        callbacks = count(webhook_jobs)
        work = [
            (a, count(webhook_jobs + " and origin = ?", f"http://127.0.0.1:{a.receiver.port}"))
            for a in accounts
        ]
        snapshot = Snapshot(server.database_url)

        def run_bare() -> None:
            base = received()
            seconds, cpu, failures = asyncio.run(bare_loop(work, per_origin, limit))
            bare.append(Drain(callbacks / seconds, cpu / callbacks * 1e6, note=f"{failures} failed"))
            # The receivers write their counts every 0.2 s: settle them before the next phase reads them.
            wait_until(lambda: received() >= base + callbacks, 30)

        def run_product(tree: str, spy: Profiler | None) -> None:
            assert snapshot is not None
            snapshot.restore()
            base = received()
            server.env.update({"MYCPAAS_WEBHOOK_DISPATCHER": "true", "PYTHONPATH": tree})
            server.start()
            assert server.pid is not None
            ready, ticks = time.monotonic(), cpu_ticks(server.pid)
            backend_ticks = {pid: cpu_ticks(pid) for pid in count.backends()}
            early = received() - base
            if spy is not None:
                spy.start(server.pid)
            done = wait_until(lambda: received() - base >= callbacks)
            server_cpu = (cpu_ticks(server.pid) - ticks) / TICK
            db_cpu = sum(cpu_ticks(pid) - backend_ticks.get(pid, 0) for pid in count.backends()) / TICK
            if spy is not None:
                profile.extend(spy.stop())
            wait_until(lambda: count("select count(*) from jobs") == 0, 60)
            attempts = count("select count(*) from webhook_attempts where outcome = 'delivered'")
            server.stop()
            drained = callbacks - early
            product[tree].append(
                Drain(
                    drained / (done - ready),
                    server_cpu / drained * 1e6,
                    db_cpu / drained * 1e6,
                    f"{early} before ready, {attempts} attempts recorded as delivered",
                )
            )

        run_bare()
        for turn in range(rounds):
            for tree in trees:
                last = turn == rounds - 1 and tree == trees[0]
                run_product(tree, Profiler(py_spy, tmp) if py_spy and last else None)
            run_bare()
        stats = [a.receiver.counts() for a in accounts]
    finally:
        server.stop()
        for account in accounts:
            account.receiver.stop()
        if snapshot is not None:
            snapshot.dispose()
        dispose(server.database_url)
    bare_rate = median([d.rate for d in bare])
    lines = [
        f"throughput: {created} messages of {len(accounts)} accounts, {callbacks} queued callbacks "
        f"({', '.join(str(n) for _, n in work)} per receiver), {rounds} round(s); "
        f"bare signed-POST loop (aiohttp, {per_origin} in flight per receiver): "
        f"{'/'.join(f'{d.rate:.0f}' for d in bare)} = median {bare_rate:.0f} callbacks/s, "
        f"CPU {median([d.cpu_us for d in bare]):.0f} us/callback ({', '.join(d.note for d in bare)}); "
        f"{sum(s[2] for s in stats)} signatures checked, {sum(s[3] for s in stats)} bad; {load_average()}"
    ]
    for tree, drains in product.items():
        rate = median([d.rate for d in drains])
        db = f" + PostgreSQL {median([d.db_us for d in drains]):.0f}" if postgres else ""
        lines.append(
            f"  product ({tree}): {'/'.join(f'{d.rate:.0f}' for d in drains)} = median {rate:.0f} "
            f"callbacks/s, server CPU {median([d.cpu_us for d in drains]):.0f}{db} us/callback; "
            f"ratio {rate / bare_rate * 100:.0f}% of the bare loop ({'; '.join(d.note for d in drains)})"
        )
        if tree == trees[0]:
            record(
                "webhooks_postgres" if postgres else "webhooks_sqlite",
                rate / bare_rate,
                lines[0] + " " + lines[-1],
            )
    return lines + profile


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
    parser.add_argument(
        "--messages", type=int, default=4000, help="messages created for the throughput phase"
    )
    parser.add_argument("--accounts", type=int, default=4, help="accounts, each with its own receiver")
    parser.add_argument("--seconds", type=int, default=4, help="load time of each isolation run")
    parser.add_argument("--skip-isolation", action="store_true")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--rounds", type=int, default=1, help="product drains per source tree")
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="SRC",
        help="another source tree (its src/ directory) drained in alternation, e.g. main's",
    )
    parser.add_argument("--py-spy", help="py-spy executable: sample the server in the last drain")
    parser.add_argument("--label", default="", help="added to the result lines (e.g. the change measured)")
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    stamp = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {'PostgreSQL' if args.postgres else 'SQLite'}, "
        f"{commit}{' ' + args.label if args.label else ''}"
    )
    trees = [str(ROOT / "src"), *args.compare]
    found = throughput(args.messages, args.accounts, args.postgres, args.rounds, trees, args.py_spy)
    lines = [f"{stamp}, {found[0]}", *found[1:]]
    print("\n".join(lines), flush=True)
    if not args.skip_isolation:
        base = isolation(args.seconds, dead=False, postgres=args.postgres)
        dead = isolation(args.seconds, dead=True, postgres=args.postgres)

        def change(key: str) -> str:
            return f"{base[key]:.0f} -> {dead[key]:.0f} ({(dead[key] / base[key] - 1) * 100:+.1f}%)"

        lines.append(
            f"{stamp}, isolation (A {dead['a_messages']:.0f} msgs with callbacks to a hanging endpoint, "
            f"B {dead['b_messages']:.0f} msgs to a fast receiver; baseline: A's endpoint fast): "
            f"B delivered/s {change('b_delivered_per_s')}, B callbacks/s {change('b_callbacks_per_s')}, "
            f"all delivered/s {change('all_delivered_per_s')}; {load_average()}"
        )
        print(lines[-1])
    with (ROOT / "bench" / "results" / "webhooks.txt").open("a") as handle:
        handle.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
