"""The SMPP links themselves, between a real `mycpaas serve` and the SMSC simulator: a refused bind is retried
further and further apart and never given up; the second connector of a prefix takes over when the first SMSC
dies with submits in flight; a rotated connector password binds without a restart and is shown nowhere; every
bound session unbinds when the server stops (SIGTERM).

One server (SQLite) and two simulators for the module. `primary` and `secondary` carry +4475 (priorities 1 and
2); `rfa`, `rfb` and `rfc` (+44761..3) are system_ids the secondary knows with another password than the one
they were added with, so their binds are refused from the server's first start. Tests run in file order: the backoff test reads the first run's refused binds, which
accumulate while the failover test runs; the unbind test stops the server. Each
also passes alone.

Wall-clock checks are lower bounds (a busy machine only makes gaps longer) or "at least N attempts within a
generous deadline"; the simulator's RECORD_FILE has every bind (with its status), unbind, submit, answer
written and receipt acknowledged."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.smpp_support import (
    cli,
    sdk,
    sender_of,
    smpp_server,
    wait_final,
    wait_until,
)
from tests.server import ServerProcess
from tests.smsc_support import Smsc

NEW_PASSWORD = "N3w-Pw8z"  # what the secondary expects of rfa, rfb and rfc; they were added with "secret"
REFUSED = ("rfa", "rfb", "rfc")
ESME_RINVPASWD = 0x0E
MIN_BACKOFF_MS = 500  # docs/carriers.md: a refused bind is retried after 0.5 s, doubling to 30 s, with jitter


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("links")


@pytest.fixture(scope="module")
def primary(tmp: Path) -> Iterator[Smsc]:
    with Smsc(tmp / "primary", DLR_DELAY_MS=0, RECORD_FILE=str(tmp / "primary.jsonl")) as instance:
        yield instance


@pytest.fixture(scope="module")
def secondary(tmp: Path) -> Iterator[Smsc]:
    users = ",".join(["test:secret", *(f"{name}:{NEW_PASSWORD}" for name in REFUSED)])
    with Smsc(
        tmp / "secondary", DLR_DELAY_MS=0, USERS=users, RECORD_FILE=str(tmp / "secondary.jsonl")
    ) as instance:
        yield instance


@pytest.fixture(scope="module")
def server(tmp: Path, primary: Smsc, secondary: Smsc) -> Iterator[ServerProcess]:
    carriers = [
        ("primary", primary, ("--prefix", "+4475", "--priority", "1")),
        ("secondary", secondary, ("--prefix", "+4475", "--priority", "2")),
        # A later --system-id overrides add_carrier's `test`; the password is add_carrier's "secret".
        *(
            (name, secondary, ("--prefix", f"+4476{n}", "--system-id", name))
            for n, name in enumerate(REFUSED, 1)
        ),
    ]
    with smpp_server(tmp / "server", "sqlite", carriers, binds=2) as instance:
        yield instance


def binds_of(smsc: Smsc, system_id: str) -> list[dict[str, Any]]:
    return [line for line in smsc.recorded() if line.get("bind") and line["system_id"] == system_id]


def test_failover_when_the_primary_smsc_dies_mid_burst(
    server: ServerProcess, primary: Smsc, secondary: Smsc
) -> None:
    """60 messages through the official client; after 15 reach the primary it stops answering, and once every
    answered message's receipt is acknowledged it is killed -9 with a window of submits unanswered. Every
    accepted message is delivered; each reached one SMSC once, except exactly those the primary never answered,
    which went again through the secondary."""
    count = 60
    client = sdk(server)
    source = sender_of(server)
    texts = [f"failover {n}" for n in range(count)]
    sids: dict[str, str] = {}
    errors: list[Exception] = []

    def send(chunk: list[int]) -> None:
        for n in chunk:
            try:
                sids[texts[n]] = client.messages.create(
                    to=f"+447501{n:05d}9", from_=source, body=texts[n]
                ).sid
            except Exception as exc:  # reported below: the API must accept every one
                errors.append(exc)

    def primary_view() -> tuple[dict[str, list[bool]], set[str]]:
        """Texts the primary accepted, with whether each acceptance was answered; message ids whose receipt
        was acknowledged."""
        lines = primary.recorded()
        answered = {(x["pid"], x["session"], x["sequence_number"]) for x in lines if x.get("resp_written")}
        acked = {x["message_id"] for x in lines if x.get("receipt_acked")}
        accepted: dict[str, list[bool]] = defaultdict(list)
        for x in lines:
            if "text" in x and x["status"] == 0 and x["text"] in texts:
                accepted[x["text"]].append((x["pid"], x["session"], x["sequence_number"]) in answered)
        return accepted, acked

    def settled_then_stalled() -> bool:
        """Every answered submit's receipt acknowledged (none dies with the primary), and some unanswered."""
        lines = primary.recorded()
        answered_ids = {x["message_id"] for x in lines if x.get("resp_written") and x["status"] == 0}
        accepted, acked = primary_view()
        return answered_ids <= acked and any(not ok for oks in accepted.values() for ok in oks)

    threads = [threading.Thread(target=send, args=(list(range(n, count, 4)),)) for n in range(4)]
    try:
        for thread in threads:
            thread.start()
        wait_until(lambda: sum(map(len, primary_view()[0].values())) >= 15, 60, "15 submits at the primary")
        primary.config(resp_delay_ms=600_000)  # what reaches it from now on stays unanswered
        wait_until(settled_then_stalled, 30, "receipts acknowledged and submits in flight at the primary")
        primary.kill()
        for thread in threads:
            thread.join(120)
        assert not errors, errors[:3]
        final = wait_final(server, server.client(), [sids[t] for t in texts], timeout=90)
        assert Counter(m["status"] for m in final) == {"delivered": count}

        at_primary, _ = primary_view()
        at_secondary = Counter(
            x["text"] for x in secondary.recorded() if "text" in x and x["status"] == 0 and x["text"] in sids
        )
        assert set(at_primary) | set(at_secondary) == set(texts)
        assert all(len(oks) == 1 for oks in at_primary.values()), at_primary
        assert all(copies == 1 for copies in at_secondary.values()), at_secondary
        in_flight = {text for text, oks in at_primary.items() if not oks[0]}
        assert in_flight, "no submit was unanswered when the primary died"
        # Sent twice: exactly the messages the primary accepted and never answered.
        assert set(at_primary) & set(at_secondary) == in_flight
    finally:
        for thread in threads:
            thread.join(120)
        primary.restart()  # back on its port, answering again


