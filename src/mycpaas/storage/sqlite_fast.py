"""The delivery path's statements on SQLite's own driver, written by hand beside their SQLAlchemy forms.

Why: under the create load with the delivery worker in-process, the delivery side's transactions (claim,
start sending, record submitted, apply receipts) were ~20% of the server's CPU, most of it SQLAlchemy's
work around a handful of statements per batch (execution context, cache key, result processing of every
column of the RETURNING rows; py-spy, bench/results/delivery_writes.txt, 2026-12-07). These statements are
fixed, so they are kept here as SQL text and run on the sqlite3 connection under the caller's transaction
(`database.sqlite_driver`); PostgreSQL runs the SQLAlchemy forms next to each use (storage/queue.py,
storage/messages.py, storage/parts.py). A list of ids is bound as one JSON array read by `json_each`, so each
statement has one text (sqlite3 caches its preparation) whatever the batch's size.

Values are written as SQLAlchemy writes them on SQLite (a DateTime is the text 'YYYY-MM-DD HH:MM:SS.ffffff',
which comparisons such as `run_at <= ?` rely on) and read back the same way (tests on SQLite run this path,
on PostgreSQL the SQLAlchemy one).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any


def ts(value: Any) -> str:
    """A naive UTC datetime as SQLAlchemy's SQLite DateTime stores it (always six fractional digits)."""
    assert isinstance(value, datetime)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def from_ts(value: Any) -> datetime | None:
    """A stored DateTime back (None stays None)."""
    return None if value is None else datetime.fromisoformat(value)


def json_list(values: Iterable[Any]) -> str:
    """A list bound as one parameter, read in SQL as `(SELECT value FROM json_each(?))`."""
    return json.dumps(list(values), separators=(",", ":"))


IN_JSON = "(SELECT value FROM json_each(?))"
