"""Benchmark: API -> database -> SMPP -> receipt -> database -> status callback, end to end, sustained, against a
bare submit loop on the same simulator in the same run.

    .venv/bin/python bench/smpp_e2e.py [--seconds 60] [--connections 50] [--window 100] [--postgres] [--profile]
        [--baseline-seconds 10] [--no-baseline] [--sandbox] [--no-callbacks] [--workers N] [--split]

One `mycpaas serve` process (SQLite by default) with one SMPP connector (one bind_transceiver, window 100) to
the node SMSC simulator (tests/smsc, DLR_DELAY_MS=10), sender rate limits off. The load is honest about who
sends what: three accounts (the owner and two subaccounts, bench/workload.py's make_senders), each sending
from its own number, to varied destinations (none with a failure-injecting suffix of the simulator), with
bench/workload.py's mix of bodies (1-segment GSM-7 most often, 2-3 segments, UCS-2, up to 10 segments) and a
StatusCallback to a fast loopback receiver per account (bench/fast_receiver.py, which checks signatures). wrk
(bench/post_mixed.lua) posts those prepared requests in turn for --seconds; the run ends when every message
created is `delivered` and every callback (sending, sent, delivered) has arrived. Reported: messages/s
accepted by the API, messages/s delivered over the whole run (first POST to last receipt applied), callbacks/s,
the server's CPU per message (utime + stime from /proc over the whole run), and the simulator's own counts.

The baseline (issue 15's target is end to end >= 25% of it): a bare submit loop, the project's own SMPP client
(mycpaas/smpp: Session, encoding, concatenation, receipt parsing) with no database and no HTTP, bound to the
same simulator with the same settings (bind_transceiver, window 100, 200 messages in flight as the worker's
concurrency) on a system_id of its own, submitting the same mix of messages (every part, each waiting for its
submit_sm_resp) for --baseline-seconds and consuming and acknowledging every receipt the simulator sends;
messages/s from its first submit_sm to its last receipt. It runs just before and just after the product run;
the ratio is end to end over the mean of the two.

With --postgres, `--workers N` serves with `mycpaas serve --workers N`, and --split runs two `serve` processes on
the one database: the API (and dashboard) in one, the delivery worker (the SMPP bind) and the webhook dispatcher in
the other; the server's CPU is then that of every process (and child) of the server, PostgreSQL's own not counted.

--profile samples the server with py-spy (`pip install py-spy`) during the load and attributes each sample to
the innermost frame that belongs to SMPP (mycpaas/smpp, the SMPP carrier), the database (SQLAlchemy, the
drivers, mycpaas/storage), HTTP (granian, mycpaas/api, aiohttp for callbacks), or other (the event loop itself,
services, JSON, ...); the raw profile is kept beside the run's files and its top functions are printed.
Results (with /proc/loadavg) are appended to bench/results/smpp_e2e.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_create import wrk  # noqa: E402
from bench.report import record  # noqa: E402
from bench.webhooks import Counter, ReceiverProcess, database_url, dispose, wait_until  # noqa: E402
from bench.workload import Sender, make_senders, message_body  # noqa: E402
from mycpaas.smpp import concatenation, encoding  # noqa: E402
from mycpaas.smpp.pdu import Command, Pdu, Status  # noqa: E402
from mycpaas.smpp.receipts import parse_receipt  # noqa: E402
from mycpaas.smpp.session import BindConfig, Session  # noqa: E402
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
        ("granian/", "uvicorn/", "starlette/", "mycpaas/api/", "aiohttp/", "mycpaas/webhooks/"),
    ),
]
CONCURRENCY = 200  # messages in flight, as the delivery worker's default concurrency
BARE_SYSTEM_ID, BARE_PASSWORD = "bare", "secret"
MIX_SIZE = 20_000
AREA_CODES = ("212", "305", "415", "512", "617", "646", "718", "773", "917")


@dataclass(frozen=True, slots=True)
class Account:
    """A sender (bench/workload.py) and the receiver of its signed status callbacks."""

    sender: Sender
    receiver: ReceiverProcess


@dataclass(frozen=True, slots=True)
class Send:
    account: Account
    to: str
    body: str


def make_accounts(server: ServerProcess, tmp: Path) -> list[Account]:
    """The owner and two subaccounts, each with a number of its own and a receiver for its callbacks."""
    senders = make_senders(server.url, server.account_sid, server.auth_token, subaccounts=2)
    return [Account(s, ReceiverProcess(tmp, f"receiver-{i}", s.token)) for i, s in enumerate(senders)]


def destination(rng: random.Random) -> str:
    """A US number whose suffix triggers none of the simulator's injected failures (…0001-…0008 and …0990NNN;
    bench/workload.py's destinations may end so): the last seven digits start at 2000000."""
    while True:
        number = f"+1{rng.choice(AREA_CODES)}{rng.randint(2_000_000, 9_999_999)}"
        if not ("0001" <= number[-4:] <= "0008"):
            return number


