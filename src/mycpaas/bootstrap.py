"""The composition root: Settings -> database, secret box, services, worker, carrier and the ASGI app.

The only module that knows every layer; everything else receives what it needs from here.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from mycpaas.api.app import ApiApp, is_api_path
from mycpaas.api.errors import error_response
from mycpaas.dashboard.app import DashboardApp
from mycpaas.delivery.carriers.base import Carrier
from mycpaas.delivery.carriers.routing import RoutingCarrier
from mycpaas.delivery.carriers.sandbox import SandboxCarrier
from mycpaas.delivery.carriers.smpp import SmppCarrier
from mycpaas.delivery.worker import DeliveryWorker
from mycpaas.domain.credentials import SecretBox, new_server_secret
from mycpaas.errors import NotFound
from mycpaas.services import carriers
from mycpaas.services.changes import ChangeWatcher
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.smpp.session import Timers
from mycpaas.storage.database import Database
from mycpaas.storage.group_commit import MAX_BATCH, GroupCommitter
from mycpaas.webhooks.client import WebhookClient
from mycpaas.webhooks.dispatcher import WebhookDispatcher

log = logging.getLogger("mycpaas")


def load_server_secret(path: Path) -> bytes:
    """Read the server secret, creating it (mode 0600) on first start. Losing it makes tokens unreadable."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(new_server_secret().hex().encode())
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        os.chmod(path, 0o600)
    return bytes.fromhex(path.read_text().strip())


def build_platform(settings: Settings) -> Platform:
    db = Database(settings.effective_database_url)
    return Platform(
        settings=settings,
        db=db,
        secrets=SecretBox(load_server_secret(settings.secret_path)),
        committer=GroupCommitter(db, max_batch=MAX_BATCH if settings.group_commit else 1),
    )


async def build_carrier(platform: Platform) -> Carrier:
    """The enabled connectors of `mycpaas carriers`, routed by prefix; the sandbox when there are none."""
    settings = platform.settings
    # Only enabled connectors are unsealed: a disabled one whose password no longer unseals stays harmless.
    enabled = [c.name for c in await carriers.list_connectors(platform, with_passwords=False) if c.enabled]
    connectors = [c for name in enabled if (c := await carriers.get(platform, name)) is not None]
    if not connectors:
        return SandboxCarrier(settings.sandbox_send_delay_seconds, settings.sandbox_delivery_delay_seconds)
    timers = Timers(
        response=settings.smpp_response_timeout_seconds, enquire_link=settings.smpp_enquire_link_seconds
    )
    log.info(
        "delivering through %d SMPP connector(s): %s",
        len(connectors),
        ", ".join(c.name for c in connectors),
        extra={"action": "carriers_loaded"},
    )
    return RoutingCarrier([(c, SmppCarrier(c, timers)) for c in connectors])


class Application:
    """The ASGI entry point of `mycpaas serve`: the API, the dashboard, and the workers started with them."""

    def __init__(self, settings: Settings) -> None:
        self.platform = build_platform(settings)
        self.api = ApiApp(self.platform) if settings.api else None
        self.dashboard = DashboardApp(self.platform) if settings.dashboard else None
        # Every process follows changes made by the others (services/changes.py).
        self.changes = ChangeWatcher(self.platform)
        # Built at start-up, once the carrier connectors have been read from the database.
        self.worker: DeliveryWorker | None = None
        self.dispatcher: WebhookDispatcher | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http" and is_api_path(scope["path"]) and self.api is not None:
            await self.api(scope, receive, send)
        elif scope["type"] == "http" and self.dashboard is not None and not is_api_path(scope["path"]):
            await self.dashboard(scope, receive, send)
        elif scope["type"] == "http":  # a part this process does not run (--no-api, --no-dashboard)
            response = error_response(NotFound(scope["path"]))
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": [(b"content-type", b"application/json; charset=utf-8")],
                }
            )
            await send({"type": "http.response.body", "body": response.encode()})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._start_workers()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": type(exc).__name__})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.changes.stop()
                if self.worker is not None:
                    await self.worker.stop()
                if self.dispatcher is not None:
                    await self.dispatcher.stop()
                await self.platform.committer.close()
                await self.platform.db.dispose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start_workers(self) -> None:
        settings = self.platform.settings
        await self.changes.start()
        if settings.delivery_worker:
            self.worker = DeliveryWorker(self.platform, await build_carrier(self.platform))
            await self.worker.start()
        if settings.webhook_dispatcher:
            client = WebhookClient(settings.webhooks_refuse_private, settings.webhook_concurrency)
            self.dispatcher = WebhookDispatcher(self.platform, client)
            await self.dispatcher.start()
