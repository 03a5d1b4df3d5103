"""Cut a message into the short_message bodies of its submit_sm parts.

The cut is `segments.split_units`'s rule with each character costed at its encoded length (a greedy fill that
never splits a multi-octet character), so the parts we send are the segments the API reported, an escape or
surrogate pair is never split, and each body fits by construction. It is applied to the encoded octets rather
than character by character: a call per character made splitting a long message cost more than submitting it
(bench/smpp_e2e.py's bare loop under cProfile, 2026-12-07); tests/unit/test_properties_smpp.py checks that
both give the same parts. One set of part sizes serves UDH and SAR alike: with SAR the SMSC builds the same
6-byte header for the handset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mycpaas.smpp.encoding import DataCoding, encode

_UDH_LEN = 6
_MAX_PARTS = 255
# data_coding -> (octets in a lone message, octets per part once a concatenation header takes its share)
_SIZES = {
    DataCoding.SMSC_DEFAULT: (160, 160 - 7),  # septets sent unpacked; the header costs 7 septets once packed
    DataCoding.IA5: (160, 160 - 7),  # the SMSC sends IA5 as GSM 03.38 on the air
    DataCoding.LATIN1: (140, 140 - _UDH_LEN),
    DataCoding.UCS2: (140, 140 - _UDH_LEN),
}


@dataclass(frozen=True, slots=True)
class Part:
    """One submit_sm body; a part says so either by a UDH in the body (udhi) or by the three SAR TLVs."""

    short_message: bytes
    esm_class_udhi: bool
    sar: tuple[int, int, int] | None  # (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum)


def split(text: str, coding: DataCoding, reference: int, mode: Literal["udh", "sar"]) -> list[Part]:
    """The submit_sm bodies for `text`; raises ValueError if it does not fit `coding` or needs over 255 parts.

    Only the low 8 bits of `reference` are used, in SAR mode too (where the TLV could carry 16): the SMSC turns
    SAR into an 8-bit-reference UDH for the handset anyway, and one rule keeps both modes alike.
    """
    if coding not in _SIZES:
        raise ValueError(f"cannot split text for data_coding {coding!r}")
    single, per_part = _SIZES[coding]
    encoded = encode(text, coding)
    if len(encoded) <= single:
        return [Part(encoded, esm_class_udhi=False, sar=None)]
    chunks = _cut(encoded, per_part, coding)
    total = len(chunks)
    if total > _MAX_PARTS:
        raise ValueError(f"message needs {total} parts; concatenation allows {_MAX_PARTS}")
    ref = reference & 0xFF
    if mode == "sar":
        return [Part(c, False, (ref, total, seq)) for seq, c in enumerate(chunks, start=1)]
    return [Part(bytes((5, 0, 3, ref, total, seq)) + c, True, None) for seq, c in enumerate(chunks, start=1)]


def _cut(encoded: bytes, per_part: int, coding: DataCoding) -> list[bytes]:
    """Greedy cuts of at most `per_part` octets that keep every character whole: in GSM 03.38 an escape (0x1B,
    never the second octet of a pair) stays with the octet after it; in UTF-16 a high surrogate stays with its
    low one; IA5 and Latin-1 have one octet per character."""
    chunks: list[bytes] = []
    start, size = 0, len(encoded)
    while start < size:
        end = min(start + per_part, size)
        if end < size:
            if coding == DataCoding.SMSC_DEFAULT and encoded[end - 1] == 0x1B:
                end -= 1
            elif coding == DataCoding.UCS2 and 0xD8 <= encoded[end - 2] <= 0xDB:
                end -= 2
        chunks.append(encoded[start:end])
        start = end
    return chunks
