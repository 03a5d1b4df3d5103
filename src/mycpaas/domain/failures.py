"""What the Debugger lists of an account: its failed and undelivered messages and its failed webhook attempts,
narrowed by error code, time and number; and how a webhook URL is shown without its password."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from mycpaas.domain.messages import MessageStatus
from mycpaas.domain.webhooks import AttemptOutcome

# Kept in step with the partial indexes of storage/tables.py (ix_messages_account_failed and
# ix_webhook_attempts_account_failed): the Debugger reads only rows that are in them.
FAILED_STATUSES = (MessageStatus.FAILED, MessageStatus.UNDELIVERED)
FAILED_OUTCOMES = (AttemptOutcome.FAILED, AttemptOutcome.RETRYING)


@dataclass(frozen=True, slots=True)
class FailureFilter:
    """Every field set narrows the list; times are naive UTC, `since` inclusive and `until` exclusive."""

    error_code: int | None = None
    number: str | None = None  # the message's To or From
    since: datetime | None = None
    until: datetime | None = None


def masked_url(url: str) -> str:
    """A webhook URL as it may be shown: the password of user:password@ replaced by ****, no #fragment (the
    connection overrides). A URL that cannot be parsed is not shown at all: its text may hold the password."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "(a URL that cannot be parsed)"
    netloc = parts.netloc
    if password is not None:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}:****@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
