"""Text to and from the bytes of an SMPP short_message, by data_coding.

GSM 03.38 goes on the wire unpacked (one septet per octet), which is how SMPP carries data_coding 0; the SMSC
packs it for the air interface. Encoding is strict because the caller picks the coding first (`choose`);
decoding is lenient because a carrier's bytes must never make us drop a message or a receipt.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

_ESC = 0x1B

# 3GPP TS 23.038 default alphabet, indexed by septet; position 0x1B is the escape to the extension table.
GSM7_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# The extension table is sparse (10 of 128 positions), so a mapping states it more plainly than a string.
GSM7_EXTENSION_TABLE = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

_ENCODE = {ch: bytes([i]) for i, ch in enumerate(GSM7_TABLE) if i != _ESC}
_ENCODE.update({ch: bytes([_ESC, i]) for i, ch in GSM7_EXTENSION_TABLE.items()})


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


def decode(data: bytes, coding: int) -> str:
    """Decode a short_message from the wire; never raises, unknown bytes become replacement characters."""
    alphabet = _alphabet(coding)
    if alphabet == "gsm7":
        return _gsm_decode(data)
    if alphabet == "ucs2":
        return data[: len(data) & ~1].decode("utf-16-be", errors="replace")
    return data.decode("latin-1")  # IA5, Latin-1, binary and unknown codings: every byte maps to a character


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
    return all(ch in _ENCODE for ch in text)


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _alphabet(coding: int) -> Literal["gsm7", "ucs2", "octets"]:
    """Map any data_coding byte to the alphabet it implies (SMPP 3.4 5.2.19 and 3GPP TS 23.038 section 4)."""
    if coding == DataCoding.SMSC_DEFAULT:
        return "gsm7"
    if coding == DataCoding.UCS2:
        return "ucs2"
    group = coding & 0xF0
    if group == 0xF0:  # data coding/message class: bit 2 selects 8-bit data over the default alphabet
        return "octets" if coding & 0x04 else "gsm7"
    if group in (0xC0, 0xD0):  # message waiting indication, default alphabet
        return "gsm7"
    if group == 0xE0:  # message waiting indication, UCS-2
        return "ucs2"
    return "octets"


def _gsm_encode(text: str) -> bytes:
    try:
        return b"".join(_ENCODE[ch] for ch in text)
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]!r} is not in the GSM 03.38 alphabet") from None


def _gsm_decode(data: bytes) -> str:
    out: list[str] = []
    i = 0
    while i < len(data):
        byte = data[i]
        i += 1
        if byte != _ESC:
            out.append(GSM7_TABLE[byte] if byte < 0x80 else "?")
        elif i == len(data) or data[i] == _ESC:
            # A lone escape, or escape to a further table none of us defines: 23.038 says show a space.
            out.append(" ")
            i += 1
        else:
            nxt = data[i]
            i += 1
            # An undefined extension position shows its basic-table character, per 23.038.
            out.append(GSM7_EXTENSION_TABLE.get(nxt) or (GSM7_TABLE[nxt] if nxt < 0x80 else "?"))
    return "".join(out)