def test_a_refused_bind_is_retried_further_apart_and_never_given_up(
    server: ServerProcess, secondary: Smsc
) -> None:
    """Each of three refused links: five attempts come (the link keeps trying), never closer than the 0.5 s the
    schedule starts from. The 2nd, 3rd and 4th retries wait 0.5-2 s, 0.5-4 s and 0.5-8 s: that all nine (three
    links) stay under 1.5 s, well past the first retry's 1 s ceiling and where a schedule that does not grow
    would keep them, has a chance of 2e-5."""
    attempts = 5
    wait_until(
        lambda: all(len(binds_of(secondary, name)) >= attempts for name in REFUSED),
        90,
        f"{attempts} bind attempts by each of {REFUSED}",
    )
    late = []
    for name in REFUSED:
        lines = binds_of(secondary, name)[:attempts]
        assert {line["status"] for line in lines} == {ESME_RINVPASWD}, lines
        gaps = [b["ms"] - a["ms"] for a, b in zip(lines, lines[1:], strict=False)]
        assert min(gaps) >= MIN_BACKOFF_MS - 5, f"{name} retried {min(gaps)} ms after a refusal: {gaps}"
        late += gaps[1:4]
    assert max(late) >= 1500, f"the 2nd to 4th retries of every link within 1.5 s: {late}"


def test_a_rotated_connector_password_binds_without_a_restart_and_is_shown_nowhere(
    server: ServerProcess, secondary: Smsc
) -> None:
    wait_until(lambda: binds_of(secondary, "rfa"), 30, "a bind attempt by rfa")
    old = binds_of(secondary, "rfa")
    assert {line["status"] for line in old} == {ESME_RINVPASWD}, "the old password was refused"
    update = cli(server, "carriers", "update", "rfa", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    assert update.returncode == 0, update.stderr
    shown = cli(server, "carriers", "show", "rfa")
    assert shown.returncode == 0 and "(set)" in shown.stdout, shown
    # The running server follows the change (the CARRIERS change signal): it binds again with the new password.
    wait_until(
        lambda: any(line["status"] == 0 for line in binds_of(secondary, "rfa")), 20, "rfa to bind again"
    )

    client = sdk(server)
    source = sender_of(server)
    texts = [f"rotated {n}" for n in range(3)]
    sids = [
        client.messages.create(to=f"+447610{n:05d}9", from_=source, body=t).sid for n, t in enumerate(texts)
    ]
    assert {m["status"] for m in wait_final(server, server.client(), sids)} == {"delivered"}
    carried = {x["text"]: x["system_id"] for x in secondary.recorded() if x.get("text") in texts}
    assert carried == dict.fromkeys(texts, "rfa")

    for output in (update, shown):
        assert NEW_PASSWORD not in output.stdout + output.stderr, output.args
    assert NEW_PASSWORD not in server.log_text()


def test_every_bound_session_unbinds_before_its_connection_closes_at_sigterm(
    server: ServerProcess, primary: Smsc, secondary: Smsc
) -> None:
    """Every session bound when SIGTERM comes (`secondary`, and `rfa` after the rotation test; `primary`
    unless the failover test left it still reconnecting) gets an unbind before its connection closes."""
    wait_until(lambda: secondary.stats()["binds"], 30, "secondary bound")
    stopping_ms = time.time() * 1000
    server.stop()
    assert server._process is not None and server._process.returncode in (0, -signal.SIGTERM), (
        "killed after SIGTERM"
    )

    def first(smsc: Smsc, event: str) -> dict[tuple[int, int], int]:
        """(pid, session) -> ms of the first `event` line (bind lines: accepted binds only)."""
        found: dict[tuple[int, int], int] = {}
        for x in smsc.recorded():
            if x.get(event) and (event != "bind" or x["status"] == 0):
                found.setdefault((x["pid"], x["session"]), x["ms"])
        return found

    open_at_stop = {
        smsc: {
            session
            for session in first(smsc, "bind")
            if session[0] == smsc.pid
            and first(smsc, "session_closed").get(session, stopping_ms) >= stopping_ms
        }
        for smsc in (primary, secondary)
    }
    assert sum(map(len, open_at_stop.values())) >= 2, open_at_stop
    wait_until(
        lambda: all(s in first(smsc, "session_closed") for smsc, ss in open_at_stop.items() for s in ss),
        10,
        "every session closed",
    )
    for smsc, sessions in open_at_stop.items():
        closed, unbound = first(smsc, "session_closed"), first(smsc, "unbind")
        for session in sessions:
            assert session in unbound and unbound[session] <= closed[session], (session, unbound, closed)
