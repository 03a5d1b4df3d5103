"""`mycpaas migrate`, and the preparation `serve` shares with it: the only commands that create or change a
database. Alembic's own INFO lines stay out of the terminal (see `main`); one line of ours says what was done.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mycpaas.cli.common import Refusal, common_options, settings_from
from mycpaas.services import server_secret
from mycpaas.settings import Settings
from mycpaas.storage import migrate
from mycpaas.storage.migrate import SchemaState

if TYPE_CHECKING:
    from mycpaas.cli.common import Subcommands


@dataclass(frozen=True)
class Prepared:
    changes: list[str]  # one line per thing created or migrated; none when everything was there already
    schema_changed: bool


def prepare(settings: Settings) -> Prepared:
    """Create the data directory, the schema and the server secret, or migrate the schema to the newest
    revision; then check the secret against the database's (services/server_secret.py)."""
    url = settings.effective_database_url
    where = migrate.describe(url)
    try:
        before = migrate.inspect(url)
    except migrate.DatabaseUnreadable as error:
        raise Refusal(f"mycpaas: cannot use the database at {where}: {error}") from None
    if before.state is SchemaState.AHEAD:
        raise Refusal(
            f"mycpaas: the database at {where} has schema revision {before.revision}, which this version of "
            f"mycpaas does not know (its newest is {before.head}): it was migrated by a newer mycpaas."
        )
    server_secret.validate(
        settings
    )  # a secret given or found, but missing or malformed: refused before we start
    done = []
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(url)
    # The secret file is created (when no secret is given) only for a database with nothing sealed yet, and
    # any secret is checked against the database's check value: SecretRefused (see `main`) if it is not its.
    created = asyncio.run(server_secret.establish(settings))
    if created is not None:
        done.append(
            f"Created the server secret {created}: back it up with the database "
            "(without it, no stored token or password can be read)."
        )
    if before.state is SchemaState.MISSING:
        done.append(f"Created the mycpaas database at {where} (schema revision {before.head}, the latest).")
    elif before.state is SchemaState.BEHIND:
        done.append(
            f"Migrated the database at {where} from schema revision {before.revision} to {before.head}, "
            "the latest."
        )
    return Prepared(done, before.state is not SchemaState.CURRENT)


def run_migrate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    prepared = prepare(settings)
    for line in prepared.changes:
        print(line)
    if not prepared.schema_changed:
        where = migrate.describe(settings.effective_database_url)
        print(f"The database at {where} is at the latest schema (revision {migrate.head_revision()}).")
    return 0


def register(commands: Subcommands) -> None:
    mig = commands.add_parser(
        "migrate",
        help="create the database or bring its schema up to date",
        description="Create the data directory and the database schema if they are missing, or apply every "
        "pending schema migration; create the server secret (<data dir>/secret.key) if MYCPAAS_SECRET or "
        "MYCPAAS_SECRET_FILE does not give one and the database holds nothing sealed; refuse a secret that is "
        "not the database's. `mycpaas serve` does the same when it starts; the other commands refuse a missing "
        "or older database.",
    )
    common_options(mig)
    mig.set_defaults(func=run_migrate)
