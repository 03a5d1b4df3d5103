"""Use cases for carrier connectors (SMSC connections): add, change, remove and read them.

The SMPP password is stored sealed with the server secret, bound to the connector's name; it is unsealed only
when read through this module (the delivery layer needs it to bind). The name is a connector's identity: it
cannot be changed (remove the connector and add it again). Every change is announced on the CARRIERS topic of
the change signal (services/changes.py), in the transaction that makes it, so running servers follow it.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from mycpaas.domain.carriers import Coding, Concatenation, Connector, InvalidConnector, validate
from mycpaas.domain.clock import utcnow
from mycpaas.services.changes import CARRIERS, announce
from mycpaas.services.platform import Platform
from mycpaas.storage import binds as bind_store
from mycpaas.storage import carriers as store
from mycpaas.storage import parts

__all__ = [
    "CarrierExists",
    "CarrierInFlight",
    "CarrierNotFound",
    "CarrierPasswordUnreadable",
    "InFlight",
    "InvalidConnector",
    "add",
    "get",
    "list_connectors",
    "remove",
    "update",
]

# The fields `update` may change: every one but the identity and the timestamps.
_CHANGEABLE = frozenset(f.name for f in dataclasses.fields(Connector)) - {"name", "created_at", "updated_at"}


class CarrierExists(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(f"a carrier connector named {name!r} exists already")
        self.name = name


class CarrierNotFound(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no carrier connector named {name!r}")
        self.name = name

    def __str__(self) -> str:  # LookupError would quote the message
        return str(self.args[0])


@dataclasses.dataclass(frozen=True, slots=True)
class InFlight:
    """Messages sent through a connector that still await their delivery receipts (status `sent`)."""

    awaiting: int
    oldest_sent_at: datetime | None


class CarrierInFlight(Exception):
    """Removing the connector would cut off the receipts of messages sent through it (see `remove`)."""

    def __init__(self, name: str, in_flight: InFlight) -> None:
        oldest = in_flight.oldest_sent_at
        since = f" (the oldest sent {oldest.isoformat(timespec='seconds')}Z)" if oldest else ""
        super().__init__(
            f"{in_flight.awaiting} message(s) sent through carrier connector {name!r} still await their delivery "
            f"receipts{since}"
        )
        self.name = name
        self.in_flight = in_flight


class CarrierPasswordUnreadable(Exception):
    """The sealed password does not open with this server secret (the secret changed, or the row was
    copied from another connector or server)."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"the password of carrier connector {name!r} cannot be unsealed with this server's secret; "
            f"set it again with `mycpaas carriers update {name} --password-stdin`"
        )
        self.name = name


def sealing_context(name: str) -> str:
    """What a connector's sealed password is bound to, so a sealed value cannot be moved to another."""
    return f"carrier:{name}"


def _normalised(connector: Connector) -> Connector:
    """Enum fields given as strings become the enums; anything else invalid raises InvalidConnector."""
    try:
        coding = Coding(connector.coding)
    except ValueError:
        raise InvalidConnector(f"coding must be one of {', '.join(c.value for c in Coding)}") from None
    try:
        concatenation = Concatenation(connector.concatenation)
    except ValueError:
        raise InvalidConnector(
            f"concatenation must be one of {', '.join(c.value for c in Concatenation)}"
        ) from None
    return validate(
        dataclasses.replace(
            connector, coding=coding, concatenation=concatenation, prefixes=tuple(connector.prefixes)
        )
    )


def _unsealed(platform: Platform, stored: Connector) -> Connector:
    try:
        password = platform.secrets.decrypt(stored.password, sealing_context(stored.name))
    except Exception:  # InvalidTag, or a value that is not base64: either way it does not open
        raise CarrierPasswordUnreadable(stored.name) from None
    return dataclasses.replace(stored, password=password)


