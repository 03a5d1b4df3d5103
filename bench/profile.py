"""Where issue 15's remaining time goes: py-spy on the server during the SQLite create load and the SMPP load.

    .venv/bin/python bench/profile.py [--py-spy PATH] [--seconds 20] [--phases creates,smpp]

Two loads, each on a fresh `mycpaas serve` (one process, SQLite), each recorded by py-spy (`record --format raw
--nonblocking`, 100 samples/s) from the end of a 2-second warm-up to the end of the work:

- creates: the API only (delivery worker off), as bench/http_create.py's target measures it: wrk -t1 -c50
  through post_mixed.lua with bench/workload.py's four accounts, varying destinations and segment counts.
- smpp: end to end as bench/smpp_e2e.py's target measures it: one connector (one bind, window 100) to the node
  SMSC simulator (tests/smsc, DLR_DELAY_MS=10), the same workload with a StatusCallback to a fast receiver
  (bench/fast_receiver.py); py-spy keeps recording after wrk until every message created is final and its
  three callbacks have arrived (at most 120 s more), so the samples hold the whole cost of those messages.

For each: requests/s, the server's CPU time per message (from /proc, over the recorded span), and py-spy's
summary (bench/pyspy.py, as bench/scale_profile.py groups it): self time by package, the top functions by self
time, and the deepest frame of our own code. granian's Rust threads and C code without Python frames show as
one line. py-spy is installed apart from the project (`python3 -m venv /tmp/pyspy && /tmp/pyspy/bin/pip
install py-spy`). Printed and appended to bench/results/profile.txt; the raw stacks stay in the temporary
directory printed at the start.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_create import cpu_seconds, wrk  # noqa: E402
from bench.pyspy import summarise  # noqa: E402
from bench.report import commit, load_average  # noqa: E402
from bench.webhooks import Counter, ReceiverProcess, wait_until  # noqa: E402
from bench.workload import Sender, create_form, make_senders, request_file  # noqa: E402
from tests.server import ServerProcess  # noqa: E402
from tests.smsc_support import Smsc  # noqa: E402

FINAL = "select count(*) from messages where status in ('delivered', 'undelivered', 'failed')"


class Spy:
    """py-spy recording one process until stop(), and that process's CPU time over the same span."""

    def __init__(self, py_spy: str, pid: int, raw: Path) -> None:
        self.pid, self.raw = pid, raw
        self.cpu = cpu_seconds(pid)
        self.began = time.monotonic()
        self.process = subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(raw),
             "--rate", "100", "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip

    def stop(self) -> tuple[float, float, str]:
        """CPU seconds of the process, wall seconds, and py-spy's complaint if it wrote nothing."""
        cpu, wall = cpu_seconds(self.pid) - self.cpu, time.monotonic() - self.began
        self.process.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
        _, errors = self.process.communicate(timeout=60)
        return cpu, wall, "" if self.raw.exists() else errors.decode(errors="replace")[-300:]


def callback_file(path: Path, senders: list[Sender], callback: str, count: int = 4096) -> Path:
    """request_file's creates, each with a StatusCallback (post_mixed.lua's format)."""
    rng = random.Random(1)
    lines = []
    for index in range(count):
        sender = senders[index % len(senders)]
        target = f"/2010-04-01/Accounts/{sender.sid}/Messages.json"
        lines.append(f"{target}\t{sender.basic}\t{urlencode(create_form(sender, rng, callback))}")
    path.write_text("\n".join(lines) + "\n")
    return path


def creates(args: argparse.Namespace, tmp: Path) -> list[str]:
    server = ServerProcess(
        data_dir=tmp,
        database_url=f"sqlite:///{tmp / 'mycpaas.db'}",
        env={"MYCPAAS_DELIVERY_WORKER": "false"},
    )
    server.start()
    try:
        senders = make_senders(server.url, server.account_sid, server.auth_token)
        requests = request_file(tmp / "creates.tsv", senders)
        return measure(args, tmp, server, requests, "creates, SQLite, API only (delivery worker off)", None)
    finally:
        server.stop()


