"""The composition root: Settings -> database, secret box, services, worker, carrier and the ASGI app.

The only module that knows every layer; everything else receives what it needs from here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import mycpaas.metrics as metrics
from mycpaas.api import ops, plain_listener
from mycpaas.api.app import ApiApp, is_api_path
from mycpaas.api.errors import error_response
from mycpaas.api.front import HttpFront
from mycpaas.dashboard.app import DashboardApp
from mycpaas.delivery.binds import Binds
from mycpaas.delivery.carriers.routing import RoutingCarrier
from mycpaas.delivery.carriers.sandbox import SandboxCarrier
from mycpaas.delivery.carriers.smpp import SmppCarrier
from mycpaas.delivery.worker import DeliveryWorker
from mycpaas.domain.credentials import SecretBox
from mycpaas.errors import NotFound
from mycpaas.forwarding import TrustedProxies
from mycpaas.services import server_secret
from mycpaas.services.changes import CARRIERS, ChangeWatcher
from mycpaas.services.housekeeping import Housekeeper
from mycpaas.services.message_search import SearchIndexer
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.smpp.session import Timers
from mycpaas.storage.database import Database
from mycpaas.storage.group_commit import MAX_BATCH, GroupCommitter
from mycpaas.webhooks.client import WebhookClient
from mycpaas.webhooks.dispatcher import WebhookDispatcher

log = logging.getLogger("mycpaas")


def build_platform(settings: Settings) -> Platform:
    secrets = SecretBox(server_secret.read(settings))  # SecretRefused if missing or malformed
    db = Database(settings.effective_database_url)
    return Platform(
        settings=settings,
        db=db,
        secrets=secrets,
        committer=GroupCommitter(db, max_batch=MAX_BATCH if settings.group_commit else 1),
    )


def build_delivery(platform: Platform, changes: ChangeWatcher) -> DeliveryWorker:
    """The delivery worker over this process's binds of the enabled connectors of `mycpaas carriers`
    (routed by prefix, shared with the other delivery processes, following changes made anywhere); the
    sandbox while there is none."""
    settings = platform.settings
    timers = Timers(
        response=settings.smpp_response_timeout_seconds, enquire_link=settings.smpp_enquire_link_seconds
    )
    binds = Binds(platform, lambda c: SmppCarrier(c, timers), on_change=platform.wake_worker)
    changes.subscribe(CARRIERS, binds.changed)
    sandbox = SandboxCarrier(settings.sandbox_send_delay_seconds, settings.sandbox_delivery_delay_seconds)
    return DeliveryWorker(platform, RoutingCarrier(binds, sandbox), accepting=binds.holding)


class Application:
    """The ASGI entry point of `mycpaas serve`: the API, the dashboard, and the workers started with them.

    `started()` is called once the lifespan start-up completed (workers and carrier running)."""

    def __init__(self, settings: Settings, started: Callable[[], None] = lambda: None) -> None:
        self.started = started
        self.platform = build_platform(settings)
        # Client address, scheme and host are settled here, once, for everything behind (forwarding.py).
        self.proxies = TrustedProxies(settings.trusted_proxy_networks)
        self.api = ApiApp(self.platform) if settings.api else None
        self.dashboard = DashboardApp(self.platform) if settings.dashboard else None
        # Every process follows changes made by the others (services/changes.py).
        self.changes = ChangeWatcher(self.platform)
        # Built at start-up, once the carrier connectors have been read from the database.
        self.worker: DeliveryWorker | None = None
        self.dispatcher: WebhookDispatcher | None = None
        # Retention (services/housekeeping.py): run by every process with a worker role, one sweeping at a time.
        self.housekeeper: Housekeeper | None = None
        # The message log's word index on SQLite, filled in batches off the hot path (services/message_search.py).
        self.indexer: SearchIndexer | None = None
        # /healthz, /readyz and /metrics, whatever the roles; every request is counted (mycpaas/metrics.py).
        self.ops = ops.OpsApp(self.platform, self.loop_problems, self.binds)
        # Every request, once: the body deadline, a 500 for any exception escaping the parts below, Connection:
        # close for an answer that leaves the body unread, and the request metrics (api/front.py).
        self._front = HttpFront(self._http, settings.http_body_timeout_seconds, is_api_path)
        self._metrics_listener: asyncio.Server | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "http":
            await self._front(self.proxies.resolve(scope), receive, send)

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] in self.ops.paths:
            await self.ops(scope, receive, send)
        elif is_api_path(scope["path"]) and self.api is not None:
            await self.api(scope, receive, send)
        elif self.dashboard is not None and not is_api_path(scope["path"]):
            await self.dashboard(scope, receive, send)
        else:  # a part this process does not run (--no-api, --no-dashboard)
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
                # Requests and creates are counted once per turn of this loop from now (mycpaas/metrics.py).
                metrics.defer_to(asyncio.get_running_loop())
                await send({"type": "lifespan.startup.complete"})
                self.started()
            elif message["type"] == "lifespan.shutdown":
                metrics.defer_to(None)
                if self._metrics_listener is not None:
                    self._metrics_listener.close()
                await self.changes.stop()
                if self.housekeeper is not None:
                    await self.housekeeper.stop()
                if self.indexer is not None:
                    await self.indexer.stop()
                if self.worker is not None:
                    await self.worker.stop()
                if self.dispatcher is not None:
                    await self.dispatcher.stop()
                if self.api is not None:
                    await self.api.close()
                await self.platform.committer.close()
                await self.platform.db.dispose()
                metrics.process_exiting()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start_workers(self) -> None:
        settings = self.platform.settings
        # Every process, also one a multi-process server starts, refuses a secret that is not the database's.
        await server_secret.check(self.platform)
        await self.changes.start()
        if settings.delivery_worker:
            self.worker = build_delivery(self.platform, self.changes)
            await self.worker.start()
        if settings.webhook_dispatcher:
            client = WebhookClient(settings.webhooks_refuse_private, settings.webhook_concurrency)
            self.dispatcher = WebhookDispatcher(self.platform, client)
            await self.dispatcher.start()
        if settings.delivery_worker or settings.webhook_dispatcher:
            self.housekeeper = Housekeeper(self.platform)
            await self.housekeeper.start()
        if self.platform.db.is_sqlite:
            self.indexer = SearchIndexer(self.platform)
            await self.indexer.start()
        if settings.metrics_port:
            private = ops.OpsApp(self.platform, self.loop_problems, self.binds, public=False)
            self._metrics_listener = await plain_listener.listen(
                metrics.http_observed(private), settings.host, settings.metrics_port
            )

    def loop_problems(self) -> list[str]:
        """This process's background loops that are not running (for /readyz)."""
        loops = {"change watcher": self.changes.running}
        if self.worker is not None:
            loops["delivery worker"] = self.worker.runner.running
        if self.dispatcher is not None:
            loops["webhook dispatcher"] = self.dispatcher.runner.running
        if self.housekeeper is not None:
            loops["housekeeping"] = self.housekeeper.running
        if self.indexer is not None:
            loops["search indexer"] = self.indexer.running
        return [f"{name} is not running" for name, running in loops.items() if not running]

    def binds(self) -> dict[str, int]:
        return self.worker.carrier.binds() if self.worker is not None else {}
