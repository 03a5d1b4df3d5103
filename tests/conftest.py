"""Shared fixtures: real server processes on SQLite and on PostgreSQL, and the secrets they handed out."""

from __future__ import annotations

import base64
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import create_postgres_database, drop_postgres_database, sqlite_url
from tests.server import OPEN_CLIENTS, ServerProcess

# The platform without a server (sqlite_platform, platform_settings fixtures): tests/platform_support.py.
pytest_plugins = ["tests.platform_support", "tests.fuzz_profile"]

BACKENDS = ["sqlite", "postgres"]

# Every secret a test saw the server hand out; pytest_sessionfinish below fails the run if any was logged.
ISSUED_SECRETS: list[str] = []
ALL_SERVERS: list[ServerProcess] = []


def remember_secret(secret: str) -> str:
    ISSUED_SECRETS.append(secret)
    return secret


# The credential banner `mycpaas serve` prints to the terminal once, on the first start with an empty
# database. It holds the owner's Auth Token on purpose; these lines of the first run's log, and only these,
# are not leaks.
BANNER_HEADING = "Created the owner account of this mycpaas server:"
BANNER_LINES = ("  Account SID: ", "  Auth Token:  ", "  Try it: ")
SETUP_LINK_MARK = "/setup#code="  # the one-time set-up link, printed to the terminal on purpose


def log_lines_without_banner(server: ServerProcess) -> list[tuple[str, int, str]]:
    """Every line of every run's log as (file name, line number, text), minus the first run's banner lines."""
    lines: list[tuple[str, int, str]] = []
    for path in server.log_paths():
        try:
            text = path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            continue
        skip: set[int] = set()
        if path.name == "server-1.log" and BANNER_HEADING in text:
            start = text.index(BANNER_HEADING)
            for number in range(start + 1, min(start + 1 + 4, len(text))):
                if text[number].startswith(BANNER_LINES):
                    skip.add(number)
        skip.update(n for n, line in enumerate(text) if line.startswith("  ") and SETUP_LINK_MARK in line)
        lines += [(path.name, n + 1, line) for n, line in enumerate(text) if n not in skip]
    return lines


