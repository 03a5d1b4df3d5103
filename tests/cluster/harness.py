"""A cluster of `mycpaas serve` processes by role on one PostgreSQL database, for the scale-out tests.

Every process is a tests/server.py ServerProcess with a data directory of its own and its role in its
environment (the MYCPAAS_API / _DASHBOARD / _DELIVERY_WORKER / _WEBHOOK_DISPATCHER switches). All share one
server secret through MYCPAAS_SECRET_FILE, which `mycpaas migrate` creates before any process starts, and
connectors are added with the CLI as an operator would. The API processes listen on a loopback port each.

The checks read what the outside world saw: the SMSC simulator's record file (every submit and answer, by
session), the webhook receiver's requests, and the REST API; `smsc_sessions_of` maps the simulator's
sessions to the process holding them by TCP port, so a test can tell which bind died with a process.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.conftest import ALL_SERVERS, remember_secret
from tests.databases import drop_postgres_database
from tests.integration.smpp_support import add_carrier, cli, sdk, wait_until
from tests.receiver import Received
from tests.server import ServerProcess, free_port
from tests.smsc_support import Smsc

FINAL = {"delivered", "undelivered", "failed"}
CALLBACK_ORDER = {"sending": 0, "sent": 1, "delivered": 2}

# The switches each role turns on; every other part is off. MYCPAAS_API is honoured once `serve` learns the
# role flags (issue 12); until then an "api=false" process still answers the API on its own port, unused.
ROLE_ENV: dict[str, dict[str, str]] = {
    "api": {"API": "true", "DASHBOARD": "true", "DELIVERY_WORKER": "false", "WEBHOOK_DISPATCHER": "false"},
    "delivery": {
        "API": "false",
        "DASHBOARD": "false",
        "DELIVERY_WORKER": "true",
        "WEBHOOK_DISPATCHER": "false",
    },
    "webhook": {
        "API": "false",
        "DASHBOARD": "false",
        "DELIVERY_WORKER": "false",
        "WEBHOOK_DISPATCHER": "true",
    },
}
# Short leases: a killed process's jobs and binds are taken over within seconds.
LEASES = {"MYCPAAS_WORKER_LEASE_SECONDS": "3", "MYCPAAS_BIND_LEASE_SECONDS": "3"}
SMPP_ENV = {"MYCPAAS_SMPP_ENQUIRE_LINK_SECONDS": "5", "MYCPAAS_SMPP_RESPONSE_TIMEOUT_SECONDS": "10"}


@dataclass
class Cluster:
    """Processes by role on `database_url`; `start()` migrates, adds nothing, and starts them."""

    root: Path
    database_url: str
    env: dict[str, str] = field(default_factory=dict)  # for every process and the CLI
    members: dict[str, list[ServerProcess]] = field(default_factory=dict)
    metrics_token: str = field(default_factory=lambda: remember_secret(os.urandom(16).hex()))

    @property
    def secret_file(self) -> Path:
        return self.root / "secret.key"

    @property
    def admin(self) -> ServerProcess:
        """A process never started: the environment the CLI runs with (`cli(cluster.admin, ...)`)."""
        return ServerProcess(data_dir=self.root / "admin", database_url=self.database_url, env=self._env())

    def _env(self, role: str | None = None) -> dict[str, str]:
        env = {**self.env, "MYCPAAS_SECRET_FILE": str(self.secret_file)}
        env["MYCPAAS_METRICS_TOKEN"] = self.metrics_token
        if role is not None:
            env.update({f"MYCPAAS_{name}": value for name, value in ROLE_ENV[role].items()})
        return env

    def migrate(self) -> Cluster:
        """The shared secret file every process is given (made as an operator would: `openssl rand -hex 32`,
        mode 0600), then `mycpaas migrate`: the schema and the secret's check value."""
        self.admin.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.secret_file.exists():
            self.secret_file.write_text(remember_secret(secrets.token_hex(32)) + "\n")
            self.secret_file.chmod(0o600)
        result = cli(self.admin, "migrate")
        assert result.returncode == 0, result.stderr
        return self

    def add_carrier(self, name: str, smsc: Smsc, *options: str) -> None:
        add_carrier(self.admin, name, smsc, *options)

    def _process(self, role: str, number: int, workers: int = 1) -> ServerProcess:
        server = ServerProcess(
            data_dir=self.root / f"{role}-{number}",
            database_url=self.database_url,
            env=self._env(role),
            args=["--workers", str(workers)] if workers > 1 else [],
        )
        ALL_SERVERS.append(server)  # the end-of-session scan looks for secrets in its logs too
        self.members.setdefault(role, []).append(server)
        return server

    def start(self, api: int = 2, delivery: int = 2, webhook: int = 2, workers: int = 1) -> Cluster:
        """The first API process alone (it creates the owner account and prints its credentials), then the
        others side by side. Each API process is `serve --workers <workers>`: with workers > 1 a process
        is a parent and its forked workers on one port (the benchmark's "N processes on one port")."""
        if not self.secret_file.exists():
            self.migrate()
        first = self._process("api", 1, workers).start()
        remember_secret(first.auth_token)
        rest = [self._process("api", n, workers) for n in range(2, api + 1)]
        rest += [self._process("delivery", n) for n in range(1, delivery + 1)]
        rest += [self._process("webhook", n) for n in range(1, webhook + 1)]
        for server in rest:
            server.account_sid, server.auth_token = first.account_sid, first.auth_token
        with ThreadPoolExecutor(len(rest) or 1) as pool:
            list(pool.map(ServerProcess.start, rest))
        return self

    def role(self, name: str) -> list[ServerProcess]:
        return self.members.get(name, [])

    @property
    def api(self) -> list[ServerProcess]:
        return self.role("api")

    @property
    def processes(self) -> list[ServerProcess]:
        return [server for servers in self.members.values() for server in servers]

    def stop(self) -> None:
        with ThreadPoolExecutor(len(self.processes) or 1) as pool:
            list(pool.map(ServerProcess.stop, self.processes))

    def dispose(self, drop: bool = True) -> None:
        self.stop()
        if drop:
            drop_postgres_database(self.database_url)

    # ---- driving it ----------------------------------------------------------------------------------

    def sender(self) -> str:
        """A number the owner account owns, to send from."""
        server = self.api[0]
        number = f"+1415{int.from_bytes(os.urandom(3)) % 10**7:07d}"
        sdk(server).incoming_phone_numbers.create(phone_number=number)
        return number

    def statuses(self, sids: set[str]) -> dict[str, str]:
        """The status of every message in `sids`, read from the API's list (pages of 1,000)."""
        server = self.api[0]
        found: dict[str, str] = {}
        with server.client() as client:
            path: str | None = f"{server.accounts_path()}/Messages.json?PageSize=1000"
            while path:
                body = client.get(path).json()
                found.update({m["sid"]: m["status"] for m in body["messages"] if m["sid"] in sids})
                path = body.get("next_page_uri")
        return found

    def wait_final(self, sids: set[str], timeout: float = 90.0) -> dict[str, str]:
        """Every message of `sids` in a final status; returns the statuses."""
        seen: dict[str, str] = {}

        def settled() -> bool:
            seen.update(self.statuses(sids))
            return len(seen) == len(sids) and all(status in FINAL for status in seen.values())

        wait_until(settled, timeout, f"{len(sids)} messages in a final status ({Counter(seen.values())})")
        return seen


