"""The HTTP server of `mycpaas serve`: granian, in this process or in N worker processes on one port.

Chosen by measurement (bench/servers.py, docs/architecture.md): granian bounds the time to receive a request's
headers and the size of the header block, which uvicorn does not, and serves N processes on one port.
It has no body-read timeout, so api/front.py adds one in the ASGI layer. It serves HTTP/1.1 only: its
HTTP/2 has none of these limits. Each process serves at most MYCPAAS_HTTP_MAX_CONNECTIONS connections
(granian's `backpressure` holds one permit per connection, from accept to close); hyper's 100-header limit
answers 431 to more headers, whatever their size.

The listening socket is the one `serve` bound and checked before migrating. Granian would bind its own, with
SO_REUSEPORT in every worker on Linux, which lets a second server join the same port silently; given ours,
every worker accepts on that one inherited socket, and the port stays refused to others for as long as any
process of this server lives.

One process (workers == 1) runs granian embedded in this process's event loop, so kill -9 leaves nothing behind.
With N > 1, granian forks N workers that each build the Application and run its lifespan; each asks the kernel
for SIGTERM when its parent dies (PR_SET_PDEATHSIG), so a parent killed with -9 leaves no worker behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import resource
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from granian._granian import SocketHolder
from granian._loops import loops as granian_loops
from granian.constants import HTTPModes, Interfaces, Loops, SSLProtocols
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server.embed import Server as EmbeddedServer
from granian.server.mp import MPServer

from mycpaas.bootstrap import Application
from mycpaas.settings import Settings

log = logging.getLogger("mycpaas")

# MYCPAAS_LOG_LEVEL -> granian's own log level. Its info lines (starting, spawning worker <id>) say less than
# the banner `serve` prints; `trace` is what uvicorn called its most verbose level.
LOG_LEVELS = {"trace": "debug", "debug": "debug", "info": "warning", "warning": "warning", "error": "error",
              "critical": "critical"}  # fmt: skip
PR_SET_PDEATHSIG = 1
BACKLOG = 2048  # the socket's listen backlog, set where `serve` binds it
SPARE_FILES = 1024  # files beside the connections: database, SMPP and webhook sockets, logs


def serve(settings: Settings, sock: socket.socket, ready: Callable[[], None]) -> int:
    """Serve on `sock` until SIGTERM or SIGINT; `ready()` once every process completed its start-up."""
    logging.getLogger("_granian").addFilter(_quiet_embedded_warning)
    _allow_open_files(settings.http_max_connections + SPARE_FILES)
    if settings.workers == 1:
        with asyncio.Runner(loop_factory=CoalescingLoop) as runner:
            return runner.run(_serve_embedded(settings, sock, ready))
    return _serve_processes(settings, sock, ready)


class CoalescingLoop(asyncio.SelectorEventLoop):
    """The standard event loop, whose wake-ups from other threads are coalesced: one byte in the self-pipe until
    the loop has read it, instead of one per call_soon_threadsafe.

    granian hands every request to the loop from its Rust threads with call_soon_threadsafe, and aiosqlite
    every query's result from its thread: each wrote a byte to the self-pipe (a send, with the GIL released and
    taken again) and the loop read them back. Measured (bench/results/scale-profile.txt, 2026-12-07):
    `_write_to_self` was 13-17% of the API process on PostgreSQL. uvloop coalesces the same way (uv_async_send)
    but was measured unfair to some connections (docs/architecture.md, Serving).

    No wake-up is lost. The flag is cleared by the loop's own thread once it has drained the pipe, inside one
    callback, so whenever the loop is in select a set flag means a byte written since the last drain (or
    about to be): select returns. A call that saw the flag set had already appended its callback; if that was
    before the clear, the ready queue is not empty when the loop next computes its select timeout, so it does
    not block. (Cleared before the drain instead, a byte written in between could be drained with the flag left
    set, and later wake-ups would be skipped for ever.)
    """

    _wakeup_pending = False

    def _write_to_self(self) -> None:
        if self._wakeup_pending:
            return
        self._wakeup_pending = True
        super()._write_to_self()  # type: ignore[misc]

    def _read_from_self(self) -> None:
        super()._read_from_self()  # type: ignore[misc]
        self._wakeup_pending = False


def _options(settings: Settings, sock: socket.socket) -> dict[str, Any]:
    host, port = sock.getsockname()[:2]
    tls: dict[str, Any] = {}
    if settings.tls_cert_file:
        tls = {
            "ssl_cert": Path(settings.tls_cert_file),
            "ssl_key": Path(settings.tls_key_file or settings.tls_cert_file),
            # granian's default minimum is TLS 1.3; uvicorn (Python's ssl) accepted 1.2, which clients still use.
            "ssl_protocol_min": SSLProtocols.tls12,
        }
    return {
        "address": host,
        "port": port,
        "interface": Interfaces.ASGI,
        # HTTP/1.1 only. With HTTP/2 on ("auto"), granian first waits, without any timeout, for bytes that tell
        # the two apart, so a connection that sends nothing was held forever; and HTTP/2 requests escape the
        # limits below (its header lists may reach 16 MB, it has no header timeout).
        "http": HTTPModes.http1,
        "websockets": False,
        "backlog": BACKLOG,
        # Connections served at once by each process; beyond them granian stops accepting, and new connections
        # wait in the kernel's listen queue (BACKLOG) until a connection ends.
        "backpressure": settings.http_max_connections,
        "http1_settings": HTTP1Settings(
            header_read_timeout=max(1, round(settings.http_header_timeout_seconds * 1000)),
            max_buffer_size=settings.http_max_header_bytes,
        ),
        "log_level": LogLevels(LOG_LEVELS[settings.log_level.lower()]),
        "log_access": False,  # ours (api/app.py) leaves query strings out
        **tls,
    }


def _holder(sock: socket.socket) -> Any:
    """granian's handle of the socket, which owns (and closes) the file descriptor from now on."""
    holder: Any = SocketHolder
    return holder(sock.detach(), False, BACKLOG)  # (fd, is_uds, backlog); granian's stub omits __new__


