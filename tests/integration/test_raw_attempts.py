"""Webhook attempts written on SQLite's raw driver (storage/webhooks.insert_attempts) store exactly what
SQLAlchemy stores.

The same attempts are written both ways, SQLAlchemy's INSERT and insert_attempts (which on SQLite hands the
driver positional rows and formats created_at itself), and the rows are compared as the file holds them, read
back by sqlite3 without any type processing: a DateTime written as other text (no microseconds, a 'T') or an
enum written as its name would show here, and the API's lists would then sort or compare it wrongly. The read
side is checked too: the platform reads both back as equal WebhookAttempts. PostgreSQL keeps SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from mycpaas.domain.webhooks import AttemptOutcome, EventKind, WebhookAttempt
from mycpaas.storage import migrate, tables
from mycpaas.storage import webhooks as store
from mycpaas.storage.database import Database

ACCOUNT = "AC" + "7" * 32


def attempts(message_sid: str) -> list[WebhookAttempt]:
    """What attempts hold: NULLs and values, whole seconds and microseconds, non-ASCII text, each kind."""
    delivered = WebhookAttempt(
        sid="NO" + message_sid[2:-4] + "0001",
        account_sid=ACCOUNT,
        message_sid=message_sid,
        kind=EventKind.STATUS_CALLBACK,
        idempotency_token="5c8a7d9e-1b2c-4d5e-8f90-123456789abc",
        message_status="delivered",
        request_method="POST",
        request_url="https://app.example/status?a=1&b=%20",
        attempt=1,
        outcome=AttemptOutcome.DELIVERED,
        response_status=200,
        duration_ms=3,
        error_code=None,
        error_message=None,
        response_excerpt="OK",
        redelivery_of=None,
        created_at=datetime(2026, 12, 7, 8, 0, 0),
    )
    failed = dataclasses.replace(
        delivered,
        sid=delivered.sid[:-4] + "0002",
        kind=EventKind.INCOMING_MESSAGE,
        message_status="",
        attempt=2,
        outcome=AttemptOutcome.FAILED,
        response_status=None,
        duration_ms=None,
        error_code=11200,
        error_message="the receiver answered HTTP 500: Grüße привет 😀",
        response_excerpt="<Response>ünïcode</Response>",
        redelivery_of="NO" + "9" * 32,  # the attempt it repeats (the Debugger's Redeliver)
        created_at=datetime(2026, 12, 7, 8, 0, 0, 123456),
    )
    skipped = dataclasses.replace(
        delivered,
        sid=delivered.sid[:-4] + "0003",
        request_method="GET",
        request_url="",
        attempt=0,
        outcome=AttemptOutcome.SKIPPED,
        response_status=None,
        duration_ms=None,
        response_excerpt=None,
        created_at=datetime(2026, 12, 7, 8, 0, 0, 1),
    )
    return [delivered, failed, skipped]


def stored(path: Path, message_sid: str) -> list[dict[str, Any]]:
    """Rows as sqlite3 reads them (no SQLAlchemy type processing), without the surrogate id and the sid."""
    conn = sqlite3.connect(str(path))
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute("SELECT * FROM webhook_attempts WHERE message_sid = ? ORDER BY id", [message_sid])
        return [{k: row[k] for k in row.keys() if k not in ("id", "sid")} for row in rows]  # noqa: SIM118
    finally:
        conn.close()


def test_raw_attempt_rows_equal_sqlalchemy_rows(tmp_path: Path) -> None:
    path = tmp_path / "attempts.db"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    by_sqlalchemy, by_raw = "SM" + "1" * 32, "SM" + "2" * 32

    async def scenario() -> tuple[list[WebhookAttempt], list[WebhookAttempt]]:
        db = Database(url)
        try:
            async with db.write() as conn:
                await conn.execute(
                    insert(tables.webhook_attempts),
                    [dataclasses.asdict(a) for a in attempts(by_sqlalchemy)],
                )
                await store.insert_attempts(conn, attempts(by_raw))
            async with db.read() as conn:
                return (
                    await store.list_for_message(conn, by_sqlalchemy, 10),
                    await store.list_for_message(conn, by_raw, 10),
                )
        finally:
            await db.dispose()

    read_sqlalchemy, read_raw = asyncio.run(scenario())
    expected = stored(path, by_sqlalchemy)
    assert len(expected) == 3
    for row in expected:
        row["message_sid"] = by_raw
    assert stored(path, by_raw) == expected
    assert [dataclasses.replace(a, message_sid=by_raw, sid="") for a in read_sqlalchemy] == [
        dataclasses.replace(a, sid="") for a in read_raw
    ]
    assert read_raw == attempts(by_raw)