@dataclass
class Burst:
    """`count` messages created with the official twilio client in the background, round-robin over the
    API processes by 8 threads; `accepted` maps each body the API answered 201 to its SID."""

    cluster: Cluster
    sender: str
    count: int
    first: int = 0
    status_callback: str | None = None
    accepted: dict[str, str] = field(default_factory=dict)
    refused: list[tuple[str, str]] = field(default_factory=list)
    by_process: Counter[int] = field(default_factory=Counter)
    _thread: threading.Thread | None = None
    _local: threading.local = field(default_factory=threading.local)

    def _clients(self) -> list[Client]:
        if not hasattr(self._local, "clients"):
            self._local.clients = [sdk(server) for server in self.cluster.api]
        clients: list[Client] = self._local.clients
        return clients

    def _send(self, i: int) -> None:
        text = f"burst {i}"
        clients = self._clients()
        which = i % len(clients)
        options: dict[str, Any] = {
            "to": f"+44771{i:04d}9",
            "from_": self.sender,
            "body": text,
        }  # no fault suffix
        if self.status_callback:
            options["status_callback"] = self.status_callback
        try:
            created = clients[which].messages.create(**options)
        except TwilioRestException as error:
            self.refused.append((text, f"{error.status} {error.msg}"))
        except Exception as error:  # the connection failed: a process killed or restarting
            self.refused.append((text, type(error).__name__))
        else:
            self.accepted[text] = str(created.sid)
            self.by_process[which] += 1

    def _run(self) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self._send, range(self.first, self.first + self.count)))

    def start(self) -> Burst:
        assert self.first + self.count <= 10_000, "bodies and numbers have four digits"
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float = 120) -> dict[str, str]:
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the burst did not finish"
        return self.accepted


# ---- what the SMSC saw ---------------------------------------------------------------------------------


