"""Outbound webhook requests: signed, time-limited, size-limited, and never following a redirect blindly.

One `WebhookClient` (one connection pool) serves every account. A request returns a `Delivery` describing what
happened; it never raises for anything the receiver or the network did.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import httpcore
import httpx

from mycpaas.domain.signatures import twilio_signature
from mycpaas.domain.urls import url_problem
from mycpaas.errors import ErrorCode
from mycpaas.webhooks.guard import REFUSED_MARKER, GuardedBackend
from mycpaas.webhooks.policy import CLIENT_ERROR, CONNECT, READ, SERVER_ERROR, ConnectionPolicy

MAX_BODY_BYTES = 64 * 1024
MAX_REDIRECTS = 3
EXCERPT_BYTES = 1024
USER_AGENT = "TwilioProxy/1.1 (mycpaas webhooks)"
SIGNATURE_HEADERS = ("X-Twilio-Signature", "X-Mycpaas-Signature", "X-SignalWire-Signature")


@dataclass(slots=True)
class Delivery:
    method: str
    url: str  # the last URL requested, without credentials
    status: int | None = None
    content_type: str = ""
    body: bytes = b""
    too_large: bool = False
    duration_ms: int = 0
    error: ErrorCode | None = None
    detail: str | None = None
    failure: str | None = None  # the retry-policy class of a failure: ct, rt, 4xx or 5xx

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    def excerpt(self) -> str:
        return self.body[:EXCERPT_BYTES].decode("utf-8", "replace")


def without_credentials(url: str) -> str:
    """A URL as it may be shown and recorded: user:password@ removed, no fragment."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, refuse_private: bool, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx does not expose the network backend; the pool is rebuilt with ours (pinned httpx 0.28).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=self._pool._ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(refuse_private),
        )


class WebhookClient:
    def __init__(self, refuse_private: bool, max_connections: int = 1000) -> None:
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._http = httpx.AsyncClient(
            transport=_GuardedTransport(refuse_private, limits), follow_redirects=False, trust_env=False
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def send(
        self,
        method: str,
        url: str,
        params: dict[str, str],
        auth_token: str,
        idempotency_token: str,
        policy: ConnectionPolicy,
    ) -> Delivery:
        """One attempt, following at most three redirects (each re-checked and re-signed)."""
        started = time.perf_counter()
        delivery = Delivery(method, without_credentials(url))
        try:
            async with asyncio.timeout(policy.total_timeout):
                for _ in range(MAX_REDIRECTS + 1):
                    delivery = await self._once(method, url, params, auth_token, idempotency_token, policy)
                    location = delivery.status is not None and 300 <= delivery.status < 400
                    if not location or delivery.error is not None:
                        break
                    url, method = (
                        delivery.detail or "",
                        "GET" if delivery.status in (301, 302, 303) else method,
                    )
                    delivery = Delivery(method, without_credentials(url))
                    if problem := url_problem(url):
                        delivery.error, delivery.detail, delivery.failure = (
                            ErrorCode.WEBHOOK_HTTP_FAILURE,
                            f"redirected to an unusable URL: {problem}",
                            CLIENT_ERROR,
                        )
                        break
                else:
                    delivery.error, delivery.detail, delivery.failure = (
                        ErrorCode.WEBHOOK_TOO_MANY_REDIRECTS,
                        f"more than {MAX_REDIRECTS} redirects",
                        CLIENT_ERROR,
                    )
        except TimeoutError:
            delivery.error, delivery.failure = ErrorCode.WEBHOOK_HTTP_FAILURE, READ
            delivery.detail = f"no complete response within {policy.total_timeout:g} s"
        delivery.duration_ms = round((time.perf_counter() - started) * 1000)
        return delivery

    async def _once(
        self,
        method: str,
        url: str,
        params: dict[str, str],
        auth_token: str,
        idempotency_token: str,
        policy: ConnectionPolicy,
    ) -> Delivery:
        parts = urlsplit(url)
        auth = (parts.username or "", parts.password or "") if parts.username else None
        target = without_credentials(url)
        headers = {"User-Agent": USER_AGENT, "I-Twilio-Idempotency-Token": idempotency_token}
        content: bytes | None = None
        if method == "GET":
            target = target + ("&" if parts.query else "?") + urlencode(params)
            signature = twilio_signature(auth_token, target)
        else:
            content = urlencode(params).encode("ascii")
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            signature = twilio_signature(auth_token, target, params)
        headers.update(dict.fromkeys(SIGNATURE_HEADERS, signature))
        delivery = Delivery(method, target)
        timeout = httpx.Timeout(
            connect=policy.connect_timeout, read=policy.read_timeout, write=policy.read_timeout, pool=None
        )
        try:
            request = self._http.build_request(
                method, target, content=content, headers=headers, timeout=timeout
            )
            basic = httpx.BasicAuth(*auth) if auth else None
            response = await self._http.send(request, auth=basic, stream=True)
            try:
                delivery.status = response.status_code
                delivery.content_type = response.headers.get("content-type", "")
                if 300 <= response.status_code < 400 and "location" in response.headers:
                    delivery.detail = urljoin(target, response.headers["location"])
                    return delivery
                body = bytearray()
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) > MAX_BODY_BYTES:
                        delivery.too_large = True
                        break
                delivery.body = bytes(body[:MAX_BODY_BYTES])
            finally:
                await response.aclose()
        except httpx.ConnectTimeout:
            return _failed(delivery, ErrorCode.WEBHOOK_CONNECTION_FAILURE, "connection timed out", CONNECT)
        except httpx.ConnectError as exc:
            if REFUSED_MARKER in str(exc):
                return _failed(delivery, ErrorCode.WEBHOOK_BAD_HOST, str(exc), CLIENT_ERROR)
            if "certificate" in str(exc).lower() or "ssl" in str(exc).lower():
                return _failed(delivery, ErrorCode.WEBHOOK_TLS_FAILURE, "TLS handshake failed", CONNECT)
            return _failed(
                delivery, ErrorCode.WEBHOOK_CONNECTION_FAILURE, "connection refused or reset", CONNECT
            )
        except httpx.TimeoutException:
            return _failed(delivery, ErrorCode.WEBHOOK_HTTP_FAILURE, "read timed out", READ)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            return _failed(
                delivery,
                ErrorCode.WEBHOOK_PROTOCOL_VIOLATION,
                f"connection closed ({type(exc).__name__})",
                READ,
            )
        except httpx.HTTPError as exc:
            return _failed(delivery, ErrorCode.WEBHOOK_HTTP_FAILURE, type(exc).__name__, CONNECT)
        if delivery.status is not None and not 200 <= delivery.status < 300:
            if delivery.status == 429 or delivery.status >= 500:
                delivery.failure = SERVER_ERROR
            else:
                delivery.failure = CLIENT_ERROR
            delivery.error = ErrorCode.WEBHOOK_HTTP_FAILURE
            delivery.detail = f"the receiver answered HTTP {delivery.status}"
        return delivery


def _failed(delivery: Delivery, error: ErrorCode, detail: str, failure: str) -> Delivery:
    delivery.error, delivery.detail, delivery.failure = error, detail, failure
    return delivery
