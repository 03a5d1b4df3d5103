"""Carrier connectors as configuration: which connectors a destination goes to, in what order, and
validation of every field."""

from __future__ import annotations

import dataclasses
import re

import pytest

from mycpaas.domain.carriers import Connector, InvalidConnector, route, validate


def connector(name: str, *prefixes: str, priority: int = 100, enabled: bool = True) -> Connector:
    return Connector(
        name=name,
        host="smsc.example.net",
        port=2775,
        system_id="acme",
        password="secret",
        prefixes=prefixes,
        priority=priority,
        enabled=enabled,
    )


def names(connectors: list[Connector]) -> list[str]:
    return [c.name for c in connectors]


def test_longest_prefix_wins_then_catch_all_last() -> None:
    connectors = [
        connector("any", priority=1),
        connector("uk", "+44"),
        connector("london", "+4420"),
        connector("france", "+33"),
    ]
    assert names(route(connectors, "+442071234567")) == ["london", "uk", "any"]
    assert names(route(connectors, "+447700900123")) == ["uk", "any"]
    assert names(route(connectors, "+33612345678")) == ["france", "any"]
    assert names(route(connectors, "+15551234567")) == ["any"]


def test_the_longest_of_a_connectors_own_prefixes_counts() -> None:
    connectors = [connector("wide", "+4", "+4420"), connector("uk", "+44")]
    assert names(route(connectors, "+442071234567")) == ["wide", "uk"]
    assert names(route(connectors, "+447700900123")) == ["uk", "wide"]


def test_priority_breaks_ties_then_name() -> None:
    connectors = [
        connector("b", "+44", priority=10),
        connector("a", "+44", priority=10),
        connector("c", "+44", priority=5),
        connector("d", "+44", priority=50),
    ]
    assert names(route(connectors, "+447700900123")) == ["c", "a", "b", "d"]


def test_a_longer_prefix_beats_a_better_priority() -> None:
    connectors = [connector("uk", "+44", priority=1), connector("london", "+4420", priority=1000)]
    assert names(route(connectors, "+442071234567")) == ["london", "uk"]


def test_disabled_connectors_are_skipped() -> None:
    connectors = [
        connector("uk", "+44", enabled=False),
        connector("any", enabled=False),
        connector("fr", "+33"),
    ]
    assert route(connectors, "+447700900123") == []
    assert names(route(connectors, "+33612345678")) == ["fr"]


def test_no_connectors_routes_nothing() -> None:
    assert route([], "+447700900123") == []


@pytest.mark.parametrize(
    ("prefix", "destination"),
    [("+44", "+447700900123"), ("44", "+447700900123"), ("+44", "447700900123"), ("44", "447700900123")],
)
def test_plus_and_no_plus_are_the_same(prefix: str, destination: str) -> None:
    c = connector("uk", prefix)
    assert c.matched_prefix(destination) == 2
    assert names(route([c], destination)) == ["uk"]
    assert connector("us", "+1").matched_prefix(destination) is None


def test_matched_prefix_of_a_catch_all_is_zero() -> None:
    assert connector("any").matched_prefix("+15551234567") == 0


def test_the_password_stays_out_of_repr() -> None:
    c = connector("uk", "+44")
    assert "secret" not in repr(c)
    assert "uk" in repr(c)


def test_a_valid_connector_passes() -> None:
    c = connector("uk-1.primary_2", "+44", "4420")
    assert validate(c) is c
    assert validate(dataclasses.replace(c, password="", system_type="VMA", max_mps=0)) is not None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "name must be 1-64"),
        ({"name": "UK"}, "name must be 1-64"),
        ({"name": "-uk"}, "name must be 1-64"),
        ({"name": "a" * 65}, "name must be 1-64"),
        ({"name": "u k"}, "name must be 1-64"),
        ({"host": ""}, "host is required"),
        ({"host": "smsc example"}, "host is required"),
        ({"port": 0}, "port must be 1-65535"),
        ({"port": 65536}, "port must be 1-65535"),
        ({"system_id": ""}, "system_id must be 1-15 characters"),
        ({"system_id": "x" * 16}, "system_id must be 1-15 characters"),
        ({"password": "123456789"}, "password must be at most 8 characters"),
        ({"system_type": "x" * 13}, "system_type must be at most 12 characters"),
        ({"bind_type": "both"}, "bind type must be one of transceiver, transmitter, receiver"),
        ({"window": 0}, "window must be 1-1000"),
        ({"window": 1001}, "window must be 1-1000"),
        ({"max_mps": -1}, "max messages per second must be 0-100000"),
        ({"source_ton": 256}, "TON and NPI must be 0-255"),
        ({"dest_npi": -1}, "TON and NPI must be 0-255"),
        ({"prefixes": ("44a",)}, "prefixes are digits, optionally after +"),
        ({"prefixes": ("",)}, "prefixes are digits, optionally after +"),
        ({"prefixes": ("++44",)}, "prefixes are digits, optionally after +"),
        ({"prefixes": ("1" * 16,)}, "prefixes are digits, optionally after +"),
        ({"priority": 10**7}, "priority must be"),
        ({"password": "pässwd"}, "system_id, password and system_type must be printable ASCII"),
        ({"system_id": "ac\tme"}, "system_id, password and system_type must be printable ASCII"),
    ],
)
def test_validation_names_the_bad_field(changes: dict[str, object], message: str) -> None:
    bad = dataclasses.replace(connector("uk", "+44"), **changes)  # type: ignore[arg-type]
    with pytest.raises(InvalidConnector, match="^" + re.escape(message)):
        validate(bad)


def test_validation_messages_never_quote_the_password() -> None:
    with pytest.raises(InvalidConnector) as caught:
        validate(dataclasses.replace(connector("uk"), password="toolong99"))
    assert "toolong99" not in str(caught.value)
