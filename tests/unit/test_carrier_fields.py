"""Connector settings from a form's text (the dashboard's): numbers converted, prefixes split, and a number
that is not one refused with the field's name; the values themselves are judged by `validate`, as the CLI's."""

from __future__ import annotations

import dataclasses

import pytest

from mycpaas.domain.carriers import (
    NUMBER_FIELDS,
    TEXT_FIELDS,
    Connector,
    InvalidConnector,
    fields_from_text,
    validate,
)


def test_text_becomes_connector_fields() -> None:
    fields = fields_from_text(
        {"host": " smsc.example.net ", "port": "2775", "priority": "-5", "prefixes": "+44, 353  +1", "x": "1"}
    )
    assert fields == {
        "host": "smsc.example.net",
        "port": 2775,
        "priority": -5,
        "prefixes": ("+44", "353", "+1"),
    }
    assert fields_from_text({"prefixes": "  "}) == {"prefixes": ()}, "empty: a catch-all"
    assert fields_from_text({}) == {}, "a field not given is not changed"


@pytest.mark.parametrize("text", ["", "abc", "2775.0", "1e3", "0x10", "١٢", "9999999999"])
def test_a_number_that_is_not_one_is_refused_by_name(text: str) -> None:
    with pytest.raises(InvalidConnector, match="^max binds must be a whole number$"):
        fields_from_text({"max_binds": text})


def test_every_form_field_is_a_connector_field_of_its_kind() -> None:
    defaults = Connector("n", "h", 1, "s", "")
    names = {f.name for f in dataclasses.fields(Connector)}
    assert set(TEXT_FIELDS) <= names and set(NUMBER_FIELDS) <= names
    assert all(type(getattr(defaults, name)) is int for name in NUMBER_FIELDS)
    assert all(isinstance(getattr(defaults, name), str) for name in TEXT_FIELDS)


def test_values_are_judged_by_validate() -> None:
    connector = dataclasses.replace(Connector("n", "h", 1, "s", ""), **fields_from_text({"port": "70000"}))
    with pytest.raises(InvalidConnector, match="port must be 1-65535"):
        validate(connector)
