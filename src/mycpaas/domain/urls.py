"""Callback URLs: what the platform accepts as a webhook or status-callback target."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from mycpaas.domain.connection_policy import ConnectionPolicy, InvalidOverride, split_overrides

MAX_URL_LENGTH = 4000
_HOST = re.compile(
    r"(?=.{1,253}\Z)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def url_problem(url: str) -> str | None:
    """Why `url` cannot be called back, or None if it can (fully qualified http(s), no underscore in host)."""
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
    if "_" in host:
        return "underscores are not allowed in the host name"
    if not (_HOST.fullmatch(host) or re.fullmatch(r"[0-9a-fA-F:.]+", host)):
        return "has an invalid host name"
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
