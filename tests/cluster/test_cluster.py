"""Many processes of each role on one PostgreSQL (issue 12), end to end: messages created round-robin through
the official twilio client over two API processes, sent by two delivery processes to the SMSC simulator, and
their status callbacks posted by two webhook dispatchers to a receiver; then the same with a delivery and a
webhook process killed mid-burst, and with PostgreSQL itself restarted mid-burst.

What counts is what the outside world saw: the SMSC's record of every submit (by session), the receiver's
requests (by idempotency token), and the API. Message counts are sized for a busy 2-core machine.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.cluster.harness import (
    LEASES,
    SMPP_ENV,
    Burst,
    Callbacks,
    Cluster,
    ThrowawayPostgres,
    log_excerpt,
    metric_sum,
    ready,
    smsc_accepted,
    smsc_sessions_of,
    submits_seen,
)
from tests.databases import create_postgres_database
from tests.integration.smpp_support import wait_until
from tests.integration.webhook_support import unique_path
from tests.receiver import Receiver
from tests.server import ServerProcess
from tests.smsc_support import Smsc

pytestmark = pytest.mark.postgres

MESSAGES = 1_000
KILL_BURST = 600
RESTART_BURST = 400
WINDOW = 10  # `mycpaas carriers add --window` default: at most this many unanswered submits per bind
FINAL_TIMEOUT = 120.0


# ---- fixtures: one SMSC and receiver for the module, one cluster on the test PostgreSQL ----------------


@pytest.fixture(scope="module")
def smsc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Smsc]:
    root = tmp_path_factory.mktemp("smsc")
    with Smsc(root, DLR_DELAY_MS=20, RECORD_FILE=str(root / "records.jsonl")) as instance:
        yield instance


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    instance = Receiver()
    yield instance
    instance.close()


def bound(smsc: Smsc, servers: list[ServerProcess]) -> list[ServerProcess]:
    """The processes of `servers` holding a bind at the simulator now."""
    return [server for server in servers if server.running and smsc_sessions_of(smsc, server)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, smsc: Smsc) -> Iterator[Cluster]:
    instance = Cluster(
        tmp_path_factory.mktemp("cluster"), create_postgres_database(), env={**LEASES, **SMPP_ENV}
    )
    try:
        instance.migrate().add_carrier("sim", smsc)
        instance.start(api=2, delivery=2, webhook=2)
        wait_until(lambda: bound(smsc, instance.role("delivery")), 30, "a bind to the SMSC")
        yield instance
    finally:
        instance.dispose()


@dataclass
class Run:
    """A burst that has finished: every accepted message final, every status callback arrived."""

    burst: Burst
    path: str
    statuses: dict[str, str]
    callbacks: Callbacks
    seconds: float


def run_burst(
    cluster: Cluster,
    receiver: Receiver,
    count: int,
    first: int = 0,
    during: Callable[[Burst], None] | None = None,
    sender: str | None = None,
) -> Run:
    """`count` messages with a status callback; `during(burst)`, if given, runs while it goes on."""
    started = time.monotonic()
    path = unique_path("status")
    burst = Burst(cluster, sender or cluster.sender(), count, first, receiver.url(path)).start()
    if during is not None:
        during(burst)
    burst.join()
    sids = set(burst.accepted.values())
    statuses = cluster.wait_final(sids, FINAL_TIMEOUT)
    wait_until(
        lambda: not Callbacks.of(receiver.received(path)).missing(sids),
        FINAL_TIMEOUT,
        "every status callback (sending, sent, delivered) of every message",
    )
    return Run(burst, path, statuses, Callbacks.of(receiver.received(path)), time.monotonic() - started)


def check_callbacks(run: Run) -> None:
    """Every event arrived (run_burst waited for that); each token carried one status, and for each message
    one token per status (a redelivery repeats its event's token; it does not mint a new one); events first
    arrived in order."""
    callbacks = run.callbacks
    assert not callbacks.tokens_with_two_statuses(), callbacks.tokens_with_two_statuses()
    per_status = Counter((sid, status) for sid, events in callbacks.events.items() for _, status in events)
    minted_twice = {key: n for key, n in per_status.items() if n > 1}
    assert not minted_twice, (
        f"{len(minted_twice)} status changes posted under more than one token: {list(minted_twice.items())[:5]}"
    )
    assert not callbacks.out_of_order(), list(callbacks.out_of_order().items())[:5]


@pytest.fixture(scope="module")
def thousand(cluster: Cluster, smsc: Smsc, receiver: Receiver) -> Run:
    return run_burst(cluster, receiver, MESSAGES)


# ---- the tests ---------------------------------------------------------------------------------------


def test_a_thousand_messages_over_two_processes_of_each_role(thousand: Run, smsc: Smsc) -> None:
    burst = thousand.burst
    assert not burst.refused, burst.refused[:5]
    assert len(burst.accepted) == MESSAGES
    assert sorted(burst.by_process.values()) == [MESSAGES // 2] * 2, burst.by_process  # round-robin
    assert Counter(thousand.statuses.values()) == {"delivered": MESSAGES}
    at_smsc = smsc_accepted(smsc, set(burst.accepted))
    assert set(at_smsc) == set(burst.accepted), f"{MESSAGES - len(at_smsc)} never reached the SMSC"
    twice = {text: len(copies) for text, copies in at_smsc.items() if len(copies) > 1}
    assert not twice, f"the SMSC got {len(twice)} messages more than once: {list(twice.items())[:5]}"
    check_callbacks(thousand)
    print(
        f"\n[cluster] {MESSAGES} messages, 2 API + 2 delivery + 2 webhook processes, in {thousand.seconds:.1f} s; "
        f"callback events {len(thousand.callbacks.arrivals)}, repeats {thousand.callbacks.repeats}"
    )


def test_metrics_agree_with_the_run(cluster: Cluster, thousand: Run) -> None:
    """/metrics of every process, summed: messages created = delivered = what the test sent."""
    created, created_names = metric_sum(cluster.processes, cluster.metrics_token, "mycpaas_messages_created")
    delivered, final_names = metric_sum(
        cluster.processes, cluster.metrics_token, "mycpaas_messages_finished", status="delivered"
    )
    assert created == len(thousand.burst.accepted) == MESSAGES, created_names
    assert delivered == MESSAGES, final_names


def test_kill_9_of_a_delivery_and_a_webhook_process_mid_burst(
    cluster: Cluster, smsc: Smsc, receiver: Receiver, thousand: Run
) -> None:
    """Nothing lost; the killed process's bind taken over within the lease; each message the SMSC got twice
    was first submitted on a bind of the killed process, at most a window's worth per bind."""
    delivery, webhook = cluster.role("delivery"), cluster.role("webhook")
    holders = bound(smsc, delivery)
    victim = holders[0]
    killed_sessions = smsc_sessions_of(smsc, victim)
    survivors = [server for server in delivery if server is not victim]
    before = submits_seen(smsc)
    taken_over: list[float] = []

    def kill(burst: Burst) -> None:
        wait_until(
            lambda: submits_seen(smsc) >= before + KILL_BURST // 3, 60, "a third of the burst at the SMSC"
        )
        victim.kill()
        webhook[0].kill()
        killed = time.monotonic()
        lease = float(LEASES["MYCPAAS_BIND_LEASE_SECONDS"])
        # Within the lease plus time to bind on a busy machine, and within the 15 s in any case.
        wait_until(lambda: bound(smsc, survivors), min(lease + 10, 15), "a surviving process bound")
        taken_over.append(time.monotonic() - killed)

    run = run_burst(cluster, receiver, KILL_BURST, first=MESSAGES, during=kill)
    burst = run.burst
    assert not burst.refused, burst.refused[:5]  # no API process was killed
    assert Counter(run.statuses.values()) == {"delivered": KILL_BURST}
    at_smsc = smsc_accepted(smsc, set(burst.accepted))
    assert set(at_smsc) == set(burst.accepted)
    twice = {text: copies for text, copies in at_smsc.items() if len(copies) > 1}
    for text, copies in twice.items():
        first, *again = copies
        assert first["session"] in killed_sessions, (
            f"{text} sent twice, first not on the killed bind: {copies}"
        )
        assert len(again) == 1 and again[0]["session"] not in killed_sessions, copies
    assert len(twice) <= WINDOW * len(killed_sessions), f"{len(twice)} sent twice, window {WINDOW}"
    check_callbacks(run)
    print(
        f"\n[cluster kill -9] {KILL_BURST} messages in {run.seconds:.1f} s; bind held elsewhere "
        f"{taken_over[0]:.1f} s after the kill; sent twice {len(twice)} (killed sessions {sorted(killed_sessions)}); "
        f"callback repeats {run.callbacks.repeats}"
    )


# ---- PostgreSQL itself restarted ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres() -> Iterator[ThrowawayPostgres]:
    instance = ThrowawayPostgres().start()
    yield instance
    instance.dispose()


@pytest.fixture(scope="module")
def small_cluster(
    tmp_path_factory: pytest.TempPathFactory, postgres: ThrowawayPostgres, smsc: Smsc
) -> Iterator[Cluster]:
    instance = Cluster(tmp_path_factory.mktemp("small-cluster"), postgres.url, env={**LEASES, **SMPP_ENV})
    try:
        instance.migrate().add_carrier("sim", smsc)
        instance.start(api=2, delivery=1, webhook=1)
        wait_until(lambda: bound(smsc, instance.role("delivery")), 30, "a bind to the SMSC")
        yield instance
    finally:
        instance.dispose(drop=False)


# What the API answered while PostgreSQL restarted and just after.
RESTART_REFUSALS: Counter[str] = Counter()


def test_postgresql_restarted_mid_burst(
    small_cluster: Cluster, postgres: ThrowawayPostgres, smsc: Smsc, receiver: Receiver
) -> None:
    """`pg_ctl restart -m fast` under load: every message the API accepted (201) is delivered with its
    callbacks, every process is still running, and each serves and works again afterwards."""
    before = submits_seen(smsc)

    def restart(burst: Burst) -> None:
        wait_until(lambda: submits_seen(smsc) >= before + RESTART_BURST // 3, 60, "a third at the SMSC")
        postgres.restart()

    run = run_burst(small_cluster, receiver, RESTART_BURST, first=2_000, during=restart)
    RESTART_REFUSALS.update(why for _, why in run.burst.refused)
    exited = [process.data_dir.name for process in small_cluster.processes if not process.running]
    assert not exited, f"processes exited: {exited}\n" + "\n".join(map(log_excerpt, small_cluster.processes))
    assert Counter(run.statuses.values()) == {"delivered": len(run.burst.accepted)}
    check_callbacks(run)
    # Afterwards every API process creates again (the first request on a pooled connection that died with the
    # old server may be refused with a 503: recorded, and checked below) ...
    for server in small_cluster.api:
        with server.client() as client:

            def creates(server: ServerProcess = server, client: httpx.Client = client) -> bool:
                data = {"To": "+447719999", "From": run.burst.sender, "Body": "after the restart"}
                response = client.post(f"{server.accounts_path()}/Messages.json", data=data)
                if response.status_code != 201:
                    RESTART_REFUSALS[f"{response.status_code} after the restart"] += 1
                return response.status_code == 201

            wait_until(creates, 30, f"{server.data_dir.name} creating again")
    # ... and the delivery and webhook processes deliver.
    after = run_burst(small_cluster, receiver, 20, first=2_500, sender=run.burst.sender)
    assert not after.burst.refused, after.burst.refused
    assert Counter(after.statuses.values()) == {"delivered": 20}
    # While PostgreSQL restarted, a request the API could not serve was refused with the API's error shape and
    # a status that says "try again" (503), never a 500.
    server_errors = {why: n for why, n in RESTART_REFUSALS.items() if why.startswith("500")}
    assert not server_errors, f"500s while PostgreSQL restarted: {server_errors}\n" + "\n".join(
        log_excerpt(p, ("Error:", "ERROR")) for p in small_cluster.api
    )
    print(
        f"\n[postgres restart] {len(run.burst.accepted)} of {RESTART_BURST} accepted, refused {dict(RESTART_REFUSALS)}; "
        f"all delivered in {run.seconds:.1f} s, callback repeats {run.callbacks.repeats}"
    )


def test_readyz_follows_the_database(small_cluster: Cluster, postgres: ThrowawayPostgres) -> None:
    """/readyz of every process turns unready while PostgreSQL is down and ready again when it returns."""
    processes = small_cluster.processes
    wait_until(lambda: all(ready(p) == 200 for p in processes), 30, "every process ready")
    postgres.stop()
    try:
        wait_until(lambda: all(ready(p) == 503 for p in processes), 30, "every process unready")
    finally:
        postgres.start()
    wait_until(lambda: all(ready(p) == 200 for p in processes), 60, "every process ready again")
