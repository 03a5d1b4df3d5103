"""Shared fixtures: real server processes on SQLite and on PostgreSQL, and the secrets they handed out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.databases import create_postgres_database, drop_postgres_database, sqlite_url
from tests.server import ServerProcess

BACKENDS = ["sqlite", "postgres"]

# Every secret a test saw the server hand out; tests/integration/test_log_secrets.py checks none was logged.
ISSUED_SECRETS: list[str] = []
ALL_SERVERS: list[ServerProcess] = []


def remember_secret(secret: str) -> str:
    ISSUED_SECRETS.append(secret)
    return secret


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
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One long-running server per database backend, shared by the API tests."""
    instance = make_server(tmp_path_factory.mktemp(f"server-{request.param}"), request.param)
    yield instance
    dispose_server(instance)


@pytest.fixture(params=BACKENDS)
def fresh_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of its own, for tests that restart, kill or throttle it."""
    instance = make_server(tmp_path / "server", request.param)
    yield instance
    dispose_server(instance)
