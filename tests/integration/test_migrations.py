"""The Alembic revisions build exactly the schema of storage/tables.py, on SQLite and on PostgreSQL.

Alembic's autogenerate comparison is the judge: an empty diff after `upgrade head` means the migrations
and the tables agree on tables, columns, types, nullability, indexes, unique and foreign-key constraints.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from mycpaas.storage import message_log, migrate
from mycpaas.storage.database import async_url
from mycpaas.storage.tables import metadata
from tests.databases import create_postgres_database, drop_postgres_database


def _described_by_metadata(name: str | None, kind: str, parents: Any) -> bool:
    """The search index's objects (an FTS5 table and its shadow tables, a GIN index with an operator class)
    cannot be described by tables.py; migration 0017 owns them (test_message_search.py checks them)."""
    return name not in message_log.SQLITE_TABLES and name != message_log.POSTGRES_INDEX


COMPARE_OPTIONS = {
    "compare_type": True,
    "compare_server_default": True,
    "include_name": _described_by_metadata,
}
TABLES = set(metadata.tables)
BACKFILLED = {"message_counts", "webhook_counts"}
HEAD = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()


def _compare(connection: Connection) -> tuple[list[Any], set[str], str | None]:
    context = MigrationContext.configure(connection, opts=COMPARE_OPTIONS)
    diff = compare_metadata(context, metadata)
    names = set(inspect(connection).get_table_names()) - message_log.SQLITE_TABLES
    return diff, names, context.get_current_revision()


def schema_state(url: str) -> tuple[list[Any], set[str], str | None]:
    """(autogenerate diff against tables.metadata, table names, alembic revision) of the database at `url`."""
    if url.startswith("sqlite"):
        engine = create_engine(url)  # the stdlib sqlite3 driver, synchronous
        try:
            with engine.connect() as connection:
                return _compare(connection)
        finally:
            engine.dispose()

    async def run() -> tuple[list[Any], set[str], str | None]:
        # No synchronous PostgreSQL driver is installed: compare through asyncpg with run_sync.
        engine = create_async_engine(async_url(url))
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(_compare)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


def test_migrations_build_the_schema_of_tables_py(database_url: str) -> None:
    # The comparison sees a missing schema (proves it can fail) ...
    diff, tables, revision = schema_state(database_url)
    assert revision is None
    assert {d[1].name for d in diff if d[0] == "add_table"} == TABLES

    # ... and sees none after the migrations ran.
    migrate.upgrade(database_url)
    diff, tables, revision = schema_state(database_url)
    assert diff == []
    assert tables == TABLES | {"alembic_version"}
    assert revision == HEAD


def test_downgrade_to_base_then_upgrade_again(database_url: str) -> None:
    migrate.upgrade(database_url)
    migrate.downgrade(database_url, "base")
    diff, tables, revision = schema_state(database_url)
    assert tables <= {"alembic_version"}
    assert revision is None
    assert {d[1].name for d in diff if d[0] == "add_table"} == TABLES

    migrate.upgrade(database_url)
    diff, tables, revision = schema_state(database_url)
    assert diff == []
    assert tables == TABLES | {"alembic_version"}
    assert revision == HEAD


def test_upgrade_is_idempotent(database_url: str) -> None:
    migrate.upgrade(database_url)
    migrate.upgrade(database_url)  # what every `mycpaas serve` start does
    diff, _, revision = schema_state(database_url)
    assert diff == [] and revision == HEAD


def test_processes_migrating_at_once_do_not_collide(database_url: str) -> None:
    # Several servers (or the CLI beside `serve`) starting on a fresh database all run `upgrade head`.
    code = "import sys; from mycpaas.storage import migrate; migrate.upgrade(sys.argv[1])"
    processes = [
        subprocess.Popen([sys.executable, "-c", code, database_url], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [process.communicate(timeout=60)[1] for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, "\n".join(errors)
    diff, _, revision = schema_state(database_url)
    assert diff == [] and revision == HEAD


# ---- stepping down with data in the tables --------------------------------------------------------------

T0 = datetime(2026, 11, 28, 12, 0, 0)
ACCOUNT = "AC" + "a" * 32
SERVICE = "MG" + "f" * 32


STATUS_TIME_COLUMNS = [
    f"{status}_at"
    for status in ("accepted", "queued", "sending", "delivered", "undelivered", "failed", "canceled")
]


def representative_rows() -> dict[str, list[dict[str, Any]]]:
    """One or two rows for every table of the head schema, every column filled (nullable ones too)."""
    message = "SM" + "b" * 32
    return {
        "accounts": [
            {
                "sid": ACCOUNT,
                "owner_account_sid": ACCOUNT,
                "friendly_name": "owner",
                "status": "active",
                "type": "Full",
                "primary_token_sealed": "sealed-primary",
                "primary_token_digest": "d" * 64,
                "secondary_token_sealed": "sealed-secondary",
                "secondary_token_digest": "e" * 64,
                "secondary_created_at": T0,
                "token_rotated_at": T0,
                "created_at": T0,
                "updated_at": T0,
            }
        ],
        "retired_tokens": [{"id": 7, "account_sid": ACCOUNT, "token_digest": "f" * 64, "retired_at": T0}],
        "api_keys": [
            {
                "sid": "SK" + "c" * 32,
                "account_sid": ACCOUNT,
                "friendly_name": "key",
                "key_type": "Standard",
                "secret_digest": "a" * 64,
                "created_at": T0,
                "updated_at": T0,
                "revoked_at": T0,
            }
        ],
        "phone_numbers": [
            {
                "sid": "PN" + "d" * 32,
                "account_sid": ACCOUNT,
                "phone_number": "+15005550100",
                "friendly_name": "number",
                "sms_url": "https://app.example/sms",
                "sms_method": "POST",
                "sms_fallback_url": "https://app.example/fallback",
                "sms_fallback_method": "GET",
                "status_callback": "https://app.example/status",
                "status_callback_method": "POST",
                "voice_url": "https://app.example/voice",
                "voice_method": "POST",
                "voice_fallback_url": None,
                "voice_fallback_method": "POST",
                "voice_caller_id_lookup": True,
                "created_at": T0,
                "updated_at": T0,
            }
        ],
        "messages": [
            {
                "id": 11,
                "sid": message,
                "account_sid": ACCOUNT,
                "direction": "outbound-api",
                "from_number": "+15005550100",
                "to_number": "+15558675310",
                "body": "héllo ✓",
                "status": status,
                "num_segments": 1,
                "num_media": 0,
                "encoding": "UCS-2",
                "error_code": 30003 if status == "queued" else None,
                "error_message": None,
                "status_callback": "https://app.example/status",
                "validity_period": 600,
                "messaging_service_sid": None,
                "price": "-0.0075",
                "price_unit": "USD",
                "carrier_message_id": "smsc-1",
                "created_at": T0,
                "updated_at": T0,
                "sent_at": T0,
                # 0014: the time of each status passed (filled here, as every nullable column, to be kept)
                **dict.fromkeys(STATUS_TIME_COLUMNS, T0),
            }
            for status in ["sent"]
        ]
        + [
            {
                "id": 12,
                "sid": "SM" + "9" * 32,
                "account_sid": ACCOUNT,
                "direction": "outbound-api",
                "from_number": "+15005550100",
                "to_number": "+15558675311",
                "body": "queued one",
                "status": "queued",
                "num_segments": 2,
                "num_media": 0,
                "encoding": "GSM",
                "error_code": None,
                "error_message": None,
                "status_callback": None,
                "validity_period": None,
                "messaging_service_sid": "MG" + "1" * 32,
                "price": None,
                "price_unit": None,
                "carrier_message_id": None,
                "created_at": T0,
                "updated_at": T0,
                "sent_at": None,
                **dict.fromkeys(STATUS_TIME_COLUMNS),
            }
        ],
        "jobs": [
            {
                "id": 21,
                "kind": "send",
                "ref": message,
                "run_at": T0,
                "attempts": 2,
                "claim": 3,
                "locked_until": T0,
                "last_error": "timeout",
                "created_at": T0,
                "payload": None,
                "origin": None,
            },
            {
                "id": 22,
                "kind": "status_callback",
                "ref": message,
                "run_at": T0,
                "attempts": 0,
                "claim": 4,
                "locked_until": None,
                "last_error": None,
                "created_at": T0,
                "payload": '{"MessageStatus": "sent"}',
                "origin": "https://app.example:443",
            },
        ],
        "webhook_attempts": [
            {
                "id": 31,
                "sid": "WA" + "2" * 32,
                "account_sid": ACCOUNT,
                "message_sid": message,
                "kind": "status_callback",
                "idempotency_token": "3" * 32,
                "message_status": "sent",
                "request_method": "POST",
                "request_url": "https://app.example/status",
                "attempt": 1,
                "outcome": "delivered",
                "response_status": 204,
                "duration_ms": 12,
                "error_code": None,
                "error_message": None,
                "response_excerpt": "",
                "redelivery_of": "WA" + "5" * 32,
                "created_at": T0,
            }
        ],
        # Counts of another hour than the messages' own, so that a message deleted by `load` (a trigger moves
        # its count) never meets them.
        "message_counts": [
            {
                "account_sid": ACCOUNT,
                "hour": datetime(2026, 11, 1, 9),
                "status": "delivered",
                "error_code": 0,
                "messages": 3,
                "segments": 4,
            }
        ],
        "webhook_counts": [
            {"account_sid": ACCOUNT, "hour": datetime(2026, 11, 1, 9), "outcome": "delivered", "attempts": 2}
        ],
        "dashboard_users": [
            {
                "id": 41,
                "email": "owner@example.com",
                "account_sid": ACCOUNT,
                "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
                "created_at": T0,
                "last_sign_in_at": T0,
                "is_admin": True,
            }
        ],
        "dashboard_sessions": [
            {
                "digest": "4" * 64,
                "user_id": 41,
                "account_sid": ACCOUNT,
                "created_at": T0,
                "expires_at": T0,
                "unlocked_until": T0,
            }
        ],
        "setup_codes": [{"digest": "5" * 64, "account_sid": ACCOUNT, "expires_at": T0}],
        "audit_log": [
            {
                "id": 51,
                "account_sid": ACCOUNT,
                "action": "token_rotated",
                "actor": "owner@example.com",
                "address": "127.0.0.1",
                "target": ACCOUNT,
                "created_at": T0,
            }
        ],
        "carriers": [
            {
                "id": 61,
                "name": "smsc-a",
                "host": "127.0.0.1",
                "port": 2775,
                "system_id": "mycpaas",
                "password_sealed": "sealed-password",
                "system_type": "",
                "bind_type": "transceiver",
                "window": 10,
                "max_mps": 50,
                "source_ton": 1,
                "source_npi": 1,
                "dest_ton": 1,
                "dest_npi": 1,
                "coding": "gsm7",
                "concatenation": "udh",
                "prefixes": "+1",
                "priority": 0,
                "enabled": True,
                "created_at": T0,
                "updated_at": T0,
                "max_binds": 2,
            }
        ],
        "platform_state": [{"name": "secret_check", "value": "sealed-check", "updated_at": T0}],
        "change_versions": [{"topic": "carriers", "version": 3, "changed_at": T0}],
        "carrier_binds": [
            {
                "carrier": "smsc-a",
                "slot": 0,
                "holder": "host:123:abc",
                "claim": 4,
                "locked_until": T0,
                "bound": True,
                "last_error": "bind refused",
                "last_error_at": T0,
                "window_in_use": 3,
            }
        ],
        "throttle_failures": [{"scope": "api", "key": "ip:127.0.0.1", "bucket": 29000000, "failures": 3}],
        "sender_slots": [{"sender": "+15005550100", "next_at": T0, "last_at": T0}],
        "message_parts": [
            {
                "id": 71,
                "message_sid": message,
                "carrier": "smsc-a",
                "part": 1,
                "total": 1,
                "carrier_message_id": "smsc-1",
                "outcome": None,
                "created_at": T0,
            }
        ],
        "pending_receipts": [
            {
                "id": 81,
                "carrier": "smsc-a",
                "carrier_message_id": "ff",
                "alternate_id": "255",
                "outcome": "delivered",
                "received_at": T0,
                "attempts": 1,
            }
        ],
        "inbound_parts": [
            {
                "id": 91,
                "carrier": "smsc-a",
                "source": "+15558675310",
                "destination": "+15005550100",
                "reference": 42,
                "total": 2,
                "seqnum": 1,
                "text": "first half",
                "payload": b"first half",
                "data_coding": 0,
                "received_at": T0,
            }
        ],
        "inbound_seen": [{"fingerprint": "f" * 64, "received_at": T0}],
        "messaging_services": [
            {
                "sid": SERVICE,
                "account_sid": ACCOUNT,
                "friendly_name": "pool",
                "inbound_request_url": "https://app.example/inbound",
                "inbound_method": "GET",
                "fallback_url": None,
                "fallback_method": "POST",
                "status_callback": "https://app.example/status",
                "sticky_sender": True,
                "mms_converter": True,
                "smart_encoding": False,
                "scan_message_content": "inherit",
                "fallback_to_long_code": False,
                "area_code_geomatch": True,
                "validity_period": 600,
                "synchronous_validation": False,
                "usecase": "marketing",
                "use_inbound_webhook_on_number": False,
                "created_at": T0,
                "updated_at": T0,
            }
        ],
        "messaging_service_numbers": [
            {"phone_number_sid": "PN" + "d" * 32, "service_sid": SERVICE, "created_at": T0}
        ],
        "messaging_service_alpha_senders": [
            {"sid": "AI" + "e" * 32, "service_sid": SERVICE, "alpha_sender": "Acme 1", "created_at": T0}
        ],
        "messaging_service_sticky_senders": [
            {
                "service_sid": SERVICE,
                "to_number": "+15558675310",
                "phone_number_sid": "PN" + "d" * 32,
                "last_used_at": T0,
            }
        ],
        "credential_uses": [{"digest": "d" * 64, "used_at": T0, "used_from": "192.0.2.7"}],
    }


def on_connection(url: str, work: Callable[[Connection], Any]) -> Any:
    """Run `work` on a synchronous connection, in one committed transaction, on either backend."""
    if url.startswith("sqlite"):
        engine = create_engine(url)
        try:
            with engine.begin() as connection:
                return work(connection)
        finally:
            engine.dispose()

    async def run() -> Any:
        engine = create_async_engine(async_url(url))
        try:
            async with engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _application_table(name: str, _: Any) -> bool:
    return name not in message_log.SQLITE_TABLES  # the search index follows messages through its triggers


def current_rows(connection: Connection) -> dict[str, list[dict[str, Any]]]:
    """Every application table that exists now, its rows (sorted) with the columns it has now."""
    reflected = MetaData()
    reflected.reflect(connection, only=_application_table)
    return {
        name: sorted(
            (dict(row._mapping) for row in connection.execute(select(table))),
            key=lambda r: repr(sorted(r.items())),
        )
        for name, table in reflected.tables.items()
        if name != "alembic_version"
    }


def projected(
    expected: dict[str, list[dict[str, Any]]], now: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """The expected rows of the tables that exist now, cut down to the columns each has now."""
    result = {}
    for name, rows in now.items():
        columns = set(rows[0]) if rows else None
        cut = [{k: v for k, v in row.items() if columns is None or k in columns} for row in expected[name]]
        result[name] = sorted(cut, key=lambda r: repr(sorted(r.items())))
    return result


def load(rows: dict[str, list[dict[str, Any]]]) -> Callable[[Connection], None]:
    """Empty every table that exists now, then insert `rows` cut to the columns that exist now."""

    def work(connection: Connection) -> None:
        reflected = MetaData()
        reflected.reflect(connection, only=_application_table)
        present = [t for t in reflected.sorted_tables if t.name != "alembic_version"]
        for table in reversed(present):
            connection.execute(table.delete())
        for table in present:
            cut = [{k: v for k, v in row.items() if k in table.c} for row in rows[table.name]]
            connection.execute(table.insert(), cut)

    return work


def revisions_newest_first() -> list[tuple[str, str]]:
    """(revision, the revision below it or "base"), from head down."""
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    return [(r.revision, str(r.down_revision or "base")) for r in script.walk_revisions()]


def test_every_step_down_and_up_keeps_the_data_it_can(database_url: str) -> None:
    rows = representative_rows()
    assert set(rows) == TABLES, "a new table needs representative rows here"
    for name, table_rows in rows.items():
        assert all(set(row) == set(metadata.tables[name].c.keys()) for row in table_rows), name
    migrate.upgrade(database_url)
    on_connection(database_url, load(rows))
    assert on_connection(database_url, current_rows) == projected(rows, {t: [] for t in TABLES})

    for revision, below in revisions_newest_first():
        # One step down: every table that survives keeps its rows (minus any column the step drops).
        migrate.downgrade(database_url, below)
        survivors = on_connection(database_url, current_rows)
        assert survivors == projected(rows, survivors), f"after downgrading {revision} to {below}"
        # Back up the same step: the survivors' rows are still there; tables it re-creates start empty.
        migrate.upgrade(database_url, revision)
        after = on_connection(database_url, current_rows)
        for name, kept in projected(rows, survivors).items():
            columns = set(survivors[name][0]) if survivors[name] else set()
            assert [{k: v for k, v in r.items() if k in columns} for r in after[name]] == kept, name
        # A re-created table starts empty, but for the overview's counts, which 0016 fills from the rows there.
        assert all(after[name] == [] for name in set(after) - set(survivors) - BACKFILLED), revision
        # Then down for good, with the full rows of this revision's schema in place for the next step.
        on_connection(database_url, load(rows))
        migrate.downgrade(database_url, below)

    assert on_connection(database_url, current_rows) == {}
    migrate.upgrade(database_url)
    on_connection(database_url, load(rows))
    assert on_connection(database_url, current_rows) == projected(rows, {t: [] for t in TABLES})
    diff, _, revision = schema_state(database_url)
    assert diff == [] and revision == HEAD


def test_job_ids_keep_growing_across_the_claim_migration(database_url: str) -> None:
    """Jobs queued before 0006 keep their ids, and a job enqueued after it gets a larger one: a rebuilt table
    must not restart its id sequence below them (PostgreSQL) nor reuse a deleted newest id (SQLite)."""
    migrate.upgrade(database_url, "0005")
    now = datetime(2026, 12, 1, 12, 0)

    def queue_jobs(count: int) -> Callable[[Connection], list[int]]:
        def work(connection: Connection) -> list[int]:
            table = MetaData()
            table.reflect(connection, only=["jobs"])
            jobs = table.tables["jobs"]
            row = {"kind": "message.send", "run_at": now, "attempts": 0, "created_at": now}
            return [
                connection.execute(
                    jobs.insert().values(ref=f"SM{n}", **row).returning(jobs.c.id)
                ).scalar_one()
                for n in range(count)
            ]

        return work

    before = on_connection(database_url, queue_jobs(3))
    migrate.upgrade(database_url)
    newest = max(before)
    on_connection(
        database_url,
        lambda c: c.execute(metadata.tables["jobs"].delete().where(metadata.tables["jobs"].c.id == newest)),
    )
    after = on_connection(database_url, queue_jobs(2))
    assert min(after) > newest, (before, after)
    kept = on_connection(
        database_url, lambda c: list(c.execute(select(metadata.tables["jobs"].c.id)).scalars())
    )
    assert set(before) - {newest} <= set(kept)


def test_the_overview_counts_are_filled_from_the_rows_there(database_url: str) -> None:
    """0016 counts the messages and webhook attempts already stored, as a GROUP BY over them would."""
    migrate.upgrade(database_url, "0011")
    rows = representative_rows()
    base = rows["messages"][0]
    messages = [
        {
            **base,
            "id": 100 + n,
            "sid": f"SM{n:032d}",
            "status": status,
            "error_code": code,
            "num_segments": n,
            "created_at": datetime(2026, 12, 1, hour, n),
        }
        for n, (hour, status, code) in enumerate(
            [
                (9, "delivered", None),
                (9, "delivered", None),
                (9, "undelivered", 30003),
                (10, "failed", 30004),
            ],
            start=1,
        )
    ]
    attempts = [
        {
            **rows["webhook_attempts"][0],
            "id": 200 + n,
            "sid": f"WA{n:032d}",
            "outcome": outcome,
            "created_at": datetime(2026, 12, 1, 9, n),
        }
        for n, outcome in enumerate(["delivered", "delivered", "retrying"])
    ]

    def fill(connection: Connection) -> None:
        schema = MetaData()
        schema.reflect(connection, only=["accounts", "messages", "webhook_attempts"])
        connection.execute(schema.tables["accounts"].insert(), rows["accounts"])
        connection.execute(schema.tables["messages"].insert(), messages)
        connection.execute(schema.tables["webhook_attempts"].insert(), attempts)

    on_connection(database_url, fill)
    migrate.upgrade(database_url)
    found = on_connection(database_url, current_rows)
    hour = datetime(2026, 12, 1, 9)
    assert {
        (r["account_sid"], r["hour"], r["status"], r["error_code"], r["messages"], r["segments"])
        for r in found["message_counts"]
    } == {
        (ACCOUNT, hour, "delivered", 0, 2, 3),
        (ACCOUNT, hour, "undelivered", 30003, 1, 3),
        (ACCOUNT, hour.replace(hour=10), "failed", 30004, 1, 4),
    }
    assert sorted((r["outcome"], r["attempts"]) for r in found["webhook_counts"]) == [
        ("delivered", 2),
        ("retrying", 1),
    ]


# ---- PostgreSQL: the log's indexes are built while messages are written -----------------------------------

_COPY_MESSAGE = (
    "INSERT INTO messages (sid, account_sid, direction, to_number, body, status, num_segments, num_media,"
    " encoding, created_at, updated_at) SELECT $1, account_sid, direction, to_number, body, status,"
    " num_segments, num_media, encoding, created_at, updated_at FROM messages WHERE id = 11"
)
_BUILD_WAITING = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'CREATE INDEX %'"
    " AND wait_event_type = 'Lock'"
)


def test_postgresql_takes_writes_to_messages_while_the_log_indexes_are_built() -> None:
    """0017-0019 build their indexes CONCURRENTLY (storage/online_indexes.py), as docs/deployment.md's upgrade
    runs `mycpaas migrate` beside processes that keep serving. A transaction that wrote a message and stays
    open holds the build back, as it would a plain CREATE INDEX; a message written meanwhile goes in at once,
    where a plain CREATE INDEX's SHARE lock, queued behind the open transaction, would hold it until that
    transaction ended (here: past its statement_timeout)."""
    url = create_postgres_database()
    try:
        migrate.upgrade(url, "0016")
        on_connection(url, load(representative_rows()))
        asyncio.run(_write_while_upgrading(url))
        diff, _, revision = schema_state(url)
        assert diff == [] and revision == HEAD
        invalid = on_connection(
            url, lambda c: c.exec_driver_sql("SELECT count(*) FROM pg_index WHERE NOT indisvalid").scalar()
        )
        assert invalid == 0
    finally:
        drop_postgres_database(url)


async def _write_while_upgrading(url: str) -> None:
    holder, writer, watcher = [await asyncpg.connect(url) for _ in range(3)]
    try:
        open_transaction = holder.transaction()
        await open_transaction.start()
        await holder.execute(_COPY_MESSAGE, "SM" + "1" * 32)
        upgrading = asyncio.ensure_future(asyncio.to_thread(migrate.upgrade, url))
        deadline = time.monotonic() + 60
        while not await watcher.fetchval(_BUILD_WAITING):
            assert not upgrading.done(), upgrading.result()
            assert time.monotonic() < deadline, "no CREATE INDEX waited for the open transaction"
            await asyncio.sleep(0.05)
        await writer.execute("SET statement_timeout = '15s'")
        await writer.execute(_COPY_MESSAGE, "SM" + "2" * 32)
        assert not upgrading.done()  # the build still waits for the open transaction
        await open_transaction.commit()
        await asyncio.wait_for(upgrading, 120)
        written = "SELECT count(*) FROM messages WHERE sid IN ($1, $2)"
        assert await watcher.fetchval(written, "SM" + "1" * 32, "SM" + "2" * 32) == 2
    finally:
        for conn in (holder, writer, watcher):
            await conn.close()
