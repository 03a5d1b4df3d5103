"""/metrics, /healthz and /readyz of a real server: the counts agree with what the test did, readiness follows
the database, production hides /metrics unless asked, and several processes' counts add up."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import dispose_server, make_server, remember_secret
from tests.databases import postgres_admin_url
from tests.integration.smpp_support import sdk, sender_of, smpp_server, wait_final, wait_until
from tests.server import ServerProcess, free_port
from tests.smsc_support import Smsc

CREATE_ROUTE = "/2010-04-01/Accounts/{account_sid}/Messages"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(url: str, token: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_counts_agree_with_what_was_done(fresh_server: ServerProcess) -> None:
    server, n = fresh_server, 12
    client = sdk(server)
    sids = [
        client.messages.create(to="+15558675310", from_="+15005550006", body=f"m{i}").sid for i in range(n)
    ]
    with server.client() as http:
        assert {m["status"] for m in wait_final(server, http, sids)} == {"delivered"}
        assert (
            http.get(
                server.accounts_path() + "/Messages.json", auth=(server.account_sid, "0" * 32)
            ).status_code
            == 401
        )

    def settled() -> Samples | None:
        samples = scrape(server.url)
        return samples if value(samples, "mycpaas_queue_jobs", kind="message.send") == 0 else None

    samples = wait_until(settled, 20, "the send queue to empty")
    assert value(samples, "mycpaas_messages_created_total", direction="outbound-api") == n
    assert value(samples, "mycpaas_message_segments_total", direction="outbound-api") == n
    assert value(samples, "mycpaas_messages_finished_total", status="delivered", error_code="") == n
    assert value(samples, "mycpaas_http_requests_total", route=CREATE_ROUTE, method="POST", status="201") == n
    assert value(samples, "mycpaas_http_requests_total", route=CREATE_ROUTE, method="GET", status="401") == 1
    assert (
        value(samples, "mycpaas_http_request_duration_seconds_count", route=CREATE_ROUTE, method="POST") == n
    )
    assert value(samples, "mycpaas_auth_failures_total", where="api") == 1
    assert value(samples, "mycpaas_queue_oldest_due_age_seconds", kind="message.send") == 0
    assert value(samples, "mycpaas_database_up") == 1
    # Route templates, never raw paths: no SID of any kind is a label value.
    labels = {v for (_, pairs) in samples for _, v in pairs}
    assert not [v for v in labels if server.account_sid in v or any(sid in v for sid in sids)]
    assert httpx.get(f"{server.url}/readyz").json() == {"status": "ready"}
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}


def test_smpp_counts_and_readiness_follow_the_binds(tmp_path: Path) -> None:
    n = 5
    with (
        Smsc(tmp_path / "smsc", DLR_DELAY_MS=0) as smsc,
        smpp_server(tmp_path / "server", "sqlite", [("sim", smsc, ())]) as server,
    ):
        client, sender = sdk(server), sender_of(server)
        sids = [
            client.messages.create(to=f"+4477009004{i:02d}", from_=sender, body="hi").sid for i in range(n)
        ]
        with server.client() as http:
            assert {m["status"] for m in wait_final(server, http, sids)} == {"delivered"}
        smsc.mo(from_="+447700900999", to=sender, text="hello")

        def inbound_counted() -> Samples | None:
            samples = scrape(server.url)
            return samples if value(samples, "mycpaas_smpp_inbound_total", connector="sim") else None

        samples = wait_until(inbound_counted, 20, "the inbound message to be counted")
        assert value(samples, "mycpaas_smpp_binds_up", connector="sim") == 1
        assert value(samples, "mycpaas_smpp_submits_total", connector="sim", result="ok") == n
        assert value(samples, "mycpaas_smpp_receipts_total", connector="sim", outcome="delivered") == n
        assert value(samples, "mycpaas_smpp_window_in_use", connector="sim") == 0
        assert value(samples, "mycpaas_messages_finished_total", status="delivered", error_code="") == n
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        smsc.kill()  # no bind can be up now, and none is leased elsewhere
        unready = wait_until(
            lambda: (r := httpx.get(f"{server.url}/readyz")).status_code == 503 and r, 20, "503"
        )
        assert unready.json()["problems"] == ["no SMPP bind is up (connectors: sim)"]
        assert value(scrape(server.url), "mycpaas_smpp_binds_up", connector="sim") == 0
        smsc.restart()  # closes what the kill left open, then starts it again
        wait_until(lambda: httpx.get(f"{server.url}/readyz").status_code == 200, 30, "the bind to come back")


async def _admin(*statements: str) -> None:
    conn = await asyncpg.connect(postgres_admin_url().replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def postgres_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = make_server(tmp_path / "server", "postgres")
    yield server
    asyncio.run(_admin(f'ALTER DATABASE "{server.database_url.rsplit("/", 1)[1]}" ALLOW_CONNECTIONS true'))
    dispose_server(server)


def test_readyz_follows_the_database(postgres_server: ServerProcess) -> None:
    server = postgres_server
    name = server.database_url.rsplit("/", 1)[1]
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    asyncio.run(
        _admin(
            f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
        )
    )
    gone = wait_until(
        lambda: (r := httpx.get(f"{server.url}/readyz", timeout=30)).status_code == 503 and r, 20, "503"
    )
    assert gone.json()["status"] == "unready"
    assert any("database unreachable" in problem for problem in gone.json()["problems"])
    assert httpx.get(f"{server.url}/healthz").status_code == 200  # alive all the same
    assert value(scrape(server.url), "mycpaas_database_up") == 0
    asyncio.run(_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    wait_until(lambda: httpx.get(f"{server.url}/readyz", timeout=30).status_code == 200, 20, "ready again")


def test_production_serves_metrics_only_on_its_port_or_with_the_token(tmp_path: Path) -> None:
    port = free_port()
    env = {"MYCPAAS_ENVIRONMENT": "production", "MYCPAAS_METRICS_PORT": str(port)}
    server = make_server(tmp_path / "server", "sqlite", env=env)
    try:
        assert httpx.get(f"{server.url}/metrics").status_code == 404
        assert httpx.get(f"{server.url}/readyz").status_code == 200  # health needs no credentials
        private = f"http://127.0.0.1:{port}"
        assert value(scrape(private), "mycpaas_database_up") == 1
        assert httpx.get(f"{private}/healthz").json() == {"status": "ok"}
        assert httpx.post(f"{private}/metrics").status_code == 405
        assert httpx.get(f"{private}/2010-04-01/Accounts").status_code == 404  # nothing else there
        server.stop()
        token = remember_secret("mt-" + os.urandom(16).hex())
        server.env = {"MYCPAAS_ENVIRONMENT": "production", "MYCPAAS_METRICS_TOKEN": token}
        server.start()
        assert httpx.get(f"{server.url}/metrics").status_code == 401
        wrong = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {token}x"})
        assert wrong.status_code == 401
        assert token not in wrong.text
        samples = scrape(server.url, token)
        # The refusals were counted, under the route's own name.
        assert (
            value(samples, "mycpaas_http_requests_total", route="/metrics", method="GET", status="401") == 2
        )
    finally:
        dispose_server(server)


# Two processes count into one directory, as the workers of one server do; a third merges them. One of the
# two exits without cleaning up: its counters stay, what it held (a live gauge) leaves the sum.
_COUNT = textwrap.dedent(
    """
    import sys
    from mycpaas import metrics
    for _ in range(int(sys.argv[1])):
        metrics.message_created("outbound-api", 2)
    metrics.SMPP_WINDOW.labels("sim").inc(int(sys.argv[1]))
    if sys.argv[2] == "wait":
        sys.stdout.write("counted\\n")
        sys.stdout.flush()
        sys.stdin.read()
    """
)
_MERGE = "import sys\nfrom mycpaas import metrics\nsys.stdout.write(metrics.exposition().decode())\n"


def test_processes_sharing_a_directory_add_up(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", _COUNT, "3", "exit"], env=env, check=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", _COUNT, "4", "wait"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"counted\n"
        merged = parse(
            subprocess.run(
                [sys.executable, "-c", _MERGE], env=env, check=True, capture_output=True, text=True
            ).stdout
        )
    finally:
        holder.communicate(b"")
    assert value(merged, "mycpaas_messages_created_total", direction="outbound-api") == 7
    assert value(merged, "mycpaas_message_segments_total", direction="outbound-api") == 14
    assert value(merged, "mycpaas_smpp_window_in_use", connector="sim") == 4  # the exited one's 3 are gone
