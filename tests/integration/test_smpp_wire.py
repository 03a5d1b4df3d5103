"""What a connector's settings and the SMPP client's rules look like at the SMSC: the window, `--max-mps`,
enquire_link keepalive, the codings and an alphanumeric sender, every refusal mapping of docs/carriers.md,
retry exhaustion, and inbound messages: a 16-bit UDH reference; a deliver_sm whose acknowledgement is lost and
delivered again is one message and one webhook (a handset's honest repeat, told apart by its
user_message_reference, is two); parts cut inside a GSM escape or a surrogate pair are joined before they are
decoded; parts whose message never completes are delivered as what arrived after
MYCPAAS_INBOUND_PARTS_TIMEOUT_SECONDS. One server per backend with one simulator; each connector is a prefix
of its own, so each test reads the SMSC's view of one bind; each MO test has senders of its own.

Nothing here is timed against the wall clock except lower bounds the platform must respect however slow the
machine (a late process only sends later)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import BACKENDS
from tests.integration.smpp_support import (
    message,
    own_number,
    sdk,
    sender_of,
    smpp_server,
    wait_final,
    wait_until,
)
from tests.integration.webhook_support import unique_path
from tests.receiver import Receiver
from tests.server import ServerProcess
from tests.smsc_support import Smsc

WINDOW = 3
MAX_MPS = 4
ENQUIRE_LINK_SECONDS = 1
SERIAL = itertools.count(100)  # destinations unique across both backends' runs against the one simulator
PARTS_TIMEOUT_SECONDS = 3  # long enough that parts sent together always complete, even on a busy machine
SENDERS = itertools.count(100)  # MO senders unique across both backends' runs against the one simulator


def sender() -> str:
    return f"44770091{next(SENDERS):04d}"


def numbers(prefix: str, count: int, suffix: str = "9") -> list[str]:
    """`count` fresh destinations under a connector's prefix, ending in `suffix`: a fault of the simulator's
    (0001-0008), or by default one that is none."""
    serial = next(SERIAL)
    room = 12 - len(prefix.lstrip("+")) - len(suffix)  # a UK mobile: +447 and 9 digits
    return [f"{prefix}{f'{serial:03d}{n:02d}'[-room:]}{suffix}" for n in range(count)]


@pytest.fixture(scope="module")
def smsc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Smsc]:
    tmp = tmp_path_factory.mktemp("wire-smsc")
    # DELIVER_RETRY_MS: a deliver_sm whose answer was lost (lose_resp) comes again after 0.1 s, not 1 s.
    with Smsc(
        tmp / "smsc", DLR_DELAY_MS=20, DELIVER_RETRY_MS=100, RECORD_FILE=str(tmp / "records.jsonl")
    ) as instance:
        yield instance


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, smsc: Smsc
) -> Iterator[ServerProcess]:
    carriers = [
        ("window", smsc, ("--prefix", "+4470", "--window", str(WINDOW))),
        ("paced", smsc, ("--prefix", "+4471", "--max-mps", str(MAX_MPS))),
        ("latin", smsc, ("--prefix", "+4472", "--coding", "latin1")),
        ("wide", smsc, ("--prefix", "+4473", "--coding", "ucs2")),
        ("rest", smsc, ()),
    ]
    env = {
        "MYCPAAS_SMPP_ENQUIRE_LINK_SECONDS": str(ENQUIRE_LINK_SECONDS),
        "MYCPAAS_MAX_SEND_ATTEMPTS": "2",
        "MYCPAAS_INBOUND_PARTS_TIMEOUT_SECONDS": str(PARTS_TIMEOUT_SECONDS),
    }
    tmp = tmp_path_factory.mktemp(f"wire-server-{request.param}")
    with smpp_server(tmp, request.param, carriers, **env) as instance:
        yield instance


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    instance = Receiver()
    yield instance
    instance.close()


def at_smsc(smsc: Smsc, destination: str) -> list[dict[str, Any]]:
    return [m for m in smsc.messages() if m["destination_addr"] == destination.lstrip("+")]


def send_concurrently(server: ServerProcess, source: str, destinations: list[str], body: str) -> list[str]:
    """Create one message per destination from 4 threads at once; returns the SIDs in destination order."""
    client = sdk(server)
    sids: dict[str, str] = {}

    def send(chunk: list[str]) -> None:
        for to in chunk:
            sids[to] = client.messages.create(to=to, from_=source, body=body).sid

    threads = [threading.Thread(target=send, args=(destinations[n::4],)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return [sids[to] for to in destinations]


def test_the_window_bounds_what_is_in_flight_at_the_smsc(server: ServerProcess, smsc: Smsc) -> None:
    """The SMSC holds every answer 1.5 s: the connector's session never has more than --window submits
    unanswered (counted at the SMSC from arrival to the moment it hands the answer to the socket, so never
    more than the platform had), and it does use the window."""
    smsc.config(resp_delay_ms=1500)
    try:
        destinations = numbers("+44700", 12)
        sids = send_concurrently(server, sender_of(server), destinations, "windowed")
        final = wait_final(server, server.client(), sids, timeout=60)
    finally:
        smsc.config(resp_delay_ms=0)
    assert {m["status"] for m in final} == {"delivered"}
    sessions = {m["session"] for to in destinations for m in at_smsc(smsc, to)}
    [bind] = [b for b in smsc.stats()["binds"] if b["session"] in sessions]
    assert 2 <= bind["max_inflight"] <= WINDOW, bind


def test_max_mps_spaces_the_connector_s_submits(server: ServerProcess, smsc: Smsc) -> None:
    """k messages at --max-mps N: the pacer gives the first a slot no earlier than its creation and each next
    one a slot 1/N later, and a submit never leaves before its slot, so the last reaches the SMSC at least
    (k-1)/N after the first was created, however slow the machine."""
    count = 9
    destinations = numbers("+44710", count)
    before_first_ms = time.time() * 1000
    sids = send_concurrently(server, sender_of(server), destinations, "paced")
    assert {m["status"] for m in wait_final(server, server.client(), sids)} == {"delivered"}
    arrivals = sorted(m["submitted_ms"] for to in destinations for m in at_smsc(smsc, to))
    assert len(arrivals) == count
    least = (count - 1) * 1000 / MAX_MPS
    assert arrivals[-1] - before_first_ms >= least - 5, (
        f"{count} submits within {arrivals[-1] - before_first_ms:.0f} ms at {MAX_MPS}/s"
    )


def test_enquire_link_keeps_every_bind_alive(server: ServerProcess, smsc: Smsc) -> None:
    """Each bound session sends enquire_link every MYCPAAS_SMPP_ENQUIRE_LINK_SECONDS, never more often."""
    sessions = {b["session"] for b in smsc.stats()["binds"]}
    assert len(sessions) >= 5

    def links() -> dict[int, list[int]]:
        seen: dict[int, list[int]] = {s: [] for s in sessions}
        for line in smsc.recorded():
            if line.get("enquire_link") and line["pid"] == smsc.pid and line["session"] in seen:
                seen[line["session"]].append(line["ms"])
        return seen

    wait_until(lambda: all(len(t) >= 3 for t in links().values()), 30, "enquire_links on every session")
    for times in links().values():
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) >= ENQUIRE_LINK_SECONDS * 1000 - 50, gaps


def test_codings_and_an_alphanumeric_sender_as_the_smsc_sees_them(server: ServerProcess, smsc: Smsc) -> None:
    client = sdk(server)
    number = sender_of(server)
    latin, euro = numbers("+44720", 2)
    cases = {
        latin: (number, "Café déjà vu ÿ", 3, "Café déjà vu ÿ".encode("latin-1")),
        euro: (number, "Cost 5€", 8, "Cost 5€".encode("utf-16-be")),  # not Latin-1: UCS-2
        numbers("+44730", 1)[0]: (number, "plain", 8, "plain".encode("utf-16-be")),
        numbers("+44740", 1)[0]: ("MyShop", "From a brand", 0, b"From a brand"),
    }
    sids = [
        client.messages.create(to=to, from_=source, body=body).sid
        for to, (source, body, _, _) in cases.items()
    ]
    assert {m["status"] for m in wait_final(server, server.client(), sids)} == {"delivered"}
    for to, (source, body, coding, octets) in cases.items():
        [part] = at_smsc(smsc, to)
        assert (part["data_coding"], bytes.fromhex(part["short_message_hex"])) == (coding, octets), to
        assert part["text"] == body
        if source == "MyShop":
            assert (part["source_addr"], part["source_addr_ton"], part["source_addr_npi"]) == ("MyShop", 5, 0)
        else:
            assert (part["source_addr"], part["source_addr_ton"]) == (source.lstrip("+"), 1)


# submit_sm_resp command_status -> (status, error_code); the simulator refuses ...0990NNN with status NNN.
REFUSALS = {
    0x50: 30005,  # ESME_RINVDSTTON
    0x51: 30005,  # ESME_RINVDSTNPI
    0x0A: 30004,  # ESME_RINVSRCADR
    0x48: 30004,  # ESME_RINVSRCTON
    0x49: 30004,  # ESME_RINVSRCNPI
    0x65: 30007,  # ESME_RX_P_APPN
    0x66: 30007,  # ESME_RX_R_APPN
    0x15: 30008,  # ESME_RINVSERTYP: any other refusal
}


def test_every_refusal_and_receipt_mapping(server: ServerProcess, smsc: Smsc) -> None:
    """The rows of docs/carriers.md's table that test_smpp_delivery does not cover; RSYSERR until
    MYCPAAS_MAX_SEND_ATTEMPTS (2 here) is spent: failed, 30008; RMSGQFUL twice, then accepted: delivered."""
    client = sdk(server)
    number = sender_of(server)
    serial = next(SERIAL) % 10
    refused = {f"+4474{serial}0990{status:03d}": code for status, code in REFUSALS.items()}
    [exhausted] = numbers("+4474", 1, "0008")
    [queue_full] = numbers("+4474", 1, "0007")
    sids = [client.messages.create(to=to, from_=number, body="refused").sid for to in refused]
    retried = [
        client.messages.create(to=to, from_=number, body="retried").sid for to in (exhausted, queue_full)
    ]
    final = wait_final(server, server.client(), sids + retried, timeout=60)
    assert [(m["status"], m["error_code"]) for m in final[: len(sids)]] == [
        ("failed", code) for code in refused.values()
    ]
    assert [(m["status"], m["error_code"]) for m in final[len(sids) :]] == [
        ("failed", 30008),
        ("delivered", None),
    ]
    assert [p["status"] for p in at_smsc(smsc, exhausted)] == [0x08, 0x08], "two attempts, then failed"
    assert [p["status"] for p in at_smsc(smsc, queue_full)] == [0x14, 0x14, 0]

    # Receipts sent by hand: ENROUTE and ACCEPTD change nothing; DELETED and UNKNOWN are 30008.
    smsc.config(dlr_mode="manual")
    try:
        words = {"DELETED": ("undelivered", 30008), "UNKNOWN": ("undelivered", 30008), "ENROUTE": None}
        by_word = {
            word: client.messages.create(to=to, from_=number, body=word).sid
            for to, word in zip(numbers("+4474", len(words), "5"), words, strict=True)
        }
        for word, sid in by_word.items():
            wait_until(lambda sid=sid: message(server, server.client(), sid)["status"] == "sent", what="sent")
            [part] = at_smsc(smsc, message(server, server.client(), sid)["to"])
            smsc.dlr(part["message_id"], "ACCEPTD" if word == "ENROUTE" else word)
            if word == "ENROUTE":
                smsc.dlr(part["message_id"], "ENROUTE")
                smsc.dlr(part["message_id"], "DELIVRD")
    finally:
        smsc.config(dlr_mode="auto")
    final = wait_final(server, server.client(), list(by_word.values()))
    assert [(m["status"], m["error_code"]) for m in final] == [
        ("undelivered", 30008),
        ("undelivered", 30008),
        ("delivered", None),
    ]


def test_an_inbound_message_with_a_16_bit_udh_reference(
    server: ServerProcess, smsc: Smsc, receiver: Receiver
) -> None:
    path = unique_path("udh16")
    with server.client() as http:
        number = own_number(server, http, SmsUrl=receiver.url(path))
    text = f"Sixteen-bit reference {next(SERIAL)}, three parts. " * 11
    sent = smsc.mo("447700900777", number.lstrip("+"), text, udh16=True)
    assert sent["parts"] == 3 and sent["ref"] > 255, sent  # an 8-bit reader would see another reference
    [arrived] = receiver.wait_for(lambda got: len(got) >= 1, path=path)
    assert (arrived.params["Body"], arrived.params["From"]) == (text, "+447700900777")
    deliveries = [d for d in smsc.deliveries() if d["kind"] == "mo" and d.get("text") == text]
    assert len(deliveries) == 3 and all(d["status"] == 0 for d in deliveries)


def inbound_from(server: ServerProcess, source: str) -> list[dict[str, Any]]:
    with server.client() as http:
        response = http.get(f"{server.accounts_path()}/Messages.json", params={"From": f"+{source}"})
    assert response.status_code == 200, response.text
    return [m for m in response.json()["messages"] if m["direction"] == "inbound"]


def counter(server: ServerProcess, name: str) -> float:
    response = httpx.get(f"{server.url}/metrics", timeout=30, verify=False)
    assert response.status_code == 200, response.text
    text = response.text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


def mo_deliveries(smsc: Smsc, text: str) -> list[dict[str, Any]]:
    return [d for d in smsc.deliveries() if d["kind"] == "mo" and d["text"] == text]


def test_a_redelivered_mo_is_one_message_and_one_webhook(
    server: ServerProcess, smsc: Smsc, receiver: Receiver
) -> None:
    path = unique_path("mo-redelivered")
    with server.client() as http:
        number = own_number(server, http, SmsUrl=receiver.url(path)).lstrip("+")
    duplicates_before = counter(server, "mycpaas_inbound_duplicates_total")
    short, long = sender(), sender()
    short_text, long_text = f"Yes {short}", f"Two parts from {long}. " * 9
    smsc.mo(short, number, short_text, lose_resp=True)
    assert smsc.mo(long, number, long_text, lose_resp=True)["parts"] == 2

    def answered_twice(text: str, parts: int) -> bool:
        statuses = [d["status"] for d in mo_deliveries(smsc, text)]
        return statuses.count("lost") == parts and statuses.count(0) == parts

    # Our OK to the redelivery is sent only after the decision about it is committed.
    wait_until(lambda: answered_twice(short_text, 1) and answered_twice(long_text, 2), what="redeliveries")
    assert [m["body"] for m in inbound_from(server, short)] == [short_text]
    assert [m["body"] for m in inbound_from(server, long)] == [long_text]
    got = receiver.wait_for(lambda found: len(found) >= 2, path=path)
    assert sorted(r.params["Body"] for r in got) == sorted([short_text, long_text])
    assert counter(server, "mycpaas_inbound_duplicates_total") - duplicates_before == 3

    # A handset sending the same text again gives it another message reference (TP-MR): two messages.
    honest = sender()
    smsc.mo(honest, number, "OK", umr=7)
    smsc.mo(honest, number, "OK", umr=8)
    wait_until(lambda: len(inbound_from(server, honest)) == 2, what="both honest repeats")
    assert len(receiver.wait_for(lambda found: len(found) >= 4, path=path)) == 4


def test_parts_cut_inside_an_escape_or_a_surrogate_pair_are_joined_before_decoding(
    server: ServerProcess, smsc: Smsc, receiver: Receiver
) -> None:
    path = unique_path("mo-straddling")
    with server.client() as http:
        number = own_number(server, http, SmsUrl=receiver.url(path)).lstrip("+")
    gsm, ucs2, sar = sender(), sender(), sender()
    gsm_text = "x" * 152 + "€ costs an escape"  # part 1 ends with the escape, part 2 starts with its 0x65
    ucs2_text = "y" * 66 + "😀 a surrogate pair"  # part 1 ends with the high surrogate
    sar_text = "z" * 152 + "[SAR] over SAR TLVs"
    assert smsc.mo(gsm, number, gsm_text, naive=True)["parts"] == 2
    assert smsc.mo(ucs2, number, ucs2_text, ucs2=True, naive=True)["parts"] == 2
    assert smsc.mo(sar, number, sar_text, sar=True, naive=True)["parts"] == 2
    got = receiver.wait_for(lambda found: len(found) >= 3, path=path)
    assert {r.params["From"]: r.params["Body"] for r in got} == {
        f"+{gsm}": gsm_text,
        f"+{ucs2}": ucs2_text,
        f"+{sar}": sar_text,
    }


def test_parts_that_never_complete_are_delivered_after_the_timeout(
    server: ServerProcess, smsc: Smsc, receiver: Receiver
) -> None:
    path = unique_path("mo-incomplete")
    with server.client() as http:
        number = own_number(server, http, SmsUrl=receiver.url(path)).lstrip("+")
    incomplete_before = counter(server, "mycpaas_inbound_incomplete_total")
    source = sender()
    text = "A" * 153 + "B" * 153 + "C" * 20
    assert smsc.mo(source, number, text, skip=2)["parts"] == 3
    [got] = receiver.wait_for(lambda found: len(found) >= 1, path=path, timeout=60)
    assert got.params["Body"] == "A" * 153 + "C" * 20
    assert [m["body"] for m in inbound_from(server, source)] == ["A" * 153 + "C" * 20]
    assert counter(server, "mycpaas_inbound_incomplete_total") - incomplete_before == 1
    assert "without part(s) 2 of 3" in server.log_text()
