"""The SMSC simulator (tests/smsc/smsc-sim.js, an SMPP 3.4 server on node-smpp) as a subprocess for the tests.

It plays the carrier: it answers submit_sm, sends delivery receipts and MO messages, and fails on demand, and
its HTTP control API lets a test inspect and steer it. Ports are free loopback ports chosen once, so a
restart() comes back where clients expect it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parent.parent
SIM_DIR = ROOT / "tests" / "smsc"
SIM_SCRIPT = SIM_DIR / "smsc-sim.js"
START_TIMEOUT_SECONDS = 10.0

T = TypeVar("T")


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it when we bind to port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Smsc:
    """One simulator process; `env` overrides its configuration (USERS, DLR_DELAY_MS, MAX_TPS, ...)."""

    host = "127.0.0.1"

    def __init__(self, log_dir: Path, **env: str | int) -> None:
        if not (SIM_DIR / "node_modules" / "smpp").is_dir():
            raise RuntimeError(f"run `npm ci` in {SIM_DIR} first (scripts/test.sh does)")
        self.log_dir = log_dir
        self.env = {key: str(value) for key, value in env.items()}
        self.port = free_port()
        self.control_port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._runs = 0
        self._http = httpx.Client(base_url=self.control_url, timeout=10)
        self.start()

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.control_port}"

    @property
    def log_path(self) -> Path:
        """The log of the current (latest) run; every run has its own file, smsc-<n>.log."""
        return self.log_dir / f"smsc-{self._runs}.log"

    def log_text(self) -> str:
        return "".join(path.read_text(errors="replace") for path in sorted(self.log_dir.glob("smsc-*.log")))

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        env["SMPP_PORT"] = str(self.port)
        env["CONTROL_PORT"] = str(self.control_port)
        env["EXIT_ON_STDIN_EOF"] = "1"
        return env

    def start(self) -> Smsc:
        """Start the process and return once the SMPP port accepts connections."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._runs += 1
        with self.log_path.open("wb") as handle:
            self._process = subprocess.Popen(
                ["node", str(SIM_SCRIPT)],
                stdin=subprocess.PIPE,  # closed when this process dies: the simulator then exits too
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=self._environment(),
                cwd=SIM_DIR,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"SMSC simulator exited early:\n{self.log_path.read_text(errors='replace')}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        self._kill()
        raise RuntimeError(
            f"SMSC simulator did not listen within {START_TIMEOUT_SECONDS} s:\n{self.log_path}"
        )

    def _kill(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process and self._process.stdin:
            self._process.stdin.close()

    def restart(self) -> Smsc:
        """Kill the process (sessions drop without unbind) and start it again on the same ports and env."""
        self._kill()
        return self.start()

    def kill(self) -> None:
        """kill -9: the SMSC dies mid-whatever, its sessions with it (no session_closed is recorded);
        start() or restart() brings it back on the same ports."""
        if self._process and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def stop(self) -> None:
        self._kill()
        self._http.close()

    def __enter__(self) -> Smsc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _get(self, path: str, **params: Any) -> Any:
        response = self._http.get(path, params={k: v for k, v in params.items() if v is not None})
        response.raise_for_status()
        return response.json()

    def stats(self) -> dict[str, Any]:
        """Counters, the current binds and the live configuration."""
        result: dict[str, Any] = self._get("/stats")
        return result

    def messages(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Every submit_sm recorded since the last reset, oldest first."""
        result: list[dict[str, Any]] = self._get("/messages", limit=limit)
        return result

    def deliveries(self) -> list[dict[str, Any]]:
        """Every deliver_sm attempt (receipts and MO) with the ESME's answer (status None while pending)."""
        result: list[dict[str, Any]] = self._get("/deliveries")
        return result

    @property
    def pid(self) -> int | None:
        """The process id of the current run (RECORD_FILE lines carry it)."""
        return self._process.pid if self._process else None

    def recorded(self) -> list[dict[str, Any]]:
        """Every line of the RECORD_FILE the simulator was started with, across restarts, oldest first: one per
        submit_sm (the /messages record, plus the process id), one {"resp_written": true, ...} per
        submit_sm_resp written to the socket, and {"bind"|"unbind"|"enquire_link"|"session_closed"|
        "receipt_acked"|"malformed": ...} lines with the time in ms. Empty without RECORD_FILE."""
        path = self.env.get("RECORD_FILE")
        if not path or not Path(path).exists():
            return []
        text = Path(path).read_text(encoding="utf-8")
        # The simulator may be writing a line right now: only the lines it finished count.
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def reset(self) -> None:
        self._get("/reset")

    def mo(
        self,
        from_: str,
        to: str,
        text: str,
        ucs2: bool = False,
        sar: bool = False,
        system_id: str | None = None,
        udh16: bool = False,
        naive: bool = False,
        lose_resp: bool = False,
        skip: int | None = None,
        umr: int | None = None,
    ) -> dict[str, Any]:
        """Send a mobile-originated message; long texts go out as concatenated parts (a UDH with an 8-bit
        reference, or a 16-bit one with `udh16`, or SAR TLVs). `naive`: parts cut inside an escape or a
        surrogate pair; `lose_resp`: each part delivered again after our OK (as if the OK were lost); `skip`:
        part number never sent; `umr`: the user_message_reference TLV."""
        result: dict[str, Any] = self._get(
            "/mo",
            to=to,
            text=text,
            system_id=system_id,
            ucs2="1" if ucs2 else None,
            sar="1" if sar else None,
            udh16="1" if udh16 else None,
            naive="1" if naive else None,
            lose_resp="1" if lose_resp else None,
            skip=skip,
            umr=umr,
            **{"from": from_},
        )
        return result

    def dlr(self, id: str, stat: str = "DELIVRD", err: str = "000") -> dict[str, Any]:
        """Send a receipt for a message now (DLR_MODE=manual)."""
        result: dict[str, Any] = self._get("/dlr", id=id, stat=stat, err=err)
        return result

    def config(self, **settings: str | int | bool) -> dict[str, Any]:
        """Change receipt_before_resp, resp_delay_ms, max_tps, dlr_delay_ms, dlr_mode, ... at runtime."""
        params = {k: (int(v) if isinstance(v, bool) else v) for k, v in settings.items()}
        result: dict[str, Any] = self._get("/config", **params)
        return result

    def malformed(self, kind: str = "short") -> int:
        """Write a malformed PDU (short, garbage, huge, unknown) to every bound session; returns how many."""
        return int(self._get("/malformed", kind=kind)["sessions"])

    def drop(self) -> int:
        """Destroy every session's TCP connection without unbind; returns how many."""
        return int(self._get("/drop")["sessions"])

    def wait_for(self, predicate: Callable[[Smsc], T], timeout: float = 5.0, what: str = "condition") -> T:
        """Poll the simulator until predicate(self) is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.02)
