"""A large message log written straight into a server's database (no API, no hot path), for the export test
and bench/log_filters.py: one message a second up to now, ids in creation order, 10% inbound, 1% failed, 1%
undelivered; every body different, and one in RARE_EVERY holds the word RARE_WORD."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta

import asyncpg

COLUMNS = (
    "sid",
    "account_sid",
    "direction",
    "from_number",
    "to_number",
    "body",
    "status",
    "num_segments",
    "num_media",
    "encoding",
    "price_unit",
    "created_at",
    "updated_at",
    "sent_at",
)
WORDS = ("parcel", "invoice", "meeting", "reminder", "delivery", "payment", "appointment", "weather")
RARE_WORD = "zeppelin"
RARE_EVERY = 100_000
OUR_NUMBER = "+15005550006"
BATCH = 20_000


def their_number(i: int) -> str:
    return f"+1555{i % 10_000_000:07d}"


def row(account_sid: str, i: int, start: datetime) -> tuple[object, ...]:
    moment = start + timedelta(seconds=i)
    status = "failed" if i % 100 == 7 else "undelivered" if i % 100 == 8 else "delivered"
    inbound = i % 10 == 3
    body = f"Your {WORDS[i % 8]} {WORDS[i * 7 % 8]} number {i}"
    if i % RARE_EVERY == RARE_EVERY // 2:
        body += f" by {RARE_WORD}"
    return (
        "SM" + secrets.token_hex(16),
        account_sid,
        "inbound" if inbound else "outbound-api",
        their_number(i) if inbound else OUR_NUMBER,
        OUR_NUMBER if inbound else their_number(i),
        body,
        "received" if inbound else status,
        1,
        0,
        "GSM-7",
        "USD",
        moment,
        moment,
        moment,
    )


def _batches(account_sid: str, rows: int, start: datetime) -> Iterator[list[tuple[object, ...]]]:
    for first in range(0, rows, BATCH):
        yield [row(account_sid, i, start) for i in range(first, min(rows, first + BATCH))]


def fill_sqlite(path: str, account_sid: str, rows: int, start: datetime) -> None:
    """Through sqlite3 with the server's triggers (the search index is kept as for any insert)."""
    conn = sqlite3.connect(path)
    try:
        marks = ",".join("?" * len(COLUMNS))
        for batch in _batches(account_sid, rows, start):
            conn.executemany(f"insert into messages ({','.join(COLUMNS)}) values ({marks})", batch)
            conn.commit()
        conn.execute("analyze")
        conn.commit()
    finally:
        conn.close()


async def fill_postgres(url: str, account_sid: str, rows: int, start: datetime) -> None:
    conn = await asyncpg.connect(url)
    try:
        for batch in _batches(account_sid, rows, start):
            await conn.copy_records_to_table("messages", records=batch, columns=list(COLUMNS))
        await conn.execute("analyze messages")
    finally:
        await conn.close()
