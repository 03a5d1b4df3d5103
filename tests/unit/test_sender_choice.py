"""The pure sender choice of domain/sender_choice.py: sticky first, then area-code geomatch, then the least-loaded
(least recently used among equals) pool number; the alpha sender outside +1 only; 21703 and 21611 when none fits.
End to end (the delivery worker, both databases, the official clients): tests/clients/test_messaging_service_sending.py."""

from __future__ import annotations

from datetime import UTC, datetime

from mycpaas.domain.messaging_services import AlphaSender, PoolNumber, ServicePool, new_service
from mycpaas.domain.sender_choice import SenderLoad, choose_sender
from mycpaas.errors import ErrorCode

NOW = datetime(2026, 1, 1, tzinfo=UTC)
A, B, C = "+12125550001", "+13035550002", "+14155550003"


def pool(*numbers: str, alpha: str | None = None, sticky: bool = True, geomatch: bool = True) -> ServicePool:
    service = new_service("MG" + "1" * 32, "AC" + "1" * 32, "pool", NOW)
    service.sticky_sender, service.area_code_geomatch = sticky, geomatch
    pooled = tuple(
        PoolNumber(f"PN{n:032d}", service.account_sid, service.sid, phone, NOW)
        for n, phone in enumerate(numbers)
    )
    alpha_sender = (
        AlphaSender("AI" + "1" * 32, service.account_sid, service.sid, alpha, NOW) if alpha else None
    )
    return ServicePool(service, pooled, alpha_sender)


def sid_of(p: ServicePool, phone: str) -> str:
    return next(n.sid for n in p.numbers if n.phone_number == phone)


def test_sticky_wins_over_geomatch_and_load() -> None:
    p = pool(A, B, C)
    loads = {C: SenderLoad(queued=5)}
    choice = choose_sender(p, "+12125559999", sid_of(p, C), loads)
    assert (choice.sender, choice.number_sid) == (C, sid_of(p, C))
    # Off, the sticky row is ignored: the To's area code decides.
    assert choose_sender(pool(A, B, C, sticky=False), "+12125559999", sid_of(p, C), loads).sender == A


def test_a_full_sticky_number_is_passed_over() -> None:
    p = pool(A, B)
    choice = choose_sender(p, "+17185550000", sid_of(p, A), {A: SenderLoad(queued=1, limit=1)})
    assert choice.sender == B


def test_geomatch_falls_back_to_the_pool() -> None:
    p = pool(A, B, C, sticky=False)
    assert choose_sender(p, "+13035551234", None, {}).sender == B
    assert choose_sender(p, "+13035551234", None, {B: SenderLoad(queued=1, limit=1)}).sender in (A, C)
    assert choose_sender(pool(A, B, C, sticky=False, geomatch=False), "+13035551234", None, {}).sender == A


def test_least_loaded_then_least_recently_used() -> None:
    p = pool(A, B, C, sticky=False, geomatch=False)
    loads = {
        A: SenderLoad(queued=2),
        B: SenderLoad(queued=1, last_used=9),
        C: SenderLoad(queued=1, last_used=4),
    }
    assert choose_sender(p, "+16465550000", None, loads).sender == C
    loads[C].took(10)
    assert (loads[C].queued, loads[C].last_used) == (2, 10)
    assert choose_sender(p, "+16465550000", None, loads).sender == B


def test_the_alpha_sender_serves_only_outside_plus_one() -> None:
    p = pool(A, alpha="Acme")
    assert choose_sender(p, "+447700900123", None, {}).sender == "Acme"
    assert choose_sender(p, "+12125550000", None, {}).sender == A
    assert choose_sender(p, "+447700900123", None, {"Acme": SenderLoad(1, 1)}).sender == A


def test_no_sender_and_full_senders() -> None:
    assert choose_sender(pool(alpha="Acme"), "+12125550000", None, {}).error is ErrorCode.NO_USABLE_SENDER
    assert choose_sender(pool(), "+447700900123", None, {}).error is ErrorCode.NO_USABLE_SENDER
    full = {A: SenderLoad(1, 1), B: SenderLoad(3, 2)}
    choice = choose_sender(pool(A, B), "+12125550000", None, full)
    assert (choice.sender, choice.error) == (None, ErrorCode.QUEUE_FULL)
    assert choose_sender(pool(alpha="Acme"), "+447700900123", None, {"Acme": SenderLoad(1, 1)}).error is (
        ErrorCode.QUEUE_FULL
    )
