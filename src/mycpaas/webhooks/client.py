"""Outbound webhook requests: signed, time-limited, size-limited, and never following a redirect blindly.

One `WebhookClient` (one aiohttp connection pool) serves every account. A request returns a `Delivery`
describing what happened; it never raises for anything the receiver or the network did.

aiohttp rather than httpx: on this 2-core machine httpx 0.28 (httpcore over anyio) sent 0.5-1.4k form POSTs/s
to a loopback receiver, fewer the more concurrent, below the 2,000 callbacks/s the platform must sustain
before any database work; aiohttp 3.14 sent 4.3-10.6k (bench/http_clients.py).

What a request needs from its URL alone (the URL shown and recorded, the one sent and signed, the receiver's
Basic credentials, whether an IP literal is refused) is worked out once per URL and kept (`_target`): one
account's callbacks all go to the same few URLs, and parsing, checking and rebuilding each URL three times per
attempt (urlsplit, the wire-safe regex, yarl) was ~4% of the dispatcher's time while it drained a backlog
(py-spy, bench/webhooks.py, 2026-12-07). The form body is encoded by `form_body`, which leaves alone the
values that need no escaping (SIDs, statuses, most numbers) and only then asks urllib: urlencode was ~7% of
a bare signed-POST loop's time (same bench).
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote_plus, unquote, urlencode, urljoin, urlsplit, urlunsplit

import aiohttp
from yarl import URL

from mycpaas.domain.connection_policy import CLIENT_ERROR, CONNECT, READ, SERVER_ERROR, ConnectionPolicy
from mycpaas.domain.signatures import twilio_signature
from mycpaas.domain.urls import url_problem
from mycpaas.errors import ErrorCode
from mycpaas.webhooks.guard import DestinationRefused, GuardedResolver, is_ip_literal, is_public, refuse

MAX_BODY_BYTES = 64 * 1024
MAX_REDIRECTS = 3
USER_AGENT = "TwilioProxy/1.1 (mycpaas webhooks)"
SIGNATURE_HEADERS = ("X-Twilio-Signature", "X-Mycpaas-Signature", "X-SignalWire-Signature")
# RFC 3986 characters, with every % starting an escape: such a URL needs no encoding to be sent.
_WIRE_SAFE = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
# What quote_plus leaves as it is: a value made only of these is its own encoding.
_FORM_SAFE = re.compile(r"[A-Za-z0-9_.\-~]*")
_URLS_KEPT = 4096  # distinct URLs whose preparation is kept (each a few hundred bytes)


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


@lru_cache(maxsize=_URLS_KEPT)
def without_credentials(url: str) -> str:
    """A URL as it may be shown and recorded: user:password@ removed, no fragment."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def form_body(params: Mapping[str, str]) -> bytes:
    """urlencode(params), byte for byte, with quote_plus called only for what needs escaping."""
    fields = []
    for name, value in params.items():
        if not _FORM_SAFE.fullmatch(name):
            name = quote_plus(name)
        if not _FORM_SAFE.fullmatch(value):
            value = quote_plus(value)
        fields.append(f"{name}={value}")
    return "&".join(fields).encode("ascii")


@dataclass(frozen=True, slots=True)
class _Target:
    """What a request needs from its URL alone (for GET, before its parameters are added)."""

    shown: str  # without credentials: what is recorded
    has_query: bool
    authorization: str | None  # Basic credentials from user:password@
    wire: URL | None  # what is sent and signed (None for the GET form, built per request)
    signed: str
    refused: str | None  # why the URL cannot be requested (a bad or refused IP literal), if it cannot


def _wire(target: str) -> URL:
    """A well-formed URL goes out byte for byte as configured, and that is what is signed (Twilio's rule). One
    that is not (spaces, non-ASCII) is percent-encoded first, and the encoded form is signed: it is what an
    application that rebuilds the URL from its request will see."""
    return URL(target, encoded=True) if _WIRE_SAFE.fullmatch(target) else URL(target)


@lru_cache(maxsize=_URLS_KEPT)
def _target(url: str, refuse_private: bool, with_params: bool) -> _Target:
    """Raises ValueError for a URL that cannot be parsed (its text may hold credentials: never show it)."""
    parts = urlsplit(url)
    shown = without_credentials(url)
    authorization = None
    if parts.username:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(credentials).decode("ascii")
    wire = None if with_params else _wire(shown)
    host = (wire or _wire(shown)).host or ""
    refused = None
    if refuse_private and is_ip_literal(host) and not is_public(host.strip("[]")):
        refused = str(refuse(host))
    return _Target(shown, bool(parts.query), authorization, wire, str(wire or ""), refused)


