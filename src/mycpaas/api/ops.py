"""/healthz, /readyz and /metrics: served by every process, whatever roles it runs.

/healthz says the process answers; /readyz that it can do its work (the database answers with this code's
schema, its loops run, and a delivery process has an SMPP bind up). Neither needs credentials nor says
anything secret. /metrics is the Prometheus text format. In production it is not served on the public listener
unless MYCPAAS_METRICS_TOKEN is set; the MYCPAAS_METRICS_PORT listener serves it in every environment (bind it
where only the scraper reaches). Whenever the token is set, every scrape needs `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

import mycpaas.metrics as metrics
from mycpaas.services import health
from mycpaas.services.platform import Platform

HEALTH = frozenset({"/healthz", "/readyz"})

Problems = Callable[[], list[str]]  # what of this process's own machinery is not running
Binds = Callable[[], Mapping[str, int]]  # this process's binds up per connector (empty: no connectors)


class OpsApp:
    def __init__(self, platform: Platform, loops: Problems, binds: Binds, public: bool = True) -> None:
        self.platform = platform
        self.loops = loops
        self.binds = binds
        settings = platform.settings
        self.token = settings.metrics_token.encode()
        # On the public listener of a production server, /metrics exists only behind a token: without one the
        # path is left to the rest of the application, so it answers as any unknown path does.
        hidden = public and settings.environment == "production" and not self.token
        self.paths = HEALTH if hidden else HEALTH | {"/metrics"}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope["path"]
        if path not in self.paths:  # only on the metrics port: the main listener sends these elsewhere
            await _send(send, 404, _json({"status": "not found"}))
            return
        scope["route"] = path
        if scope["method"] not in ("GET", "HEAD"):
            await _send(send, 405, _json({"status": "method not allowed"}), [(b"allow", b"GET, HEAD")])
        elif path == "/healthz":
            await _send(send, 200, _json({"status": "ok"}))
        elif path == "/readyz":
            problems = await self.problems()
            status = 503 if problems else 200
            answer = {"status": "unready", "problems": problems} if problems else {"status": "ready"}
            await _send(send, status, _json(answer))
        elif self.token and not _bearer_matches(scope, self.token):
            await _send(send, 401, _json({"status": "unauthorized"}), [(b"www-authenticate", b"Bearer")])
        else:
            snapshot = await health.snapshot(self.platform, self.binds())
            await _send(send, 200, (metrics.CONTENT_TYPE.encode(), metrics.exposition(snapshot)))

    async def problems(self) -> list[str]:
        problems = await health.database_problems(self.platform) + self.loops()
        local = self.binds()
        if local and not any(local.values()):
            # A standby process holds no bind while another one does: ready all the same.
            shared = await health.shared_binds_up(self.platform)
            if not any(shared.get(name, 0) for name in local):
                problems.append(f"no SMPP bind is up (connectors: {', '.join(sorted(local))})")
        return problems


def _bearer_matches(scope: dict[str, Any], token: bytes) -> bool:
    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            scheme, _, given = value.partition(b" ")
            return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token)
    return False


def _json(body: object) -> tuple[bytes, bytes]:
    return b"application/json; charset=utf-8", json.dumps(body).encode()


async def _send(
    send: Any, status: int, content: tuple[bytes, bytes], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    kind, body = content
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", kind),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
