"""Faults on the SMPP path under load: a burst of a few hundred messages goes through the API while the SMSC
restarts, drops the TCP connection, throttles, answers slowly or not in time, sends a malformed PDU or sends
receipts before responses, or while the platform process itself is killed. Afterwards every accepted message
has a final status, none is lost, the API refused nothing (an SMSC fault is not the API's business), and the
simulator saw no duplicate submit for a message whose submit_sm_resp could have reached the platform. Where the
SMSC resets the connection, an answer it wrote just before can be lost (see `excusable`): at most a window's
worth per reset. After a kill -9 of the platform, only messages the killed process had sent are sent again.

The simulator writes every submit, every submit_sm_resp it handed to the socket, every acknowledged receipt,
every session close and every malformed PDU to RECORD_FILE, which outlives its restarts; the duplicate check
reads that file.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import BACKENDS
from tests.integration.smpp_support import (
    FINAL,
    message,
    sender_of,
    smpp_server,
    wait_final,
    wait_until,
)
from tests.server import ServerProcess
from tests.smsc_support import Smsc

BURST = 300
WINDOW = 10  # `mycpaas carriers add --window` default
HTTP_CONNECTIONS = 16  # the burst's connection pool
# A submit_sm_resp written this long before the SMSC reset its connection may not have been read yet: the reset
# discards what the platform's kernel had received and the platform had not read. A busy machine can leave the
# platform's event loop that long without reading.
RESET_GRACE_MS = 2000
FINAL_TIMEOUT = 90.0


@pytest.fixture
def record_file(tmp_path: Path) -> Path:
    return tmp_path / "smsc-records.jsonl"


def make_smsc(tmp_path: Path, record_file: Path, **env: str | int) -> Smsc:
    return Smsc(tmp_path / "smsc", DLR_DELAY_MS=20, RECORD_FILE=str(record_file), **env)


@pytest.fixture
def smsc(tmp_path: Path, record_file: Path) -> Iterator[Smsc]:
    with make_smsc(tmp_path, record_file) as instance:
        yield instance


# ---------------------------------------------------------------- the burst


@dataclass
class Burst:
    """`count` messages sent through the API by 8 threads, in the background; `accepted` maps each body that
    got a 201 to its SID."""

    server: ServerProcess
    sender: str
    count: int
    first: int = 0
    accepted: dict[str, str] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)
    _thread: threading.Thread | None = None

    def texts(self) -> list[str]:
        return [f"burst {i}" for i in range(self.first, self.first + self.count)]

    def _send(self, client: httpx.Client, i: int) -> None:
        text = f"burst {i}"
        data = {"To": f"+44771{i:04d}9", "From": self.sender, "Body": text}  # never a failure suffix
        try:
            response = client.post(f"{self.server.accounts_path()}/Messages.json", data=data)
        except httpx.HTTPError as exc:
            self.refused.append((text, type(exc).__name__))
            return
        if response.status_code == 201:
            self.accepted[text] = response.json()["sid"]
        else:
            self.refused.append((text, f"{response.status_code} {response.text[:100]}"))

    def _run(self) -> None:
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=16)
        with (
            httpx.Client(
                base_url=self.server.url,
                auth=(self.server.account_sid, self.server.auth_token),
                timeout=30,
                limits=limits,
            ) as client,
            ThreadPoolExecutor(8) as pool,
        ):
            list(pool.map(lambda i: self._send(client, i), range(self.first, self.first + self.count)))

    def start(self) -> Burst:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def join(self) -> dict[str, str]:
        assert self._thread is not None
        self._thread.join(120)
        assert not self._thread.is_alive(), "the burst did not finish"
        return self.accepted


def submits_seen(smsc: Smsc) -> int:
    return sum(1 for line in smsc.recorded() if "text" in line)


def at_fraction(smsc: Smsc, total: int, fraction: float = 1 / 3, before: int = 0) -> None:
    """Wait until the simulator has seen `fraction` of `total` submits (beyond `before`) since it started."""
    wanted = before + int(total * fraction)
    wait_until(lambda: submits_seen(smsc) >= wanted, 30, f"{wanted} submits at the SMSC")


def burst_with_fault(
    server: ServerProcess, smsc: Smsc, fault: Callable[[], None], count: int = BURST, fraction: float = 1 / 3
) -> Burst:
    burst = Burst(server, sender_of(server), count).start()
    at_fraction(smsc, count, fraction)
    fault()
    burst.join()
    return burst


# ---------------------------------------------------------------- checks


@dataclass(frozen=True)
class Duplicate:
    text: str
    copies: int
    response_written: bool  # the first accepted submit's submit_sm_resp was handed to the socket
    response_readable: bool  # ... and nothing unreadable (a malformed PDU) came before it on that session
    ms_before_close: int | None  # how long before its session closed it was written


def duplicates(smsc: Smsc, texts: set[str]) -> list[Duplicate]:
    """Texts the SMSC accepted (status 0) more than once, with what became of the first acceptance's answer."""
    lines = smsc.recorded()
    accepted: dict[str, list[dict[str, Any]]] = defaultdict(list)
    responses: dict[tuple[int, int, int], dict[str, Any]] = {}
    closes: dict[tuple[int, int], int] = {}
    malformed: dict[tuple[int, int], int] = {}
    for line in lines:
        if "text" in line and line["status"] == 0 and line["text"] in texts:
            accepted[line["text"]].append(line)
        elif line.get("resp_written"):
            responses[(line["pid"], line["session"], line["sequence_number"])] = line
        elif line.get("session_closed"):
            closes.setdefault((line["pid"], line["session"]), line["ms"])
        elif line.get("malformed"):
            malformed.setdefault((line["pid"], line["session"]), line["ms"])
    found = []
    for text, records in accepted.items():
        if len(records) < 2:
            continue
        first = records[0]
        session = (first["pid"], first["session"])
        response = responses.get((*session, first["sequence_number"]))
        readable = response is not None and (
            session not in malformed or response["sent_ms"] < malformed[session]
        )
        close = closes.get(session)
        found.append(
            Duplicate(
                text,
                len(records),
                response is not None,
                readable,
                None if response is None or close is None else close - response["written_ms"],
            )
        )
    return found


