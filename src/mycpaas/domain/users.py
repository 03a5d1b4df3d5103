"""Dashboard users and their browser sessions.

A user belongs to one main account and may look at it or at any of its subaccounts; the session remembers
which one is in view. A platform administrator (`is_admin`; the first user is one) also manages what belongs
to no account: the carrier connectors. Passwords are hashed with argon2id (they are low-entropy, unlike Auth Tokens); session
identifiers and set-up codes are high-entropy and kept only as keyed digests.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from mycpaas.domain.control_characters import ACTING

PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 1024
# No space, and no character that a terminal or a page would act on rather than show: control characters
# (`mycpaas users list` prints the addresses) and the bidirectional marks, overrides and isolates.
_ADDRESS_CHAR = rf"[^@\s{ACTING}]"
_EMAIL = re.compile(rf"{_ADDRESS_CHAR}{{1,64}}@{_ADDRESS_CHAR}+\.{_ADDRESS_CHAR}+")


@dataclass(slots=True)
class User:
    id: int
    email: str
    account_sid: str
    created_at: datetime
    last_sign_in_at: datetime | None
    is_admin: bool = False


@dataclass(slots=True)
class Session:
    """A signed-in browser. `account_sid` is the account in view (the user's own or a subaccount)."""

    digest: str
    user: User
    account_sid: str
    created_at: datetime
    expires_at: datetime
    # Until when the user's password, re-entered, allows revealing and rotating credentials.
    unlocked_until: datetime | None

    def unlocked(self, now: datetime) -> bool:
        return self.unlocked_until is not None and now < self.unlocked_until


def normalize_email(email: str) -> str | None:
    """The address as stored (trimmed, lower-case), or None when it cannot be an address."""
    email = email.strip().lower()
    return email if len(email) <= 254 and _EMAIL.fullmatch(email) else None


def password_problem(password: str) -> str | None:
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"The password must have at least {PASSWORD_MIN_LENGTH} characters."
    if len(password) > PASSWORD_MAX_LENGTH:
        return f"The password must have at most {PASSWORD_MAX_LENGTH} characters."
    return None


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def new_setup_code() -> str:
    return secrets.token_urlsafe(24)
