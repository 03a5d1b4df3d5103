"""The webhook dispatcher's claim on SQLite, alone: what one claim costs with leased jobs in the due range.

    .venv/bin/python bench/claim_plan.py

A throwaway SQLite file with the project's schema holds 6,000 due callback jobs (the dispatcher's three kinds, three
origins), the oldest 1,280 leased (as many as a dispatcher holds while it drains), and then 2,000 leased send jobs
ahead of them. Each statement runs 200 times; printed: CPU per claim (40 jobs wanted), rows found, the query plan.
Variants: the claim as storage/queue.py builds it; with every origin skipped (all of them busy); with the leased
rows moved out of the due range (their run_at set to the lease's end), the design the numbers point to.
Why (issue 15): queue.claim was 19.5% of the server's CPU in profile.py's SMPP phase (bench/results/profile.txt).
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import create_engine  # noqa: E402

from mycpaas.domain.webhooks import EVENT_KINDS  # noqa: E402
from mycpaas.storage.queue import _sqlite_claim  # noqa: E402
from mycpaas.storage.sqlite_fast import json_list  # noqa: E402
from mycpaas.storage.tables import metadata  # noqa: E402

BASE = 1_700_000_000
ORIGINS = [f"http://127.0.0.1:{8000 + i}" for i in range(3)]


def ts(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1e6):06d}"


def main() -> None:
    path = Path(tempfile.mkdtemp(prefix="mycpaas-claim-")) / "q.db"
    engine = create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    engine.dispose()
    db = sqlite3.connect(path, isolation_level=None)
    kinds = list(EVENT_KINDS)
    insert = (
        "INSERT INTO jobs (kind, ref, run_at, attempts, created_at, payload, origin, locked_until) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    db.executemany(
        insert,
        [
            (
                kinds[0] if i % 10 else kinds[1],
                f"SM{i:032x}",
                ts(BASE + i * 0.01),
                1,
                ts(BASE),
                "{}",
                ORIGINS[i % 3],
                ts(BASE + 10_000) if i < 1280 else None,
            )
            for i in range(6000)
        ],
    )
    db.executemany(
        insert,
        [
            (
                "message.send",
                f"SM{i:032x}",
                ts(BASE - 5 + i * 0.001),
                1,
                ts(BASE),
                None,
                None,
                ts(BASE + 10_000),
            )
            for i in range(2000)
        ],
    )
    db.execute("ANALYZE")
    now = ts(BASE + 1000)

    def run(label: str, skip: list[str]) -> None:
        statement = (
            _sqlite_claim(len(kinds), bool(skip)).split(" WHERE id IN (", 1)[1].rsplit(") RETURNING", 1)[0]
        )
        values: tuple[object, ...] = (*kinds, now, now) + ((json_list(skip),) if skip else ()) + (40,)
        plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + statement, values)]
        started = time.process_time()
        for _ in range(200):
            found = db.execute(statement, values).fetchall()
        cost = (time.process_time() - started) / 200 * 1e6
        print(f"{label:44s} {cost:8.1f} us/claim, {len(found)} rows; plan: {'; '.join(plan)}")

    run("claim (queue.py)", [])
    run("claim, every origin skipped", ORIGINS)
    db.execute("UPDATE jobs SET run_at = locked_until WHERE locked_until IS NOT NULL")
    run("leased rows out of the due range", [])
    run("leased rows out, every origin skipped", ORIGINS)


if __name__ == "__main__":
    main()
