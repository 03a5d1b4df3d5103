"""Delivery receipts: the SMPP 3.4 Appendix B text, the message_state TLV, and the message id they refer to.

The appendix is informative, so SMSCs vary: key case, field order, missing fields, 10- or 12-digit dates. The
parser therefore reads whatever `key:value` pairs are there, keeps every value as text, and never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

# The lookahead on the keys' first letters changes no match; it spares the engine trying eight alternatives at
# every position, which made parsing a receipt cost ~80 us, 10% of the server's time end to end
# (bench/smpp_e2e.py --profile, 2026-12-07).
_KEY = re.compile(r"\b(?=[idset])(id|sub|dlvrd|submit[ _]date|done[ _]date|stat|err|text)\s*:", re.IGNORECASE)
_MAX_NUMERIC_DIGITS = 64  # SMPP message ids are at most 64 octets; also keeps int() far from its digit limit
_HEX = frozenset("0123456789abcdef")
_TRIM = " \t\r\n\v\f\x00"  # C-Octet Strings arrive with stray NULs


@dataclass(frozen=True, slots=True)
class ReceiptText:
    message_id: str | None
    stat: str | None
    err: str | None
    submit_date: str | None
    done_date: str | None
    sub: str | None
    dlvrd: str | None
    text: str | None


class MessageState(IntEnum):
    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


_STAT_WORDS = {
    MessageState.ENROUTE: "ENROUTE",
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
}


def parse_receipt(text: str) -> ReceiptText:
    """Read the receipt fields present in `text`; absent ones are None, and the first of a repeated key wins.

    `text:` takes the rest of the string, since it quotes the message and may hold colons or key-like words.
    """
    fields: dict[str, str] = {}
    matches = list(_KEY.finditer(text))
    for i, match in enumerate(matches):
        key = match.group(1).lower().replace(" ", "_")
        if key == "text":
            fields.setdefault(key, text[match.end() :].strip())
            break
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        fields.setdefault(key, text[match.end() : end].strip())
    return ReceiptText(
        message_id=fields.get("id"),
        stat=fields.get("stat"),
        err=fields.get("err"),
        submit_date=fields.get("submit_date"),
        done_date=fields.get("done_date"),
        sub=fields.get("sub"),
        dlvrd=fields.get("dlvrd"),
        text=fields.get("text"),
    )


def stat_from_state(state: int) -> str:
    """The receipt `stat` word for a message_state TLV value, so both kinds of receipt read the same."""
    try:
        return _STAT_WORDS[MessageState(state)]
    except ValueError:
        return "UNKNOWN"


def normalize_message_id(raw: str) -> str:
    """The canonical text of a message id: trimmed of whitespace and NULs, lowercase, without leading zeros.

    SMSCs disagree with themselves on case and zero padding between submit_sm_resp and the receipt; this form
    absorbs that. It cannot absorb a change of base: see `message_id_forms`.
    """
    trimmed = raw.strip(_TRIM).lower()
    stripped = trimmed.lstrip("0")
    return stripped or ("0" if trimmed else "")


def message_id_forms(raw: str) -> tuple[str, ...]:
    """The normalised id followed by the other readings of it, for a correlator to look each up in turn.

    Many SMSCs give the id in hex in submit_sm_resp and in decimal in the receipt (or the reverse), and a string
    of digits alone cannot say which base it is in: "255" may be 0xff written in decimal or 0x255 written in
    hex. So an all-decimal id also yields its hex form, and an all-hex id (which includes all-decimal) its
    decimal form. Store the normalised form of the id from submit_sm_resp; look up by every form of the
    receipt's id. An empty id has no forms, as it correlates with nothing.
    """
    canonical = normalize_message_id(raw)
    if not canonical:
        return ()
    forms = [canonical]
    if len(canonical) <= _MAX_NUMERIC_DIGITS:
        if canonical.isascii() and canonical.isdigit():
            forms.append(format(int(canonical), "x"))
        if set(canonical) <= _HEX:
            forms.append(str(int(canonical, 16)))
    return tuple(dict.fromkeys(forms))
