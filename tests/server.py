"""A real `mycpaas serve` process on a free loopback port, for integration and client tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent

# Every client ServerProcess.client() made; tests/conftest.py closes those made during a test at its end.
OPEN_CLIENTS: list[httpx.Client] = []

FAST_SANDBOX = {
    "MYCPAAS_SANDBOX_SEND_DELAY_SECONDS": "0.02",
    "MYCPAAS_SANDBOX_DELIVERY_DELAY_SECONDS": "0.2",
    "MYCPAAS_AUTH_MAX_FAILURES": "100000",
    # Bursts from one number would otherwise go at Twilio's 1 message/s per long code; the rate-limit
    # tests set their own (test_sender_rate_queue_limit_and_validity in tests/integration/test_smpp_delivery.py).
    "MYCPAAS_SENDER_MPS_LONG_CODE": "0",
    "MYCPAAS_SENDER_MPS_TOLL_FREE": "0",
    "MYCPAAS_SENDER_MPS_SHORT_CODE": "0",
    "MYCPAAS_SENDER_MPS_ALPHANUMERIC": "0",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    data_dir: Path
    database_url: str
    env: dict[str, str] = field(default_factory=dict)
    unset: tuple[str, ...] = ()  # FAST_SANDBOX names left out: the server's own default applies
    tls: bool = False
    args: list[str] = field(default_factory=list)  # more `mycpaas serve` options (--workers 2, --no-api, ...)
    port: int = field(default_factory=free_port)
    account_sid: str = ""
    auth_token: str = ""
    _process: subprocess.Popen[bytes] | None = None
    _runs: int = 0

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def cert_file(self) -> Path:
        return self.data_dir / "tls" / "cert.pem"

    def log_paths(self) -> list[Path]:
        return sorted(self.data_dir.glob("server-*.log"))

    def log_text(self) -> str:
        return "".join(path.read_text(errors="replace") for path in self.log_paths())

    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MYCPAAS_")}
        env.update(FAST_SANDBOX)
        env.update(self.env)
        for name in self.unset:
            env.pop(name, None)
        env["MYCPAAS_DATABASE_URL"] = self.database_url
        env["MYCPAAS_DATA_DIR"] = str(self.data_dir)
        if self.tls:
            env["MYCPAAS_TLS_CERT_FILE"] = str(self.cert_file)
            env["MYCPAAS_TLS_KEY_FILE"] = str(self.data_dir / "tls" / "key.pem")
        return env

    def start(self) -> ServerProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.tls and not self.cert_file.exists():
            subprocess.run(
                [sys.executable, "-m", "mycpaas", "dev-cert", "--data-dir", str(self.data_dir)],
                check=True,
                capture_output=True,
                env=self._environment(),
            )
        self._runs += 1
        log = self.data_dir / f"server-{self._runs}.log"
        with log.open("wb") as handle:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mycpaas",
                    "serve",
                    "--port",
                    str(self.port),
                    "--access-log",
                    *self.args,
                ],
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=self._environment(),
                cwd=self.data_dir,
            )
        self._wait_ready(log)
        if not self.account_sid:
            text = log.read_text()
            self.account_sid = re.search(r"Account SID: (AC[0-9a-f]{32})", text).group(1)  # type: ignore[union-attr]
            self.auth_token = re.search(r"Auth Token:  ([0-9a-f]{32})", text).group(1)  # type: ignore[union-attr]
        return self

    def _wait_ready(self, log: Path) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{log.read_text()}")
            # `serve` prints this line once the lifespan start-up (workers, carrier) is complete and it serves.
            if " listening on http" in log.read_text(errors="replace"):
                return
            time.sleep(0.05)
        raise RuntimeError(f"server did not start:\n{log.read_text()}")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    @property
    def pid(self) -> int | None:
        """The process id of the current run, None before the first start."""
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        if self._process and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def client(self, username: str | None = None, password: str | None = None) -> httpx.Client:
        """A client of this server. One a test leaves open is closed after the test (tests/conftest.py):
        left to the garbage collector, its pooled sockets raise ResourceWarning in some later test."""
        client = httpx.Client(
            base_url=self.url,
            auth=(username or self.account_sid, password if password is not None else self.auth_token),
            timeout=30,
            verify=ssl.create_default_context(cafile=str(self.cert_file)) if self.tls else True,
        )
        OPEN_CLIENTS.append(client)
        return client

    def accounts_path(self, sid: str | None = None, prefix: str = "/2010-04-01") -> str:
        return f"{prefix}/Accounts/{sid or self.account_sid}"
