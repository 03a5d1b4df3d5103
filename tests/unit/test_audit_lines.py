"""The audit log read as sentences: every action has one, the viewer is "You", others are named in words."""

from __future__ import annotations

from datetime import datetime

import pytest

from mycpaas.dashboard.audit_lines import actor_name, lines, sentence
from mycpaas.domain.audit import AuditAction, AuditEntry

KEY = "SK" + "a" * 32
SUB = "AC" + "b" * 32


def entry(action: AuditAction, actor: str = "me@example.com", target: str = "") -> AuditEntry:
    return AuditEntry("AC" + "c" * 32, action, actor, "192.0.2.1", target, datetime(2026, 12, 7))


@pytest.mark.parametrize("action", list(AuditAction))
def test_every_action_reads_as_a_sentence_without_its_identifier(action: AuditAction) -> None:
    target = f"{SUB} suspended" if action is AuditAction.ACCOUNT_STATUS_CHANGED else KEY
    text = sentence(entry(action, target=target), "me@example.com")
    assert text.startswith("You ")
    assert action.value not in text and "_" not in text


def test_sentences_name_what_was_done_and_by_whom() -> None:
    viewer = "me@example.com"
    assert sentence(entry(AuditAction.TOKEN_REVEALED), viewer) == "You revealed the Auth Token"
    assert (
        sentence(entry(AuditAction.KEY_CREATED, "other@example.com", KEY), viewer)
        == f"other@example.com created the API key {KEY}"
    )
    assert (
        sentence(entry(AuditAction.KEY_REVOKED, f"api:{KEY}", KEY), viewer)
        == f"An API request with the key {KEY} revoked the API key {KEY}"
    )
    assert (
        sentence(entry(AuditAction.ACCOUNT_STATUS_CHANGED, "cli", f"{SUB} active"), viewer)
        == f"The mycpaas command line reactivated the subaccount {SUB}"
    )
    assert actor_name(f"api:{SUB}") == f"an API request with the Auth Token of {SUB}"
    [line] = lines([entry(AuditAction.TOKEN_PROMOTED)], viewer)
    assert line.who == viewer
    assert line.sentence == "You promoted the secondary Auth Token to primary; the old token stopped working"
