"""The audit log as sentences ("You revealed the Auth Token"), not as the identifiers it is stored under.

The stored action (`auth_token.revealed`) stays the record's stable key; a reader wants who did what to which
thing. The viewer is "You"; an API caller is named by the credential it used, the CLI as the command line.
"""

from __future__ import annotations

from dataclasses import dataclass

from mycpaas.domain.audit import AuditAction, AuditEntry
from mycpaas.domain.sids import Prefix

# What each action did, after its subject; {target} is the entry's target (a key's SID, an email, a message).
_DID = {
    AuditAction.TOKEN_REVEALED: "revealed the Auth Token",
    AuditAction.SECONDARY_CREATED: "created a secondary Auth Token",
    AuditAction.SECONDARY_DELETED: "deleted the secondary Auth Token",
    AuditAction.TOKEN_PROMOTED: "promoted the secondary Auth Token to primary; the old token stopped working",
    AuditAction.KEY_CREATED: "created the API key {target}",
    AuditAction.KEY_REVOKED: "revoked the API key {target}",
    AuditAction.USER_CREATED: "created the dashboard user {target}",
    AuditAction.USER_PASSWORD_RESET: "reset the password of the dashboard user {target}",
    AuditAction.USER_REMOVED: "removed the dashboard user {target}",
    AuditAction.MESSAGE_CANCELED: "canceled the scheduled message {target}",
}
# account.status_changed's target is "<subaccount SID> <new status>".
_STATUS_DID = {"active": "reactivated", "suspended": "suspended", "closed": "closed"}


@dataclass(slots=True, frozen=True)
class AuditLine:
    entry: AuditEntry
    sentence: str
    who: str


def actor_name(actor: str) -> str:
    """Who an actor is, in words: an email stays itself; `api:<SID>` names the credential; `cli` the CLI."""
    if actor == "cli":
        return "the mycpaas command line"
    if actor.startswith("api:"):
        credential = actor.removeprefix("api:")
        if credential.startswith(Prefix.API_KEY.value):
            return f"an API request with the key {credential}"
        return f"an API request with the Auth Token of {credential}"
    return actor


def sentence(entry: AuditEntry, viewer: str) -> str:
    name = actor_name(entry.actor)
    subject = "You" if entry.actor == viewer else name if name == entry.actor else _capitalized(name)
    if entry.action is AuditAction.ACCOUNT_STATUS_CHANGED:
        sid, _, status = entry.target.partition(" ")
        return f"{subject} {_STATUS_DID.get(status, f'set to {status}')} the subaccount {sid}"
    return f"{subject} {_DID[entry.action].format(target=entry.target)}"


def lines(entries: list[AuditEntry], viewer: str) -> list[AuditLine]:
    return [AuditLine(e, sentence(e, viewer), actor_name(e.actor)) for e in entries]


def _capitalized(words: str) -> str:
    """The first letter of our own words up (an email address is left as it is)."""
    return words[:1].upper() + words[1:]