def smsc_accepted(smsc: Smsc, texts: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Every submit the simulator accepted (status 0) for each of `texts`, oldest first."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in smsc.recorded():
        if "text" in line and line["status"] == 0 and line["text"] in texts:
            found[line["text"]].append(line)
    return found


def submits_seen(smsc: Smsc) -> int:
    return sum(1 for line in smsc.recorded() if "text" in line)


def local_ports(pid: int) -> set[int]:
    """The local TCP ports of a process's sockets (Linux /proc), to tell which SMPP session is whose."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def smsc_sessions_of(smsc: Smsc, server: ServerProcess) -> set[int]:
    """The simulator's bound sessions whose client end is a socket of `server`'s process."""
    assert server.pid is not None
    ports = local_ports(server.pid)
    return {bind["session"] for bind in smsc.stats()["binds"] if bind["remote_port"] in ports}


# ---- what the webhook receiver saw ---------------------------------------------------------------------


@dataclass
class Callbacks:
    """Status callbacks by message: each event (one idempotency token) with its status and how often it
    arrived, in order of first arrival."""

    events: dict[str, list[tuple[str, str]]]  # message SID -> [(token, status)] by first arrival
    arrivals: Counter[str]  # token -> requests carrying it
    statuses_of_token: dict[str, set[str]]  # token -> the MessageStatus values sent with it (one, always)

    @classmethod
    def of(cls, received: list[Received]) -> Callbacks:
        events: dict[str, list[tuple[str, str]]] = defaultdict(list)
        arrivals: Counter[str] = Counter()
        statuses: dict[str, set[str]] = defaultdict(set)
        for request in received:
            token = request.token
            if token not in arrivals:
                events[request.params["MessageSid"]].append((token, request.params["MessageStatus"]))
            arrivals[token] += 1
            statuses[token].add(request.params["MessageStatus"])
        return cls(dict(events), arrivals, dict(statuses))

    @property
    def repeats(self) -> int:
        """Requests beyond the first of their event."""
        return sum(self.arrivals.values()) - len(self.arrivals)

    def missing(self, sids: set[str], wanted: tuple[str, ...] = ("sending", "sent", "delivered")) -> set[str]:
        """Messages of `sids` for which some status of `wanted` never arrived."""
        return {sid for sid in sids if not set(wanted) <= {status for _, status in self.events.get(sid, [])}}

    def out_of_order(self) -> dict[str, list[str]]:
        """Messages whose events first arrived in another order than sending, sent, delivered."""
        bad = {}
        for sid, events in self.events.items():
            ranks = [CALLBACK_ORDER.get(status, -1) for _, status in events]
            if ranks != sorted(ranks):
                bad[sid] = [status for _, status in events]
        return bad

    def tokens_with_two_statuses(self) -> dict[str, set[str]]:
        return {token: found for token, found in self.statuses_of_token.items() if len(found) > 1}


# ---- /metrics and health -------------------------------------------------------------------------------


def scrape(server: ServerProcess, token: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of a process's /metrics as (name, labels, value). Where the metrics are served (the
    public port with a bearer token, or MYCPAAS_METRICS_PORT) is decided here alone."""
    response = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    response.raise_for_status()
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def metric_sum(
    servers: list[ServerProcess], token: str, prefix: str, **labels: str
) -> tuple[float, list[str]]:
    """The sum over `servers` (each port once) of the samples whose name starts with `prefix` and whose
    labels include `labels`; and the names summed, so that a test's message can show what matched.
    Histogram and summary parts (_bucket, _count, _sum, _created) are never summed."""
    total, names = 0.0, set()
    for server in {server.url: server for server in servers}.values():
        for name, found, value in scrape(server, token):
            if not name.startswith(prefix) or name.endswith(("_bucket", "_count", "_sum", "_created")):
                continue
            if all(found.get(key) == want for key, want in labels.items()):
                total += value
                names.add(name)
    return total, sorted(names)


def ready(server: ServerProcess) -> int:
    """The status code of /readyz (200 ready, 503 not), or 0 when the process does not answer."""
    try:
        return httpx.get(f"{server.url}/readyz", timeout=5).status_code
    except httpx.HTTPError:
        return 0


# ---- a PostgreSQL of the test's own -------------------------------------------------------------------


class ThrowawayPostgres:
    """A PostgreSQL cluster in a temporary directory on a free loopback port with trust authentication,
    which a test may stop and restart (never the machine's shared server). As root, the server runs as the
    `postgres` user, as PostgreSQL requires."""

    def __init__(self, **settings: str) -> None:
        """`settings`: more server settings (`-c name=value`), e.g. shared_preload_libraries."""
        self.settings = settings
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="mycpaas-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.root, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        result = subprocess.run([*self._as, *command], capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{command[0]} failed: {result.stdout}\n{result.stderr}"

    def _ctl(self, action: str, *options: str) -> None:
        server_options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        server_options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run(
            "pg_ctl", action, "-D", str(self.data), "-l", str(self.log), "-w", "-o", server_options, *options
        )

    def start(self) -> ThrowawayPostgres:
        self._ctl("start")
        return self

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every session is cut off, then the server comes back on the same port."""
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def dispose(self) -> None:
        subprocess.run(
            [*self._as, "pg_ctl", "stop", "-D", str(self.data), "-m", "immediate"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def log_excerpt(
    server: ServerProcess, markers: tuple[str, ...] = ("Error", "Traceback", "WARNING"), lines: int = 20
) -> str:
    """The last `lines` log lines of a process that contain one of `markers`: for failure messages."""
    found = [line for line in server.log_text().splitlines() if any(marker in line for marker in markers)]
    return "\n".join(found[-lines:])
