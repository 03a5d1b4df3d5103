"""The webhook dispatcher's own CPU per callback, without HTTP: what webhooks.py's product drain costs beyond
the requests themselves (claims, ordering, attempt records, outcomes, the queue), steadier than a drain.

    PYTHONPATH=SRC .venv/bin/python bench/webhooks_inproc.py DIR [--rounds 3] [--compare SRC]

DIR is a directory webhooks.py left behind in /tmp (mycpaas-webhooks-*: `mycpaas.snapshot`, its SQLite queue
of status callbacks, and `secret.key`). Each round copies the snapshot and drains it in this process through
the real WebhookDispatcher, JobRunner and database, with a sender that answers 204 at once, until the queue
is empty; it prints the process's and the event loop thread's CPU per job, and how many claims and outcome
transactions there were. With --compare, the other source tree drains the same copy in alternation (each
round in a fresh process, its PYTHONPATH that tree). A tree must know the snapshot's schema revision.

Why: on this shared 2-core machine webhooks.py's CPU per callback moved by +-15% between rounds of the same
tree, more than the changes measured. Here there is no receiver and no HTTP, but CPU time still bends under
load (bench/results/webhooks.txt, 2026-12-07, h15-wh2); when it does, count instructions instead, one round
per tree: `valgrind --tool=cachegrind --cache-sim=no python bench/webhooks_inproc.py DIR --one` (PYTHONPATH
the tree; ~50 times slower; the "I refs" line).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def drain_here(snapshot: Path) -> str:
    """One round in this process (the tree on PYTHONPATH): the result line. The collector runs with `serve`'s
    thresholds, as in the server (with Python's defaults it took ~15 us of the ~90 a job, 2026-12-08)."""
    import gc

    from mycpaas.cli.serve import GC_THRESHOLDS

    gc.set_threshold(*GC_THRESHOLDS)
    import mycpaas.services.jobs as jobs
    import mycpaas.services.webhooks as webhooks
    from mycpaas.bootstrap import build_platform
    from mycpaas.settings import Settings
    from mycpaas.webhooks.client import Delivery
    from mycpaas.webhooks.dispatcher import WebhookDispatcher

    counts = {"claims": 0, "settles": 0}
    claim, settle = jobs.claim, webhooks.settle

    async def counted_claim(*args: Any, **kwargs: Any) -> Any:
        counts["claims"] += 1
        return await claim(*args, **kwargs)

    async def counted_settle(*args: Any, **kwargs: Any) -> Any:
        counts["settles"] += 1
        return await settle(*args, **kwargs)

    jobs.claim, webhooks.settle = counted_claim, counted_settle  # type: ignore[assignment]

    class Instant:
        async def send(self, method: str, url: str, *_: Any) -> Delivery:
            await asyncio.sleep(0)
            return Delivery(method, url, status=204, duration_ms=1)

        async def close(self) -> None:
            pass

    async def drain(data: Path) -> tuple[int, float, float]:
        settings = Settings.from_env({"MYCPAAS_DATA_DIR": str(data), "MYCPAAS_WEBHOOK_DISPATCHER": "true"})
        platform = build_platform(settings)
        watch = sqlite3.connect(str(data / "mycpaas.db"))
        queued = "SELECT count(*) FROM jobs WHERE kind LIKE 'webhook%'"
        total = watch.execute(queued).fetchone()[0]
        dispatcher = WebhookDispatcher(platform, Instant())  # type: ignore[arg-type]
        cpu, thread = time.process_time(), time.thread_time()
        await dispatcher.start()
        while watch.execute(queued).fetchone()[0]:
            await asyncio.sleep(0.05)
        cpu, thread = time.process_time() - cpu, time.thread_time() - thread
        await dispatcher.stop()
        await platform.committer.close()
        await platform.db.dispose()
        watch.close()
        return total, cpu, thread

    data = Path(tempfile.mkdtemp(prefix="mycpaas-inproc-"))
    try:
        shutil.copy(snapshot / "mycpaas.snapshot", data / "mycpaas.db")
        shutil.copy(snapshot / "secret.key", data / "secret.key")
        total, cpu, thread = asyncio.run(drain(data))
    finally:
        shutil.rmtree(data)
    return (
        f"{total} jobs, CPU {cpu / total * 1e6:.0f} us/job (event loop thread {thread / total * 1e6:.0f}), "
        f"{counts['claims']} claims, {counts['settles']} outcome transactions"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("dir", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", help="another source tree (its src/ directory), drained in alternation")
    parser.add_argument("--one", action="store_true", help="one round of the tree on PYTHONPATH, here")
    args = parser.parse_args()
    if args.one:
        print(drain_here(args.dir), flush=True)
        return
    trees = [os.environ.get("PYTHONPATH", str(ROOT / "src"))] + ([args.compare] if args.compare else [])
    for _ in range(args.rounds):
        for tree in trees:
            line = subprocess.run(
                [sys.executable, __file__, str(args.dir), "--one"],
                env={**os.environ, "PYTHONPATH": tree},
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            print(f"{tree}: {line}; load average {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
