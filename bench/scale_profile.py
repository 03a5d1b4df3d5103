"""Where the limit is: bench/scale.py's loads under py-spy and pg_stat_statements.

    .venv/bin/python bench/scale_profile.py [--py-spy PATH] [scale.py's options; default
        --phases creates,e2e --api 1 --delivery 1 --seconds 20]

Runs on a throwaway PostgreSQL cluster of its own (tests/cluster/harness.py ThrowawayPostgres, fsync on,
shared_preload_libraries=pg_stat_statements; never the machine's shared server), so its rates are not
bench/scale.py's: py-spy samples the process under load and the cluster is another one. Around each measured
load (scale.py's `watch`):

- py-spy (`record --format raw --nonblocking`, 100 samples/s; --subprocesses for a `--workers` parent) on
  the first process of the role under load: the API process for creates, the delivery process for end to end.
  Summarised as self time by package (sqlalchemy, asyncpg, granian, json, asyncio, mycpaas.<part>, ...), the
  top functions by self time, and the deepest frame of our own code in each sample (what our code spends,
  libraries included). granian's Rust side and C extensions without Python frames are not sampled.
- pg_stat_statements, reset before the load: the statements by total execution time with their calls and
  time per message (the benchmark's own queries, tagged, left out).

py-spy is installed apart from the project (`python3 -m venv /tmp/pyspy && /tmp/pyspy/bin/pip install
py-spy`). The summaries are printed and appended to bench/results/scale-profile.txt; the raw stacks stay in
the temporary directory printed at the start.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pyspy import TOP, summarise  # noqa: E402
from bench.scale import (  # noqa: E402
    BENCH_TAG,
    Database,
    header,
    load_average,
    parser,
    process_tree,
    run,
    throwaway,
)
from tests.cluster.harness import Cluster  # noqa: E402

IN_LIST = re.compile(r"IN \(\$\d+[^()]*?\)")  # SQLAlchemy's expanded IN: one statement per list length


def statements(db: Database, messages: int) -> list[str]:
    """pg_stat_statements' rows, those differing only in an IN list's length counted as one."""
    rows = db.rows(
        "select query, calls, total_exec_time, rows from pg_stat_statements "
        "where dbid = (select oid from pg_database where datname = current_database()) "
        f"and query not like '{BENCH_TAG.strip()}%'"
    )
    calls: Counter[str] = Counter()
    milliseconds: Counter[str] = Counter()
    for row in rows:
        shape = IN_LIST.sub("IN (...)", " ".join(row["query"].split()))
        calls[shape] += row["calls"]
        milliseconds[shape] += row["total_exec_time"]
    per_message = max(messages, 1) / 1000  # us per message from milliseconds
    lines = [
        f"  pg_stat_statements: {len(calls)} statements, {sum(calls.values()) / max(messages, 1):.1f} calls and "
        f"{sum(milliseconds.values()) / per_message:.0f} us execution per message ({messages} messages); "
        "top by total time: calls/msg, us/msg, mean us, query"
    ]
    for shape, spent in milliseconds.most_common(TOP):
        lines.append(
            f"    {calls[shape] / max(messages, 1):5.2f} {spent / per_message:6.0f} "
            f"{1000 * spent / max(calls[shape], 1):6.0f}  {shape[:160]}"
        )
    return lines


class Profiler:
    """scale.py's `watch`: py-spy on the role's first process and pg_stat_statements around the load."""

    def __init__(self, py_spy: str, directory: Path) -> None:
        self.py_spy, self.directory = py_spy, directory
        self.lines: list[str] = []
        self.runs = 0

    def __call__(self, cluster: Cluster, role: str) -> AbstractContextManager[None]:
        return self._watch(cluster, role)

    @contextmanager
    def _watch(self, cluster: Cluster, role: str) -> Iterator[None]:
        self.runs += 1
        server = cluster.role(role)[0]
        assert server.pid is not None
        db = Database(cluster.database_url)
        db.value("create extension if not exists pg_stat_statements")
        db.value("select pg_stat_statements_reset()")
        before = db.value("select count(*) from messages")
        raw = self.directory / f"{self.runs}-{role}.raw"
        children = process_tree({server.pid}) != {server.pid}
        spy = subprocess.Popen(
            [self.py_spy, "record", "--pid", str(server.pid), "--format", "raw", "--output", str(raw),
             "--rate", "100", "--nonblocking", *(["--subprocesses"] if children else [])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            yield
        finally:
            spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled and exits
            _, errors = spy.communicate(timeout=60)
            messages = db.value("select count(*) from messages") - before
            what = f"{role} process {'tree ' if children else ''}under the {'creates' if role == 'api' else 'end-to-end'} load"
            self.lines.append(f"{what} ({load_average()} at its end):")
            if raw.exists():
                self.lines += summarise(raw, what)
            else:
                self.lines.append(f"  py-spy wrote nothing: {errors.decode(errors='replace')[-300:]}")
            self.lines += statements(db, messages)
            db.close()


def main() -> int:
    options = parser(__doc__)
    options.set_defaults(phases="creates,e2e", api=[1], delivery=[1], seconds=20)
    options.add_argument("--py-spy", default="/tmp/pyspy/bin/py-spy", help="the py-spy executable")
    args = options.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="mycpaas-scale-profile-"))
    print(f"raw stacks in {directory}", flush=True)
    with throwaway(fsync="on", shared_preload_libraries="pg_stat_statements"):
        profiler = Profiler(args.py_spy, directory)
        lines = [
            header(args) + " (throwaway cluster, stock settings and pg_stat_statements; servers under py-spy)"
        ]
        print(lines[0], flush=True)
        lines += run(args, profiler)
        lines += profiler.lines
        print("\n".join(profiler.lines), flush=True)
    with (ROOT / "bench" / "results" / "scale-profile.txt").open("a") as handle:
        handle.write("\n".join(lines) + "\n\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