def secret_forms(secret: str) -> set[str]:
    """The secret as given, stripped, and every Base64 rendering of it at any offset inside a longer string
    (an Authorization header carries base64("AC...:token"))."""
    forms: set[str] = set()
    for text in {secret, secret.strip()}:
        if len(text) < 8:
            continue
        forms.add(text)
        for offset in range(3):
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                encoded = encode(b"\0" * offset + text.encode()).decode()
                core = encoded[-(-offset * 8 // 6) : len(encoded) - 4]
                if len(core) >= 12:
                    forms.add(core)
    return forms


# Characters that end a token in a log line: a short secret counts only as a whole token between them.
_DELIMITERS = r"""\s"'=:,;()\[\]{}<>/@&?|"""
SHORT_SECRET_MIN = 4  # shorter than this, a match would say nothing


def short_secret_pattern(secret: str) -> re.Pattern[str]:
    """Where a short secret (an SMPP password: at most 8 characters) shows in a log line without matching
    ordinary text: as a value (`password=x`, `password: x`), quoted (`'x'`), in a URL's user part (`:x@`), as
    the hex of its bytes (a PDU dump), or, when it is not a plain word, as any whole token. A plain-word
    password such as "secret" is thus not found in "Keep the Auth Token secret;", but is in `password=secret`;
    and no secret is found inside a longer token ("Pw7x!q2Z" is not in "Pw7x!q2Z9")."""
    escaped = re.escape(secret)
    end = rf"(?![^{_DELIMITERS}])"
    forms = [rf"(?:[=:]\s*[\"']?|[\"'])(?<![^{_DELIMITERS}]'){escaped}{end}"]
    if not secret.isalpha():
        forms.append(rf"(?<![^{_DELIMITERS}]){escaped}{end}")
    hexed = secret.encode().hex()
    if len(hexed) >= 12:  # shorter, a hex SID or token in the log could hold it by chance
        forms.append(f"(?i:{hexed})")
    return re.compile("|".join(forms))


def find_leaks(server: ServerProcess, secrets: list[str]) -> list[str]:
    """One line per secret found, as sent or Base64-encoded, in a server's logs (first-start banner aside).
    Secrets of 16 characters or more are looked for anywhere in a line, short ones as whole tokens only (see
    short_secret_pattern)."""
    lines = log_lines_without_banner(server)
    text = "\n".join(line for _, _, line in lines)
    leaks: dict[tuple[str, int, str], str] = {}
    for secret in {s for s in secrets if SHORT_SECRET_MIN <= len(s) < 16}:
        pattern = short_secret_pattern(secret)
        if not pattern.search(text):
            continue
        for name, number, line in lines:
            if pattern.search(line):
                shown = pattern.sub("…", line)[:200]
                where = f"{server.data_dir / name}:{number}"
                leaks[(name, number, secret)] = f"{where}: short secret {secret[:1]}… in: {shown}"
    for secret in {s for s in secrets if len(s) >= 16}:
        for form in secret_forms(secret):
            if form not in text:
                continue
            for name, number, line in lines:
                if form in line and (name, number, secret) not in leaks:
                    shown = line.replace(form, form[:4] + "…")[:200]
                    where = f"{server.data_dir / name}:{number}"
                    leaks[(name, number, secret)] = f"{where}: secret {secret[:4]}… in: {shown}"
    return list(leaks.values())


def make_server(tmp: Path, backend: str, **kwargs: object) -> ServerProcess:
    url = sqlite_url(tmp) if backend == "sqlite" else create_postgres_database()
    server = ServerProcess(data_dir=tmp, database_url=url, **kwargs)  # type: ignore[arg-type]
    ALL_SERVERS.append(server)
    server.start()
    remember_secret(server.auth_token)
    return server


def dispose_server(server: ServerProcess) -> None:
    server.stop()
    if server.database_url.startswith("postgresql"):
        drop_postgres_database(server.database_url)


@pytest.fixture(scope="session", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One long-running server per database backend, shared by the API tests."""
    instance = make_server(tmp_path_factory.mktemp(f"server-{request.param}"), request.param)
    yield instance
    dispose_server(instance)


@pytest.fixture(params=BACKENDS)
def fresh_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of its own, for tests that restart, kill or throttle it.

    A test that needs settings of its own from the start names them with
    `@pytest.mark.server_env(MYCPAAS_...="value")`: the server starts with them once, instead of starting
    with the defaults, stopping and starting again (each start is 1.5-3.5 s on a loaded 2-core machine)."""
    marker = request.node.get_closest_marker("server_env")
    env = {name: str(value) for name, value in marker.kwargs.items()} if marker else {}
    instance = make_server(tmp_path / "server", request.param, env=env)
    yield instance
    dispose_server(instance)


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file in tmp_path/data that does not exist yet, or a new PostgreSQL one."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "data")
        return
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture(autouse=True)
def close_clients_left_open() -> Iterator[None]:
    """Close the server clients a test made and left open (`client = server.client()` without `with`);
    clients of longer-lived fixtures, made before the test began, are left to their fixtures."""
    first = len(OPEN_CLIENTS)
    yield
    for client in OPEN_CLIENTS[first:]:
        client.close()
    del OPEN_CLIENTS[first:]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any secret handed out during the tests shows up in any server's log."""
    leaks = [leak for server in ALL_SERVERS for leak in find_leaks(server, ISSUED_SECRETS)]
    if not leaks:
        return
    report = [f"SECRET LEAK: {len(leaks)} secret(s) in server logs (outside the first-start banner):", *leaks]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "secrets in server logs", red=True)
        for line in report:
            reporter.write_line(line, red=True)
    else:
        print("\n".join(report), file=sys.stderr)
    session.exitstatus = 1