def make_mix(accounts: list[Account], size: int = MIX_SIZE, seed: int = 15) -> list[Send]:
    rng = random.Random(seed)
    return [Send(rng.choice(accounts), destination(rng), message_body(rng)) for _ in range(size)]


def write_mix(mix: list[Send], path: Path, callbacks: bool) -> None:
    """The prepared requests of bench/post_mixed.lua: path, credentials and form body, one per line."""
    lines = []
    for send in mix:
        sender = send.account.sender
        form = {"To": send.to, "From": sender.number, "Body": send.body}
        if callbacks:
            form["StatusCallback"] = send.account.receiver.url
        lines.append(f"/2010-04-01/Accounts/{sender.sid}/Messages.json\t{sender.basic}\t{urlencode(form)}")
    path.write_text("\n".join(lines) + "\n")


# ---- the baseline: the project's SMPP client alone --------------------------------------------------------


def _fields(
    send: Send, coding: encoding.DataCoding, part: concatenation.Part
) -> dict[str, int | str | bytes]:
    """submit_sm fields as the SMPP carrier builds them (international numbers, receipts asked for)."""
    return {
        "source_addr_ton": 1,
        "source_addr_npi": 1,
        "source_addr": send.account.sender.number.lstrip("+"),
        "dest_addr_ton": 1,
        "dest_addr_npi": 1,
        "destination_addr": send.to.lstrip("+"),
        "esm_class": 0x40 if part.esm_class_udhi else 0,
        "registered_delivery": 1,
        "data_coding": int(coding),
        "validity_period": "",
        "short_message": part.short_message,
    }


async def bare_submit_loop(
    host: str, port: int, window: int, mix: list[Send], seconds: float
) -> dict[str, float]:
    """Submit messages of `mix` in turn for `seconds` with CONCURRENCY in flight (every part waits for its
    submit_sm_resp, a message's parts one after another as the carrier sends them), then wait for every
    receipt; each receipt is parsed and acknowledged (after the handler, as the product does)."""
    receipts = 0
    parts_sent = 0
    stopping = False
    all_in = asyncio.Event()
    last_receipt = time.monotonic()

    async def on_deliver(pdu: Pdu) -> int:
        nonlocal receipts, last_receipt
        parse_receipt(pdu.octets("short_message").decode("latin-1"))
        receipts += 1
        last_receipt = time.monotonic()
        if stopping and receipts >= parts_sent:
            all_in.set()
        return Status.OK

    session = await Session.open(BindConfig(host, port, BARE_SYSTEM_ID, BARE_PASSWORD), on_deliver, window)
    messages = 0
    reference = 0
    next_index = 0
    started = time.monotonic()
    cpu = time.process_time()
    deadline = started + seconds

    async def worker() -> None:
        nonlocal messages, reference, next_index, parts_sent
        while time.monotonic() < deadline:
            send = mix[next_index % len(mix)]
            next_index += 1
            coding = encoding.choose(send.body, "gsm7")
            reference = (reference + 1) % 256
            for part in concatenation.split(send.body, coding, reference, "udh"):
                parts_sent += 1
                await session.request(Command.SUBMIT_SM, None, **_fields(send, coding, part))
            messages += 1

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    stopping = True
    if receipts >= parts_sent:
        all_in.set()
    await asyncio.wait_for(all_in.wait(), 120)
    cpu = time.process_time() - cpu
    await session.unbind()
    elapsed = last_receipt - started
    return {
        "messages": messages,
        "parts": parts_sent,
        "seconds": elapsed,
        "rate": messages / elapsed,
        "cpu_us": 1e6 * cpu / messages,
    }


def bare(smsc: Smsc, window: int, mix: list[Send], seconds: float) -> dict[str, float]:
    return asyncio.run(bare_submit_loop(smsc.host, smsc.port, window, mix, seconds))


