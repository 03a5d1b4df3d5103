"""`mycpaas dev-cert`: a self-signed certificate for https on localhost (SignalWire's SDKs insist on https)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mycpaas.cli.common import data_dir_option, settings_from

if TYPE_CHECKING:
    from mycpaas.cli.common import Subcommands


def dev_cert(args: argparse.Namespace) -> int:
    from mycpaas.devcert import make_dev_cert

    settings = settings_from(args)
    cert = Path(args.cert or settings.data_dir / "tls" / "cert.pem")
    key = Path(args.key or settings.data_dir / "tls" / "key.pem")
    make_dev_cert(cert, key)
    print(f"wrote {cert} and {key} (valid for localhost, 127.0.0.1 and ::1)")
    print(f"serve with: MYCPAAS_TLS_CERT_FILE={cert} MYCPAAS_TLS_KEY_FILE={key} mycpaas serve")
    return 0


def register(commands: Subcommands) -> None:
    cert = commands.add_parser(
        "dev-cert",
        help="make a self-signed TLS certificate for localhost",
        description="Write a self-signed certificate for localhost, 127.0.0.1 and ::1 and its private key "
        "(mode 0600), creating their directories. It opens no database.",
    )
    data_dir_option(cert)
    cert.add_argument("--cert", metavar="PATH", help="certificate path (default <data dir>/tls/cert.pem)")
    cert.add_argument("--key", metavar="PATH", help="key path (default <data dir>/tls/key.pem)")
    cert.set_defaults(func=dev_cert)
