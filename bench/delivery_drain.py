"""Benchmark: how fast the delivery worker drains a backlog through the sandbox carrier.

    .venv/bin/python bench/delivery_drain.py [--seconds 6]

Fills the queue through the API with the worker off (wrk -t1 -c50 for --seconds), restarts the server with
the worker on, and times queued -> sending -> sent -> delivered for every message (SQLite, one process).
Results are appended to bench/results/delivery_drain.txt.
"""

from __future__ import annotations

import argparse
import base64
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_create import wrk  # noqa: E402
from tests.server import ServerProcess  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=6)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mycpaas-drain-"))
    server = ServerProcess(
        data_dir=tmp,
        database_url=f"sqlite:///{tmp / 'mycpaas.db'}",
        env={
            "MYCPAAS_DELIVERY_WORKER": "false",
            "MYCPAAS_SANDBOX_SEND_DELAY_SECONDS": "0.01",
            "MYCPAAS_SANDBOX_DELIVERY_DELAY_SECONDS": "0.2",
        },
    )
    server.start()
    auth = base64.b64encode(f"{server.account_sid}:{server.auth_token}".encode()).decode()
    path = f"/2010-04-01/Accounts/{server.account_sid}/Messages.json"
    wrk("post.lua", server.url, path, auth, args.seconds)
    server.stop()
    db = sqlite3.connect(tmp / "mycpaas.db")
    total = db.execute("select count(*) from messages").fetchone()[0]
    server.env["MYCPAAS_DELIVERY_WORKER"] = "true"
    started = time.monotonic()
    server.start()
    ready = time.monotonic()
    while db.execute("select count(*) from messages where status = 'delivered'").fetchone()[0] < total:
        if time.monotonic() - started > 600:
            break
        time.sleep(0.2)
    done = time.monotonic()
    server.stop()
    line = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, SQLite: {total} messages drained to delivered in "
        f"{done - ready:.1f} s after start-up ({total / (done - ready):.0f} msg/s)"
    )
    print(line)
    with (ROOT / "bench" / "results" / "delivery_drain.txt").open("a") as handle:
        handle.write(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
