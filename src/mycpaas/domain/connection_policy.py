"""Connection overrides in a webhook URL's #fragment, as Twilio reads them: `#ct=2000&rt=5000&rc=3&rp=5xx`.

ct  connect timeout, ms (100..10000)        rt  read timeout, ms (100..15000)
tt  total time for one attempt, ms (100..15000)
rc  retries after the first attempt (0..5)  rp  what is retried: ct, rt, 4xx, 5xx, all (comma-separated)

The fragment is stripped before the request is sent and is not part of the signed URL.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import parse_qsl, urldefrag

# Failure classes a retry policy names. Connection errors count as `ct`; 429 is retried with 5xx.
CONNECT, READ, CLIENT_ERROR, SERVER_ERROR = "ct", "rt", "4xx", "5xx"
_ALL = frozenset({CONNECT, READ, CLIENT_ERROR, SERVER_ERROR})
DEFAULT_RETRY_ON = frozenset({CONNECT, READ, SERVER_ERROR})

_LIMITS_MS = {"ct": (100, 10000), "rt": (100, 15000), "tt": (100, 15000)}
MAX_RETRIES = 5


class InvalidOverride(ValueError):
    """The fragment names an override that does not exist or a value out of range (Twilio's 11243)."""


@dataclass(frozen=True, slots=True)
class ConnectionPolicy:
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    total_timeout: float = 15.0
    retries: int = 3
    retry_on: frozenset[str] = DEFAULT_RETRY_ON

    def should_retry(self, failure: str, attempt: int) -> bool:
        """`attempt` counts from 1; `failure` is one of the classes above."""
        return attempt <= self.retries and failure in self.retry_on


def split_overrides(url: str, default: ConnectionPolicy) -> tuple[str, ConnectionPolicy]:
    """The URL to request and sign (no fragment), and the policy for it. Raises InvalidOverride."""
    target, fragment = urldefrag(url)
    if not fragment:
        return target, default
    policy = default
    for name, value in parse_qsl(fragment, keep_blank_values=True):
        if name in _LIMITS_MS:
            low, high = _LIMITS_MS[name]
            millis = _integer(name, value, low, high)
            if name == "ct":
                policy = replace(policy, connect_timeout=millis / 1000)
            elif name == "rt":
                policy = replace(policy, read_timeout=millis / 1000)
            else:
                policy = replace(policy, total_timeout=millis / 1000)
        elif name == "rc":
            policy = replace(policy, retries=_integer(name, value, 0, MAX_RETRIES))
        elif name == "rp":
            classes = frozenset(part.strip() for part in value.split(",") if part.strip())
            if not classes or not classes <= _ALL | {"all"}:
                raise InvalidOverride(f"rp={value!r} is not a retry policy (ct, rt, 4xx, 5xx, all)")
            policy = replace(policy, retry_on=_ALL if "all" in classes else classes)
        elif name in ("e", "edge", "sni"):
            continue  # Twilio's edge selection has no meaning on a self-hosted platform
        else:
            raise InvalidOverride(f"unknown connection override {name!r}")
    return target, policy


def _integer(name: str, value: str, low: int, high: int) -> int:
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise InvalidOverride(f"{name}={value!r} must be a whole number from {low} to {high}")
    return int(value)
