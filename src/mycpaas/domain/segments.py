"""How carriers count SMS segments: GSM 03.38 septets or UCS-2 code units.

A message fits one segment at 160 septets (GSM-7) or 70 UTF-16 code units (UCS-2). Longer messages carry a
6-byte concatenation header, leaving 153 septets or 67 code units per part. A GSM extension character costs two
septets (escape + char) and its pair is never split across parts; a surrogate pair is never split either. The
SMPP encoder reuses `split_units`, so the API's `num_segments` and what goes on the wire cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


class Encoding(StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True, slots=True)
class Segmentation:
    encoding: Encoding
    parts: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.parts)


def _is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _units(ch: str, encoding: Encoding) -> int:
    if encoding is Encoding.GSM7:
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def split_units(text: str, single: int, per_part: int, cost: Callable[[str], int]) -> tuple[str, ...]:
    """Split `text` by a per-character `cost`, so a multi-unit character (escape or surrogate pair) stays whole.

    Shared with the SMPP encoder, which also splits Latin-1 (an alphabet the API never reports), so every coding
    is cut by the same rule.
    """
    if sum(cost(ch) for ch in text) <= single:
        return (text,)
    parts: list[str] = []
    current: list[str] = []
    used = 0
    for ch in text:
        units = cost(ch)
        if used + units > per_part:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += units
    if current:
        parts.append("".join(current))
    return tuple(parts)


def split_parts(text: str) -> Segmentation:
    """Split `text` into the parts a carrier would send, never splitting an escape or surrogate pair."""
    encoding = Encoding.GSM7 if _is_gsm7(text) else Encoding.UCS2
    single, per_part = (GSM7_SINGLE, GSM7_PART) if encoding is Encoding.GSM7 else (UCS2_SINGLE, UCS2_PART)
    return Segmentation(encoding, split_units(text, single, per_part, lambda ch: _units(ch, encoding)))


def count_segments(text: str) -> int:
    """The number of segments `text` costs; an empty body (media-only) counts as one."""
    return max(1, split_parts(text).count) if text else 1
