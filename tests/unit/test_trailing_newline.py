"""Validators refuse a value with a trailing newline.

In Python's `re`, `$` also matches before a final "\\n", so `re.match(r"^[a-z]+$", "name\\n")` succeeds: a
connector named "uk\\n", a SID or a phone number with a newline would pass a check and then be stored or
compared as something else. Validators use `fullmatch` with no `$`; the scan below keeps it that way.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from mycpaas.api.router import match, route
from mycpaas.domain.addresses import is_alphanumeric_sender, parse_e164, parse_sender
from mycpaas.domain.carriers import Connector, InvalidConnector, validate
from mycpaas.domain.sids import Prefix, is_sid, new_sid
from mycpaas.domain.users import normalize_email

SOURCES = Path(__file__).resolve().parents[2] / "src" / "mycpaas"
RE_FUNCTIONS = {"compile", "match", "fullmatch", "search"}


def _pattern_text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        return _pattern_text(node.values[-1])
    return None


def test_no_regex_in_the_sources_ends_with_a_dollar() -> None:
    found = []
    for path in sorted(SOURCES.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "re"
                and node.func.attr in RE_FUNCTIONS
                and node.args
                and (text := _pattern_text(node.args[0])) is not None
                and text.endswith("$")
            ):
                found.append(f"{path.relative_to(SOURCES)}:{node.lineno}")
    assert not found, f"use fullmatch (or \\Z) instead of a final $: {found}"


def connector(name: str) -> Connector:
    return Connector(
        name=name, host="smsc.example.net", port=2775, system_id="acme", password="pw", prefixes=("44",)
    )


def test_connector_names_prefixes_and_hosts() -> None:
    assert validate(connector("uk-1")).name == "uk-1"
    for bad in (
        connector("uk-1\n"),
        dataclasses.replace(connector("uk"), prefixes=("44\n",)),
        dataclasses.replace(connector("uk"), host="smsc.example.com\n"),
    ):
        with pytest.raises(InvalidConnector):
            validate(bad)


def test_sids_and_sender_ids_refuse_it_and_normalizers_strip_it() -> None:
    sid = new_sid(Prefix.ACCOUNT)
    assert is_sid(sid, Prefix.ACCOUNT) and not is_sid(sid + "\n", Prefix.ACCOUNT)
    assert is_alphanumeric_sender("Acme") and not is_alphanumeric_sender("Acme\n")
    # Phone numbers, senders and emails are normalized (surrounding whitespace dropped) before the check.
    assert parse_e164("+14155550100\n") == "+14155550100"
    assert parse_sender("12345\n") == "12345"
    assert normalize_email("A@example.com\n") == "a@example.com"


def test_routes_refuse_it() -> None:
    routes = [route("/Accounts/{sid}/Messages", {})]
    assert match(routes, "/Accounts/AC1/Messages.json") is not None
    assert match(routes, "/Accounts/AC1/Messages.json\n") is None
