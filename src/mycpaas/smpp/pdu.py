"""SMPP 3.4 protocol data units: the 16-byte header, the mandatory fields of the PDUs an ESME uses, and TLVs.

One schema table drives both encoding and decoding, so a field cannot be written one way and read another.
Decoding is strict about structure (lengths, terminators) and raises `PduError`; the session closes on it,
because after a framing error nothing that follows on the stream can be trusted.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

HEADER = struct.Struct(">IIII")
MAX_PDU_LENGTH = 65536
RESPONSE_BIT = 0x80000000


class PduError(Exception):
    """The bytes are not a PDU this codec can read."""


class Command(IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    CANCEL_SM = 0x00000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


class Status(IntEnum):
    """command_status values the platform acts on (SMPP 3.4 §5.1.3)."""

    OK = 0x00
    RINVMSGLEN = 0x01
    RINVCMDLEN = 0x02
    RINVCMDID = 0x03
    RINVBNDSTS = 0x04
    RALYBND = 0x05
    RINVPRTFLG = 0x06
    RINVREGDLVFLG = 0x07
    RSYSERR = 0x08
    RINVSRCADR = 0x0A
    RINVDSTADR = 0x0B
    RINVMSGID = 0x0C
    RBINDFAIL = 0x0D
    RINVPASWD = 0x0E
    RINVSYSID = 0x0F
    RMSGQFUL = 0x14
    RINVSERTYP = 0x15
    RINVESMCLASS = 0x43
    RSUBMITFAIL = 0x45
    RINVSRCTON = 0x48
    RINVSRCNPI = 0x49
    RINVDSTTON = 0x50
    RINVDSTNPI = 0x51
    RINVSYSTYP = 0x53
    RTHROTTLED = 0x58
    RINVSCHED = 0x61
    RINVEXPIRY = 0x62
    RX_T_APPN = 0x64
    RX_P_APPN = 0x65
    RX_R_APPN = 0x66
    RUNKNOWNERR = 0xFF


class Tag(IntEnum):
    """TLV tags the platform reads or writes."""

    RECEIPTED_MESSAGE_ID = 0x001E
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427
    NETWORK_ERROR_CODE = 0x0423


# Field kinds: "c" = C-octet string (NUL-terminated, max length including the NUL), "1" = one-octet
# integer, "sm" = sm_length octet followed by that many bytes of short_message.
_Field = tuple[str, str, int]
_BIND: tuple[_Field, ...] = (
    ("system_id", "c", 16),
    ("password", "c", 9),
    ("system_type", "c", 13),
    ("interface_version", "1", 0),
    ("addr_ton", "1", 0),
    ("addr_npi", "1", 0),
    ("address_range", "c", 41),
)
_SM: tuple[_Field, ...] = (
    ("service_type", "c", 6),
    ("source_addr_ton", "1", 0),
    ("source_addr_npi", "1", 0),
    ("source_addr", "c", 21),
    ("dest_addr_ton", "1", 0),
    ("dest_addr_npi", "1", 0),
    ("destination_addr", "c", 21),
    ("esm_class", "1", 0),
    ("protocol_id", "1", 0),
    ("priority_flag", "1", 0),
    ("schedule_delivery_time", "c", 17),
    ("validity_period", "c", 17),
    ("registered_delivery", "1", 0),
    ("replace_if_present_flag", "1", 0),
    ("data_coding", "1", 0),
    ("sm_default_msg_id", "1", 0),
    ("short_message", "sm", 254),
)
_DATA_SM: tuple[_Field, ...] = (
    ("service_type", "c", 6),
    ("source_addr_ton", "1", 0),
    ("source_addr_npi", "1", 0),
    ("source_addr", "c", 65),
    ("dest_addr_ton", "1", 0),
    ("dest_addr_npi", "1", 0),
    ("destination_addr", "c", 65),
    ("esm_class", "1", 0),
    ("registered_delivery", "1", 0),
    ("data_coding", "1", 0),
)
_SYSTEM_ID: tuple[_Field, ...] = (("system_id", "c", 16),)
_MESSAGE_ID: tuple[_Field, ...] = (("message_id", "c", 65),)

SCHEMAS: dict[int, tuple[_Field, ...]] = {
    Command.BIND_RECEIVER: _BIND,
    Command.BIND_TRANSMITTER: _BIND,
    Command.BIND_TRANSCEIVER: _BIND,
    Command.BIND_RECEIVER_RESP: _SYSTEM_ID,
    Command.BIND_TRANSMITTER_RESP: _SYSTEM_ID,
    Command.BIND_TRANSCEIVER_RESP: _SYSTEM_ID,
    Command.OUTBIND: (("system_id", "c", 16), ("password", "c", 9)),
    Command.SUBMIT_SM: _SM,
    Command.DELIVER_SM: _SM,
    Command.SUBMIT_SM_RESP: _MESSAGE_ID,
    Command.DELIVER_SM_RESP: _MESSAGE_ID,
    Command.DATA_SM: _DATA_SM,
    Command.DATA_SM_RESP: _MESSAGE_ID,
}
# Bodies of these may be empty (SMPP 3.4: "only returned on success"; some SMSCs omit them on success too).
_EMPTY_ON_ERROR = frozenset(
    {
        Command.BIND_RECEIVER_RESP,
        Command.BIND_TRANSMITTER_RESP,
        Command.BIND_TRANSCEIVER_RESP,
        Command.SUBMIT_SM_RESP,
        Command.DELIVER_SM_RESP,
        Command.DATA_SM_RESP,
    }
)

# Commands whose whole body is optional TLVs (none here) or empty.
_NO_BODY = frozenset(
    {
        Command.GENERIC_NACK,
        Command.UNBIND,
        Command.UNBIND_RESP,
        Command.ENQUIRE_LINK,
        Command.ENQUIRE_LINK_RESP,
    }
)

Value = int | str | bytes


@dataclass(slots=True)
class Pdu:
    command: int
    sequence: int
    status: int = 0
    fields: dict[str, Value] = field(default_factory=dict)
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def is_response(self) -> bool:
        return bool(self.command & RESPONSE_BIT)

    def text(self, name: str) -> str:
        value = self.fields.get(name, "")
        return value if isinstance(value, str) else ""

    def number(self, name: str) -> int:
        value = self.fields.get(name, 0)
        return value if isinstance(value, int) else 0

    def octets(self, name: str) -> bytes:
        value = self.fields.get(name, b"")
        return value if isinstance(value, bytes) else b""

    def tlv_int(self, tag: int) -> int | None:
        raw = self.tlvs.get(tag)
        return int.from_bytes(raw, "big") if raw else None

    def tlv_text(self, tag: int) -> str | None:
        raw = self.tlvs.get(tag)
        return raw.rstrip(b"\x00").decode("latin-1") if raw is not None else None

    def encode(self) -> bytes:
        body = bytearray()
        for name, kind, size in SCHEMAS.get(self.command, ()):
            _encode_field(body, name, kind, size, self.fields.get(name))
        for tag, value in self.tlvs.items():
            body += struct.pack(">HH", tag, len(value)) + value
        return HEADER.pack(16 + len(body), self.command, self.status, self.sequence) + body


def response_to(request: Pdu, status: int = Status.OK, **fields: Value) -> Pdu:
    command = Command.GENERIC_NACK if request.command not in _HAS_RESPONSE else request.command | RESPONSE_BIT
    return Pdu(command, request.sequence, status, dict(fields))


_HAS_RESPONSE = frozenset(
    c for c in Command if not c & RESPONSE_BIT and c not in (Command.OUTBIND, Command.ALERT_NOTIFICATION)
)


def int_tlv(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def _encode_field(body: bytearray, name: str, kind: str, size: int, value: Value | None) -> None:
    if kind == "1":
        number = value if isinstance(value, int) else 0
        if not 0 <= number <= 255:
            raise PduError(f"{name} does not fit one octet")
        body.append(number)
    elif kind == "c":
        raw = value.encode("latin-1") if isinstance(value, str) else (value or b"")
        if not isinstance(raw, bytes) or b"\x00" in raw or len(raw) >= size:
            raise PduError(f"{name} longer than {size - 1} octets or not text")
        body += raw + b"\x00"
    else:
        data = value if isinstance(value, bytes) else b""
        if len(data) > size:
            raise PduError(f"{name} longer than {size} octets")
        body.append(len(data))
        body += data


def decode_header(header: bytes) -> tuple[int, int, int, int]:
    """(command_length, command_id, command_status, sequence_number), the length checked."""
    length, command, status, sequence = HEADER.unpack(header)
    if not 16 <= length <= MAX_PDU_LENGTH:
        raise PduError(f"command_length {length} out of range")
    return length, command, status, sequence


def decode(data: bytes) -> Pdu:
    """Decode one whole PDU (header included)."""
    if len(data) < 16:
        raise PduError("shorter than a header")
    length, command, status, sequence = decode_header(data[:16])
    if length != len(data):
        raise PduError("command_length does not match the bytes")
    pdu = Pdu(command, sequence, status)
    offset = 16
    schema = SCHEMAS.get(command, ())
    if not schema and offset < length and command not in _NO_BODY:
        pdu.fields["body"] = bytes(data[offset:length])  # a command we do not read; answered, never parsed
        return pdu
    if schema and not (offset == length and command in _EMPTY_ON_ERROR):
        for name, kind, size in schema:
            value, offset = _decode_field(data, offset, name, kind, size)
            pdu.fields[name] = value
    while offset < length:
        if offset + 4 > length:
            raise PduError("truncated TLV header")
        tag, size = struct.unpack_from(">HH", data, offset)
        offset += 4
        if offset + size > length:
            raise PduError(f"TLV 0x{tag:04x} overruns the PDU")
        pdu.tlvs[tag] = bytes(data[offset : offset + size])
        offset += size
    return pdu


def _decode_field(data: bytes, offset: int, name: str, kind: str, size: int) -> tuple[Value, int]:
    if offset >= len(data):
        raise PduError(f"PDU ends before {name}")
    if kind == "1":
        return data[offset], offset + 1
    if kind == "c":
        end = data.find(b"\x00", offset, offset + size)
        if end < 0:
            raise PduError(f"{name} is not NUL-terminated within {size} octets")
        return data[offset:end].decode("latin-1"), end + 1
    length = data[offset]
    offset += 1
    if offset + length > len(data):
        raise PduError(f"{name} overruns the PDU")
    return bytes(data[offset : offset + length]), offset + length