def resent_after_answer(found: list[Duplicate]) -> list[Duplicate]:
    """Duplicates whose first submit_sm_resp was written to the platform's socket before the connection ended
    (and after no malformed PDU): the answer reached the platform's host, yet the message went again."""
    return [d for d in found if d.response_readable]


def excusable(duplicate: Duplicate) -> bool:
    """A duplicate the record file shows the platform could not avoid: the SMSC never wrote the first answer, or
    wrote it at most RESET_GRACE_MS before resetting that connection (when the SMSC goes away abruptly it closes
    with our submits unread, so TCP resets, and the platform's kernel drops what the platform had not read yet).
    Either way the platform's window slot for that submit was still held, so there are at most a window's worth
    per reset."""
    if not duplicate.response_written:
        return True
    return duplicate.ms_before_close is not None and duplicate.ms_before_close <= RESET_GRACE_MS


def receipts_lost(smsc: Smsc, texts: set[str]) -> set[str]:
    """Texts accepted only by earlier simulator runs, none of whose receipts was acknowledged: the receipt
    died with the simulator process."""
    lines = smsc.recorded()
    acked = {(line["pid"], line["message_id"]) for line in lines if line.get("receipt_acked")}
    runs: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for line in lines:
        if "text" in line and line["status"] == 0 and line["text"] in texts:
            runs[line["text"]].append((line["pid"], line["message_id"]))
    return {
        text
        for text, submits in runs.items()
        if all(pid != smsc.pid and (pid, mid) not in acked for pid, mid in submits)
    }


def tracebacks(server: ServerProcess) -> list[str]:
    """The last line (the exception) of every traceback in the server's logs."""
    found = []
    lines = server.log_text().splitlines()
    for n, line in enumerate(lines):
        if line.startswith("Traceback"):
            end = n + 1
            while end < len(lines) and (lines[end].startswith(" ") or not lines[end].strip()):
                end += 1
            found.append(lines[end] if end < len(lines) else "?")
    return found


def receipts_acknowledged(smsc: Smsc) -> bool:
    """Every receipt the (current) simulator sent was eventually answered with status 0."""
    answered: dict[str, bool] = {}
    for entry in smsc.deliveries():
        if entry["kind"] == "receipt":
            answered[entry["message_id"]] = answered.get(entry["message_id"], False) or entry["status"] == 0
    return all(answered.values())


