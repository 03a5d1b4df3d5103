"""The audit log: who changed an account's credentials, when, and from which address."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AuditAction(StrEnum):
    TOKEN_REVEALED = "auth_token.revealed"
    SECONDARY_CREATED = "auth_token.secondary_created"
    SECONDARY_DELETED = "auth_token.secondary_deleted"
    TOKEN_PROMOTED = "auth_token.promoted"
    KEY_CREATED = "api_key.created"
    KEY_REVOKED = "api_key.revoked"
    ACCOUNT_STATUS_CHANGED = "account.status_changed"
    USER_CREATED = "user.created"
    USER_PASSWORD_RESET = "user.password_reset"
    USER_REMOVED = "user.removed"
    MESSAGE_CANCELED = "message.canceled"


@dataclass(slots=True, frozen=True)
class Actor:
    """Who acts: a dashboard user's email, `api:<credential SID>` or `cli`; and the client's address."""

    name: str
    address: str

    @classmethod
    def cli(cls) -> Actor:
        return cls("cli", "local terminal")


@dataclass(slots=True)
class AuditEntry:
    account_sid: str
    action: AuditAction
    actor: str
    address: str
    target: str
    created_at: datetime
