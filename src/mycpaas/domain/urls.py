"""Callback URLs: what the platform accepts as a webhook or status-callback target.

A host is a DNS name (letters, digits and hyphens; IDNs in their punycode form), a dotted-quad IPv4 address or
a bracketed IPv6 address, nothing else. Resolvers and HTTP clients read other spellings differently:
`2130706433`, `0177.0.0.1`, `0x7f.1` and `127.1` are all 127.0.0.1 to some and a name to others, and a final
dot changes what a name means to TLS and to virtual hosts. So they are refused when the URL is given, with a
reason the customer can act on, rather than becoming connection failures retried later. Whether the address
may be called at all is a separate question, answered when connecting (webhooks/guard.py).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from mycpaas.domain.connection_policy import ConnectionPolicy, InvalidOverride, split_overrides

MAX_URL_LENGTH = 4000
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# WHATWG's URL standard reads a host whose last label is a number (decimal, or 0x hex) as an IPv4 address.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


def host_problem(host: str) -> str | None:
    """Why `host` (lowercased, as written in a URL: an IPv6 address in brackets) is not a usable host."""
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host.removeprefix("[").removesuffix("]"))
        except ValueError:
            return "has an invalid IPv6 address"
        return "an IPv6 zone (%) is not allowed" if "%" in host else None
    if "_" in host:
        return "underscores are not allowed in the host name"
    if host.endswith("."):
        return "the host name ends in a dot"
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        try:
            ipaddress.IPv4Address(host)  # four decimal parts 0-255, no leading zeros
        except ValueError:
            return "the host is not a dotted-quad IPv4 address (a.b.c.d, decimal, no leading zeros)"
        return None
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        return "has an invalid host name"
    return None


def url_problem(url: str) -> str | None:
    """Why `url` cannot be called back, or None if it can (fully qualified http(s) with a valid host)."""
    if len(url) > MAX_URL_LENGTH:
        return f"longer than {MAX_URL_LENGTH} characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must be a fully qualified http or https URL"
    host = parts.hostname or ""
    if not host:
        return "has no host"
    bracketed = parts.netloc.rpartition("@")[2].startswith("[")
    if problem := host_problem(f"[{host}]" if bracketed else host):
        return problem
    if port == 0:
        return "has an invalid port"
    return None


def callback_url_problem(url: str) -> str | None:
    """url_problem, plus Twilio's #fragment connection overrides checked now rather than at every webhook."""
    if problem := url_problem(url):
        return problem
    try:
        split_overrides(url, ConnectionPolicy())
    except InvalidOverride as exc:
        return f"has an invalid connection override: {exc}"
    return None
