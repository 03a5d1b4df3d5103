"""Issue 15's targets, and the one way a benchmark reports a measurement against them.

    .venv/bin/python bench/report.py [--run ID] [--output bench/results/targets.txt]

A benchmark that measures a target calls `record(target, value, detail)` once per measurement; each call
appends one JSON line to bench/results/targets.jsonl (the run's id from $MYCPAAS_BENCH_RUN, set by run.sh,
the time, the commit, the machine's load average at that moment) and prints `RATIO target=value ...`, so a
human reading the output sees it too. `python bench/report.py` (run.sh's last step) reads the lines of one run
and prints and appends the table of every target (measured, threshold, pass/fail, load) to
bench/results/targets.txt. A target no script recorded shows as `not measured`: a missing baseline is a fail,
never a silent pass.

Why a file rather than parsing each script's prose: the scripts are edited by several people at once, and a
sentence that changes its wording would silently drop a target from the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
JSONL = RESULTS / "targets.jsonl"
RUN_VARIABLE = "MYCPAAS_BENCH_RUN"


@dataclass(frozen=True)
class Target:
    """What is measured, the threshold and on which side of it a pass lies."""

    name: str
    what: str
    threshold: float
    at_most: bool = False  # True: a pass is value <= threshold (p99, memory growth); else value >= threshold
    percent: bool = True  # shown as a percentage (ratios, growth) rather than as is (milliseconds)
    strict: bool = False  # the threshold itself fails (p99 < 50 ms)

    def passes(self, value: float) -> bool:
        if self.strict and value == self.threshold:
            return False
        return value <= self.threshold if self.at_most else value >= self.threshold

    def show(self, value: float) -> str:
        return f"{value:.1%}" if self.percent else f"{value:.1f}"

    @property
    def goal(self) -> str:
        sign = ("<" if self.at_most else ">") + ("" if self.strict else "=")
        return f"{sign} {self.show(self.threshold)}"


# Issue 15's targets, in its order; the names are what the scripts pass to record().
TARGETS = [
    Target("create_sqlite_api", "creates, SQLite, API only / raw ASGI baseline (http_create.py)", 0.40),
    Target(
        "create_sqlite_api_p99_ms",
        "creates, SQLite, API only: p99 ms at 50 connections",
        50.0,
        True,
        False,
        True,
    ),
    Target("create_sqlite_worker", "creates, SQLite, with the delivery worker / baseline", 0.25),
    Target(
        "create_postgres_api", "creates, PostgreSQL, API only / baseline (http_create.py --postgres)", 0.25
    ),
    Target("smpp_e2e", "end to end over SMPP / bare submit loop (smpp_e2e.py)", 0.25),
    Target("webhooks_sqlite", "callbacks/s, SQLite / bare signed-POST loop (webhooks.py)", 0.50),
    Target(
        "webhooks_postgres", "callbacks/s, PostgreSQL / bare signed-POST loop (webhooks.py --postgres)", 0.30
    ),
    Target(
        "memory_rss_growth", "server RSS growth after warm-up, 10-minute mixed load (soak.py)", 0.10, True
    ),
]
BY_NAME = {target.name: target for target in TARGETS}


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def commit() -> str:
    """HEAD's short hash, with `+src` when src/ differs from it (what was measured is not that commit)."""
    git = ["git", "-C", str(ROOT)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    dirty = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", "src"], check=False).returncode != 0
    return (head.stdout.strip() or "unknown") + ("+src" if dirty else "")


def record(target: str, ratio: float, detail: str) -> None:
    """One measurement of `target` (a name in TARGETS; another name is kept and shown as information only):
    `ratio` is the measured value (a fraction for ratios and growth, milliseconds for p99), `detail` the
    numbers it came from, in words."""
    line: dict[str, Any] = {
        "run": os.environ.get(RUN_VARIABLE, ""),
        "time": f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S}",
        "commit": commit(),
        "script": Path(sys.argv[0]).name,
        "target": target,
        "value": ratio,
        "load": load_average(),
        "detail": detail,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    with JSONL.open("a") as handle:
        handle.write(json.dumps(line) + "\n")
    print(f"RATIO {target}={ratio:.4f} load={line['load'].replace(' ', ',')} {detail}", flush=True)


def read(run: str) -> list[dict[str, Any]]:
    """The lines of one run, in the order they were recorded."""
    if not JSONL.exists():
        return []
    lines = [json.loads(text) for text in JSONL.read_text().splitlines() if text.strip()]
    return [line for line in lines if line.get("run") == run]


def table(run: str) -> tuple[list[str], bool]:
    """The targets of one run (the last measurement of each), and whether every one passed."""
    measured: dict[str, dict[str, Any]] = {}
    for line in read(run):
        measured[str(line["target"])] = line  # a target measured twice: its last measurement counts
    rows = [("target", "measured", "goal", "result", "load (1, 5, 15 min)", "commit")]
    passed = True
    for target in TARGETS:
        found = measured.pop(target.name, None)
        if found is None:
            rows.append((target.name, "-", target.goal, "not measured", "-", "-"))
            passed = False
            continue
        value = float(found["value"])
        ok = target.passes(value)
        passed &= ok
        rows.append(
            (
                target.name,
                target.show(value),
                target.goal,
                "PASS" if ok else "FAIL",
                str(found["load"]),
                str(found["commit"]),
            )
        )
    for name, line in measured.items():  # recorded under a name that is not a target: shown, not judged
        rows.append(
            (
                name,
                Target(name, "", 0, percent=not name.endswith("_ms")).show(float(line["value"])),
                "-",
                "info",
                str(line["load"]),
                str(line["commit"]),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    out.append("")
    out.append("details:")
    for line in read(run):
        out.append(
            f"  {line['target']} ({line['script']}, {line['time']} UTC, load {line['load']}): {line['detail']}"
        )
    return out, passed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--run", default=os.environ.get(RUN_VARIABLE, ""), help="the run's id (default: $MYCPAAS_BENCH_RUN)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "targets.txt")
    args = parser.parse_args()
    lines, passed = table(args.run)
    lines.insert(
        0,
        f"# issue 15 targets, run {args.run or '(no id)'}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"commit {commit()}, {os.cpu_count()} CPUs, load now {load_average()}",
    )
    print("\n".join(lines))
    with args.output.open("a") as handle:
        handle.write("\n".join(lines) + "\n\n")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
