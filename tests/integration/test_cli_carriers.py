"""`mycpaas carriers …` on SQLite and on PostgreSQL: the commands and their messages in this process, and as
`python -m mycpaas` processes where the process matters (the password on a real pipe; stdin no terminal).

The SMPP password goes in on stdin only; it must never come back out: not in any output, not in clear in the
database.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import select

from mycpaas.delivery.carriers.sandbox import SandboxCarrier
from mycpaas.domain.messages import Direction, Message, MessageStatus
from mycpaas.services import delivery
from mycpaas.services.accounts import create_account
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.storage import binds, messages, parts
from mycpaas.storage.tables import carrier_binds
from tests.conftest import BACKENDS
from tests.databases import create_postgres_database, drop_postgres_database, sqlite_url
from tests.integration.cli_support import call, cli_environment, spawn_all
from tests.platform_support import run_on_platform

PASSWORD = "Pw7x!q2Z"  # 8 characters: the SMPP 3.4 maximum
NEW_PASSWORD = "Zq9#k4Lm"


@dataclass
class CarrierCli:
    data_dir: Path
    database_url: str
    outputs: list[str]

    def env(self) -> dict[str, str]:
        return cli_environment(self.data_dir, self.database_url)

    def run_all(
        self,
        commands: list[tuple[tuple[str, ...], str | None]],
        expect: int | None = 0,
        spawn: bool = False,
    ) -> list[subprocess.CompletedProcess[str]]:
        """Run (args, stdin) commands; stdin None = an empty, non-terminal standard input.

        In this process by default (these tests are about arguments, messages and what is stored); with
        spawn=True as `python -m mycpaas` processes side by side, where the process matters (the password
        on a real pipe).
        """
        if spawn:
            results = spawn_all(commands, self.env(), self.data_dir)
        else:
            results = [call(args, self.env(), stdin) for args, stdin in commands]
        for result in results:
            self.outputs += [result.stdout, result.stderr]
            if expect is not None:
                assert result.returncode == expect, (
                    f"{result.args}: rc={result.returncode}\n{result.stdout}\n{result.stderr}"
                )
            assert "Traceback" not in result.stderr, result.stderr
        return results

    def run(
        self, *args: str, stdin: str | None = None, expect: int | None = 0
    ) -> subprocess.CompletedProcess[str]:
        return self.run_all([(args, stdin)], expect=expect)[0]

    def stored_rows(self) -> list[tuple[object, ...]]:
        """Every row of the carriers table, read straight from the database."""
        if self.database_url.startswith("sqlite"):
            with sqlite3.connect(self.data_dir / "mycpaas.db") as conn:
                return list(conn.execute("SELECT * FROM carriers ORDER BY name"))

        async def fetch() -> list[tuple[object, ...]]:
            conn = await asyncpg.connect(self.database_url, timeout=10)
            try:
                return [tuple(r) for r in await conn.fetch("SELECT * FROM carriers ORDER BY name")]
            finally:
                await conn.close()

        return asyncio.run(fetch())


@pytest.fixture(params=BACKENDS)
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CarrierCli]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    url = sqlite_url(data_dir) if request.param == "sqlite" else create_postgres_database()
    instance = CarrierCli(data_dir, url, [])
    instance.run("migrate")  # in this process, like most commands here
    yield instance
    if url.startswith("postgresql"):
        drop_postgres_database(url)


def add_args(name: str, *extra: str) -> tuple[str, ...]:
    return (
        "carriers",
        "add",
        name,
        "--host",
        "smsc.example.net",
        "--port",
        "2775",
        "--system-id",
        "acme",
        "--password-stdin",
        *extra,
    )


def assert_never_shown(cli: CarrierCli, *passwords: str) -> None:
    for output in cli.outputs:
        for password in passwords:
            assert password not in output


def test_round_trip(cli: CarrierCli) -> None:
    empty = cli.run("carriers", "list").stdout
    assert "sandbox carrier delivers" in empty

    added = cli.run_all(
        [
            (
                add_args(
                    "uk-primary",
                    "--prefix",
                    "+44",
                    "--prefix",
                    "4420",
                    "--priority",
                    "5",
                    "--system-type",
                    "VMA",
                    "--bind",
                    "transmitter",
                    "--window",
                    "20",
                    "--max-mps",
                    "30",
                    "--source-ton",
                    "5",
                    "--source-npi",
                    "0",
                    "--coding",
                    "latin1",
                    "--concatenation",
                    "sar",
                    "--max-binds",
                    "3",
                ),
                PASSWORD + "\n",
            ),
            (add_args("fallback", "--disabled"), PASSWORD + "\n"),
        ],
        spawn=True,  # the password on a real pipe, into a real process whose every output is checked
    )
    assert "Added carrier connector uk-primary" in added[0].stdout
    assert "Running servers bind it within a second" in added[0].stdout

    listing, shown = cli.run_all([(("carriers", "list"), None), (("carriers", "show", "uk-primary"), None)])
    lines = listing.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "HOST:PORT", "SYSTEM_ID"]
    # Ordered by priority, then name.
    assert [line.split()[0] for line in lines[1:3]] == ["uk-primary", "fallback"]
    uk = lines[1].split()
    assert uk[1:] == [
        "smsc.example.net:2775",
        "acme",
        "transmitter",
        "20",
        "30",
        "3",
        "latin1",
        "sar",
        "+44,4420",
        "5",
        "yes",
    ]
    fallback = lines[2].split()
    assert fallback[-3:] == ["*", "100", "no"]
    assert "no limit" in lines[2] and "gsm7" in lines[2] and "udh" in lines[2]

    show = shown.stdout
    assert "password:" in show and "(set)" in show
    assert "system_type:    VMA" in show
    assert "source TON/NPI: 5/0" in show
    assert "dest TON/NPI:   1/1" in show
    assert "prefixes:       +44 4420" in show
    assert "max binds:      3" in show

    cli.run(
        "carriers",
        "update",
        "uk-primary",
        "--clear-prefixes",
        "--disable",
        "--window",
        "50",
        "--coding",
        "ucs2",
    )
    cli.run("carriers", "update", "fallback", "--enable", "--prefix", "33", "--priority", "1")
    cli.run("carriers", "update", "uk-primary", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    lines = cli.run("carriers", "list").stdout.splitlines()
    assert [line.split()[0] for line in lines[1:3]] == ["fallback", "uk-primary"]
    assert lines[1].split()[-3:] == ["33", "1", "yes"]
    uk = lines[2].split()
    assert uk[4] == "50" and uk[7] == "ucs2" and uk[-3:] == ["*", "5", "no"]
    # Fields not given to update stay as they were.
    assert uk[3] == "transmitter" and uk[6] == "3" and uk[8] == "sar"

    removed = cli.run("carriers", "remove", "uk-primary")
    assert "Removed carrier connector uk-primary" in removed.stdout
    gone = cli.run_all(
        [(("carriers", "show", "uk-primary"), None), (("carriers", "remove", "uk-primary"), None)], expect=2
    )
    for result in gone:
        assert "no carrier connector named 'uk-primary'" in result.stderr
    lines = cli.run("carriers", "list").stdout.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["fallback"]

    assert_never_shown(cli, PASSWORD, NEW_PASSWORD)


def test_the_password_is_sealed_at_rest(cli: CarrierCli) -> None:
    cli.run(*add_args("sealed"), stdin=PASSWORD + "\n")
    cli.run("carriers", "update", "sealed", "--window", "3")
    rows = cli.stored_rows()
    assert len(rows) == 1
    assert not any(PASSWORD in str(value) for value in rows[0])
    if cli.database_url.startswith("sqlite"):
        for path in cli.data_dir.glob("mycpaas.db*"):  # the database and its WAL, if any
            assert PASSWORD.encode() not in path.read_bytes(), path

    cli.run("carriers", "update", "sealed", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    rows_after = cli.stored_rows()
    assert not any(NEW_PASSWORD in str(value) or PASSWORD in str(value) for value in rows_after[0])
    assert rows_after[0] != rows[0]  # re-sealed
    if cli.database_url.startswith("sqlite"):
        for path in cli.data_dir.glob("mycpaas.db*"):
            assert NEW_PASSWORD.encode() not in path.read_bytes(), path
    assert_never_shown(cli, PASSWORD, NEW_PASSWORD)


INVALID = [
    (add_args("bad-port", "--port", "70000"), "port must be 1-65535"),
    (add_args("bad-port-text", "--port", "x2775"), "argument --port: invalid int value"),
    (add_args("Bad Name"), "name must be 1-64 of a-z 0-9"),
    (add_args("bad-prefix", "--prefix", "44a"), "prefixes are digits, optionally after +"),
    (add_args("bad-bind", "--bind", "both"), "argument --bind: invalid choice"),
    (add_args("bad-window", "--window", "0"), "window must be 1-1000"),
    (add_args("bad-mps", "--max-mps", "-1"), "max messages per second must be 0-100000"),
    (add_args("bad-ton", "--dest-ton", "256"), "TON and NPI must be 0-255"),
    (add_args("bad-coding", "--coding", "utf8"), "argument --coding: invalid choice"),
]


def test_invalid_values_are_refused_with_a_clear_message(cli: CarrierCli) -> None:
    commands: list[tuple[tuple[str, ...], str | None]] = [(args, PASSWORD + "\n") for args, _ in INVALID]
    commands.append((add_args("long-password"), "nine-char\n"))
    # Standard input as a process gets it: a pipe, not a terminal; empty.
    spawned: list[tuple[tuple[str, ...], str | None]] = [
        ((*add_args("no-stdin-flag")[:-1],), None),  # no --password-stdin
        (add_args("empty-stdin"), None),
    ]
    expected = [message for _, message in INVALID] + [
        "password must be at most 8 characters",
        "the SMPP password is read from standard input: pass --password-stdin",
        "standard input is empty",
    ]
    results = cli.run_all(commands, expect=2) + cli.run_all(spawned, expect=2, spawn=True)
    for result, message in zip(results, expected, strict=True):
        assert message in result.stderr, (result.args, result.stderr)
        assert result.stdout == ""
    assert "nine-char" not in "".join(cli.outputs)
    assert "No carrier connectors" in cli.run("carriers", "list").stdout


def test_duplicates_unknown_names_and_bad_updates(cli: CarrierCli) -> None:
    cli.run(*add_args("dup"), stdin=PASSWORD + "\n")
    results = cli.run_all(
        [
            (add_args("dup", "--port", "2776"), NEW_PASSWORD + "\n"),
            (("carriers", "update", "nope", "--window", "3"), None),
            (("carriers", "remove", "nope"), None),
            (("carriers", "update", "dup", "--port", "0"), None),
            (("carriers", "update", "dup", "--password-stdin"), "much-too-long\n"),
            (("carriers", "update", "dup"), None),
            (("carriers", "update", "dup", "--enable", "--disable"), None),
            (("carriers", "update", "dup", "--prefix", "+1", "--prefix", "1x"), None),
        ],
        expect=2,
    )
    messages = [
        "a carrier connector named 'dup' exists already",
        "no carrier connector named 'nope'",
        "no carrier connector named 'nope'",
        "port must be 1-65535",
        "password must be at most 8 characters",
        "nothing to change",
        "not allowed with argument",
        "prefixes are digits",
    ]
    for result, message in zip(results, messages, strict=True):
        assert message in result.stderr, (result.args, result.stderr)
    # Nothing changed: the original is intact.
    show = cli.run("carriers", "show", "dup").stdout
    assert "port:           2775" in show and "prefixes:       * (every destination)" in show
    assert_never_shown(cli, PASSWORD, NEW_PASSWORD, "much-too-long")


def send_through(
    cli: CarrierCli, carrier: str, sent_at: datetime, bound: bool = True, smsc: str | None = None
) -> str:
    """A message the connector `carrier` accepted at `sent_at` and has not reported on (still `sent`), with its
    part recorded as the delivery worker does, under the SMSC account `smsc` (`Connector.smsc_account`; the sandbox
    records under its name); and a bind slot of the connector, as a delivery process leaves it. Its SID."""
    settings = Settings(data_dir=cli.data_dir, database_url=cli.database_url)

    async def scenario(platform: Platform) -> str:
        account = await create_account(platform, "Sender")
        async with platform.db.write() as conn:
            message = Message.outbound(
                account_sid=account.account.sid,
                direction=Direction.OUTBOUND_API,
                from_number="+15005550006",
                to_number="+447700900123",
                body="hello",
                num_media=0,
                status_callback=None,
                validity_period=None,
                now=sent_at,
            )
            await messages.insert_new(conn, [message])
            await messages.advance_status(
                conn, message.sid, MessageStatus.SENT, [MessageStatus.QUEUED], sent_at
            )
            await messages.update_message(conn, message.sid, sent_at, sent_at=sent_at)
            await messages.set_carrier_ids(conn, [(message.sid, "1A2B")])
            await parts.insert_parts(conn, message.sid, smsc or carrier, ["1A2B"], sent_at)
            if bound:
                await binds.ensure_slots(conn, carrier, 1)
        return message.sid

    return run_on_platform(settings, scenario)


def bind_slots_and_status(cli: CarrierCli, sid: str) -> tuple[list[str], str, bool]:
    """The connectors with bind slots, the message's status, and whether a starting delivery worker would hand
    it to the sandbox to re-arm its receipt (the sandbox must not take over an SMSC's messages)."""

    async def scenario(platform: Platform) -> tuple[list[str], str, bool]:
        async with platform.db.read() as conn:
            slots = sorted((await conn.execute(select(carrier_binds.c.carrier))).scalars())
            message = await messages.get_message(conn, sid)
        assert message is not None
        resumed = await delivery.awaiting_receipts(platform, SandboxCarrier.name)
        return slots, message.status.value, sid in {m.sid for m in resumed}

    return run_on_platform(Settings(data_dir=cli.data_dir, database_url=cli.database_url), scenario)


UK_A = "acme@smsc.example.net:2775"  # what SmppCarrier records uk-a's parts under (Connector.smsc_account)


def test_remove_warns_of_receipts_in_flight_and_forgets_its_binds(cli: CarrierCli) -> None:
    cli.run_all(
        [
            (add_args("uk-a"), PASSWORD),
            (add_args("uk-b", "--system-id", "other"), PASSWORD),
            (add_args("uk-a2"), PASSWORD),  # the same SMSC account as uk-a
        ]
    )
    sent_at = datetime(2026, 12, 1, 9, 30, 5)
    sid = send_through(cli, "uk-a", sent_at, smsc=UK_A)
    send_through(cli, "uk-a", sent_at + timedelta(hours=2), smsc=UK_A)

    # While uk-a2 binds the same SMSC account, the receipts still arrive: nothing is in flight for uk-a2 alone.
    assert "Removed carrier connector uk-a2" in cli.run("carriers", "remove", "uk-a2").stdout

    refused = cli.run("carriers", "remove", "uk-a", expect=2)
    said = " ".join(refused.stderr.split())
    assert "2 message(s) sent through carrier connector 'uk-a' still await their delivery receipts" in said
    assert "the oldest sent 2026-12-01T09:30:05Z" in said
    assert "they stay `sent`" in said and "give --force to remove it anyway" in said
    assert "uk-a" in cli.run("carriers", "list").stdout
    assert bind_slots_and_status(cli, sid) == (["uk-a"], "sent", False)

    # A connector with nothing in flight goes without --force.
    assert "Removed carrier connector uk-b" in cli.run("carriers", "remove", "uk-b").stdout

    removed = cli.run("carriers", "remove", "uk-a", "--force")
    said = " ".join(removed.stdout.split())
    assert "Removed carrier connector uk-a" in said
    assert "2 message(s) sent through it were awaiting delivery receipts" in said and "stay `sent`" in said
    # Its bind slots went with it (one transaction); the message stays `sent`, even with no connector left
    # (the sandbox re-arms only the receipts of messages it accepted itself).
    assert cli.run("carriers", "list").stdout.startswith("No carrier connectors")
    assert bind_slots_and_status(cli, sid) == ([], "sent", False)
    sandboxed = send_through(cli, "sandbox", sent_at, bound=False)
    assert bind_slots_and_status(cli, sandboxed) == ([], "sent", True)
    assert_never_shown(cli, PASSWORD)


def test_help_explains_hot_reload_and_sandbox(tmp_path: Path) -> None:
    cli = CarrierCli(tmp_path, sqlite_url(tmp_path), [])
    top, add, update = cli.run_all(
        [
            (("carriers", "--help"), None),
            (("carriers", "add", "--help"), None),
            (("carriers", "update", "--help"), None),
        ]
    )
    text = " ".join(top.stdout.split())
    assert "follow changes within a second, without a restart" in text
    assert "sandbox carrier delivers" in text
    add_text = " ".join(add.stdout.split())
    for phrase in (
        "international/ISDN",
        "--password-stdin",
        "0 = no limit",
        "sar_* TLVs",
        "unanswered",
        "--max-binds",
    ):
        assert phrase in add_text
    assert "--clear-prefixes" in update.stdout and "--enable" in update.stdout
    assert not (tmp_path / "mycpaas.db").exists()  # help opens no database