def _app(settings: Settings, started: Callable[[], None]) -> Any:
    return Application(settings, started)


class _Embedded(EmbeddedServer):
    sock: socket.socket

    def _init_shared_socket(self) -> None:  # granian 2.8 internals: serve the socket `serve` bound
        self._ssp = None
        self._sfd = self.sock.fileno()  # type: ignore[assignment]
        self._shd = _holder(self.sock)


class _Processes(MPServer):
    sock: socket.socket

    def _init_shared_socket(self) -> None:  # granian 2.8 internals: every worker inherits this one socket
        self._ssp = None
        self._sfd = self.sock.fileno()  # type: ignore[assignment]
        self._shd = _holder(self.sock)
        self._sso = socket.socket(fileno=self._sfd)  # as granian's own path off Linux does
        self._sso.set_inheritable(True)


async def _serve_embedded(settings: Settings, sock: socket.socket, ready: Callable[[], None]) -> int:
    server = _Embedded(_app(settings, ready), **_options(settings, sock))
    server.sock = sock
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, server.stop)
    with turn_buffered_logs(loop):
        await server.serve()
    return 3 if server.interrupt_children else 0  # 3: the lifespan start-up failed, as uvicorn answered


class TurnBufferedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler whose records from the event loop's thread are written together, once per turn of the
    loop, instead of one write() each.

    A write() releases the GIL, and one of granian's threads takes it meanwhile: with `--access-log` (a line per
    request) the loop's thread spent ~48 us per create in StreamHandler.emit, ~9 us of it its own work (py-spy
    of the create load, bench/results/create_ab.txt, 2026-12-07). The lines of a turn (a group commit answers
    dozens of requests in one) now cost one write, at the start of the next turn, microseconds later. Records
    from other threads, and any record once the loop is closed, are written at once, after what was held.
    """

    def __init__(self, stream: Any, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(stream)
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._held: list[str] = []
        self._scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        if threading.get_ident() == self._loop_thread and not self._loop.is_closed():
            self._held.append(line)
            if not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self._write_held)
            return
        self._held.append(line)
        self._write_out()

    def hold_info(self, name: str, message: str) -> bool:
        """Hold the line an INFO record of logger `name` would give, formatted without a LogRecord when this
        handler formats and filters as `serve` set it up; False (nothing held) otherwise, or off the loop's
        thread: the caller then logs the usual way. The access line's way past logging (api/app.py): with the
        LogRecord, Logger.handle and Formatter.format a line cost 5.8-6.1 us, this way 2.8-2.9 (timeit, and ~8-15
        us less a create in process, bench/results/create_ab.txt, 2026-12-07).
        """
        if self.filters or self.level > logging.INFO or threading.get_ident() != self._loop_thread:
            return False
        info_line = getattr(self.formatter, "info_line", None)
        if info_line is None or self._loop.is_closed():
            return False
        self.acquire()  # as around emit: the formatter's per-second cache is shared with other threads' records
        try:
            line = info_line(name, message)
            if line is None:
                return False
            self._held.append(line + self.terminator)
            if not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self._write_held)
        finally:
            self.release()
        return True

    def _write_held(self) -> None:
        self.acquire()
        try:
            self._write_out()
        finally:
            self.release()

    def _write_out(self) -> None:
        """Under the handler's lock (logging holds it around emit)."""
        self._scheduled = False
        if self._held:
            text, self._held = "".join(self._held), []
            try:
                self.stream.write(text)
                self.stream.flush()
            except Exception:
                self.handleError(logging.makeLogRecord({"msg": "held log lines", "levelno": logging.ERROR}))

    def flush(self) -> None:
        self.acquire()
        try:
            self._write_out()
            super().flush()
        finally:
            self.release()


