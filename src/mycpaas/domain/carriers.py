"""Carrier connectors as configuration: one SMSC connection each, and the routing rule that picks them.

A connector routes the destinations that start with one of its prefixes (none = every destination). For a
message, the connectors are tried longest matching prefix first, then by priority (lower first), then by name;
the next one is the failover when a link is down.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Coding(StrEnum):
    """How a connector encodes text (smpp/encoding.choose): gsm7 = GSM 03.38 when the text fits, else UCS-2;
    latin1 = Latin-1 when it fits, else UCS-2; ucs2 = always UCS-2."""

    GSM7 = "gsm7"
    LATIN1 = "latin1"
    UCS2 = "ucs2"


class Concatenation(StrEnum):
    UDH = "udh"
    SAR = "sar"


BIND_TYPES = ("transceiver", "transmitter", "receiver")
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_PREFIX = re.compile(r"\+?[0-9]{1,15}")


class InvalidConnector(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Connector:
    name: str
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    bind_type: str = "transceiver"
    window: int = 10
    max_mps: int = 0  # 0 = no limit, else across every bind of the connector
    max_binds: int = 1  # binds the carrier allows at once, across every process
    source_ton: int = 1
    source_npi: int = 1
    dest_ton: int = 1
    dest_npi: int = 1
    coding: Coding = Coding.GSM7
    concatenation: Concatenation = Concatenation.UDH
    prefixes: tuple[str, ...] = ()
    priority: int = 100
    enabled: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def smsc_account(self) -> str:
        """What submitted parts and receipts are recorded under: the SMSC account, not the connector. An SMSC
        may deliver a receipt on any bind of the account (a transmitter and a receiver, or several
        transceivers), and two connectors may be one account."""
        return f"{self.system_id}@{self.host}:{self.port}"[:64]

    def __repr__(self) -> str:  # the password stays out of logs and tracebacks
        return f"Connector({self.name!r}, {self.system_id}@{self.host}:{self.port})"

    def matched_prefix(self, destination: str) -> int | None:
        """Length of the longest prefix matching `destination` (0 for a catch-all), None if it does not
        route it. Prefixes compare on digits, so "+44" and "44" mean the same."""
        digits = destination.lstrip("+")
        if not self.prefixes:
            return 0
        lengths = [len(p.lstrip("+")) for p in self.prefixes if digits.startswith(p.lstrip("+"))]
        return max(lengths) if lengths else None


# The settings a form may give as text (the dashboard's), each whole-number field converted; `validate` then
# judges the values as it judges the CLI's, so both say the same about the same mistake.
TEXT_FIELDS = ("host", "system_id", "system_type", "bind_type", "coding", "concatenation")
NUMBER_FIELDS = (
    "port",
    "window",
    "max_mps",
    "max_binds",
    "source_ton",
    "source_npi",
    "dest_ton",
    "dest_npi",
    "priority",
)


def fields_from_text(values: Mapping[str, str]) -> dict[str, Any]:
    """Connector fields from text: the given TEXT_FIELDS and NUMBER_FIELDS, and `prefixes` as a list split at
    spaces and commas (empty = a catch-all). Raises InvalidConnector for a number that is not one."""
    fields: dict[str, Any] = {name: values[name].strip() for name in TEXT_FIELDS if name in values}
    for name in NUMBER_FIELDS:
        if name in values:
            text = values[name].strip()
            if not re.fullmatch(r"-?[0-9]{1,9}", text):
                raise InvalidConnector(f"{name.replace('_', ' ')} must be a whole number")
            fields[name] = int(text)
    if "prefixes" in values:
        fields["prefixes"] = tuple(p for p in re.split(r"[\s,]+", values["prefixes"]) if p)
    return fields


def validate(connector: Connector) -> Connector:
    """Check every field; raises InvalidConnector naming the first bad one."""
    problems = [
        (
            not _NAME.fullmatch(connector.name),
            "name must be 1-64 of a-z 0-9 _ . - (starting with a letter or digit)",
        ),
        (
            not connector.host or len(connector.host) > 255 or any(c.isspace() for c in connector.host),
            "host is required",
        ),
        (not 1 <= connector.port <= 65535, "port must be 1-65535"),
        (not 1 <= len(connector.system_id) <= 15, "system_id must be 1-15 characters"),
        (len(connector.password) > 8, "password must be at most 8 characters (SMPP 3.4)"),
        (len(connector.system_type) > 12, "system_type must be at most 12 characters"),
        (connector.bind_type not in BIND_TYPES, f"bind type must be one of {', '.join(BIND_TYPES)}"),
        (not 1 <= connector.window <= 1000, "window must be 1-1000"),
        (not 0 <= connector.max_mps <= 100000, "max messages per second must be 0-100000 (0 = no limit)"),
        (not 1 <= connector.max_binds <= 100, "max binds must be 1-100"),
        (
            any(
                not 0 <= v <= 255
                for v in (connector.source_ton, connector.source_npi, connector.dest_ton, connector.dest_npi)
            ),
            "TON and NPI must be 0-255",
        ),
        (
            any(not _PREFIX.fullmatch(p) for p in connector.prefixes),
            "prefixes are digits, optionally after +",
        ),
        (not -1000000 <= connector.priority <= 1000000, "priority must be an integer"),
    ]
    for bad, message in problems:
        if bad:
            raise InvalidConnector(message)
    if not all(
        ord(ch) < 128 and ch.isprintable()
        for ch in connector.system_id + connector.password + connector.system_type
    ):
        raise InvalidConnector("system_id, password and system_type must be printable ASCII")
    return connector


def route(connectors: list[Connector], destination: str) -> list[Connector]:
    """The enabled connectors that route `destination`, best first (a receiver-only bind sends nothing)."""
    ranked = [
        (length, c)
        for c in connectors
        if c.enabled and c.bind_type != "receiver" and (length := c.matched_prefix(destination)) is not None
    ]
    ranked.sort(key=lambda item: (-item[0], item[1].priority, item[1].name))
    return [c for _, c in ranked]
