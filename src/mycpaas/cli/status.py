"""`mycpaas status`: what the platform is doing, read from its database, so every process gives one answer.

The database (its URL without the password), the schema revision against this code's, each carrier connector
with its binds up by the bind leases of any running server, the queue's depth with the age of the oldest job
due by kind, and the webhook backlog. An outdated schema is reported (exit code 1) before anything else is read.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mycpaas.cli.common import common_options, json_option, on_platform, print_json, printable, settings_from
from mycpaas.domain.webhooks import EVENT_KINDS
from mycpaas.services import binds, carriers, health
from mycpaas.services.platform import Platform
from mycpaas.storage import migrate
from mycpaas.storage.migrate import SchemaState

if TYPE_CHECKING:
    from mycpaas.cli.common import Subcommands


def _age(now: datetime, since: datetime | None) -> float | None:
    return round(max(0.0, (now - since).total_seconds()), 1) if since else None


async def report(platform: Platform) -> dict[str, Any]:
    connectors = await carriers.list_connectors(platform, with_passwords=False)
    held = await binds.live(platform)
    now, depths = await health.queue(platform)
    webhooks = [d for d in depths if d.kind in EVENT_KINDS]
    oldest = min((d.oldest_due for d in webhooks if d.oldest_due), default=None)
    return {
        "carriers": [
            {
                "name": c.name,
                "address": f"{c.host}:{c.port}",
                "enabled": c.enabled,
                "max_binds": c.max_binds,
                "binds_held": sum(1 for h in held if h.carrier == c.name),
                "binds_up": sum(1 for h in held if h.carrier == c.name and h.bound),
            }
            for c in connectors
        ],
        "queue": [
            {"kind": d.kind, "jobs": d.jobs, "oldest_due_age_seconds": _age(now, d.oldest_due)}
            for d in depths
        ],
        "webhook_backlog": {
            "jobs": sum(d.jobs for d in webhooks),
            "oldest_due_age_seconds": _age(now, oldest),
        },
    }


def _print(status: dict[str, Any]) -> None:
    schema = status["schema"]
    print(f"database:  {status['database']}")
    print(
        f"schema:    revision {schema['revision'] or '(none)'}, this code's {schema['head']}: {schema['state']}"
    )
    if "carriers" not in status:
        return
    if not any(c["enabled"] for c in status["carriers"]):
        print("carriers:  none enabled: the sandbox carrier delivers every message")
    else:
        print("carriers:")
    for c in status["carriers"]:
        state = f"{c['binds_up']} of {c['max_binds']} binds up" if c["enabled"] else "disabled"
        held = f" ({c['binds_held']} held)" if c["binds_held"] != c["binds_up"] else ""
        print(f"  {printable(c['name']):<20} {printable(c['address']):<28} {state}{held}")
    print("queue:")
    for q in status["queue"]:
        age = q["oldest_due_age_seconds"]
        print(
            f"  {q['kind']:<20} {q['jobs']:>8} jobs"
            + (f", oldest due {age:g} s ago" if age is not None else "")
        )
    backlog = status["webhook_backlog"]
    age = backlog["oldest_due_age_seconds"]
    print(
        f"webhooks:  {backlog['jobs']} waiting or retrying"
        + (f", oldest due {age:g} s ago" if age is not None else "")
    )


def status(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    url = settings.effective_database_url
    try:
        schema = migrate.inspect(url)
    except migrate.DatabaseUnreadable as error:
        schema, problem = None, str(error)
    result: dict[str, Any] = {
        "database": migrate.describe(url),
        "schema": {
            "revision": schema.revision if schema else None,
            "head": schema.head if schema else migrate.head_revision(),
            "state": schema.state.value if schema else f"unreadable: {problem}",
        },
    }
    if schema is not None and schema.state is SchemaState.CURRENT:

        async def read(args: argparse.Namespace, platform: Platform) -> int:
            result.update(await report(platform))
            return 0

        on_platform(read)(args)  # the server secret checked as by every command that opens the database
    if args.json:
        print_json(result)
    else:
        _print(result)
    return 0 if "carriers" in result else 1


def register(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "status",
        help="show the database, schema, carrier binds, queue and webhook backlog",
        description="Show what the platform is doing, from its database (so the same for every server "
        "process): the database (without its password), the schema revision against this code's, each carrier "
        "connector with its binds up across running servers, the queue's jobs by kind with the age of the "
        "oldest one due, and the webhook backlog. Exits with 1 when the schema is missing, older or newer "
        "than this code's (the rest is not read then).",
    )
    common_options(parser)
    json_option(parser)
    parser.set_defaults(func=status)