def refused_by_the_api(burst: Burst) -> list[tuple[str, str]]:
    """Requests the API answered with an error status: none is acceptable. The SMSC's faults happen after the
    201 (a message is stored with its job, then delivered), and the platform limits nothing here: the sender
    limits are off in tests (tests/server.py) and the API's only 429 is for failed authentication."""
    return [(text, why) for text, why in burst.refused if why[:1].isdigit()]


def check_outcome(
    server: ServerProcess,
    smsc: Smsc,
    burst: Burst,
    name: str,
    started: float,
    resets: int = 0,
    killed: bool = False,
) -> list[Duplicate]:
    """Nothing refused by the API; all accepted messages delivered, each one at the SMSC, every receipt
    acknowledged; duplicates only where `resets` SMSC resets excuse them (none without), at most a window's
    worth each (after a kill -9 of the platform, `killed`, the caller checks refusals and duplicates). Returns
    the duplicates."""
    accepted = burst.accepted
    assert accepted, "no message was accepted"
    if not killed:
        assert not burst.refused, f"{len(burst.refused)} requests refused: {burst.refused[:5]}"
    statuses: dict[str, str] = {}
    orphans: set[str] = set()

    def settled() -> bool:
        nonlocal orphans
        orphans = receipts_lost(smsc, set(accepted))
        for text, sid in accepted.items():
            if statuses.get(text) not in FINAL:
                statuses[text] = message(server, client, sid)["status"]
        # Accepted only by a simulator run that died before its receipt was acknowledged: the receipt may be
        # lost and the message stay `sent`, as on a real network when a receipt is lost (a real SMSC keeps
        # receipts across restarts; the simulator keeps them in memory).
        return all(s in FINAL or (s == "sent" and t in orphans) for t, s in statuses.items())

    with server.client() as client:
        wait_until(settled, FINAL_TIMEOUT, "every accepted message in a final status")
    counts = Counter(statuses.values())
    assert set(counts) <= {"delivered", "sent"}, counts
    assert all(s == "delivered" or t in orphans for t, s in statuses.items()), counts
    at_smsc = {line["text"] for line in smsc.recorded() if "text" in line and line["status"] == 0}
    assert set(accepted) <= at_smsc, (
        f"{len(set(accepted) - at_smsc)} accepted messages never reached the SMSC"
    )
    wait_until(lambda: receipts_acknowledged(smsc), 30, "every receipt acknowledged")
    found = duplicates(smsc, set(accepted))
    bad = resent_after_answer(found)
    print(
        f"\n[{name}] {len(accepted)} accepted, {counts['delivered']} delivered, {counts['sent']} receipts lost, in {time.monotonic() - started:.1f} s; "
        f"duplicates {len(found)} (response never written {sum(not d.response_written for d in found)}, "
        f"unreadable {sum(d.response_written and not d.response_readable for d in found)}, "
        f"answer had arrived {len(bad)}): {found[:3]}; tracebacks: {tracebacks(server)}; smsc stats: "
        + str({k: v for k, v in smsc.stats().items() if isinstance(v, int)})
    )
    if killed:
        return found
    if resets == 0:
        assert not bad, f"{len(bad)} resent although the SMSC's answer had been written: {bad}"
        return found
    unexcused = [d for d in found if not excusable(d)]
    assert not unexcused, (
        f"{len(unexcused)} resent although the answer was written well before a reset: {unexcused}"
    )
    assert len(found) <= resets * WINDOW, f"{len(found)} duplicates after {resets} resets, window {WINDOW}"
    assert all(d.copies <= 1 + resets for d in found), found
    return found


# ---------------------------------------------------------------- the faults


def test_the_smsc_restarts_mid_burst(tmp_path: Path, smsc: Smsc) -> None:
    started = time.monotonic()
    with smpp_server(tmp_path / "server", "sqlite", [("sim", smsc, ())]) as server:
        burst = burst_with_fault(server, smsc, smsc.restart)
        wait_until(lambda: server.log_text().count("bound as") >= 2, what="a bind to the new SMSC process")
        assert not burst.refused, burst.refused[:5]
        check_outcome(server, smsc, burst, "restart", started, resets=1)