async def add(platform: Platform, connector: Connector) -> Connector:
    """Validate and store a new connector. Raises InvalidConnector or CarrierExists."""
    connector = _normalised(connector)
    now = utcnow()
    sealed = platform.secrets.encrypt(connector.password, sealing_context(connector.name))
    async with platform.db.read() as conn:
        if await store.get(conn, connector.name) is not None:
            raise CarrierExists(connector.name)
    try:
        async with platform.db.write() as conn:
            await store.insert(conn, connector, sealed, now)
            await announce(conn, CARRIERS)
    except store.NameTaken:
        raise CarrierExists(connector.name) from None
    return dataclasses.replace(connector, created_at=now, updated_at=now)


async def update(platform: Platform, name: str, **changes: Any) -> Connector:
    """Change some fields of the connector `name` (keyword arguments named like Connector's fields; a
    `password` change re-seals it). Raises CarrierNotFound, or InvalidConnector for a bad value, an unknown
    field or an attempt to rename."""
    if "name" in changes and changes["name"] != name:
        raise InvalidConnector(
            "a carrier connector cannot be renamed (the name is its identity): remove it and add it again"
        )
    changes.pop("name", None)
    unknown = sorted(set(changes) - _CHANGEABLE)
    if unknown:
        raise InvalidConnector(f"unknown connector field(s): {', '.join(unknown)}")
    now = utcnow()
    async with platform.db.write() as conn:
        stored = await store.get(conn, name)
        if stored is None:
            raise CarrierNotFound(name)
        if "password" in changes:
            current = dataclasses.replace(stored, password=str(changes["password"]))
            sealed = None
        else:
            current = _unsealed(platform, stored)
            sealed = stored.password  # unchanged: keep the stored sealed value as it is
        changed = _normalised(dataclasses.replace(current, **changes))
        if sealed is None:
            sealed = platform.secrets.encrypt(changed.password, sealing_context(name))
        await store.update(conn, changed, sealed, now)
        await announce(conn, CARRIERS)
    return dataclasses.replace(changed, updated_at=now)


async def remove(platform: Platform, name: str, *, force: bool = False) -> InFlight | None:
    """Remove the connector and its bind slots (`carrier_binds`) in one transaction. None if there was no such
    connector; otherwise the messages sent through it that still awaited their receipts.

    Their receipts can no longer arrive once no process binds the connector, so they stay `sent` (as on
    Twilio, a message whose carrier never reported); adding a connector for the same SMSC account again lets
    receipts its SMSC still holds be applied. So while there are any, removal is refused (CarrierInFlight) unless `force`.
    Parts are recorded under the SMSC account (`Connector.smsc_account`): while another connector binds the
    same account, its receipts still arrive, and nothing is in flight for this one alone."""
    async with platform.db.write() as conn:
        connector = await store.get(conn, name)
        if connector is None:
            return None
        account = connector.smsc_account
        shared = any(c.smsc_account == account for c in await store.list_all(conn) if c.name != name)
        awaiting, oldest = (0, None) if shared else await parts.awaiting_through(conn, account)
        in_flight = InFlight(awaiting, oldest)
        if awaiting and not force:
            raise CarrierInFlight(name, in_flight)
        await store.delete(conn, name)
        await bind_store.forget(conn, name)
        await announce(conn, CARRIERS)
    return in_flight


def _readable(platform: Platform, stored: Connector, with_password: bool) -> Connector:
    # Without the password, the field is blank: never the sealed value, which is not a password.
    return _unsealed(platform, stored) if with_password else dataclasses.replace(stored, password="")


async def get(platform: Platform, name: str, *, with_password: bool = True) -> Connector | None:
    """The connector with its password unsealed (blank with `with_password=False`, for display), or None."""
    async with platform.db.read() as conn:
        stored = await store.get(conn, name)
    return _readable(platform, stored, with_password) if stored is not None else None


async def list_connectors(platform: Platform, *, with_passwords: bool = True) -> list[Connector]:
    """Every connector (enabled or not) by priority then name, passwords unsealed (blank with
    `with_passwords=False`, for display: listing then works even if a password no longer unseals)."""
    async with platform.db.read() as conn:
        stored = await store.list_all(conn)
    return [_readable(platform, connector, with_passwords) for connector in stored]
