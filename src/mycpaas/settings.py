"""The one Settings object, read from MYCPAAS_* environment variables and an optional config file.

The config file (`MYCPAAS_CONFIG`, default `<data dir>/mycpaas.env`) holds the same KEY=value lines as the
environment; the environment wins. An unknown MYCPAAS_* name is an error, so typos fail loudly at start-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

_PREFIX = "MYCPAAS_"
SENDER_KINDS = ("long_code", "toll_free", "short_code", "alphanumeric")
_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("./data")
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # HTTP processes serving the port (PostgreSQL only: one SQLite file has one server process).
    workers: int = 1
    # The server secret: hex in MYCPAAS_SECRET, else the file MYCPAAS_SECRET_FILE (default <data dir>/secret.key).
    secret: str = field(default="", repr=False)
    secret_file: str = ""
    # Addresses or CIDRs (comma-separated) whose X-Forwarded-For/-Proto/-Host are believed; default none
    # (forwarding.py). Parsed at start-up: a malformed entry stops the server.
    trusted_proxies: str = ""
    # /metrics: in development on the main listener; in production only on metrics_port, or with this token.
    metrics_port: int = 0
    metrics_token: str = field(default="", repr=False)
    # Limits of the HTTP server (granian): time to receive a request's headers, and the largest header block;
    # the time to receive a request's whole body is enforced by mycpaas (api/front.py). Connections
    # served at once, per process: more wait in the kernel's listen queue.
    http_header_timeout_seconds: float = 30.0
    http_max_header_bytes: int = 65536
    http_body_timeout_seconds: float = 30.0
    http_max_connections: int = 1000
    log_level: str = "info"
    access_log: str = ""  # true or false; empty: on in development, off in production (logs_access)
    # Tokens carry 128 random bits: this throttle bounds the load of failures, not guessing, so its default is
    # far above what an honest client or test suite reaches (docs/configuration.md gives the reasoning).
    auth_max_failures: int = 1000
    auth_failure_window_seconds: float = 60.0
    api: bool = True  # serve the REST API (the 2010-04-01 resources); false: health and metrics only
    delivery_worker: bool = True
    # Concurrent small write transactions share one commit (storage/group_commit.py); off: one commit each.
    group_commit: bool = True
    worker_batch_size: int = 100
    worker_lease_seconds: float = 15.0
    bind_lease_seconds: float = 15.0  # an SMPP bind's lease; a dead process's binds are taken over after it
    max_send_attempts: int = 20  # a carrier busy or down this many times in a row: failed, 30008
    sender_mps_long_code: float = 1.0  # messages per second per From number (0 = no limit), Twilio's defaults
    sender_mps_toll_free: float = 3.0
    sender_mps_short_code: float = 100.0
    sender_mps_alphanumeric: float = 10.0
    sender_queue_seconds: float = 4 * 3600.0  # a From may queue this many seconds of sending (then 21611)
    # SendAt must be at least this far ahead (35114): Twilio's 300 s. Lower only for tests, which cannot wait.
    schedule_min_lead_seconds: float = 300.0
    smpp_response_timeout_seconds: float = 30.0
    smpp_enquire_link_seconds: float = 30.0
    # An inbound deliver_sm equal to one recorded this recently is taken for the SMSC's redelivery (our
    # acknowledgement lost) and dropped; 0: never (docs/carriers.md weighs it against honest repeats).
    smpp_mo_dedupe_seconds: float = 300.0
    # Parts of a concatenated inbound message still incomplete this long after the first arrived are delivered
    # as what arrived (Kannel's sms-combine-concatenated-mo-timeout is the same 1800 s).
    inbound_parts_timeout_seconds: float = 1800.0
    sandbox_send_delay_seconds: float = 0.2
    sandbox_delivery_delay_seconds: float = 1.0
    print_credentials: bool = True
    environment: str = "development"  # or "production": stricter defaults (docs/configuration.md)
    webhook_dispatcher: bool = True
    webhook_concurrency: int = 1000
    webhook_origin_concurrency: int = 32
    webhook_connect_timeout_seconds: float = 5.0
    webhook_timeout_seconds: float = 15.0
    webhook_retries: int = 3
    laml_max_messages: int = 10  # <Message> replies per inbound message, across <Redirect>s (Twilio: 10)
    # Housekeeping (services/housekeeping.py): the webhook attempt log is kept this long (the console's charts
    # read it), receipts that matched no submitted message this long.
    webhook_attempt_retention_days: int = 30
    unmatched_receipt_retention_days: int = 7
    dashboard: bool = True
    dashboard_session_seconds: float = 12 * 3600.0
    dashboard_unlock_seconds: float = 300.0
    sign_in_max_failures: int = 10
    sign_in_failure_window_seconds: float = 900.0
    setup_link_seconds: float = 24 * 3600.0
    webhook_private_networks: str = (
        ""  # "allow" or "refuse"; empty: allow in development, refuse in production
    )

    def __post_init__(self) -> None:
        if self.environment not in ("development", "production"):
            raise ValueError("Setting MYCPAAS_ENVIRONMENT must be development or production")
        for name in (
            "auth_max_failures",
            "sign_in_max_failures",
            "dashboard_session_seconds",
            "max_send_attempts",
            "sender_queue_seconds",
            "smpp_response_timeout_seconds",
            "smpp_enquire_link_seconds",
            "bind_lease_seconds",
            "inbound_parts_timeout_seconds",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"Setting MYCPAAS_{name.upper()} must be greater than 0")
        for name in ("webhook_attempt_retention_days", "unmatched_receipt_retention_days"):
            if getattr(self, name) < 1:
                raise ValueError(f"Setting MYCPAAS_{name.upper()} must be a whole number of days, at least 1")
        if any(getattr(self, f"sender_mps_{kind}") < 0 for kind in SENDER_KINDS):
            raise ValueError("Settings MYCPAAS_SENDER_MPS_* must be 0 (no limit) or more")
        if self.schedule_min_lead_seconds < 0:
            raise ValueError("Setting MYCPAAS_SCHEDULE_MIN_LEAD_SECONDS must be 0 or more")
        if self.smpp_mo_dedupe_seconds < 0:
            raise ValueError("Setting MYCPAAS_SMPP_MO_DEDUPE_SECONDS must be 0 (off) or more")
        if self.laml_max_messages < 0:
            raise ValueError("Setting MYCPAAS_LAML_MAX_MESSAGES must be 0 (no replies) or more")
        if self.access_log.lower() not in ("", *_BOOLEANS):
            raise ValueError("Setting MYCPAAS_ACCESS_LOG must be true or false")
        if self.webhook_private_networks not in ("", "allow", "refuse"):
            raise ValueError("Setting MYCPAAS_WEBHOOK_PRIVATE_NETWORKS must be allow or refuse")
        self.trusted_proxy_networks  # noqa: B018 (parsed now, so that a typo stops the start)

    @property
    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """MYCPAAS_TRUSTED_PROXIES parsed: IPv4 or IPv6 addresses (one host each) and networks in CIDR form.
        Names are not resolved: a proxy's address must not depend on DNS answers."""
        networks = []
        for entry in (part.strip() for part in self.trusted_proxies.split(",")):
            if not entry:
                continue
            try:
                networks.append(ip_network(entry))
            except ValueError:
                try:
                    meant = f": bits are set past its prefix; write the network as {ip_network(entry, strict=False)}"
                except ValueError:
                    meant = " (examples: 10.0.0.5, 10.0.0.0/8, ::1, fd00::/8; host names are not accepted)"
                raise ValueError(
                    f"Setting MYCPAAS_TRUSTED_PROXIES: {entry!r} is not an IP address or network{meant}"
                ) from None
        return tuple(networks)

    @property
    def logs_access(self) -> bool:
        """An access line per request: MYCPAAS_ACCESS_LOG, else on in development (an operator trying the
        platform sees every request) and off in production (a proxy in front usually logs them already)."""
        if self.access_log:
            return _BOOLEANS[self.access_log.lower()]
        return self.environment == "development"

    @property
    def webhooks_refuse_private(self) -> bool:
        if self.webhook_private_networks:
            return self.webhook_private_networks == "refuse"
        return self.environment == "production"

    def sender_mps(self, kind: str) -> float:
        """The rate for a sender kind of domain/senders.py."""
        return float(getattr(self, f"sender_mps_{kind}"))

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'mycpaas.db').resolve()}"

    @property
    def secret_path(self) -> Path:
        return Path(self.secret_file) if self.secret_file else self.data_dir / "secret.key"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = dict(os.environ if environ is None else environ)
        known = {f.name.upper(): f for f in fields(cls)}
        data_dir = environ.get(_PREFIX + "DATA_DIR", str(cls.data_dir))
        named = environ.get(_PREFIX + "CONFIG")
        config = Path(named) if named else Path(data_dir) / "mycpaas.env"
        if named and not config.is_file():
            # The default file may be absent; a file named on purpose must not be ignored without a word.
            raise ValueError(f"Setting MYCPAAS_CONFIG names {named!r}, which is not a file")
        values = {**_read_config_file(config), **environ}
        kwargs: dict[str, object] = {}
        for name, raw in values.items():
            if not name.startswith(_PREFIX) or name == _PREFIX + "CONFIG":
                continue
            key = name[len(_PREFIX) :]
            if key.startswith("TEST_"):
                continue
            if key not in known:
                raise ValueError(f"Unknown setting {name}; see docs/configuration.md for the list")
            kwargs[known[key].name] = _cast(name, raw, known[key].type)
        return cls(**kwargs)  # type: ignore[arg-type]


def _read_config_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    result: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            result[key.strip()] = value.strip().strip('"')
    return result


def _cast(name: str, raw: str, kind: object) -> object:
    kind = str(kind)
    try:
        if "Path" in kind:
            return Path(raw)
        if kind in ("int", "<class 'int'>"):
            return int(raw)
        if kind in ("float", "<class 'float'>"):
            return float(raw)
        if kind in ("bool", "<class 'bool'>"):
            if raw.lower() not in _BOOLEANS:
                raise ValueError(raw)
            return _BOOLEANS[raw.lower()]
    except ValueError:
        raise ValueError(f"Setting {name} has an invalid value") from None
    return raw