@contextlib.contextmanager
def turn_buffered_logs(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """The root logger's stream handlers (cli.configure_logging's) replaced by TurnBufferedHandlers while the
    block runs, and put back (with every held line written) after it."""
    root = logging.getLogger()
    replaced: list[tuple[logging.Handler, TurnBufferedHandler]] = []
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler:
            buffered = TurnBufferedHandler(handler.stream, loop)
            buffered.setLevel(handler.level)
            buffered.setFormatter(handler.formatter)
            for flt in handler.filters:
                buffered.addFilter(flt)
            root.addHandler(buffered)
            root.removeHandler(handler)
            replaced.append((handler, buffered))
    try:
        yield
    finally:
        for handler, buffered in replaced:
            buffered.flush()
            root.addHandler(handler)
            root.removeHandler(buffered)


def _serve_processes(settings: Settings, sock: socket.socket, ready: Callable[[], None]) -> int:
    started_r, started_w = os.pipe()
    parent = os.getpid()

    def load(*_: Any) -> Any:  # runs in each worker process, after the fork
        _die_with_parent(parent)

        def started() -> None:
            with contextlib.suppress(OSError):  # a worker respawned later: no one counts any more
                os.write(started_w, b"!")

        return _app(settings, started)

    def wait_for_workers() -> None:
        with os.fdopen(started_r, "rb", buffering=0) as pipe:
            count = 0
            while count < settings.workers and (got := pipe.read(settings.workers - count)):
                count += len(got)
            if count == settings.workers:
                ready()

    _coalescing_loop_in_workers()
    server = _Processes(
        "mycpaas",
        workers=settings.workers,
        loop=Loops.asyncio,
        # A worker that crashed is replaced; one that fails again within 5.5 s of that stops the server.
        respawn_failed_workers=True,
        **_options(settings, sock),
    )
    server.sock = sock
    threading.Thread(target=wait_for_workers, name="mycpaas-ready", daemon=True).start()
    try:
        server.serve(target_loader=load, wrap_loader=False)
    except SystemExit as exit_:  # granian exits 1 when a worker died (its start-up failed)
        return exit_.code if isinstance(exit_.code, int) else 1
    finally:
        os.close(started_w)
    return 0


def _coalescing_loop_in_workers() -> None:
    """granian 2.8 builds each worker's loop from its registry, in the forked worker: ours is its `asyncio`."""

    def build() -> asyncio.AbstractEventLoop:
        loop = CoalescingLoop()
        asyncio.set_event_loop(loop)
        return loop

    granian_loops.register(Loops.asyncio.value)(build)


def _allow_open_files(wanted: int) -> None:
    """Raise this process's soft limit of open files (inherited by workers) towards `wanted`.

    Many systems start services with a soft limit of 1024. Reaching it while connections are below
    MYCPAAS_HTTP_MAX_CONNECTIONS would refuse every new connection and fail database and webhook sockets too.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning(
            "open files are limited to %d, fewer than MYCPAAS_HTTP_MAX_CONNECTIONS + %d: raise the limit "
            "(systemd: LimitNOFILE=) or lower MYCPAAS_HTTP_MAX_CONNECTIONS",
            soft,
            SPARE_FILES,
        )


def _die_with_parent(parent: int) -> None:
    """SIGTERM this worker when the parent dies, even by kill -9 (Linux); a worker orphaned already exits."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os._exit(1)


def _quiet_embedded_warning(record: logging.LogRecord) -> bool:
    return "Embedded server is experimental" not in record.getMessage()