def describe_bare(result: dict[str, float]) -> str:
    return (
        f"{result['rate']:.0f} msg/s ({result['messages']:.0f} messages, {result['parts']:.0f} parts in "
        f"{result['seconds']:.1f} s, client CPU {result['cpu_us']:.0f} us/msg)"
    )


# ---- the product ----------------------------------------------------------------------------------------------


def categorize(stack: str) -> str:
    """The category of the innermost frame of a collapsed py-spy stack that belongs to one."""
    for frame in reversed(stack.split(";")):
        for name, markers in CATEGORIES:
            if any(marker in frame for marker in markers):
                return name
    return "other"


def profile(pid: int, seconds: int, out: Path) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """Shares of the busy samples by category, and the top functions by self time (percent of busy)."""
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
    functions: collections.Counter[str] = collections.Counter()
    for line in out.read_text().splitlines():
        stack, _, number = line.rpartition(" ")
        if number.isdigit():
            idle = "select (selectors.py" in stack or "_run_once" in stack.split(";")[-1]
            counts["idle" if idle else categorize(stack)] += int(number)
            if not idle:
                functions[stack.split(";")[-1]] += int(number)
    busy = sum(v for k, v in counts.items() if k != "idle") or 1
    shares = {k: 100.0 * v / busy for k, v in counts.items() if k != "idle"}
    return shares, [(name, 100.0 * n / busy) for name, n in functions.most_common(15)]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) and of its live children (`serve --workers`), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            with contextlib.suppress(OSError):
                total += cpu_seconds(int(child))
    return total


