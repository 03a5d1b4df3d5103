"""The platform's metrics (Prometheus), counted in whichever process does the work and summed at scrape time.

Several processes may answer one port (HTTP workers), so every process counts into prometheus_client's
multiprocess files in one shared directory and a scrape through any of them merges all the files. The
library chooses where values live when it is first imported, so this module (the only one that imports it)
sets PROMETHEUS_MULTIPROC_DIR first: a fresh directory of this process's own, removed when it exits, which
the processes it starts (forked or spawned workers) inherit. An operator may set PROMETHEUS_MULTIPROC_DIR
himself (then it is used as given, and he clears it before a start).

Counters of a process that exited stay in the directory, so sums never go backwards; the gauges of the
`live` modes (what a process holds now) are forgotten when their process is gone (`forget_exited`).
What is read from the database at scrape time (queue depth, binds) is not here: api/ops.py adds it to the
exposition through `snapshot_collector`. docs/metrics.md lists every metric.
"""

from __future__ import annotations

import asyncio
import atexit
import glob
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any

_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


_PREFIX = "mycpaas-metrics-"


def _own_directory() -> str:
    """A fresh directory for this process tree's metric files, in shared memory where there is one. Those
    left by processes that died without cleaning up (kill -9, a re-raised SIGTERM) are removed first."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    for stale in glob.glob(os.path.join(base, f"{_PREFIX}*-*")):
        pid = os.path.basename(stale)[len(_PREFIX) :].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    path = tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=base)
    atexit.register(_remove_own_directory, path, os.getpid())
    return path


def _remove_own_directory(path: str, creator: int) -> None:
    if os.getpid() == creator:  # a forked worker inherits the exit hook; the directory is not its to remove
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


_CREATOR = 0  # the pid of the process that made the directory (0: given by the operator, or none)
if _DIR_VARIABLE not in os.environ and "prometheus_client" not in sys.modules:
    os.environ[_DIR_VARIABLE] = _own_directory()
    _CREATOR = os.getpid()

from prometheus_client import (  # noqa: E402  (after the directory is chosen, see above)
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily  # noqa: E402
from prometheus_client.registry import REGISTRY, Collector  # noqa: E402

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# True when values go to the shared files (the library decided at its import); False only when something
# imported prometheus_client before this module without the variable set (then this process is alone).
MULTIPROCESS: bool = bool(getattr(values.ValueClass, "_multiprocess", False))

# ---- HTTP ---------------------------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "mycpaas_http_requests_total",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "mycpaas_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UNMATCHED = "unmatched"  # the route label of a request no route matched (a 404): raw paths are never labels
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# ---- messages -------------------------------------------------------------------------------------------------

MESSAGES_CREATED = Counter(
    "mycpaas_messages_created_total",
    "Messages created (committed), by direction: outbound-api, outbound-reply, inbound.",
    ["direction"],
)
SEGMENTS = Counter(
    "mycpaas_message_segments_total", "Segments of the messages created, by direction.", ["direction"]
)
MESSAGES_FINISHED = Counter(
    "mycpaas_messages_finished_total",
    "Messages that reached a final status, by status and error code ('' when none).",
    ["status", "error_code"],
)

# ---- webhooks -----------------------------------------------------------------------------------------------

WEBHOOK_ATTEMPTS = Counter(
    "mycpaas_webhook_attempts_total",
    "Webhook attempts recorded, by outcome (delivered, retrying, failed, skipped).",
    ["outcome"],
)
WEBHOOK_DURATION = Histogram(
    "mycpaas_webhook_request_duration_seconds",
    "Duration of webhook requests (to the response, or to the failure), by outcome.",
    ["outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0),
)

# ---- SMPP -----------------------------------------------------------------------------------------------------

SMPP_SUBMITS = Counter(
    "mycpaas_smpp_submits_total",
    "submit_sm answers by connector and result: ok, throttled (ESME_RTHROTTLED, ESME_RMSGQFUL), busy "
    "(other temporary errors), refused, lost (the session closed before the answer).",
    ["connector", "result"],
)
SMPP_RECEIPTS = Counter(
    "mycpaas_smpp_receipts_total",
    "Delivery receipts received (deliver_sm), by connector and outcome (intermediate: ENROUTE, ACCEPTD).",
    ["connector", "outcome"],
)
SMPP_INBOUND = Counter(
    "mycpaas_smpp_inbound_total", "Mobile-originated messages (parts) received, by connector.", ["connector"]
)
INBOUND_DUPLICATES = Counter(
    "mycpaas_inbound_duplicates_total",
    "Inbound deliveries (messages or parts) acknowledged and dropped as redeliveries of one already recorded, "
    "by carrier (an SMSC account: system_id@host:port).",
    ["carrier"],
)
INBOUND_INCOMPLETE = Counter(
    "mycpaas_inbound_incomplete_total",
    "Concatenated inbound messages kept without some parts after MYCPAAS_INBOUND_PARTS_TIMEOUT_SECONDS, by "
    "carrier.",
    ["carrier"],
)
SMPP_WINDOW = Gauge(
    "mycpaas_smpp_window_in_use",
    "Messages holding a slot of the connector's window now (submitted, answer not yet recorded).",
    ["connector"],
    multiprocess_mode="livesum",
)

# ---- housekeeping ---------------------------------------------------------------------------------------------

HOUSEKEEPING_REMOVED = Counter(
    "mycpaas_housekeeping_removed_total",
    "Rows removed by housekeeping once past their retention, by task (webhook_attempts, unmatched_receipts).",
    ["task"],
)

# ---- authentication --------------------------------------------------------------------------------------------

AUTH_FAILURES = Counter(
    "mycpaas_auth_failures_total",
    "Failed authentications, by where: api (HTTP Basic) or dashboard (sign-in).",
    ["where"],
)
THROTTLED = Counter(
    "mycpaas_throttled_total",
    "Requests refused by the failed-authentication throttle (429 on the API), by where.",
    ["where"],
)


def http_observed(app: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Wrap an ASGI app (http scopes only) to count its requests and time them (the private metrics listener;
    `serve`'s requests are counted by api/front.py, which wraps each request once for all it does)."""

    async def observed(scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = time.perf_counter()
        status = 500  # an app that raised before answering

        async def send_status(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_status)
        finally:
            observe_http(scope, status, time.perf_counter() - started)

    return observed


# ---- counting once per turn of the serving loop -----------------------------------------------------------------
#
# Each count is a write to the shared file under a lock (prometheus_client's MmapedValue): a create counted 5 of
# them (request, duration sum and bucket, message, segments), 9.4 us of the loop's thread per create (timeit,
# 2026-12-07, issue 15). On the loop `serve` runs (`defer_to`), observe_http and message_created add to a tally
# instead, written out by one callback at the next turn of the loop: a group commit answers dozens of creates in
# one turn, and their counts become one write per series. The tally is written before any exposition of this
# process and when the loop stops deferring (lifespan shutdown); the other processes of a server write theirs
# at the end of their current turn. Calls from any other thread or loop write at once, as before.


class _Tally:
    """Counts added up, then written once per series. `deferred`: written by a callback at the next turn of the
    serving loop; otherwise by the caller's write()."""

    def __init__(self, deferred: bool = True) -> None:
        self.counts: dict[Any, float] = {}  # a counter's child -> what to add
        self.observed: dict[Any, list[float]] = {}  # a histogram's child -> [sum, count per bucket...]
        self.deferred = deferred
        self.scheduled = False

    def count(self, child: Any, amount: float) -> None:
        self.counts[child] = self.counts.get(child, 0) + amount
        self._schedule()

    def observe(self, child: Any, amount: float) -> None:
        tally = self.observed.get(child)
        if tally is None:
            tally = self.observed[child] = [0.0] * (1 + len(child._upper_bounds))
        tally[0] += amount
        for i, bound in enumerate(child._upper_bounds):  # as Histogram.observe picks its bucket
            if amount <= bound:
                tally[i + 1] += 1
                break
        self._schedule()

    def _schedule(self) -> None:
        if self.deferred and not self.scheduled and _DEFER_LOOP is not None:
            self.scheduled = True
            _DEFER_LOOP.call_soon(self.write)

    def write(self) -> None:
        self.scheduled = False
        counts, self.counts = self.counts, {}
        observed, self.observed = self.observed, {}
        for child, amount in counts.items():
            child.inc(amount)
        for child, tally in observed.items():
            child._sum.inc(tally[0])
            for i, n in enumerate(tally[1:]):
                if n:
                    child._buckets[i].inc(n)


_TALLY = _Tally()
_DEFER_LOOP: asyncio.AbstractEventLoop | None = None


def _deferring() -> bool:
    return _DEFER_LOOP is not None and asyncio._get_running_loop() is _DEFER_LOOP


def defer_to(loop: asyncio.AbstractEventLoop | None) -> None:
    """Count the requests and creates of `loop` (the one `serve` answers on) once per turn; None: write the
    tally and count at once again."""
    global _DEFER_LOOP
    flush()
    _TALLY.write()  # whatever a loop that is gone left
    _DEFER_LOOP = loop


def flush() -> None:
    """Write what the serving loop tallied; from its thread only (the tally is that thread's): elsewhere the
    tally, at most a turn old, is written at the end of the loop's turn."""
    if _DEFER_LOOP is None or asyncio._get_running_loop() is _DEFER_LOOP:
        _TALLY.write()


# The series of each (route, method, status), looked up once: labels() costs as much as the count itself.
# Bounded: routes are templates, methods a fixed set, statuses the few the platform answers with.
_HTTP_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe_http(scope: dict[str, Any], status: int, seconds: float) -> None:
    """Count an answered request and its duration. The route label is what the app put in `scope["route"]`: a
    template string, or an object with a `path` template (Starlette's routes, api/router.Route); a request that
    matched none is counted as `unmatched`."""
    method = scope.get("method", "")
    key = (route_label(scope.get("route")), method if method in _METHODS else "other", status)
    series = _HTTP_SERIES.get(key)
    if series is None:
        series = _HTTP_SERIES[key] = (
            HTTP_REQUESTS.labels(key[0], key[1], str(status)),
            HTTP_DURATION.labels(key[0], key[1]),
        )
    if _deferring():
        _TALLY.count(series[0], 1)
        _TALLY.observe(series[1], seconds)
    else:
        series[0].inc()
        series[1].observe(seconds)


def route_label(route: object) -> str:
    if isinstance(route, str):
        return route
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


def message_created(direction: str, segments: int) -> None:
    series = _CREATED_SERIES.get(direction)
    if series is None:  # looked up once per direction, as _ATTEMPT_SERIES below
        series = _CREATED_SERIES[direction] = (MESSAGES_CREATED.labels(direction), SEGMENTS.labels(direction))
    if _deferring():
        _TALLY.count(series[0], 1)
        _TALLY.count(series[1], segments)
    else:
        series[0].inc()
        series[1].inc(segments)


_CREATED_SERIES: dict[str, tuple[Any, Any]] = {}


def message_finished(status: str, error_code: object = None, count: int = 1) -> None:
    """Counted in the transaction that makes the change: a batch whose commit fails and is retried unit by
    unit (mycpaas/batching.py) counts its changes twice; such failures are logged."""
    if count:
        MESSAGES_FINISHED.labels(status, "" if error_code is None else str(error_code)).inc(count)


# One webhook attempt's labelled series, looked up once per outcome: labels() (a lock and a tuple of label
# values) was a third of the 8 us this function cost per attempt (timeit, 2026-12-07, issue 15). The library
# keeps the same child objects itself, so counting through them is counting through labels().
_ATTEMPT_SERIES: dict[str, tuple[Any, Any]] = {}


def _attempt_series(outcome: str) -> tuple[Any, Any]:
    series = _ATTEMPT_SERIES.get(outcome)
    if series is None:
        series = _ATTEMPT_SERIES[outcome] = (
            WEBHOOK_ATTEMPTS.labels(outcome),
            WEBHOOK_DURATION.labels(outcome),
        )
    return series


def webhook_attempts(attempts: Iterable[tuple[str, float | None]]) -> None:
    """Count each (outcome, duration_ms) of a batch of webhook attempts, written once per series instead of
    once per attempt: each count is a write to the shared file under a lock, and the dispatcher writes a few
    dozen outcomes at a time (5.6 us per attempt counted one by one; timeit, 2026-12-07, issue 15). The same tally
    as the serving loop's requests, written at once."""
    tally = _Tally(deferred=False)
    for outcome, duration_ms in attempts:
        counter, histogram = _attempt_series(outcome)
        tally.count(counter, 1)
        if duration_ms is not None:
            tally.observe(histogram, duration_ms / 1000)
    tally.write()


def housekept(task: str, removed: int) -> None:
    HOUSEKEEPING_REMOVED.labels(task).inc(removed)  # 0 too: the series exists once the task has run


# ---- exposition -----------------------------------------------------------------------------------------------


class Snapshot(Collector):
    """Gauges read at scrape time (from the database), handed in as (name, help, label names, samples)."""

    def __init__(self, families: Iterable[tuple[str, str, list[str], list[tuple[list[str], float]]]]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, documentation, labels, samples in self.families:
            family = GaugeMetricFamily(name, documentation, labels=labels)
            for label_values, value in samples:
                family.add_metric(label_values, value)
            yield family


def exposition(snapshot: Collector | None = None) -> bytes:
    """The text format of every process's counts (merged from the shared files) and of `snapshot`."""
    flush()
    registry = REGISTRY
    if MULTIPROCESS:
        forget_exited()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    text = generate_latest(registry)
    if snapshot is not None:
        extra = CollectorRegistry()
        extra.register(snapshot)
        text += generate_latest(extra)
    return text


_LIVE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db\Z")


def forget_exited() -> None:
    """Drop the `live` gauges of processes that are gone (a worker killed, or restarted by its server), so
    what they held (window slots) is not reported for ever; their counters stay."""
    directory = os.environ.get(_DIR_VARIABLE, "")
    pids = {
        int(m[1]) for f in glob.glob(os.path.join(directory, "gauge_live*.db")) if (m := _LIVE_FILE.search(f))
    }
    for pid in pids - {os.getpid()}:
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def start_server() -> None:
    """Called by `serve` before anything is counted: the processes of one server share a directory that no
    other server shares. A directory inherited from another mycpaas process (a test harness, a supervisor that
    imports mycpaas) is left to it; one the operator set is kept. The library reads the variable whenever it
    opens a file, and every metric here has labels, so no file is open yet."""
    global _CREATOR
    directory = os.environ.get(_DIR_VARIABLE, "")
    made_by = re.match(rf"{_PREFIX}(\d+)-", os.path.basename(directory))
    if MULTIPROCESS and made_by and int(made_by[1]) != os.getpid():
        os.environ[_DIR_VARIABLE] = _own_directory()
        _CREATOR = os.getpid()


def process_exiting() -> None:
    """Called by a process at its clean stop: its `live` gauges leave the sums at once; the process that
    made the directory removes it (its server may end by re-raising SIGTERM, which skips exit hooks)."""
    if not MULTIPROCESS:
        return
    multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
    _remove_own_directory(os.environ[_DIR_VARIABLE], _CREATOR)
