"""Benchmark: slow and oversized clients against `mycpaas serve` — the server's memory, and an honest client's latency.

    .venv/bin/python bench/slow_clients.py [--seconds 45] [--workers 1] [--max-connections 1000]

Starts `mycpaas serve` with its default HTTP limits (SQLite for one process, a fresh PostgreSQL database of
$MYCPAAS_TEST_DATABASE_URL for --workers > 1), then runs three phases of `--seconds` each, longer than the 30 s
header and body timeouts so that their cut-offs show (with the groups alone, about 4 * --seconds in all):

- quiet: only the honest client;
- each attacker group below alone, for --group-seconds (what each costs in memory);
- under the cap: attackers in a process of their own keep re-opening, each group at a fixed count of
  connections: slowloris (a header line every second, never the end), unfinished 63 KiB header blocks (the
  issue's "unfinished 16 MB headers", now capped at 64 KiB), 16 MB header lines, 10,000 tiny headers, bodies
  withheld (900 KB of a declared 1 MB, without credentials), and silent connections;
- beyond the cap: more slowloris connections than the server's connection cap (per process, times workers).

Meanwhile an honest client sends an authenticated `GET …/Accounts/<sid>.json` on a new connection every 0.2 s
(latency including connect; a 90 s timeout), and the server's RSS (its process tree) and open files are read
from /proc every second. Results are printed and appended to bench/results/slow_clients.txt with /proc/loadavg.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import multiprocessing
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.databases import create_postgres_database, drop_postgres_database, sqlite_url  # noqa: E402
from tests.server import ServerProcess  # noqa: E402

MB = 1 << 20
UNDER_CAP = {"slowloris": 200, "unfinished_63k_headers": 200, "16mb_header_line": 4, "10000_headers": 4,
             "withheld_body": 50, "silent": 300}  # fmt: skip


# --- attackers (in a process of their own) -------------------------------------------------------------------


async def attacker(kind: str, port: int, path: str, stop_at: float, stats: dict[str, int]) -> None:
    """One connection slot of `kind`, re-opened whenever the server closes it, until `stop_at`."""
    loop = asyncio.get_running_loop()
    while loop.time() < stop_at:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            stats["connect_failed"] = stats.get("connect_failed", 0) + 1
            await asyncio.sleep(0.5)
            continue
        stats[kind] = stats.get(kind, 0) + 1
        try:
            await asyncio.wait_for(act(kind, path, reader, writer), max(0.1, stop_at - loop.time()))
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def act(kind: str, path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Misbehave until the server answers or closes (reader at EOF)."""
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    if kind == "slowloris":
        writer.write(head)
        for i in range(10_000):
            await asyncio.sleep(1)
            writer.write(b"X-%d: v\r\n" % i)
            await writer.drain()
            if reader.at_eof():
                return
    elif kind == "unfinished_63k_headers":
        writer.write(head + b"X-Big: " + b"a" * (63 * 1024))
    elif kind == "16mb_header_line":
        writer.write(head + b"X-Big: ")
        for _ in range(16 * MB // 65536):
            writer.write(b"a" * 65536)
            await writer.drain()
    elif kind == "10000_headers":
        writer.write(head + b"a:b\r\n" * 10_000 + b"\r\n")
    elif kind == "withheld_body":
        writer.write(
            f"POST {path}/Messages.json HTTP/1.1\r\nHost: x\r\nContent-Length: {MB}\r\n".encode()
            + b"Content-Type: application/x-www-form-urlencoded\r\n\r\nBody="
            + b"a" * (900 * 1024)
        )
    await writer.drain()
    await reader.read()  # the answer (431, 408, ...) or EOF when the server closes


def attack(groups: dict[str, int], port: int, path: str, seconds: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    async def main() -> dict[str, int]:
        stats: dict[str, int] = {}
        stop_at = asyncio.get_running_loop().time() + seconds
        tasks = [attacker(kind, port, path, stop_at, stats) for kind, n in groups.items() for _ in range(n)]
        await asyncio.gather(*tasks)
        return stats

    out.put(asyncio.run(main()))


# --- measuring -----------------------------------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    found, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(stat.parent.name))
                    frontier.append(int(stat.parent.name))
    return found


def rss_and_files(pids: list[int]) -> tuple[float, int]:
    rss_kb, files = 0, 0
    for pid in pids:
        with contextlib.suppress(OSError, StopIteration):
            status = Path(f"/proc/{pid}/status").read_text()
            rss_kb += int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])
            files += len(list(Path(f"/proc/{pid}/fd").iterdir()))
    return rss_kb / 1024, files


