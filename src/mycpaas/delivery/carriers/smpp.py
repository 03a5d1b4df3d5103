"""A carrier reached over SMPP 3.4: one connector (SMSC connection) of `mycpaas carriers`.

It turns a submission into submit_sm parts (encoding and concatenation chosen by the connector), maps SMSC
answers to outcomes, and turns deliver_sm into receipts and inbound messages. A deliver_sm is acknowledged
only once the platform's sink has returned, i.e. recorded it durably; if the sink fails the SMSC is asked to
deliver it again (ESME_RX_T_APPN).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import secrets

import mycpaas.metrics as metrics
from mycpaas.delivery.carriers.base import (
    CarrierDown,
    CarrierRejected,
    CarrierUnavailable,
    InboundSink,
    ReceiptSink,
    RecordSink,
)
from mycpaas.delivery.pacing import Pacer
from mycpaas.domain.alphabets import assemble
from mycpaas.domain.carriage import InboundSms, Outcome, Receipt, Submission, Submitted
from mycpaas.domain.carriers import Connector
from mycpaas.smpp import concatenation, encoding
from mycpaas.smpp.link import Link
from mycpaas.smpp.pdu import Command, Pdu, Status, Tag, int_tlv
from mycpaas.smpp.receipts import message_id_forms, normalize_message_id, parse_receipt, stat_from_state
from mycpaas.smpp.session import BindConfig, BindType, CommandFailed, SessionClosed, Timers

log = logging.getLogger("mycpaas.carrier.smpp")

LINK_WAIT_SECONDS = 5.0  # how long a submission waits for a link that is reconnecting before failing over
PART_RETRY_SECONDS = 120.0  # how long a later part is retried once an earlier part was accepted

# How long a receipt for a part whose submission is not recorded yet waits for that record before it is handed
# on anyway (and kept by the platform as unmatched until its part turns up).
RECEIPT_HOLD_SECONDS = 5.0  # well inside the time an SMSC waits for a deliver_sm_resp (often 10 s)
THROTTLE_RETRY_SECONDS = 30.0  # how long a throttled first part is retried here before the worker backs off
# The SMSC asks us to slow down: the whole connector pauses, and the submission is retried here.
THROTTLED = frozenset({Status.RTHROTTLED, Status.RMSGQFUL})
# The SMSC is busy or failing, not refusing: try again later.
TEMPORARY = THROTTLED | {Status.RSYSERR, Status.RX_T_APPN}
# Refusals of the message itself, by submit_sm_resp status; anything else not temporary is UNKNOWN.
REFUSALS: dict[int, Outcome] = {
    Status.RINVDSTADR: Outcome.UNKNOWN_SUBSCRIBER,
    Status.RINVDSTTON: Outcome.UNKNOWN_SUBSCRIBER,
    Status.RINVDSTNPI: Outcome.UNKNOWN_SUBSCRIBER,
    Status.RINVSRCADR: Outcome.REJECTED,
    Status.RINVSRCTON: Outcome.REJECTED,
    Status.RINVSRCNPI: Outcome.REJECTED,
    Status.RX_P_APPN: Outcome.FILTERED,
    Status.RX_R_APPN: Outcome.FILTERED,
}
# Receipt `stat` words. ENROUTE and ACCEPTD are not final: acknowledged and otherwise ignored.
STATS: dict[str, Outcome | None] = {
    "DELIVRD": Outcome.DELIVERED,
    "DELIVERED": Outcome.DELIVERED,
    "UNDELIV": Outcome.UNREACHABLE,
    "EXPIRED": Outcome.UNREACHABLE,
    "REJECTD": Outcome.FILTERED,
    "DELETED": Outcome.UNKNOWN,
    "UNKNOWN": Outcome.UNKNOWN,
    "ENROUTE": None,
    "ACCEPTD": None,
}
MAX_ID_LENGTH = 64
_RECEIPT_KINDS = frozenset(
    {0x04, 0x08, 0x10, 0x20}
)  # esm_class bits 2-5: SMSC receipt, SME acks, intermediate
_UDHI = 0x40


def relative_validity(seconds: int) -> str:
    """SMPP relative time "YYMMDDhhmmss000R" for a validity period."""
    seconds = max(1, seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"0000{min(days, 99):02d}{hours:02d}{minutes:02d}{secs:02d}000R"


def international(address: str, ton: int) -> str:
    """An address from the SMSC as the platform writes numbers: E.164 with '+', when it is one."""
    if address.startswith("+") or not address.isdigit():
        return address
    return f"+{address}" if ton == 1 or len(address) > 8 else address


class SmppCarrier:
    def __init__(self, connector: Connector, timers: Timers | None = None) -> None:
        self.name = connector.name
        self.account = connector.smsc_account  # what parts and receipts are recorded under
        self.connector = connector
        config = BindConfig(
            host=connector.host,
            port=connector.port,
            system_id=connector.system_id,
            password=connector.password,
            system_type=connector.system_type,
            bind_type=BindType(connector.bind_type),
        )
        self.link = Link(connector.name, config, self._on_deliver, connector.window, timers)
        self._pacer = Pacer(connector.max_mps)
        # A message holds one of these from its first submit_sm until the platform has recorded the SMSC's
        # answers: a kill -9 can then re-send at most a window's worth of answered, unrecorded messages
        # (tests/integration/test_smpp_faults.py), not every answer still waiting for its commit.
        self._unrecorded = asyncio.Semaphore(connector.window)
        self._reference = random.randrange(256)
        self._busy = 0  # submissions in progress, from the first submit_sm until recorded
        self.window_in_use = 0  # submissions holding a window slot now, reported at each lease renewal
        # Ids of accepted parts whose submission is not recorded yet, each with the future its record resolves:
        # a receipt for one of them waits for that record instead of overtaking it. Overtaking receipts were
        # kept as unmatched and matched again one by one, several statements each (bench/smpp_e2e.py).
        self._unrecorded_ids: dict[str, asyncio.Future[None]] = {}
        self._on_receipt: ReceiptSink | None = None
        self._on_inbound: InboundSink | None = None

    async def start(self, on_receipt: ReceiptSink, on_inbound: InboundSink) -> None:
        self._on_receipt, self._on_inbound = on_receipt, on_inbound
        self.link.start()

    async def resume(self, pending: list[tuple[Submission, str]]) -> None:
        """Nothing to do: an SMSC keeps undelivered receipts and delivers them at the next bind."""

    async def stop(self, drain_seconds: float = 0.0) -> None:
        """Unbind; first let the submissions in progress finish (and be recorded) for up to `drain_seconds`,
        so that a rebind or a removal does not cut off answers on their way."""
        deadline = asyncio.get_running_loop().time() + drain_seconds
        while self._busy and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        await self.link.stop()

    def binds(self) -> dict[str, int]:
        return {self.name: int(self.link.bound)}

    def pace(self, per_second: float) -> None:
        """Submit at most this many messages per second on this bind (its share of the connector's)."""
        self._pacer.set_rate(per_second)

    async def submit(self, submission: Submission, record: RecordSink) -> None:
        self._busy += 1
        recorded: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        accepted: list[str] = []
        try:
            async with self._unrecorded:
                self.window_in_use += 1
                try:
                    with metrics.SMPP_WINDOW.labels(self.name).track_inprogress():
                        await record(await self._submit_parts(submission, accepted, recorded))
                finally:
                    self.window_in_use -= 1
        finally:
            self._busy -= 1
            for part_id in accepted:
                if self._unrecorded_ids.get(part_id) is recorded:
                    del self._unrecorded_ids[part_id]
            recorded.set_result(None)  # recorded, or refused (its accepted parts recorded as failed) or lost

    async def _submit_parts(
        self, submission: Submission, accepted: list[str], recorded: asyncio.Future[None]
    ) -> Submitted:
        coding = encoding.choose(submission.text, self.connector.coding.value)
        self._reference = (self._reference + 1) % 256
        try:
            parts = concatenation.split(
                submission.text, coding, self._reference, self.connector.concatenation.value
            )
        except ValueError as exc:
            raise CarrierRejected(Outcome.UNKNOWN, str(exc)) from None
        ids: list[str] = []
        for part in parts:
            try:
                ids.append(await self._submit_part(submission, coding, part, accepted_before=bool(ids)))
                accepted.append(ids[-1])
                self._unrecorded_ids[ids[-1]] = recorded
            except CarrierRejected as rejected:
                # The parts already accepted are still reported, so their receipts find the message.
                raise CarrierRejected(rejected.outcome, str(rejected), self._submitted(ids)) from None
        return self._submitted(ids)

    def _submitted(self, ids: list[str]) -> Submitted:
        lookups = tuple(dict.fromkeys(form for i in ids for form in message_id_forms(i)))
        return Submitted(self.account, tuple(ids), lookups)

    def _fields(
        self, submission: Submission, coding: encoding.DataCoding, part: concatenation.Part
    ) -> dict[str, int | str | bytes]:
        c = self.connector
        source_ton, source_npi = (c.source_ton, c.source_npi)
        if submission.source and not submission.source.lstrip("+").isdigit():
            source_ton, source_npi = 5, 0  # alphanumeric sender ID
        return {
            "source_addr_ton": source_ton,
            "source_addr_npi": source_npi,
            "source_addr": submission.source.lstrip("+"),
            "dest_addr_ton": c.dest_ton,
            "dest_addr_npi": c.dest_npi,
            "destination_addr": submission.destination.lstrip("+"),
            "esm_class": _UDHI if part.esm_class_udhi else 0,
            "registered_delivery": 1,
            "data_coding": int(coding),
            "validity_period": (
                relative_validity(submission.validity_seconds) if submission.validity_seconds else ""
            ),
            "short_message": part.short_message,
        }

    async def _submit_part(
        self,
        submission: Submission,
        coding: encoding.DataCoding,
        part: concatenation.Part,
        accepted_before: bool,
    ) -> str:
        """Submit one part. Throttling (ESME_RTHROTTLED, ESME_RMSGQFUL) pauses the connector with a growing
        delay and retries here. Otherwise, before any part is accepted, trouble raises (the worker retries
        later or fails over); after, the part is retried here for a while, since retrying the whole message
        would send the accepted parts twice."""
        fields = self._fields(submission, coding, part)
        tlvs: dict[int, bytes] = {}
        if part.sar is not None:
            ref, total, number = part.sar
            tlvs = {
                Tag.SAR_MSG_REF_NUM: int_tlv(ref, 2),
                Tag.SAR_TOTAL_SEGMENTS: int_tlv(total, 1),
                Tag.SAR_SEGMENT_SEQNUM: int_tlv(number, 1),
            }
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PART_RETRY_SECONDS
        throttled_until = loop.time() + THROTTLE_RETRY_SECONDS
        delay = 0.2
        while True:
            try:
                session = await self.link.session(LINK_WAIT_SECONDS)
            except SessionClosed:
                if not accepted_before:
                    raise CarrierDown(f"{self.name}: no bound session") from None
            else:
                try:
                    await self._pacer.wait()
                    response = await session.request(Command.SUBMIT_SM, tlvs, **fields)
                    metrics.SMPP_SUBMITS.labels(self.name, "ok").inc()
                    return normalize_message_id(response.text("message_id"))
                except CommandFailed as failed:
                    metrics.SMPP_SUBMITS.labels(self.name, _submit_result(failed.status)).inc()
                    if failed.status not in TEMPORARY:
                        outcome = REFUSALS.get(failed.status, Outcome.UNKNOWN)
                        raise CarrierRejected(outcome, f"submit_sm status 0x{failed.status:02x}") from None
                    if failed.status in THROTTLED and (accepted_before or loop.time() < throttled_until):
                        self._pacer.pause(delay)
                    elif not accepted_before:
                        raise CarrierUnavailable(f"{self.name}: SMSC busy (0x{failed.status:02x})") from None
                except SessionClosed:
                    metrics.SMPP_SUBMITS.labels(self.name, "lost").inc()
                    if not accepted_before:
                        raise CarrierUnavailable(f"{self.name}: session lost during submit") from None
            if loop.time() > deadline:
                raise CarrierRejected(Outcome.UNKNOWN, "a later part could not be submitted")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _on_deliver(self, pdu: Pdu) -> int:
        data = pdu.octets("short_message") or pdu.tlvs.get(Tag.MESSAGE_PAYLOAD, b"")
        if pdu.number("esm_class") & 0x3C in _RECEIPT_KINDS:
            await self._receipt(pdu, data)
        else:
            await self._inbound(pdu, data)
        return Status.OK

    async def _receipt(self, pdu: Pdu, data: bytes) -> None:
        assert self._on_receipt is not None
        parsed = parse_receipt(data.decode("latin-1"))
        raw_id = (pdu.tlv_text(Tag.RECEIPTED_MESSAGE_ID) or parsed.message_id or "").rstrip(";,")
        ids = message_id_forms(raw_id)
        if not ids or len(ids[0]) > MAX_ID_LENGTH or not ids[0].isprintable():
            # Nothing could ever match it; keeping it would only make the SMSC redeliver it for ever.
            log.warning(
                "receipt without a usable message id; ignored", extra={"action": "smpp_receipt_no_id"}
            )
            return
        state = pdu.tlv_int(Tag.MESSAGE_STATE)
        word = "".join(ch for ch in (parsed.stat or "") if ch.isalpha()).upper()
        if word not in STATS and state is not None:
            word = stat_from_state(state)
        outcome = STATS.get(word, Outcome.UNKNOWN)
        metrics.SMPP_RECEIPTS.labels(self.name, outcome.value if outcome else "intermediate").inc()
        if outcome is None:
            return  # an intermediate notification
        recorded = self._unrecorded_ids.get(ids[0])
        if recorded is not None:  # its submission is still being recorded: let the record go first
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(recorded), RECEIPT_HOLD_SECONDS)
        await self._on_receipt(Receipt(self.account, ids, outcome))

    async def _inbound(self, pdu: Pdu, data: bytes) -> None:
        assert self._on_inbound is not None
        metrics.SMPP_INBOUND.labels(self.name).inc()
        part: tuple[int, int, int] | None = None
        if pdu.number("esm_class") & _UDHI and data:
            header, data = data[1 : 1 + data[0]], data[1 + data[0] :]
            part = _concatenation_element(header)
        elif Tag.SAR_MSG_REF_NUM in pdu.tlvs:
            part = (
                pdu.tlv_int(Tag.SAR_MSG_REF_NUM) or 0,
                pdu.tlv_int(Tag.SAR_TOTAL_SEGMENTS) or 1,
                pdu.tlv_int(Tag.SAR_SEGMENT_SEQNUM) or 1,
            )
        if part is not None and not (part[1] > 1 and 1 <= part[2] <= part[1]):
            part = None  # a lone message, or numbering no reassembly could complete
        coding = pdu.number("data_coding")
        await self._on_inbound(
            InboundSms(
                carrier=self.account,
                carrier_message_id=f"smpp-{secrets.token_hex(10)}",
                source=international(pdu.text("source_addr"), pdu.number("source_addr_ton")),
                destination=international(pdu.text("destination_addr"), pdu.number("dest_addr_ton")),
                text=assemble([(data, coding)]),
                part=part,
                payload=data if part is not None else None,
                coding=coding,
                fingerprint=fingerprint(self.account, pdu),
            )
        )


