"""storage/database.py tells "the database cannot be reached" (answered 503) from "a statement failed" (a bug
or a constraint, which must not be hidden as an outage). End to end: tests/cluster/test_cluster.py restarts
PostgreSQL under load and checks the API answered 503, never 500."""

from __future__ import annotations

import asyncpg.exceptions
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError

from mycpaas.storage.database import unreachable


def wrapped(cause: BaseException, invalidated: bool = False) -> DBAPIError:
    """What SQLAlchemy raises: a DBAPIError whose .orig is the driver's error (caused by asyncpg's)."""
    orig = Exception(str(cause))
    orig.__cause__ = cause
    return DBAPIError("SELECT 1", None, orig, connection_invalidated=invalidated)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        wrapped(ConnectionResetError(104, "reset")),
        wrapped(asyncpg.exceptions.CannotConnectNowError("the database system is starting up")),
        wrapped(asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command")),
        wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")),
        wrapped(Exception("connection is closed"), invalidated=True),
        wrapped(asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already")),
    ],
    ids=[
        "refused",
        "reset",
        "starting-up",
        "shutting-down",
        "closed-mid-statement",
        "invalidated",
        "no-slot",
    ],
)
def test_connection_failures_are_unreachable(error: BaseException) -> None:
    assert unreachable(error)


@pytest.mark.parametrize(
    "error",
    [
        IntegrityError("INSERT", None, Exception("duplicate key")),
        wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key value")),
        wrapped(asyncpg.exceptions.UndefinedTableError("relation does not exist")),
        ValueError("not a database error"),
    ],
    ids=["integrity", "unique-violation", "undefined-table", "other"],
)
def test_statement_failures_are_not(error: BaseException) -> None:
    assert not unreachable(error)
