"""The HTTP shapes the API handlers see: a parsed request and a JSON response. Pure ASGI, no framework.

The request path is the hottest code in the platform, so it stays at the level of a bare ASGI handler: one
body read, one form parse, one JSON encode.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

Scope = dict[str, Any]


class MultiDict:
    """Form or query parameters; repeated keys (MediaUrl) keep every value in order."""

    __slots__ = ("_items", "_first")

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items
        self._first: dict[str, str] = dict(items)  # the last value of each key, in first-seen order
        if len(self._first) != len(items):  # a repeated key: its first value counts
            self._first = {}
            for key, value in items:
                self._first.setdefault(key, value)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._first.get(key, default)

    def getlist(self, key: str) -> list[str]:
        return [v for k, v in self._items if k == key]

    def __contains__(self, key: object) -> bool:
        return key in self._first

    def __getitem__(self, key: str) -> str:
        return self._first[key]

    def keys(self) -> list[str]:
        return list(self._first)

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)


@dataclass(slots=True)
class ApiRequest:
    method: str
    path: str
    prefix: str  # "" or "/api/laml": the mount the request came in on, echoed in every URI we return
    query: MultiDict
    form: MultiDict
    headers: dict[str, str]
    client: str  # the client's address, and below the scheme it used (forwarding.py settled both)
    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def full_path(self) -> str:
        return self.prefix + self.path


@dataclass(slots=True)
class JsonResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.status == 204 or self.body is None:
            return b""
        if _ENCODE is not None:
            return "".join(_ENCODE(self.body, 0)).encode("utf-8")
        return _ENCODER.encode(self.body).encode("utf-8")


# One encoder for every response: json.dumps with options builds a new JSONEncoder on each call.
_ENCODER = json.JSONEncoder(separators=(", ", ": "), ensure_ascii=False)
# And its C encoder built once, as JSONEncoder.encode builds it on each call (with a dict of the containers
# being encoded, to detect cycles: a response body is a tree of fresh dicts and lists). Same text; 4.7 -> 3.8 us
# for a message (timeit, 2026-12-07, issue 15). Without the C module (never in CPython), the encoder above.
_C_MAKE_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)  # not in typeshed
_ENCODE = (
    _C_MAKE_ENCODER(
        None,  # no cycle detection
        _ENCODER.default,
        json.encoder.encode_basestring,  # ensure_ascii=False
        None,  # no indent
        _ENCODER.key_separator,
        _ENCODER.item_separator,
        False,  # sort_keys
        False,  # skipkeys
        True,  # allow_nan
    )
    if _C_MAKE_ENCODER is not None
    else None
)
