"""The SMS alphabets as text: GSM 03.38 septets, UCS-2 (UTF-16) code units and octets, by SMPP data_coding.

Decoding lives here, not in smpp/, because the parts of a concatenated inbound message are joined by the
inbound use case (services/inbound.py) before they are decoded: a GSM escape at the end of one part belongs to
the character that starts the next, and so does the low half of a surrogate pair. Decoding each part apart
would mangle both. Decoding is lenient because a carrier's bytes must never make us drop a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

ESC = 0x1B

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

Alphabet = Literal["gsm7", "ucs2", "octets"]

# One piece of an inbound message: user data with its data_coding, or text decoded before payloads were kept
# (parts stored by a version before migration 0008).
Piece = tuple[bytes, int] | str


def alphabet(coding: int) -> Alphabet:
    """Map any data_coding byte to the alphabet it implies (SMPP 3.4 5.2.19 and 3GPP TS 23.038 section 4)."""
    if coding == 0:
        return "gsm7"
    if coding == 8:
        return "ucs2"
    group = coding & 0xF0
    if group == 0xF0:  # data coding/message class: bit 2 selects 8-bit data over the default alphabet
        return "octets" if coding & 0x04 else "gsm7"
    if group in (0xC0, 0xD0):  # message waiting indication, default alphabet
        return "gsm7"
    if group == 0xE0:  # message waiting indication, UCS-2
        return "ucs2"
    return "octets"


def decode(data: bytes, coding: int) -> str:
    """Decode user data; never raises, unknown bytes become replacement characters."""
    kind = alphabet(coding)
    if kind == "gsm7":
        return _gsm_decode(data)
    if kind == "ucs2":
        return data[: len(data) & ~1].decode("utf-16-be", errors="replace")
    return data.decode("latin-1")  # IA5, Latin-1, binary and unknown codings: every byte maps to a character


def assemble(pieces: Sequence[Piece | None]) -> str:
    """The text of a message from its parts in order: each run of consecutive payloads in one alphabet is
    joined and decoded once (so an escape or a surrogate pair split across parts is read whole); a missing
    part (None) ends a run, since nothing joins across it; NULs, which some SMSCs pad with, are dropped."""
    out: list[str] = []
    run: bytearray = bytearray()
    run_coding: int | None = None
    for piece in [*pieces, ""]:
        if isinstance(piece, tuple) and run_coding is not None and alphabet(piece[1]) == alphabet(run_coding):
            run += piece[0]
            continue
        if run_coding is not None:
            out.append(decode(bytes(run), run_coding))
            run, run_coding = bytearray(), None
        if isinstance(piece, tuple):
            run, run_coding = bytearray(piece[0]), piece[1]
        elif piece is not None:
            out.append(piece)
    return "".join(out).replace("\x00", "")


def _gsm_decode(data: bytes) -> str:
    out: list[str] = []
    i = 0
    while i < len(data):
        byte = data[i]
        i += 1
        if byte != ESC:
            out.append(GSM7_TABLE[byte] if byte < 0x80 else "?")
        elif i == len(data) or data[i] == ESC:
            # A lone escape, or escape to a further table none of us defines: 23.038 says show a space.
            out.append(" ")
            i += 1
        else:
            nxt = data[i]
            i += 1
            # An undefined extension position shows its basic-table character, per 23.038.
            out.append(GSM7_EXTENSION_TABLE.get(nxt) or (GSM7_TABLE[nxt] if nxt < 0x80 else "?"))
    return "".join(out)
