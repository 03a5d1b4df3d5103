"""What the overview's counts cost the hot path, at the storage layer (no HTTP, no carrier): the CPU per message
of each batched write a message's life makes (create through the group committer's raw path, queued -> sending,
sending -> sent with carrier ids, sent -> delivered), with the counts kept (migration 0016's triggers and the
inserters' upserts) and with them switched off, in alternating rounds on one machine.

    PYTHONPATH=$PWD/src .venv/bin/python bench/overview_counts.py [--messages 5120] [--rounds 3] [--postgres]

SQLite runs in this process, so its CPU is this process's (time.process_time). On PostgreSQL (a fresh database
of $MYCPAAS_TEST_DATABASE_URL) the figure is this process's CPU plus the CPU of the database's backends (from
/proc, PostgreSQL on this machine). Appends to results/overview_counts.txt. The end-to-end A/B benches
(create_ab.py, delivery_cpu_ab.py) measure the same change with the server around it, where a busy machine's
noise (tens of us) hides a few us.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mycpaas.domain.messages import ALLOWED_PREDECESSORS, Direction, Message, MessageStatus  # noqa: E402
from mycpaas.storage import message_counts, messages, migrate, raw_inserts, tables  # noqa: E402
from mycpaas.storage.database import Database  # noqa: E402
from mycpaas.storage.group_commit import GroupCommitter  # noqa: E402
from tests.databases import create_postgres_database, drop_postgres_database  # noqa: E402

ACCOUNT = "AC" + "b" * 32
BATCH = 256
STEPS = ("create", "sending", "sent", "delivered")
TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


async def backends(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        name = url.rsplit("/", 1)[1]
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name
        )
        return [row["pid"] for row in rows]
    finally:
        await conn.close()


async def switch_off(db: Database) -> None:
    """Drop 0016's triggers; the inserters' upserts are switched off by the caller."""
    async with db.write() as conn:
        for trigger in ("message_counts_update", "message_counts_delete"):
            on = " ON messages" if not db.is_sqlite else ""
            await conn.execute(text(f"DROP TRIGGER {trigger}{on}"))


async def one_round(url: str, counted: bool, total: int) -> dict[str, float]:
    db = Database(url)
    committer = GroupCommitter(db, max_batch=BATCH)
    saved: dict[str, Any] = {}
    if not counted:
        await switch_off(db)

        async def nothing(*_: Any) -> None:
            return None

        saved = {"add_new": message_counts.add_new, "_count": raw_inserts.RawInserts._count}
        message_counts.add_new = nothing  # type: ignore[assignment]
        raw_inserts.RawInserts._count = nothing  # type: ignore[assignment,method-assign]
    now = datetime(2026, 12, 7, 12, 0)
    async with db.write() as conn:
        await conn.execute(
            insert(tables.accounts).values(
                sid=ACCOUNT, owner_account_sid=ACCOUNT, friendly_name="bench", status="active", type="Full",
                primary_token_sealed="x", primary_token_digest="0" * 64, created_at=now, updated_at=now,
            )
        )  # fmt: skip
    batch = [
        Message.outbound(
            account_sid=ACCOUNT, direction=Direction.OUTBOUND_API, from_number="+15005550006",
            to_number=f"+1555{n:07d}", body="Hello from the bench " * (1 + n % 4), num_media=0,
            status_callback=None, validity_period=None, now=now,
        )
        for n in range(total)
    ]  # fmt: skip
    sids = [m.sid for m in batch]
    pids = [] if db.is_sqlite else await backends_after_warmup(db, url)
    used: dict[str, float] = {}

    async def timed(step: str, work: Callable[[], Awaitable[None]]) -> None:
        nonlocal pids
        if not db.is_sqlite:
            pids = await backends(url)
        before = time.process_time() + backend_cpu(pids)
        await work()
        used[step] = (time.process_time() + backend_cpu(pids) - before) / total * 1e6

    async def create() -> None:
        await asyncio.gather(*(committer.insert(*messages.new_message_rows(m)) for m in batch))

    def each_batch(write: Callable[[Any, list[str]], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
        async def work() -> None:
            for start in range(0, total, BATCH):
                async with db.write() as conn:
                    await write(conn, sids[start : start + BATCH])

        return work

    await timed("create", create)
    await timed("sending", each_batch(lambda conn, s: messages.mark_sending(conn, s, now)))
    sent = ALLOWED_PREDECESSORS[MessageStatus.SENT]
    await timed(
        "sent",
        each_batch(lambda conn, s: messages.record_sent(conn, {x: "c" + x[-12:] for x in s}, sent, now)),
    )
    delivered = ALLOWED_PREDECESSORS[MessageStatus.DELIVERED]
    await timed(
        "delivered",
        each_batch(lambda conn, s: messages.advance_many(conn, s, MessageStatus.DELIVERED, delivered, now)),
    )
    await committer.close()
    await db.dispose()
    if saved:
        message_counts.add_new = saved["add_new"]
        raw_inserts.RawInserts._count = saved["_count"]
    return used


async def backends_after_warmup(db: Database, url: str) -> list[int]:
    async with db.read() as conn:
        await conn.execute(text("SELECT 1"))
    return await backends(url)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=BATCH * 20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    kind = "PostgreSQL (this process + backends)" if args.postgres else "SQLite (this process)"
    lines = [
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, bench/overview_counts.py, {kind}, {args.messages} messages "
        f"in batches of {BATCH}, CPU us per message by step, load {Path('/proc/loadavg').read_text().split()[0]}"
    ]
    print(lines[0], flush=True)
    results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for round_ in range(1, args.rounds + 1):
        for counted in (False, True):
            if args.postgres:
                url = create_postgres_database()
            else:
                url = f"sqlite:///{tempfile.mkdtemp(prefix='overview-counts-')}/bench.db"
            try:
                migrate.upgrade(url)
                used = asyncio.run(one_round(url, counted, args.messages))
            finally:
                if args.postgres:
                    drop_postgres_database(url)
            results[counted].append(used)
            label = "counted" if counted else "off    "
            line = f"round {round_} {label}: " + ", ".join(f"{s} {used[s]:.1f}" for s in STEPS)
            line += f", total {sum(used.values()):.1f}"
            lines.append(line)
            print(line, flush=True)
    for counted in (False, True):
        label = "counted" if counted else "off    "
        medians = {s: sorted(r[s] for r in results[counted])[len(results[counted]) // 2] for s in STEPS}
        line = f"median {label}: " + ", ".join(f"{s} {medians[s]:.1f}" for s in STEPS)
        line += f", total {sum(medians.values()):.1f}"
        lines.append(line)
        print(line, flush=True)
    with (ROOT / "bench" / "results" / "overview_counts.txt").open("a") as out:
        out.write("\n".join(lines) + "\n\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
