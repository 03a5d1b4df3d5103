"""Running `mycpaas` the way an operator does (a subprocess), or in this process where a test is about argument
handling and output rather than about the process: a fresh interpreter per command costs seconds, and the
carriers tests would otherwise start some forty of them per database.

In this process, `main([...])` gets the same environment (set here, restored afterwards), a standard input
that is not a terminal, log records on its stderr, and returns the exit code that `python -m mycpaas`
exits with.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from mycpaas.cli import main


def cli_environment(data_dir: Path | None, database_url: str | None) -> dict[str, str]:
    """The test process's environment without any MYCPAAS_* variable, plus the data dir and database given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYCPAAS_")}
    if data_dir is not None:
        env["MYCPAAS_DATA_DIR"] = str(data_dir)
    if database_url is not None:
        env["MYCPAAS_DATABASE_URL"] = database_url
    return env


def spawn_all(
    commands: Sequence[tuple[Sequence[str], str | None]], env: dict[str, str], cwd: Path
) -> list[subprocess.CompletedProcess[str]]:
    """Run (args, stdin) commands as `python -m mycpaas` processes side by side; stdin None = empty input."""
    processes = [
        (
            list(args),
            stdin,
            subprocess.Popen(
                [sys.executable, "-m", "mycpaas", *args],
                env=env,
                cwd=cwd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for args, stdin in commands
    ]
    results = []
    for args, stdin, process in processes:
        try:
            stdout, stderr = process.communicate(stdin or "", timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
        results.append(subprocess.CompletedProcess(args, process.returncode, stdout, stderr))
    return results


def call(
    args: Sequence[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`main(args)` in this process, with `env`'s variables (and no other MYCPAAS_*) and `stdin` as input."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("MYCPAAS_")]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        patch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        # Log records go to the captured stderr as in a process (pytest holds the root logger's handlers).
        handler = logging.StreamHandler(err)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root = logging.getLogger()
        patch.setattr(root, "level", logging.INFO)
        root.addHandler(handler)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(list(args))
        except SystemExit as exit_:  # argparse: --help, and usage errors
            code = exit_.code if isinstance(exit_.code, int) else 1
        finally:
            root.removeHandler(handler)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
