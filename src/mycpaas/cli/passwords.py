"""A dashboard password as `users create` and `users reset-password` read it: never from argv."""

from __future__ import annotations

import argparse
import getpass
import sys


def read_password(args: argparse.Namespace) -> str:
    """One line of stdin with --password-stdin, else asked twice on the terminal."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password (at least 12 characters): ")
    if getpass.getpass("Password again: ") != first:
        raise ValueError("the two passwords differ")
    return first