def test_the_smsc_drops_the_connection_twice_mid_burst(tmp_path: Path, smsc: Smsc) -> None:
    started = time.monotonic()
    with smpp_server(tmp_path / "server", "sqlite", [("sim", smsc, ())]) as server:
        burst = Burst(server, sender_of(server), BURST).start()
        at_fraction(smsc, BURST, 1 / 4)
        assert smsc.drop() >= 1
        at_fraction(smsc, BURST, 2 / 3)
        wait_until(lambda: smsc.stats()["binds"], what="a new bind")
        assert smsc.drop() >= 1
        burst.join()
        wait_until(lambda: server.log_text().count("bound as") >= 3, what="a bind after each drop")
        assert not burst.refused, burst.refused[:5]
        check_outcome(server, smsc, burst, "drop", started, resets=2)


def test_a_throttling_smsc_gets_every_message_eventually(tmp_path: Path, record_file: Path) -> None:
    started = time.monotonic()
    with (
        # Every 7th submit is throttled whatever the platform's speed; MAX_TPS throttles a fast platform too.
        make_smsc(tmp_path, record_file, MAX_TPS=100, THROTTLE_EVERY=7) as smsc,
        smpp_server(tmp_path / "server", "sqlite", [("sim", smsc, ())]) as server,
    ):
        burst = Burst(server, sender_of(server), 200).start()
        burst.join()
        check_outcome(server, smsc, burst, "throttle", started)
        assert smsc.stats()["throttled"] > 0


def test_slow_answers_deliver_everything_once(tmp_path: Path, record_file: Path) -> None:
    started = time.monotonic()
    with (
        make_smsc(tmp_path, record_file, RESP_DELAY_MS=1500) as smsc,
        # At 1.5 s an answer, the default window of 10 would carry under 7 messages a second.
        smpp_server(tmp_path / "server", "sqlite", [("sim", smsc, ("--window", "100"))]) as server,
    ):
        burst = Burst(server, sender_of(server), BURST).start()
        burst.join()
        check_outcome(server, smsc, burst, "slow", started)
        assert "no response to" not in server.log_text()


def test_an_answer_later_than_the_response_timeout_closes_the_session(tmp_path: Path, smsc: Smsc) -> None:
    started = time.monotonic()
    env = {"MYCPAAS_SMPP_RESPONSE_TIMEOUT_SECONDS": "2"}
    with smpp_server(tmp_path / "server", "sqlite", [("sim", smsc, ())], **env) as server:

        def stall() -> None:
            smsc.config(resp_delay_ms=3000)
            wait_until(lambda: "no response to submit_sm" in server.log_text(), 10, "a response timeout")
            smsc.config(resp_delay_ms=0)

        burst = burst_with_fault(server, smsc, stall, count=200)
        check_outcome(server, smsc, burst, "timeout", started)
        assert server.log_text().count("bound as") >= 2


def test_a_malformed_pdu_closes_only_that_session(tmp_path: Path, smsc: Smsc) -> None:
    started = time.monotonic()
    with smpp_server(tmp_path / "server", "sqlite", [("sim", smsc, ())]) as server:
        burst = burst_with_fault(server, smsc, lambda: smsc.malformed())
        check_outcome(server, smsc, burst, "malformed", started)
        log = server.log_text()
        assert "malformed PDU" in log and log.count("bound as") >= 2


def test_receipts_before_responses_are_kept_and_applied(tmp_path: Path, smsc: Smsc) -> None:
    started = time.monotonic()
    smsc.config(receipt_before_resp=1)
    with smpp_server(tmp_path / "server", "sqlite", [("sim", smsc, ())]) as server:
        burst = Burst(server, sender_of(server), BURST).start()
        burst.join()
        check_outcome(server, smsc, burst, "receipt-first", started)
        assert smsc.stats()["receipts_acked"] >= len(burst.accepted)


