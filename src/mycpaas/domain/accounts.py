"""Accounts and subaccounts: who owns what, and which credentials may act on which account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class AccountType(StrEnum):
    TRIAL = "Trial"
    FULL = "Full"


@dataclass(slots=True)
class Account:
    sid: str
    owner_account_sid: str
    friendly_name: str
    status: AccountStatus
    type: AccountType
    created_at: datetime
    updated_at: datetime
    token_rotated_at: datetime | None

    @property
    def is_subaccount(self) -> bool:
        return self.owner_account_sid != self.sid

    def may_act_on(self, target: Account) -> bool:
        """Parents act on their subaccounts' resources; never the reverse, never sideways."""
        return target.sid == self.sid or target.owner_account_sid == self.sid


@dataclass(slots=True)
class ApiKey:
    sid: str
    account_sid: str
    friendly_name: str
    key_type: str
    created_at: datetime
    updated_at: datetime
