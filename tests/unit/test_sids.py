"""SIDs: two-letter prefix + 32 hex digits, in the shape twilio-oai's patterns require."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest

from mycpaas.domain.sids import Prefix, is_sid, new_sid

SPEC = Path(__file__).resolve().parents[1] / "data" / "twilio-oai" / "twilio_api_v2010.json"
HEX = "0123456789abcdef" * 2


@cache
def spec_patterns() -> set[str]:
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            pattern = node.get("pattern")
            if isinstance(pattern, str):
                found.add(pattern)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(SPEC.read_text()))
    return found


def test_prefixes_are_distinct_pairs_of_capitals() -> None:
    values = [prefix.value for prefix in Prefix]
    assert len(values) == len(set(values))
    assert all(re.fullmatch(r"[A-Z]{2}", value) for value in values)


@pytest.mark.parametrize("prefix", list(Prefix), ids=lambda p: p.name)
def test_new_sid_shape(prefix: Prefix) -> None:
    sid = new_sid(prefix)
    assert re.fullmatch(rf"{prefix.value}[0-9a-f]{{32}}", sid)
    assert is_sid(sid, prefix)


@pytest.mark.parametrize("prefix", [Prefix.ACCOUNT, Prefix.MESSAGE, Prefix.PHONE_NUMBER, Prefix.API_KEY])
def test_new_sid_matches_the_twilio_oai_pattern(prefix: Prefix) -> None:
    sid = new_sid(prefix)
    matching = [p for p in spec_patterns() if p.startswith(("^" + prefix.value, "^(" + prefix.value))]
    assert matching, f"twilio-oai has no pattern for {prefix.value}"
    assert all(re.search(p, sid) for p in matching)


def test_new_sids_are_unique() -> None:
    sids = {new_sid(Prefix.MESSAGE) for _ in range(1000)}
    assert len(sids) == 1000


def test_is_sid_accepts_upper_case_hex() -> None:
    assert is_sid("AC" + HEX.upper(), Prefix.ACCOUNT)


@pytest.mark.parametrize(
    ("value", "prefix"),
    [
        ("SM" + HEX, Prefix.ACCOUNT),  # another resource's prefix
        ("ac" + HEX, Prefix.ACCOUNT),  # prefixes are upper case
        ("AC" + HEX[:-1], Prefix.ACCOUNT),  # 31 hex digits
        ("AC" + HEX + "0", Prefix.ACCOUNT),  # 33 hex digits
        ("AC" + HEX[:-1] + "g", Prefix.ACCOUNT),
        ("AC" + HEX + "\n", Prefix.ACCOUNT),  # a trailing newline is not part of a SID
        (" AC" + HEX, Prefix.ACCOUNT),
        ("AC" + HEX + ".json", Prefix.ACCOUNT),
        ("", Prefix.ACCOUNT),
        ("AC", Prefix.ACCOUNT),
    ],
)
def test_is_sid_rejects(value: str, prefix: Prefix) -> None:
    assert not is_sid(value, prefix)
