"""`mycpaas serve`: the API, the dashboard, the workers and the carrier in one process.

The order matters. The TLS files are checked and the listening socket is bound first; only when both worked
are the data directory, the schema and the first-start owner account created, and the credentials printed.
A server that cannot serve (port in use, unreadable certificate) exits non-zero having created nothing, so
it never prints credentials that no one could use yet and that a later start would not print again.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import errno
import socket
import ssl
import sys
from typing import TYPE_CHECKING, Any

import uvicorn

from mycpaas import __version__, metrics
from mycpaas.bootstrap import Application, build_platform
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

if TYPE_CHECKING:
    from mycpaas.cli.common import Subcommands

BACKLOG = 2048  # uvicorn's default
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


def serve(args: argparse.Namespace) -> int:
    metrics.start_server()
    settings = settings_from(args)
    if args.access_log:
        settings = dataclasses.replace(settings, access_log=True)
    check_tls(settings)
    sock = listen(settings.host, settings.port)
    settings = dataclasses.replace(settings, port=sock.getsockname()[1])  # the port chosen, for --port 0
    try:
        for line in prepare(settings).changes:
            print(line, flush=True)
        print_first_start(asyncio.run(first_start(settings)), settings)
        ssl_files: dict[str, Any] = {}
        if settings.tls_cert_file:
            ssl_files = {"ssl_certfile": settings.tls_cert_file, "ssl_keyfile": settings.tls_key_file or None}
        config = uvicorn.Config(
            Application(settings),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            access_log=False,  # ours (api/app.py) leaves query strings out
            # Measured (bench/): the same throughput as uvloop, but uvloop let a few connections wait ~0.7 s
            # behind others when pages of 50 messages were served to 50 clients (p99 680 ms vs 50 ms).
            loop="asyncio",
            server_header=False,
            # The scope stays raw: forwarding.py alone decides whom to believe (MYCPAAS_TRUSTED_PROXIES);
            # uvicorn would otherwise believe X-Forwarded-* from 127.0.0.1 and $FORWARDED_ALLOW_IPS.
            proxy_headers=False,
            forwarded_allow_ips=[],
            backlog=BACKLOG,
            **ssl_files,
        )
        _Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0


class _Server(uvicorn.Server):
    """uvicorn's server, saying when it serves: given a socket, uvicorn itself logs no such line."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            scheme = "https" if self.config.ssl else "http"
            host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
            print(
                f"mycpaas {__version__} listening on {scheme}://{host}:{self.config.port} (press CTRL+C to stop)",
                flush=True,
            )


def register(commands: Subcommands) -> None:
    serve_parser = commands.add_parser(
        "serve",
        help="run the API, the dashboard, the workers and the carrier in one process",
        description="Run the API, the dashboard (at /), the delivery worker, the webhook dispatcher and the "
        "carrier (the SMPP connectors of `mycpaas carriers`, else the sandbox). Binds the port first; then "
        "creates the data directory, the server secret and the database, or migrates the database to the "
        "latest schema. On the first start with an empty database, creates the owner account and prints its "
        "credentials; while no dashboard user exists, prints a one-time set-up link.",
    )
    common_options(serve_parser)
    serve_parser.add_argument("--host", help="address to listen on (default: $MYCPAAS_HOST or 127.0.0.1)")
    serve_parser.add_argument("--port", type=int, help="port to listen on (default: $MYCPAAS_PORT or 8080)")
    serve_parser.add_argument(
        "--tls-cert-file", metavar="PEM", help="serve https with this certificate (see `mycpaas dev-cert`)"
    )
    serve_parser.add_argument("--tls-key-file", metavar="PEM", help="the private key of --tls-cert-file")
    serve_parser.add_argument(
        "--access-log",
        action="store_true",
        help="log every request: method, path (without the query string), status, duration",
    )
    serve_parser.set_defaults(func=serve)