def fingerprint(account: str, pdu: Pdu) -> str:
    """What a redelivery of this deliver_sm has in common with it: every field and TLV (in tag order) of the
    SMSC account's PDU, but not the sequence number, which the SMSC may renumber when it tries again (on
    another bind, too). A TLV that tells honest repeats apart, such as the handset's user_message_reference,
    is part of it; SMPP 3.4 gives an MO no id of the SMSC's own.

    Hashed from the decoded values, each length-prefixed, not from a re-encoding: whatever decoded has a
    fingerprint (a 255-octet short_message decodes, but our encoder, made for what we send, refuses it; a
    fingerprint that raised would refuse the MO, and the SMSC would deliver it again for ever)."""
    digest = hashlib.sha256()
    for item in (account, pdu.command, *sorted(pdu.fields.items()), *sorted(pdu.tlvs.items())):
        raw = repr(item).encode("utf-8", "backslashreplace")
        digest.update(len(raw).to_bytes(4, "big") + raw)
    return digest.hexdigest()


def _concatenation_element(header: bytes) -> tuple[int, int, int] | None:
    """(reference, total, number) from a UDH's concatenation element (8- or 16-bit reference), if any."""
    index = 0
    while index + 2 <= len(header):
        element, size = header[index], header[index + 1]
        value = header[index + 2 : index + 2 + size]
        if element == 0x00 and size == 3 and len(value) == 3:
            return value[0], value[1], value[2]
        if element == 0x08 and size == 4 and len(value) == 4:
            return int.from_bytes(value[:2], "big"), value[2], value[3]
        index += 2 + size
    return None


def _submit_result(status: int) -> str:
    """The result label of a refused submit_sm in mycpaas_smpp_submits_total."""
    return "throttled" if status in THROTTLED else "busy" if status in TEMPORARY else "refused"
