"""Cut a message into the short_message bodies of its submit_sm parts.

The cut is `segments.split_units` with each character costed at its encoded length, so the parts we send are the
segments the API reported, an escape or surrogate pair is never split, and each body fits by construction. One
set of part sizes serves UDH and SAR alike: with SAR the SMSC builds the same 6-byte header for the handset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mycpaas.domain.segments import split_units
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
    chunks = split_units(text, single, per_part, lambda ch: len(encode(ch, coding)))
    if len(chunks) == 1:
        return [Part(encode(text, coding), esm_class_udhi=False, sar=None)]
    total = len(chunks)
    if total > _MAX_PARTS:
        raise ValueError(f"message needs {total} parts; concatenation allows {_MAX_PARTS}")
    ref = reference & 0xFF
    if mode == "sar":
        return [Part(encode(c, coding), False, (ref, total, seq)) for seq, c in enumerate(chunks, start=1)]
    return [
        Part(bytes((5, 0, 3, ref, total, seq)) + encode(c, coding), True, None)
        for seq, c in enumerate(chunks, start=1)
    ]