def smpp(args: argparse.Namespace, tmp: Path) -> list[str]:
    smsc = Smsc(tmp / "smsc", DLR_DELAY_MS=10)
    # Senders unlimited, as in smpp_e2e.py: at a long code's default 1 message/s the load queued behind the
    # senders' pace, the server sat idle and the drain never ended within the wait (the 09:13 run's "NOT drained").
    no_limits = {f"MYCPAAS_SENDER_MPS_{kind}": "0" for kind in ("LONG_CODE", "TOLL_FREE", "SHORT_CODE")}
    server = ServerProcess(data_dir=tmp, database_url=f"sqlite:///{tmp / 'mycpaas.db'}", env=no_limits)
    add = ["carriers", "add", "sim", "--host", smsc.host, "--port", str(smsc.port), "--system-id", "test"]
    for command, stdin in ((["migrate"], None), ([*add, "--password-stdin", "--window", "100"], "secret\n")):
        subprocess.run(
            [sys.executable, "-m", "mycpaas", *command],
            input=stdin,
            text=True,
            env=server._environment(),
            check=True,
            capture_output=True,
            cwd=tmp,
        )
    server.start()
    # One receiver for the four accounts: it checks signatures against the owner's token only, so its count
    # of bad signatures means nothing here (bench/webhooks.py checks them).
    receiver = ReceiverProcess(tmp, "fast", server.auth_token)
    try:
        wait_until(lambda: "bound as" in server.log_text(), 20)
        senders = make_senders(server.url, server.account_sid, server.auth_token)
        requests = callback_file(tmp / "creates.tsv", senders, receiver.url)
        count = Counter(server.database_url)

        def done() -> bool:
            created = count("select count(*) from messages")
            return count(FINAL) >= created and receiver.counts()[0] >= 3 * created

        what = "end to end over SMPP, SQLite (1 bind, window 100, callbacks on)"
        return measure(args, tmp, server, requests, what, done)
    finally:
        server.stop()
        receiver.stop()
        smsc.stop()


def measure(
    args: argparse.Namespace,
    tmp: Path,
    server: ServerProcess,
    requests: Path,
    what: str,
    done: Callable[[], bool] | None,
) -> list[str]:
    """Warm up, record the load (and the drain after it, until `done`), summarise."""
    auth = base64.b64encode(f"{server.account_sid}:{server.auth_token}".encode()).decode()
    path = f"/2010-04-01/Accounts/{server.account_sid}/Messages.json"
    count = Counter(server.database_url)
    wrk("post_mixed.lua", server.url, path, auth, 2, requests=requests)
    if done is not None:
        wait_until(done, 120)
    before = count("select count(*) from messages")
    assert server.pid is not None
    spy = Spy(args.py_spy, server.pid, tmp / f"{what.split(',')[0].replace(' ', '-')}.raw")
    load = wrk("post_mixed.lua", server.url, path, auth, args.seconds, requests=requests)
    drained = "no drain"
    if done is not None:
        try:
            drained = f"drained {wait_until(done, 120) - spy.began - args.seconds:.1f} s after the load"
        except TimeoutError:
            drained = "NOT drained within 120 s of the load"
    cpu, wall, complaint = spy.stop()
    messages = count("select count(*) from messages") - before
    lines = [
        f"{what}: wrk -t1 -c50 -d{args.seconds}s post_mixed.lua: {load['rps']:.0f} req/s, p99"
        f" {load['p99_ms']:.1f} ms, errors {load['errors']:.0f}; {messages} messages, {drained};"
        f" server CPU {cpu:.1f} s over {wall:.1f} s = {1e6 * cpu / max(messages, 1):.0f} us per message"
        f" ({load_average()} at its end)"
    ]
    lines += [f"  py-spy wrote nothing: {complaint}"] if complaint else summarise(spy.raw, what)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--py-spy", default="/tmp/pyspy/bin/py-spy", help="the py-spy executable")
    parser.add_argument("--seconds", type=int, default=20, help="each load's length")
    parser.add_argument("--phases", default="creates,smpp", help="creates, smpp or both (comma-separated)")
    args = parser.parse_args()
    phases = {"creates": creates, "smpp": smpp}
    chosen = [name.strip() for name in args.phases.split(",") if name.strip()]
    unknown = set(chosen) - set(phases)
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    if not os.access(args.py_spy, os.X_OK):
        parser.error(f"no py-spy at {args.py_spy} (--py-spy PATH)")
    directory = Path(tempfile.mkdtemp(prefix="mycpaas-profile-"))
    print(f"raw stacks in {directory}", flush=True)
    lines = [
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit()}, {os.cpu_count()} CPUs, load at start"
        f" {load_average()}: bench/profile.py --seconds {args.seconds} --phases {','.join(chosen)}"
    ]
    for name in chosen:
        tmp = directory / name
        tmp.mkdir()
        found = phases[name](args, tmp)
        print("\n".join(found), flush=True)
        lines += found
    with (ROOT / "bench" / "results" / "profile.txt").open("a") as handle:
        handle.write("\n".join(lines) + "\n\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
