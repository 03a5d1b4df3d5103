"""Resource identifiers: a two-letter prefix and 32 lowercase hex digits. The only place prefixes live."""

from __future__ import annotations

import os
import re
import threading
import time
from enum import StrEnum


class Prefix(StrEnum):
    ACCOUNT = "AC"
    MESSAGE = "SM"
    PHONE_NUMBER = "PN"
    API_KEY = "SK"
    MEDIA = "ME"
    MESSAGING_SERVICE = "MG"
    ALPHA_SENDER = "AI"  # a Messaging Service's alphanumeric sender ID
    NOTIFICATION = "NO"  # a webhook attempt record


_SID = re.compile(r"(?P<prefix>[A-Z]{2})[0-9a-fA-F]{32}")


def new_sid(prefix: Prefix) -> str:
    return f"{prefix}{random_hex32()}"


def new_ordered_sid(prefix: Prefix) -> str:
    """A sid whose first 12 hex digits are the time in milliseconds and the other 20 random (80 bits, from
    os.urandom): as unguessable as a sid needs to be, and each new one lands at the end of the indexes keyed by
    it. For messages: with random sids the unique index on messages.sid and jobs' (ref, id) each took a random
    page per create, ~2 of the ~7 WAL pages a create wrote on SQLite; CPU per create 333-359 -> 297-325 us
    (bench/results/create_ab.txt, 2026-12-07). Twilio's sids promise no order, and nothing here orders or
    shards by them (lists go by id)."""
    return f"{prefix}{time.time_ns() // 1_000_000:012x}{_random_hex(20)}"


# 32 hex digits (128 bits from os.urandom, as secrets.token_hex(16)) cut from a pool filled 256 at a time.
# os.urandom releases the GIL around its getrandom() call, and a thread of granian's takes it meanwhile: under
# the create load (two per create: the message's sid and the request id) the loop's thread waited ~11 us per
# create there (py-spy, bench/results/create_ab.txt, 2026-12-07). Identifiers only: secrets (tokens,
# passwords) keep calling `secrets` each time.
_POOL_BYTES = 4096
_pool = ""
_taken = 0
_pool_lock = threading.Lock()


def random_hex32() -> str:
    """32 random lowercase hex digits, for identifiers (sids, request ids)."""
    return _random_hex(32)


def _random_hex(digits: int) -> str:
    global _pool, _taken
    with _pool_lock:
        if _taken + digits > len(_pool):
            _pool, _taken = os.urandom(_POOL_BYTES).hex(), 0
        start = _taken
        _taken = start + digits
        return _pool[start : start + digits]


def _forget_pool() -> None:
    """A forked process (serve --workers N) must not hand out the digits its parent had left (nor inherit
    the lock held by a parent's thread at the fork)."""
    global _pool, _taken, _pool_lock
    _pool, _taken, _pool_lock = "", 0, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def is_sid(value: str, prefix: Prefix) -> bool:
    match = _SID.fullmatch(value)  # not .match: see tests/unit/test_trailing_newline.py
    return match is not None and match.group("prefix") == prefix.value
