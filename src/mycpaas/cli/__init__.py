"""The `mycpaas` command: serve the platform, and manage its database, accounts, users and carriers.

One module per command group (serve, schema, status, accounts, numbers, messages, users, carriers, devcert);
each adds its commands to the parser here. List and show commands take --json. Only `serve` and `migrate` create or migrate a database: every other command opens it through
`common.on_platform`, which refuses a missing or outdated one before creating anything.

Credentials are printed to the terminal (stdout) directly, never through the logger, so they cannot end up in
log files or log shipping.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from mycpaas import __version__
from mycpaas.cli import accounts, carriers, devcert, messages, numbers, schema, serve, status, users
from mycpaas.cli.common import Refusal
from mycpaas.services.server_secret import SecretRefused


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mycpaas",
        description="Self-hosted communications platform with a Twilio/SignalWire-compatible API. "
        "`mycpaas serve` creates the database on first start; the other commands work on an existing one "
        "(choose it with --data-dir / --database-url, or MYCPAAS_DATA_DIR / MYCPAAS_DATABASE_URL).",
    )
    parser.add_argument("--version", action="version", version=f"mycpaas {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (serve, schema, status, accounts, numbers, messages, users, carriers, devcert):
        group.register(commands)
    return parser


_FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s %(message)s"


class SecondCachedFormatter(logging.Formatter):
    """logging's default format, with the date and time up to the second formatted once per second.

    Formatter.formatTime runs localtime() and strftime() for every record: about 2 of the 11 us of an access
    line (timeit, 2026-12-07), one line per request with `--access-log`. The text is the same: the seconds of
    `created` are those of int(created), and the milliseconds are appended as logging appends them.
    """

    _second = -1
    _text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._text = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        if self.default_msec_format:  # as logging does
            return self.default_msec_format % (self._text, record.msecs)
        return self._text

    def info_line(self, name: str, message: str) -> str | None:
        """The line format() would give an INFO record of logger `name` with this message, made now, without
        the record: the access line's way past logging (server.TurnBufferedHandler.hold_info), ~2 us instead
        of ~15. None unless this formatter formats as configure_logging set it up (same format, no datefmt,
        not a subclass) and records would carry the process id, so that the caller logs the usual way.
        """
        if type(self) is not SecondCachedFormatter or self._fmt != _FORMAT or self.datefmt is not None:
            return None
        if not logging.logProcesses:
            return None
        ct = time.time()  # as LogRecord.__init__ (Python 3.11) takes created and msecs
        second = int(ct)
        if second != self._second:
            self._text = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        asctime = self._text
        if self.default_msec_format:
            asctime = self.default_msec_format % (asctime, int((ct - second) * 1000) + 0.0)
        return f"{asctime} INFO [{os.getpid()}] {name} {message}"


def configure_logging() -> None:
    # The process id tells apart the processes of `serve --workers N` (and of several `serve`s) in one log.
    logging.basicConfig(level=logging.INFO, format=_FORMAT)
    for handler in logging.getLogger().handlers:
        if handler.formatter is not None and handler.formatter._fmt == _FORMAT:
            handler.setFormatter(SecondCachedFormatter(_FORMAT))
    # Alembic narrates every migration step at INFO; `serve` and `migrate` print one line of their own.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # No format here names the caller's file, line or function, the thread or the multiprocessing process, so
    # records skip finding them (the logging HOWTO's "Optimization"): with `--access-log` one record per request,
    # these cost about a third of the record (29 -> 18 us of CPU per access line, 2026-12-07, a loaded machine).
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False


def _not_utf8(argv: list[str]) -> str | None:
    """The first argument that was not UTF-8 on the command line. Python hands such bytes over as lone
    surrogates (`\\udcff`), which no database here can store: they failed deep in a write, with a traceback."""
    for argument in argv:
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            return argument.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")
    return None


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    bad = _not_utf8(sys.argv[1:] if argv is None else argv)
    if bad is not None:
        print(f"mycpaas: an argument is not UTF-8 text: {bad}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except Refusal as refusal:
        print(refusal, file=sys.stderr)
        return refusal.code
    except SecretRefused as refusal:  # already worded for the operator, with what to do
        print(refusal, file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"mycpaas: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`mycpaas messages list | head`): as other tools, stop quietly. Python's own
        # flush at exit would fail on the same pipe, so stdout is pointed at /dev/null first (its docs' advice).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a writer the pipe stopped
