"""`mycpaas serve`: the API, the dashboard, the workers and the carrier, in one process or several.

The order matters. The TLS files are checked and the listening socket is bound first, and on SQLite the
database's serve lock is taken; only when all worked are the data directory, the schema and the first-start
owner account created, and the credentials printed, once, in this process. Then server.py serves the socket,
in this process or in --workers forked processes.
A server that cannot serve (port in use, unreadable certificate) exits non-zero having created nothing, so
it never prints credentials that no one could use yet and that a later start would not print again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import errno
import fcntl
import gc
import socket
import ssl
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mycpaas import __version__, metrics, server
from mycpaas.bootstrap import build_platform
from mycpaas.cli.common import (
    Refusal,
    base_url,
    common_options,
    print_credentials,
    settings_from,
)
from mycpaas.cli.schema import prepare
from mycpaas.services import provisioning
from mycpaas.settings import Settings
from mycpaas.storage.migrate import sqlite_file

if TYPE_CHECKING:
    from mycpaas.cli.common import Subcommands

BACKLOG = server.BACKLOG
OWNER_HEADING = "Created the owner account of this mycpaas server:"


def check_tls(settings: Settings) -> None:
    if not settings.tls_cert_file:
        return
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file or None)
    except (OSError, ssl.SSLError) as error:
        raise Refusal(
            f"mycpaas: cannot serve https with the certificate {settings.tls_cert_file} and the key "
            f"{settings.tls_key_file or '(in the certificate file)'}: {error}"
        ) from None


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on host:port, or a Refusal that names the address and what to do."""
    where = f"{host}:{port}"
    if not 0 <= port <= 65535:
        raise Refusal(f"mycpaas: cannot listen on {where}: the port must be 0-65535", code=2)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise Refusal(f"mycpaas: cannot listen on {where}: {error.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        # A restart must not wait for the previous run's connections in TIME_WAIT. A port another socket
        # listens on still fails: Linux and BSD refuse that bind despite SO_REUSEADDR.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)  # listening now reserves the port against a second server starting beside us
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise Refusal(
                f"mycpaas: cannot listen on {where}: port {port} is in use (another mycpaas serve, or another "
                "program). Stop it, or choose another port with --port or MYCPAAS_PORT. Nothing was created."
            ) from None
        raise Refusal(f"mycpaas: cannot listen on {where}: {error.strerror}") from None
    return sock


async def first_start(settings: Settings) -> provisioning.FirstStart:
    platform = build_platform(settings)
    try:
        return await provisioning.provision(platform)
    finally:
        await platform.db.dispose()


def print_first_start(first: provisioning.FirstStart, settings: Settings) -> None:
    """The owner's credentials and the set-up link go to the terminal, never through the logger."""
    if first.owner is not None and settings.print_credentials:
        print_credentials(first.owner, settings, OWNER_HEADING)
    if first.setup_code is not None:
        # The code rides in the #fragment: browsers never send it, so no server or proxy logs it.
        print("No dashboard user exists yet. Open this one-time link to create the first one:")
        print(f"  {base_url(settings)}/setup#code={first.setup_code}")
        hours = settings.setup_link_seconds / 3600
        print(f"  (valid {hours:g} hours; or run `mycpaas users create`)")
    sys.stdout.flush()


# The cyclic garbage collector's thresholds for a serving process (Python's defaults: 700, 10, 10).
GC_THRESHOLDS = (20_000, 20, 100)


def collect_garbage_less_often() -> None:
    """A serving process allocates many short-lived objects per request, callback and PDU, most freed by
    reference counting; with the default thresholds the collector ran a young collection every 700 of them and
    walked the whole heap far more often than it found anything. Measured (bench/webhooks.py, SQLite,
    2026-12-07, the same queue drained in alternation, load average 10-14): the webhook dispatcher's CPU per
    callback 850 -> 729 us and its rate 269 -> 432 callbacks/s with these thresholds. Set before the workers
    fork, so every process of `serve --workers N` has them."""
    gc.set_threshold(*GC_THRESHOLDS)


def serve(args: argparse.Namespace) -> int:
    metrics.start_server()
    settings = serve_settings(args)
    check_tls(settings)
    sock = listen(settings.host, settings.port)
    settings = dataclasses.replace(settings, port=sock.getsockname()[1])  # the port chosen, for --port 0
    try:
        with sqlite_lock(settings):
            for line in prepare(settings).changes:
                print(line, flush=True)
            print_first_start(asyncio.run(first_start(settings)), settings)
            collect_garbage_less_often()
            return server.serve(settings, sock, lambda: print_banner(settings))
    finally:
        sock.close()


def serve_settings(args: argparse.Namespace) -> Settings:
    """The settings, with the role flags and --workers applied, refused if they cannot work together."""
    settings = settings_from(args)
    overrides = {name: getattr(args, name) for name in ROLES if getattr(args, name) is not None}
    if args.access_log is not None:
        overrides["access_log"] = "true" if args.access_log else "false"
    if args.workers is not None:
        overrides["workers"] = args.workers
    settings = dataclasses.replace(settings, **overrides)
    if settings.workers < 1:
        raise Refusal("mycpaas: --workers (MYCPAAS_WORKERS) must be 1 or more", code=2)
    if settings.workers > 1 and is_sqlite(settings):
        raise Refusal(
            f"mycpaas: cannot serve with {settings.workers} worker processes on SQLite: one SQLite database "
            "has one server process. Use PostgreSQL (MYCPAAS_DATABASE_URL=postgresql://...) to run several.",
            code=2,
        )
    if settings.log_level.lower() not in server.LOG_LEVELS:
        raise Refusal(f"mycpaas: MYCPAAS_LOG_LEVEL must be one of {', '.join(server.LOG_LEVELS)}", code=2)
    if not 0 < settings.http_header_timeout_seconds <= 60:
        raise Refusal(
            "mycpaas: MYCPAAS_HTTP_HEADER_TIMEOUT_SECONDS must be more than 0 and at most 60", code=2
        )
    if settings.http_max_header_bytes < 8192:
        raise Refusal("mycpaas: MYCPAAS_HTTP_MAX_HEADER_BYTES must be at least 8192", code=2)
    if settings.http_body_timeout_seconds <= 0:
        raise Refusal("mycpaas: MYCPAAS_HTTP_BODY_TIMEOUT_SECONDS must be more than 0", code=2)
    if settings.http_max_connections < 1:
        raise Refusal("mycpaas: MYCPAAS_HTTP_MAX_CONNECTIONS must be 1 or more", code=2)
    return settings


def is_sqlite(settings: Settings) -> bool:
    return settings.effective_database_url.startswith("sqlite")


@contextlib.contextmanager
def sqlite_lock(settings: Settings) -> Iterator[None]:
    """One server process per SQLite file: an exclusive lock on `<database>.serve.lock`, held while serving.

    SQLite has one writer at a time and mycpaas's job leases assume one server on it; a second `serve` on the
    same file is refused here, before it changes anything. Other commands (accounts, carriers, ...) do not take
    the lock and keep working beside a running server. The kernel drops the lock when the process dies.
    """
    database = sqlite_file(settings.effective_database_url)
    if database is None:
        yield
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    lock_path = database.with_name(database.name + ".serve.lock")
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Refusal(
                f"mycpaas: another `mycpaas serve` is running on the SQLite database {database}: one SQLite "
                "database has one server process. Stop it, or use PostgreSQL (MYCPAAS_DATABASE_URL="
                "postgresql://...) to run several processes. Nothing was changed."
            ) from None
        yield


def print_banner(settings: Settings) -> None:
    scheme = "https" if settings.tls_cert_file else "http"
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    processes = f" ({settings.workers} processes)" if settings.workers > 1 else ""
    print(
        f"mycpaas {__version__} listening on {scheme}://{host}:{settings.port}{processes} (press CTRL+C to stop)"
    )
    if settings.dashboard:
        print(f"Dashboard: {base_url(settings)}/")
    sys.stdout.flush()


# The parts a process runs: --X / --no-X set the MYCPAAS_X switch of Settings for this process.
ROLES = {
    "api": "the REST API (/2010-04-01/...); without it, API paths answer the JSON 404",
    "dashboard": "the dashboard (at /)",
    "delivery_worker": "the delivery worker and its carrier links (SMPP binds)",
    "webhook_dispatcher": "the webhook dispatcher (status callbacks)",
}


def register(commands: Subcommands) -> None:
    serve_parser = commands.add_parser(
        "serve",
        help="run the API, the dashboard, the workers and the carrier (all in one process by default)",
        description="Run the API, the dashboard (at /), the delivery worker, the webhook dispatcher and the "
        "carrier (the SMPP connectors of `mycpaas carriers`, else the sandbox). Binds the port first; then "
        "creates the data directory, the server secret and the database, or migrates the database to the "
        "latest schema. On the first start with an empty database, creates the owner account and prints its "
        "credentials; while no dashboard user exists, prints a one-time set-up link. On PostgreSQL, several "
        "processes may serve one port (--workers) and any number of `serve` processes may run the parts "
        "separately (--no-api, --no-delivery-worker, ...); on SQLite one `serve` process runs per database. "
        "Slow and oversized requests are cut off and connections are capped by the MYCPAAS_HTTP_* settings "
        "(docs/configuration.md; docs/deployment.md, Facing the internet).",
    )
    common_options(serve_parser)
    serve_parser.add_argument("--host", help="address to listen on (default: $MYCPAAS_HOST or 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="port to listen on (default: $MYCPAAS_PORT or 8080)")
    serve_parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes serving the port, each running the parts chosen below (default: $MYCPAAS_WORKERS or "
        "1; more than 1 needs PostgreSQL)",
    )
    for name, what in ROLES.items():
        flag = name.replace("_", "-")
        serve_parser.add_argument(
            f"--{flag}",
            action=argparse.BooleanOptionalAction,
            default=None,
            help=f"run {what} (default: $MYCPAAS_{name.upper()} or on)",
        )
    serve_parser.add_argument(
        "--tls-cert-file", metavar="PEM", help="serve https with this certificate (see `mycpaas dev-cert`)"
    )
    serve_parser.add_argument("--tls-key-file", metavar="PEM", help="the private key of --tls-cert-file")
    serve_parser.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="log every request: method, path (without the query string), status, duration (default: "
        "$MYCPAAS_ACCESS_LOG, else on when MYCPAAS_ENVIRONMENT is development, the default, and off in "
        "production)",
    )
    serve_parser.set_defaults(func=serve)