@pytest.mark.parametrize("backend", BACKENDS)
def test_after_a_kill_9_only_what_the_killed_process_had_sent_goes_again(
    backend: str, tmp_path: Path, smsc: Smsc
) -> None:
    """A kill -9 between a submit_sm_resp and the commit that records it resends that message. Guaranteed:
    only messages the killed process had sent go again, once each, and no more than a window's worth (the
    carrier holds a message's window slot until the platform has recorded it; the next test forces the worst
    case)."""
    started = time.monotonic()
    env = {"MYCPAAS_WORKER_LEASE_SECONDS": "3"}  # jobs of the dead process are claimed again soon
    with smpp_server(tmp_path / "server", backend, [("sim", smsc, ())], **env) as server:
        burst = Burst(server, sender_of(server), BURST).start()
        at_fraction(smsc, BURST)
        server.kill()
        killed_at_ms = time.time() * 1000
        accepted_before_kill = len(burst.accepted)
        server.start()
        burst.join()
        assert accepted_before_kill > 0 and len(burst.accepted) + len(burst.refused) == BURST
        # The burst's last requests fail fast while no process listens; the restarted one takes new messages.
        after = Burst(server, burst.sender, 20, first=BURST).start()
        after.join()
        assert not after.refused and len(after.accepted) == 20, after.refused[:5]
        burst.accepted.update(after.accepted)
        found = check_outcome(server, smsc, burst, f"kill-{backend}", started, killed=True)
        # Refused: only requests that met the dead process or no process at all, never an HTTP error. A request
        # can be cut off only on a connection of the killed process: each of the pool's once.
        assert not refused_by_the_api(burst), refused_by_the_api(burst)
        cut_off = [why for _, why in burst.refused if why != "ConnectError"]
        assert len(cut_off) <= HTTP_CONNECTIONS, cut_off
        # Who sent a submit is told by its session: the killed process bound its sessions before the kill, the
        # restarted one after. (Not by the submit's time: a submit the killed process wrote just before dying
        # can be read, and recorded, by the SMSC after the kill.)
        lines = smsc.recorded()
        bound_ms = {line["session"]: line["ms"] for line in lines if line.get("bind") and line["status"] == 0}
        sessions: dict[str, list[int]] = defaultdict(list)
        for line in lines:
            if "text" in line and line["status"] == 0 and line["text"] in burst.accepted:
                sessions[line["text"]].append(line["session"])
        for duplicate in found:
            first, *again = sessions[duplicate.text]
            assert bound_ms[first] < killed_at_ms and len(again) == 1, (duplicate, sessions[duplicate.text])
            assert bound_ms[again[0]] > killed_at_ms, "sent twice by the killed process"
        assert len(found) <= WINDOW, f"{len(found)} messages sent twice with a window of {WINDOW}: {found}"


def test_after_a_kill_9_at_most_a_window_s_worth_is_sent_again(tmp_path: Path, smsc: Smsc) -> None:
    """Commits of submissions are held back (a lock on message_parts) while 3 windows' worth of messages go out,
    then the platform is killed: a platform that kept a window slot until the commit would have at most a
    window's worth answered and unrecorded, hence resent."""
    count = 3 * WINDOW
    env = {"MYCPAAS_WORKER_LEASE_SECONDS": "3"}
    with smpp_server(tmp_path / "server", "postgres", [("sim", smsc, ())], **env) as server:
        sender = sender_of(server)
        smsc.config(resp_delay_ms=3000)  # the first window waits at the SMSC while the rest are claimed
        with server.client() as client:
            sids = {}
            for n in range(count):
                data = {"To": f"+44772{n:04d}9", "From": sender, "Body": f"held {n}"}
                response = client.post(f"{server.accounts_path()}/Messages.json", data=data)
                assert response.status_code == 201, response.text
                sids[f"held {n}"] = response.json()["sid"]
            wait_until(
                lambda: all(message(server, client, sid)["status"] == "sending" for sid in sids.values()),
                30,
                "every message claimed",
            )
        loop = asyncio.new_event_loop()
        lock = loop.run_until_complete(asyncpg.connect(server.database_url.replace("+asyncpg", "")))
        try:
            loop.run_until_complete(lock.execute("BEGIN; LOCK TABLE message_parts IN EXCLUSIVE MODE"))
            smsc.config(resp_delay_ms=0)
            wait_until(lambda: submits_seen(smsc) >= WINDOW, 30, "a window's worth at the SMSC")
            # More time only lets a platform without the bound show it; a bounded one passes either way.
            with contextlib.suppress(AssertionError):
                wait_until(lambda: submits_seen(smsc) >= count, 10, "every message at the SMSC")
            server.kill()
        finally:
            loop.run_until_complete(lock.close())
            loop.close()
        server.start()
        with server.client() as client:
            final = wait_final(server, client, list(sids.values()), timeout=FINAL_TIMEOUT)
        assert {m["status"] for m in final} == {"delivered"}
        found = duplicates(smsc, set(sids))
        assert len(found) <= WINDOW, f"{len(found)} messages sent twice with a window of {WINDOW}"