def settled_counts(receiver: ReceiverProcess) -> tuple[int, int, int, int]:
    """A receiver's counts, read again while its file is being rewritten (counts() then says all zero)."""
    while (counts := receiver.counts()) == (0, 0, 0, 0):
        time.sleep(0.05)
    return counts


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
    baseline_seconds: float = 10.0,
    workers: int = 1,
    split: bool = False,
) -> str:
    tmp = Path(tempfile.mkdtemp(prefix="mycpaas-smpp-bench-"))
    smsc = Smsc(tmp / "smsc", DLR_DELAY_MS=10, USERS=f"test:secret,{BARE_SYSTEM_ID}:{BARE_PASSWORD}")
    no_limits = {f"MYCPAAS_SENDER_MPS_{kind}": "0" for kind in ("LONG_CODE", "TOLL_FREE", "SHORT_CODE")}
    extra = ["--workers", str(workers)] if workers > 1 else []
    if split:
        extra += ["--no-delivery-worker", "--no-webhook-dispatcher"]
    server = ServerProcess(data_dir=tmp, database_url=database_url(tmp, postgres), env=no_limits, args=extra)
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
    # --split: the delivery worker (its SMPP bind) and the webhook dispatcher in a second `serve` of their own,
    # with the first one's server secret.
    back = None
    if split:
        (tmp / "back").mkdir()
        shutil.copy(tmp / "secret.key", tmp / "back" / "secret.key")
        back = ServerProcess(
            data_dir=tmp / "back",
            database_url=server.database_url,
            env=no_limits,
            args=["--no-api", "--no-dashboard"],
            account_sid=server.account_sid,
            auth_token=server.auth_token,
        )
        back.start()
    bound = back or server
    accounts = make_accounts(server, tmp)
    mix = make_mix(accounts)
    write_mix(mix, tmp / "mix.txt", callbacks)
    count = Counter(server.database_url)
    before = after = None
    top: list[tuple[str, float]] = []
    try:
        if baseline_seconds > 0:
            before = bare(smsc, window, mix, baseline_seconds)
            print("bare submit loop before:", describe_bare(before), flush=True)
        if not sandbox:
            wait_until(lambda: "bound as" in bound.log_text(), 20)
        shares: dict[str, float] = {}
        assert server._process is not None
        pid = server._process.pid
        pids = [pid] + ([back.pid] if back is not None and back.pid is not None else [])
        cpu_before = sum(cpu_seconds(p) for p in pids)
        started = time.monotonic()
        profiler = None
        if with_profile:
            profiler_seconds = max(5, seconds - 5)
            import threading

            def sample() -> None:
                found, functions = profile(pid, profiler_seconds, tmp / "profile.txt")
                shares.update(found)
                top.extend(functions)

            profiler = threading.Thread(target=sample)
            profiler.start()
        load = wrk(
            "post_mixed.lua", server.url, "/", "", seconds, connections=connections, requests=tmp / "mix.txt"
        )
        if profiler:
            profiler.join()
        created = wait_stable(
            lambda: count("select count(*) from messages")
        )  # wrk's last requests finish late
        while True:  # ... and under load some finish later still: count again once all is done
            delivered_at = wait_until(
                lambda n=created: count("select count(*) from messages where status = 'delivered'") >= n, 900
            )
            called_at = (
                wait_until(lambda n=3 * created: sum(a.receiver.counts()[0] for a in accounts) >= n, 900)
                if callbacks
                else delivered_at
            )
            if (now := count("select count(*) from messages")) == created:
                break
            created = now
        cpu_used = sum(cpu_seconds(p) for p in pids) - cpu_before
        stats = smsc.stats()
        failed = count("select count(*) from messages where status in ('failed', 'undelivered')")
        pending = count("select count(*) from pending_receipts")
        segments = count("select coalesce(sum(num_segments), 0) from messages")
        counts = [settled_counts(a.receiver) if callbacks else a.receiver.counts() for a in accounts]
        if baseline_seconds > 0:
            after = bare(smsc, window, mix, baseline_seconds)
            print("bare submit loop after:", describe_bare(after), flush=True)
    finally:
        if back is not None:
            back.stop()
        server.stop()
        for account in accounts:
            account.receiver.stop()
        smsc.stop()
        dispose(server.database_url)
    requests, checked, bad = (sum(c[i] for c in counts) for i in (0, 2, 3))
    end_to_end = created / (delivered_at - started)
    line = (
        f"{created} messages ({segments} segments, {len(accounts)} accounts): API accepted {load['rps']:.0f}/s "
        f"(p50 {load['p50_ms']:.0f} ms, p99 {load['p99_ms']:.0f} ms, {load['errors']:.0f} errors) for {seconds} s; "
        f"all delivered {delivered_at - started:.1f} s after the first POST = {end_to_end:.0f} msg/s end "
        f"to end; {requests} callbacks by {called_at - started:.1f} s = {requests / (called_at - started):.0f}/s "
        f"({bad} bad signatures of {checked} checked); server CPU {1e6 * cpu_used / max(created, 1):.0f} us/msg; "
        f"failed/undelivered {failed}; receipts unmatched {pending}; "
        f"SMSC: {stats.get('submits')} submits, {stats.get('receipts_sent')} receipts sent, "
        f"{stats.get('receipts_acked')} acknowledged"
    )
    if before and after:
        mean = (before["rate"] + after["rate"]) / 2
        line += (
            f"; bare submit loop before {describe_bare(before)}, after {describe_bare(after)}: end to end = "
            f"{100 * end_to_end / mean:.1f}% of the bare loop"
        )
        if not sandbox and workers == 1 and not split:
            record("smpp_e2e" + ("_postgres" if postgres else ""), end_to_end / mean, line)
    if shares:
        line += "; CPU of the server while loaded: " + ", ".join(
            f"{k} {v:.0f}%" for k, v in sorted(shares.items(), key=lambda kv: -kv[1])
        )
    if top:
        print("top functions by self time (% of busy samples):")
        for name, share in top:
            print(f"  {share:5.1f}%  {name}")
        print(f"raw profile: {tmp / 'profile.txt'}")
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
    parser.add_argument("--baseline-seconds", type=float, default=10.0, help="length of each bare loop run")
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare submit loop")
    parser.add_argument("--workers", type=int, default=1, help="`serve --workers N` (PostgreSQL only)")
    parser.add_argument(
        "--split",
        action="store_true",
        help="two serve processes (PostgreSQL only): the API; the delivery worker and the webhook dispatcher",
    )
    parser.add_argument("--label", default="", help="a note for the results line (e.g. the commit measured)")
    args = parser.parse_args()
    line = run(
        args.seconds,
        args.connections,
        args.window,
        args.postgres,
        args.profile,
        not args.no_callbacks,
        args.sandbox,
        0 if args.no_baseline else args.baseline_seconds,
        args.workers,
        args.split,
    )
    backend = "postgres" if args.postgres else "sqlite"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    shape = (f" workers={args.workers}" if args.workers > 1 else "") + (" split" if args.split else "")
    label = f"{shape} [{args.label}]" if args.label else shape
    load = Path("/proc/loadavg").read_text().split()[:3]
    result = (
        f"{stamp} {backend} window={args.window} c={args.connections}{label}: {line}; load {' '.join(load)}"
    )
    print(result)
    with (ROOT / "bench" / "results" / "smpp_e2e.txt").open("a") as handle:
        handle.write(result + "\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
