"""Helpers for the official-client tests: an https server per backend, unique numbers, polling."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from tests.conftest import BACKENDS, dispose_server, make_server
from tests.server import ServerProcess

T = TypeVar("T")

# Final states of an outbound message; redaction is only allowed once one of these is reached.
FINAL_STATUSES = {"delivered", "undelivered", "failed", "canceled"}


@pytest.fixture(scope="session", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Overrides tests/conftest.py's `server` for this package: one plain-http server per backend of its own.

    These tests send messages on the main account, and tests elsewhere (tests/integration/test_smoke.py)
    expect the shared server's main account to have none.
    """
    instance = make_server(tmp_path_factory.mktemp(f"clients-server-{request.param}"), request.param)
    yield instance
    dispose_server(instance)


@pytest.fixture(scope="session", params=BACKENDS)
def tls_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One https server (self-signed certificate from `mycpaas dev-cert`) per backend: SignalWire, curl."""
    instance = make_server(tmp_path_factory.mktemp(f"tls-server-{request.param}"), request.param, tls=True)
    yield instance
    dispose_server(instance)


def unique_number() -> str:
    """A possible US number that no other test (or earlier run on the shared server) has registered."""
    return f"+1415{secrets.randbelow(10**7):07d}"


def wait_for(probe: Callable[[], T], accept: Callable[[T], bool], timeout: float = 15.0) -> T:
    """Call `probe` until `accept(result)`; fail with the last result after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if accept(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout}s; last result: {result!r}")
        time.sleep(0.05)
