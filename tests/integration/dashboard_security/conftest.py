"""The package's shared fixtures: one world server for every file here, as when they were one module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import ISSUED_SECRETS, dispose_server
from tests.integration.dashboard_security.support import _FIRST_SECRET, World, build_world, close_browsers


@pytest.fixture(scope="package", autouse=True)
def _count_secrets_from_here() -> None:
    _FIRST_SECRET[0] = len(ISSUED_SECRETS)


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """SQLite only: what a page may show is decided in Python (services compare the owner's SID); the SQL
    that differs between the backends, the session's expiry, is tested on PostgreSQL in
    test_cookies_sessions.py."""
    built = build_world(tmp_path_factory.mktemp("dashboard-world"), "sqlite")
    yield built
    close_browsers(built.server)
    dispose_server(built.server)
    built.receiver.close()