def honest(
    port: int, path: str, auth: bytes, stop: threading.Event, latencies: list[float], errors: list[str]
) -> None:
    request = f"GET {path}.json HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ".encode() + auth
    request += b"\r\nConnection: close\r\n\r\n"
    while not stop.is_set():
        started = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=90) as sock:
                sock.sendall(request)
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            if not answer.startswith(b"HTTP/1.1 200 "):
                errors.append(answer[:40].decode(errors="replace"))
            else:
                latencies.append(time.monotonic() - started)
        except OSError as error:
            errors.append(type(error).__name__)
        stop.wait(max(0.0, 0.2 - (time.monotonic() - started)))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def phase(name: str, server: ServerProcess, groups: dict[str, int], seconds: float) -> str:
    path = server.accounts_path(server.account_sid)
    auth = base64.b64encode(f"{server.account_sid}:{server.auth_token}".encode())
    pids = tree(server.pid or 0)
    out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    attackers = None
    if groups:
        attackers = multiprocessing.Process(target=attack, args=(groups, server.port, path, seconds, out))
        attackers.start()
    stop = threading.Event()
    latencies: list[float] = []
    errors: list[str] = []
    client = threading.Thread(target=honest, args=(server.port, path, auth, stop, latencies, errors))
    client.start()
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(rss_and_files(pids))
        time.sleep(1)
    stop.set()
    client.join()
    stats = {}
    if attackers is not None:
        stats = out.get(timeout=120)
        attackers.join()
    rss = [s[0] for s in samples]
    files = [s[1] for s in samples]
    lines = [
        f"{name}: attackers {groups or 'none'}",
        f"  connections opened by attackers: {stats or '-'}",
        f"  server RSS MB: start {rss[0]:.0f}, max {max(rss):.0f} (+{max(rss) - rss[0]:.0f}), end {rss[-1]:.0f}; "
        f"open files max {max(files)}",
        f"  honest GETs: {len(latencies)} ok, {len(errors)} failed {sorted(set(errors))[:3]}; latency p50 "
        f"{percentile(latencies, 0.5) * 1000:.0f} ms, p99 {percentile(latencies, 0.99) * 1000:.0f} ms, max "
        f"{max(latencies, default=float('nan')) * 1000:.0f} ms",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-connections", type=int, default=1000)
    parser.add_argument("--group-seconds", type=float, default=10.0, help="each attacker group alone first")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="slow-clients-") as tmp:
        url = sqlite_url(Path(tmp)) if args.workers == 1 else create_postgres_database()
        server = ServerProcess(
            data_dir=Path(tmp),
            database_url=url,
            args=["--workers", str(args.workers)],
            env={
                "MYCPAAS_HTTP_MAX_CONNECTIONS": str(args.max_connections),
                "MYCPAAS_DELIVERY_WORKER": "false",
            },
        )
        server.start()
        load_before = Path("/proc/loadavg").read_text().strip()
        try:
            beyond = {"slowloris": args.max_connections * args.workers + 500}
            report = [
                f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  bench/slow_clients.py --seconds {args.seconds:g} "
                f"--workers {args.workers} --max-connections {args.max_connections} (other settings: defaults)",
                f"loadavg before: {load_before}",
                phase("quiet", server, {}, args.seconds),
                *(
                    phase(f"alone: {kind}", server, {kind: n}, args.group_seconds)
                    for kind, n in UNDER_CAP.items()
                ),
                phase("under the cap", server, UNDER_CAP, args.seconds),
                phase("beyond the cap", server, beyond, args.seconds),
                f"loadavg after: {Path('/proc/loadavg').read_text().strip()}",
            ]
        finally:
            server.stop()
            if url.startswith("postgresql"):
                drop_postgres_database(url)
    text = "\n".join(report) + "\n"
    print(text)
    results = ROOT / "bench" / "results" / "slow_clients.txt"
    with results.open("a") as handle:
        handle.write(text + "\n")


if __name__ == "__main__":
    main()
