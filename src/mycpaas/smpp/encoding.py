"""Text to the bytes of an SMPP short_message, by data_coding (decoding is domain/alphabets.py's).

GSM 03.38 goes on the wire unpacked (one septet per octet), which is how SMPP carries data_coding 0; the SMSC
packs it for the air interface. Encoding is strict because the caller picks the coding first (`choose`);
decoding is lenient because a carrier's bytes must never make us drop a message or a receipt.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

from mycpaas.domain.alphabets import ESC, GSM7_EXTENSION_TABLE, GSM7_TABLE, decode

__all__ = ["GSM7_EXTENSION_TABLE", "GSM7_TABLE", "DataCoding", "choose", "decode", "encode"]

_ENCODE = {ch: bytes([i]) for i, ch in enumerate(GSM7_TABLE) if i != ESC}
_ENCODE.update({ch: bytes([ESC, i]) for i, ch in GSM7_EXTENSION_TABLE.items()})
# The same mapping as one str.translate table whose output is ASCII (septets are below 0x80); an ASCII character
# outside the alphabet maps to a non-ASCII sentinel, so only GSM text encodes. A join of one lookup per character
# cost ~0.5 us a character: a 10-part message spent more in encoding than in its submit_sm round trips
# (bench/smpp_e2e.py's bare loop under cProfile, 2026-12-07).
_NOT_GSM = "\uffff"
_TRANSLATE: dict[int, str] = {code: _NOT_GSM for code in range(128)}
_TRANSLATE.update({ord(ch): encoded.decode("ascii") for ch, encoded in _ENCODE.items()})


class DataCoding(IntEnum):
    """The data_coding values we send; `decode` accepts any byte a carrier sends."""

    SMSC_DEFAULT = 0  # we always mean GSM 03.38 by it
    IA5 = 1
    BINARY_ALT = 2  # SMPP 3.4 has two "octet unspecified" values
    LATIN1 = 3
    BINARY = 4  # the one GSM 03.38 calls 8-bit data
    UCS2 = 8


def encode(text: str, coding: DataCoding) -> bytes:
    """Encode for the wire; raises ValueError if `text` does not fit `coding` (the caller chose wrongly)."""
    if coding == DataCoding.SMSC_DEFAULT:
        return _gsm_encode(text)
    if coding == DataCoding.IA5:
        return text.encode("ascii")
    if coding == DataCoding.LATIN1:
        return text.encode("latin-1")
    if coding == DataCoding.UCS2:
        # UTF-16 rather than strict UCS-2: handsets render surrogate pairs, and that is what carriers bill.
        return text.encode("utf-16-be")
    raise ValueError(f"cannot encode text as data_coding {coding!r}")


def choose(text: str, preferred: Literal["gsm7", "latin1", "ucs2"]) -> DataCoding:
    """The coding for `text` on a connector whose SMSC prefers `preferred`.

    gsm7 (the usual case): GSM 03.38 text as data_coding 0, anything else as UCS-2. latin1 is for SMSCs that read
    data_coding 0 as something other than GSM 03.38, so even GSM text goes as Latin-1 (or UCS-2 when it has,
    say, Greek capitals). ucs2 is for SMSCs that mangle GSM: everything goes as UCS-2.
    """
    if preferred == "ucs2":
        return DataCoding.UCS2
    if preferred == "latin1":
        return DataCoding.LATIN1 if _latin1(text) else DataCoding.UCS2
    if _is_gsm7(text):
        return DataCoding.SMSC_DEFAULT
    return DataCoding.UCS2


def _is_gsm7(text: str) -> bool:
    try:
        _gsm_encode(text)
    except ValueError:
        return False
    return True


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _gsm_encode(text: str) -> bytes:
    try:
        return text.translate(_TRANSLATE).encode("ascii")
    except UnicodeEncodeError:
        bad = next(ch for ch in text if ch not in _ENCODE)
        raise ValueError(f"{bad!r} is not in the GSM 03.38 alphabet") from None
