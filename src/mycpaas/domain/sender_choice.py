"""Which sender of a Messaging Service's pool a message goes from, as Twilio's sender selection describes it:
sticky sender first, then area-code geomatch, otherwise the pool's least-loaded sender; the service's alpha
sender for destinations outside +1 (never for +1).

Least-loaded, not round-robin: the load is the sender's queued messages, the very count the 21611 queue limit
is kept on, so a number that is backed up (its rate reached) is steered around while an idle pool is used in
turn (equal loads go to the least recently used sender). That needs no state beyond the messages themselves,
so every delivery process picks alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mycpaas.domain.addresses import is_nanp
from mycpaas.domain.messaging_services import PoolNumber, ServicePool
from mycpaas.errors import ErrorCode


@dataclass(slots=True)
class SenderLoad:
    """A sender's queued messages (`limit`: how many it may have queued, None when its rate is unlimited) and
    how recently it was used (a larger `last_used` is more recent; 0: never)."""

    queued: int = 0
    limit: int | None = None
    last_used: int = 0

    @property
    def full(self) -> bool:
        return self.limit is not None and self.queued >= self.limit

    def took(self, turn: int) -> None:
        """One more message queued on this sender, at `turn` (larger than any `last_used` so far)."""
        self.queued += 1
        self.last_used = turn


@dataclass(frozen=True, slots=True)
class Choice:
    """The sender picked (`number_sid` set when it is a pool number), or why there is none (`error`)."""

    sender: str | None = None
    number_sid: str | None = None
    error: ErrorCode | None = None


def area_code(number: str) -> str | None:
    """The NANP area code of a +1 number, else None."""
    return number[2:5] if is_nanp(number) else None


def choose_sender(
    pool: ServicePool, to: str, sticky_number_sid: str | None, loads: Mapping[str, SenderLoad]
) -> Choice:
    """The sender for a message to `to`: `loads` holds every pool sender's load (missing: idle, unlimited);
    21703 when the pool has no sender for this destination, 21611 when every one that could is full."""

    def load(address: str) -> SenderLoad:
        return loads.get(address) or SenderLoad()

    alpha = pool.alpha_sender
    if alpha is not None and not is_nanp(to) and not load(alpha.alpha_sender).full:
        return Choice(alpha.alpha_sender)
    if not pool.numbers:
        return Choice(error=ErrorCode.QUEUE_FULL if alpha and not is_nanp(to) else ErrorCode.NO_USABLE_SENDER)
    usable = [n for n in pool.numbers if not load(n.phone_number).full]
    if not usable:
        return Choice(error=ErrorCode.QUEUE_FULL)
    if pool.service.sticky_sender:
        for number in usable:
            if number.sid == sticky_number_sid:
                return Choice(number.phone_number, number.sid)
    if pool.service.area_code_geomatch and (area := area_code(to)):
        usable = [n for n in usable if area_code(n.phone_number) == area] or usable

    def key(number: PoolNumber) -> tuple[int, int, str]:
        found = load(number.phone_number)
        return found.queued, found.last_used, number.sid

    best = min(usable, key=key)
    return Choice(best.phone_number, best.sid)