@lru_cache(maxsize=64)
def _timeout(connect: float, read: float) -> aiohttp.ClientTimeout:
    # sock_connect, not connect: waiting for a pooled connection is not the receiver's connect time.
    return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)


class _Deadlines:
    """Each request's total timeout, enforced by one timer for all the requests in flight instead of an
    asyncio.timeout per request (4.6-5.1 us each: a context manager, a call_at and its cancellation; this is
    ~1 us). Requests with the same timeout end in the order they started, so a FIFO per timeout value is
    sorted; the one timer is set for the earliest deadline among the FIFOs' heads. An entry is
    [deadline, task, expired]: its task is None once the request is over (it is then dropped when it reaches
    the head of its FIFO), and expired is set when the timer cancelled the task for it."""

    def __init__(self) -> None:
        self._lines: dict[float, deque[list]] = {}  # type: ignore[type-arg]
        self._timer: asyncio.TimerHandle | None = None
        self._at = float("inf")
        self._loop: asyncio.AbstractEventLoop | None = None  # the timer's (another loop re-arms it)

    def start(self, task: asyncio.Task[object], seconds: float) -> list:  # type: ignore[type-arg]
        loop = task.get_loop()
        deadline = loop.time() + seconds
        entry = [deadline, task, False]
        line = self._lines.get(seconds)
        if line is None:
            line = self._lines[seconds] = deque()
        while line and line[0][1] is None:  # requests over: dropped as they reach the head
            line.popleft()
        line.append(entry)
        if deadline < self._at or loop is not self._loop:
            self._arm(loop, deadline)
        return entry

    def _arm(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._at, self._loop = at, loop
        self._timer = loop.call_at(at, self._expire, loop)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer, self._at = None, float("inf")
        now = loop.time()
        earliest = float("inf")
        for seconds, line in list(self._lines.items()):
            while line and (line[0][1] is None or line[0][0] <= now):
                entry = line.popleft()
                if entry[1] is not None and entry[1].get_loop() is loop:  # (not a task of a loop gone)
                    entry[2] = True
                    entry[1].cancel()
            if line:
                earliest = min(earliest, line[0][0])
            else:
                del self._lines[seconds]
        if earliest != float("inf"):
            self._arm(loop, earliest)


class WebhookClient:
    def __init__(self, refuse_private: bool, max_connections: int = 1000) -> None:
        self.refuse_private = refuse_private
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._deadlines = _Deadlines()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:  # created on first use, inside the running event loop
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                limit_per_host=0,  # the dispatcher limits each origin itself
                resolver=GuardedResolver(self.refuse_private),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

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
        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        deadline = self._deadlines.start(task, policy.total_timeout)
        try:
            try:
                for _ in range(MAX_REDIRECTS + 1):
                    delivery = await self._once(method, url, params, auth_token, idempotency_token, policy)
                    redirected = delivery.status is not None and 300 <= delivery.status < 400
                    if not redirected or delivery.error is not None:
                        break
                    url, method = (
                        delivery.detail or "",
                        "GET" if delivery.status in (301, 302, 303) else method,
                    )
                    delivery = Delivery(method, without_credentials(url))
                    if problem := url_problem(url):
                        return _failed(
                            delivery,
                            ErrorCode.WEBHOOK_HTTP_FAILURE,
                            f"redirected to an unusable URL: {problem}",
                            CLIENT_ERROR,
                        )
                else:
                    _failed(
                        delivery,
                        ErrorCode.WEBHOOK_TOO_MANY_REDIRECTS,
                        f"more than {MAX_REDIRECTS} redirects",
                        CLIENT_ERROR,
                    )
            finally:
                deadline[1] = None  # over: the timer leaves it alone
        except asyncio.CancelledError:
            # Cancelled by the deadline's timer (and by nothing else, e.g. a stop): a timeout, as
            # asyncio.timeout tells them apart.
            if not deadline[2]:
                raise
            deadline[2] = False
            if task.uncancel() > cancelling:
                raise
            _failed(
                delivery,
                ErrorCode.WEBHOOK_HTTP_FAILURE,
                f"no complete response within {policy.total_timeout:g} s",
                READ,
            )
        finally:
            if deadline[2]:  # the timer's cancellation was swallowed on the way: it ends here all the same
                task.uncancel()
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
        delivery = Delivery(method, without_credentials(url))  # recorded without GET's added parameters
        get = method == "GET"
        try:
            target = _target(url, self.refuse_private, get)
            wire = target.wire
            if wire is None:
                wire = _wire(target.shown + ("&" if target.has_query else "?") + urlencode(params))
                signed = str(wire)
            else:
                signed = target.signed
        except ValueError as exc:
            # The exception's text may quote the URL, credentials included: name it only.
            return _failed(
                delivery, ErrorCode.WEBHOOK_BAD_HOST, f"not a usable URL ({type(exc).__name__})", CLIENT_ERROR
            )
        host = wire.host or ""
        if target.refused is not None:
            return _failed(delivery, ErrorCode.WEBHOOK_BAD_HOST, target.refused, CLIENT_ERROR)
        headers = {
            "User-Agent": USER_AGENT,
            "I-Twilio-Idempotency-Token": idempotency_token,
            "Accept-Encoding": "identity",  # a compressed LaML reply would not parse
        }
        if target.authorization is not None:
            headers["Authorization"] = target.authorization
        content: bytes | None = None
        if get:
            signature = twilio_signature(auth_token, signed)
        else:
            content = form_body(params)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            signature = twilio_signature(auth_token, signed, params)
        headers.update(dict.fromkeys(SIGNATURE_HEADERS, signature))
        timeout = _timeout(policy.connect_timeout, policy.read_timeout)
        try:
            async with self._http().request(
                method, wire, data=content, headers=headers, allow_redirects=False, timeout=timeout
            ) as response:
                delivery.status = response.status
                delivery.content_type = response.headers.get("Content-Type", "")
                if 300 <= response.status < 400 and "Location" in response.headers:
                    delivery.detail = urljoin(signed, response.headers["Location"])
                    return delivery
                body = await response.content.read(MAX_BODY_BYTES + 1)
                while (
                    body
                    and len(body) <= MAX_BODY_BYTES
                    and (more := await response.content.read(MAX_BODY_BYTES + 1 - len(body)))
                ):
                    body += more
                delivery.too_large = len(body) > MAX_BODY_BYTES
                delivery.body = body[:MAX_BODY_BYTES]
        except aiohttp.ConnectionTimeoutError:
            return _failed(delivery, ErrorCode.WEBHOOK_CONNECTION_FAILURE, "connection timed out", CONNECT)
        except aiohttp.SocketTimeoutError:
            return _failed(delivery, ErrorCode.WEBHOOK_HTTP_FAILURE, "read timed out", READ)
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, DestinationRefused):
                return _failed(delivery, ErrorCode.WEBHOOK_BAD_HOST, str(exc.os_error), CLIENT_ERROR)
            return _failed(delivery, ErrorCode.WEBHOOK_BAD_HOST, f"cannot resolve {host}", CONNECT)
        except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError):
            return _failed(delivery, ErrorCode.WEBHOOK_TLS_FAILURE, "TLS handshake failed", CONNECT)
        except aiohttp.ClientConnectorError:
            return _failed(
                delivery, ErrorCode.WEBHOOK_CONNECTION_FAILURE, "connection refused or unreachable", CONNECT
            )
        except (
            aiohttp.ServerDisconnectedError,
            aiohttp.ClientPayloadError,
            aiohttp.ClientResponseError,
            aiohttp.ClientOSError,
        ) as exc:
            return _failed(
                delivery,
                ErrorCode.WEBHOOK_PROTOCOL_VIOLATION,
                f"connection closed ({type(exc).__name__})",
                READ,
            )
        except aiohttp.ClientError as exc:
            return _failed(delivery, ErrorCode.WEBHOOK_HTTP_FAILURE, type(exc).__name__, CONNECT)
        except (ValueError, UnicodeError, RuntimeError) as exc:
            # A Location that is not a URL, a closed session at shutdown: nothing a retry would fix.
            return _failed(delivery, ErrorCode.WEBHOOK_HTTP_FAILURE, type(exc).__name__, CLIENT_ERROR)
        if delivery.status is not None and not 200 <= delivery.status < 300:
            failure = SERVER_ERROR if delivery.status == 429 or delivery.status >= 500 else CLIENT_ERROR
            _failed(
                delivery,
                ErrorCode.WEBHOOK_HTTP_FAILURE,
                f"the receiver answered HTTP {delivery.status}",
                failure,
            )
        return delivery


def _failed(delivery: Delivery, error: ErrorCode, detail: str, failure: str) -> Delivery:
    delivery.error, delivery.detail, delivery.failure = error, detail, failure
    return delivery
