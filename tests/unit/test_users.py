"""Dashboard users' rules: addresses, passwords, sessions' unlock window, sign-in throttling."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from mycpaas.domain.users import Session, User, normalize_email, password_problem
from mycpaas.errors import TooManyRequests
from mycpaas.services.users import SignInThrottle


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("  Ann@Example.COM ", "ann@example.com"),
        ("a.b+tag@sub.example.org", "a.b+tag@sub.example.org"),
        ("no-at-sign", None),
        ("two@@example.com", None),
        ("spaces in@example.com", None),
        ("nodot@example", None),
        ("x@" + "a" * 250 + ".com", None),
        ("ü@exämple.de", "ü@exämple.de"),
        # What a terminal (`mycpaas users list`) or a page would act on: control characters, bidi overrides.
        ("esc\x1b[2J@example.com", None),
        ("bell\x07@example.com", None),
        ("nul\x00@example.com", None),
        ("c1\x9b@example.com", None),
        ("evil\u202emoc.elpmaxe@example.com", None),
        ("isolate@exa\u2066mple.com", None),
    ],
)
def test_normalize_email(raw: str, stored: str | None) -> None:
    assert normalize_email(raw) == stored


def test_password_rules() -> None:
    assert password_problem("x" * 11) is not None
    assert password_problem("x" * 12) is None
    assert password_problem("x" * 1025) is not None


def test_unlock_window() -> None:
    now = datetime(2026, 1, 1)
    user = User(1, "a@example.com", "AC" + "0" * 32, now, None)
    session = Session("d", user, user.account_sid, now, now + timedelta(hours=1), None)
    assert not session.unlocked(now)
    session.unlocked_until = now + timedelta(minutes=5)
    assert session.unlocked(now + timedelta(minutes=4)) and not session.unlocked(now + timedelta(minutes=5))


def test_throttle_counts_attempts_from_their_start_per_address_and_address_email() -> None:
    asyncio.run(_attempts_from_their_start())


async def _attempts_from_their_start() -> None:
    clock = [0.0]
    throttle = SignInThrottle(3, 60, clock=lambda: clock[0])
    # Three attempts in flight at once: each counts before its password is checked.
    pending = [await throttle.begin("10.0.0.1", "a@example.com") for _ in range(3)]
    with pytest.raises(TooManyRequests):
        await throttle.begin("10.0.0.1", "a@example.com")
    with pytest.raises(TooManyRequests):
        await throttle.begin("10.0.0.1", "other@example.com")  # the same address, another email
    # Another address may still try the same email: nobody can lock a user out from elsewhere.
    throttle.succeeded(await throttle.begin("10.0.0.2", "a@example.com"))
    # A success takes its own attempt back off the count.
    throttle.succeeded(pending[0])
    await throttle.begin("10.0.0.1", "a@example.com")
    clock[0] = 61
    await throttle.begin("10.0.0.1", "a@example.com")
