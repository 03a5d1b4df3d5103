"""How carriers count SMS segments: GSM 03.38 septets or UCS-2 code units.

A message fits one segment at 160 septets (GSM-7) or 70 UTF-16 code units (UCS-2). Longer messages carry a
6-byte concatenation header, leaving 153 septets or 67 code units per part. A GSM extension character costs two
septets (escape + char) and its pair is never split across parts; a surrogate pair is never split either. The
SMPP encoder reuses `split_units`, so the API's `num_segments` and what goes on the wire cannot disagree.

Every create counts its body's segments, so `split_parts` works in C: the alphabet is one regex search, the
units are the length plus the escapes found by a second regex (GSM-7) or the length of the UTF-16 encoding
(UCS-2), and the parts are slices, each as long as fits (`_cut`); the per-character walk (`split_units`, which
the SMPP encoder also uses) stays the rule they must match (tests/unit/test_properties_smpp.py). Measured
(py-spy under bench/http_create.py's mixed bodies, 2026-12-07): the walk was 6.7% of the API process, this 0.4%;
bench/results/create-path.txt.
"""

from __future__ import annotations

import re
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

# A character outside both GSM-7 tables; and one of the extension table (two septets each).
_NOT_GSM7 = re.compile("[^" + re.escape("".join(sorted(GSM7_BASIC | GSM7_EXTENSION))) + "]")
_EXTENSION = re.compile("[" + re.escape("".join(sorted(GSM7_EXTENSION))) + "]")


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
    return _NOT_GSM7.search(text) is None


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
    return _walk(text, per_part, cost)


def _walk(text: str, per_part: int, cost: Callable[[str], int]) -> tuple[str, ...]:
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


def _septets(text: str) -> int:
    return len(text) + len(_EXTENSION.findall(text))


def _code_units(text: str) -> int:
    # A lone surrogate (possible in text decoded from SMPP) is one code unit, as `_units` counts it.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _cut(text: str, per_part: int, units: Callable[[str], int]) -> tuple[str, ...]:
    """The parts `_walk` makes (each as long as fits), found by slicing: a part's units grow with its length,
    and dropping c characters drops at most 2c units, so stepping back by half the excess never overshoots."""
    parts: list[str] = []
    start, length = 0, len(text)
    while start < length:
        end = min(length, start + per_part)
        excess = units(text[start:end]) - per_part
        while excess > 0:
            end -= (excess + 1) // 2
            excess = units(text[start:end]) - per_part
        parts.append(text[start:end])
        start = end
    return tuple(parts)


def split_parts(text: str) -> Segmentation:
    """Split `text` into the parts a carrier would send, never splitting an escape or surrogate pair: the parts
    `split_units` makes with `_units` as the cost (tests/unit/test_segments.py checks that they agree)."""
    if _is_gsm7(text):
        encoding, single, per_part, units = Encoding.GSM7, GSM7_SINGLE, GSM7_PART, _septets
    else:
        encoding, single, per_part, units = Encoding.UCS2, UCS2_SINGLE, UCS2_PART, _code_units
    if len(text) <= single // 2 or units(text) <= single:  # a unit or two a character: no need to count
        return Segmentation(encoding, (text,))
    return Segmentation(encoding, _cut(text, per_part, units))


def count_segments(text: str) -> int:
    """The number of segments `text` costs; an empty body (media-only) counts as one."""
    return max(1, split_parts(text).count) if text else 1
