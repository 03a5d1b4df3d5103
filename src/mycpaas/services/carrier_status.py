"""What the operator sees of each carrier connector: its settings (never its password) and the live state of
its binds, as the delivery processes holding them last reported it in the shared lease rows.

The dashboard's process may hold no bind at all (`--no-delivery-worker`, or another process took the slot),
so the state is read from `carrier_binds`, which every holder renews every fifth of the bind lease anyway: a
page view costs two small reads, and nothing is written per message to keep it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mycpaas.domain.carriers import Connector
from mycpaas.services import binds, carriers
from mycpaas.services.binds import BindState
from mycpaas.services.platform import Platform


@dataclass(frozen=True, slots=True)
class ConnectorStatus:
    connector: Connector  # its password blank
    binds: tuple[BindState, ...]  # the slots below its max_binds, by slot

    @property
    def bound(self) -> int:
        """How many of its binds are up now (each held by a live lease and reported bound)."""
        return sum(1 for b in self.binds if b.bound)

    @property
    def up(self) -> bool:
        return self.bound > 0

    @property
    def window_in_use(self) -> int:
        """Submissions holding a window slot across its binds, at their holders' last renewals."""
        return sum(b.window_in_use for b in self.binds)

    @property
    def window(self) -> int:
        """The window of every bind up together."""
        return self.connector.window * self.bound

    @property
    def last_error(self) -> tuple[str, datetime] | None:
        """The latest bind failure of any of its binds, and when."""
        failures = [(b.last_error_at, b.last_error) for b in self.binds if b.last_error and b.last_error_at]
        if not failures:
            return None
        at, text = max(failures)
        return text, at


async def statuses(platform: Platform) -> list[ConnectorStatus]:
    """Every connector (by priority then name) with its binds' state."""
    connectors = await carriers.list_connectors(platform, with_passwords=False)
    by_carrier: dict[str, list[BindState]] = {}
    for state in await binds.states(platform):
        by_carrier.setdefault(state.carrier, []).append(state)
    return [
        ConnectorStatus(c, tuple(b for b in by_carrier.get(c.name, []) if b.slot < c.max_binds))
        for c in connectors
    ]


async def status(platform: Platform, name: str) -> ConnectorStatus | None:
    return next((s for s in await statuses(platform) if s.connector.name == name), None)
