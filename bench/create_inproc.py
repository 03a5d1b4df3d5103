"""The create path's own CPU, without the HTTP server: mycpaas's ASGI application and the raw baseline's, each
called directly in this process with http_create.py's workload.

    PYTHONPATH=src .venv/bin/python bench/create_inproc.py [--creates 10000] [--concurrency 50] [--profile N]

A `mycpaas serve` (SQLite, delivery worker off) provisions bench/workload.py's four senders and stops; then the
Application of the tree on PYTHONPATH runs its lifespan in this process on that database, and `--concurrency`
tasks send it `--creates` authenticated POST …/Messages.json (after 2,000 to warm up), as granian would hand
them over: a scope, one body event, the two send events. The same requests then go to bench/baseline_app.py's
app (same form, Basic check and JSON, no database). For each: the process's CPU per create (every thread: the
search indexer and the checkpointer included), the event loop thread's own CPU per create (what bounds one
process's throughput), and the rate. `--profile N` runs mycpaas's creates once more under cProfile and prints
its N functions by own time (cProfile's overhead about doubles the CPU; read the shares, not the µs).

Why: http_create.py's ratio compares the two behind granian; subtracting these from its CPU per request says
how much of each request is granian and the ASGI bridge (the same for both) and how much is ours. Appends to
results/create_inproc.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import commit, load_average  # noqa: E402
from bench.workload import Sender, create_form, make_senders  # noqa: E402
from tests.server import ServerProcess  # noqa: E402

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
Request = tuple[str, str, bytes]  # path, Basic credentials, form body
WARM_UP = 2000


def requests(senders: list[Sender], count: int) -> list[Request]:
    rng = random.Random(1)
    return [
        (
            f"/2010-04-01/Accounts/{sender.sid}/Messages.json",
            sender.basic,
            urlencode(create_form(sender, rng)).encode(),
        )
        for sender in (senders[index % len(senders)] for index in range(count))
    ]


async def call(app: App, request: Request) -> int:
    """One request as an ASGI server hands it over; its status."""
    path, basic, body = request
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Basic {basic}".encode()),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8080),
    }
    given = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # a disconnect that never comes
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def run(app: App, batch: list[Request], concurrency: int) -> tuple[dict[int, int], float, float, float]:
    """(statuses, process CPU s, loop thread CPU s, wall s) of sending `batch` at `concurrency`."""
    pending = iter(batch)
    statuses: dict[int, int] = {}

    async def client() -> None:
        for request in pending:
            status = await call(app, request)
            statuses[status] = statuses.get(status, 0) + 1

    cpu, thread, wall = time.process_time(), time.thread_time(), time.monotonic()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return statuses, time.process_time() - cpu, time.thread_time() - thread, time.monotonic() - wall


class Lifespan:
    """An ASGI app's lifespan, started and stopped from this process."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.events: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.sent: list[str] = []
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        async def send(message: dict[str, Any]) -> None:
            self.sent.append(message["type"])

        await self.events.put({"type": "lifespan.startup"})
        self.task = asyncio.create_task(self.app({"type": "lifespan"}, self.events.get, send))
        while not self.sent:
            await asyncio.sleep(0.01)
        assert self.sent == ["lifespan.startup.complete"], self.sent

    async def stop(self) -> None:
        await self.events.put({"type": "lifespan.shutdown"})
        assert self.task is not None
        await self.task


def line(label: str, creates: int, result: tuple[dict[int, int], float, float, float]) -> str:
    statuses, cpu, thread, wall = result
    return (
        f"{label}: {creates} creates {statuses}, process CPU {cpu / creates * 1e6:.1f} us/create, "
        f"loop thread {thread / creates * 1e6:.1f} us/create, {creates / wall:.0f}/s"
    )


async def measure(args: argparse.Namespace, senders: list[Sender]) -> list[str]:
    import gc

    from bench import baseline_app
    from mycpaas.bootstrap import Application
    from mycpaas.cli.serve import GC_THRESHOLDS
    from mycpaas.settings import Settings

    gc.set_threshold(*GC_THRESHOLDS)  # as `serve` sets them, for both apps
    batch = requests(senders, WARM_UP + args.creates)
    application = Application(Settings.from_env())
    lifespan = Lifespan(application)
    await lifespan.start()
    try:
        await run(application, batch[:WARM_UP], args.concurrency)
        lines = [line("mycpaas", args.creates, await run(application, batch[WARM_UP:], args.concurrency))]
        baseline_app.ACCOUNTS.update({sender.sid: sender.token for sender in senders})
        baseline: App = baseline_app.app  # type: ignore[assignment]
        await run(baseline, batch[:WARM_UP], args.concurrency)
        lines.append(line("baseline", args.creates, await run(baseline, batch[WARM_UP:], args.concurrency)))
        if args.profile:
            # This script's directory is first on sys.path, and its profile.py would stand for the standard
            # library's, which cProfile imports.
            sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            again = requests(senders, args.creates)
            profiler.enable()
            await run(application, again, args.concurrency)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.profile)
            lines.append("cProfile of mycpaas's creates, by own time:")
            lines += [f"  {text}" for text in out.getvalue().splitlines() if text.strip()][3:]
    finally:
        await lifespan.stop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--creates", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="also print cProfile's top N")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mycpaas-inproc-"))
    server = ServerProcess(
        data_dir=tmp,
        database_url=f"sqlite:///{tmp / 'mycpaas.db'}",
        env={"MYCPAAS_DELIVERY_WORKER": "false", "MYCPAAS_SENDER_MPS_LONG_CODE": "0"},
    )
    server.start()
    try:
        senders = make_senders(server.url, server.account_sid, server.auth_token)
        environment = server._environment()
    finally:
        server.stop()
    os.environ.update(environment)
    lines = asyncio.run(measure(args, senders))
    head = (
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, bench/create_inproc.py, commit {commit()}, SQLite, API only, "
        f"{args.concurrency} at once, load {load_average()}"
    )
    text = "\n".join([head, *lines]) + "\n"
    print(text, end="")
    with (ROOT / "bench" / "results" / "create_inproc.txt").open("a") as results:
        results.write(text + "\n")


if __name__ == "__main__":
    main()
