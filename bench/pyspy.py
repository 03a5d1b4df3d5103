"""py-spy's raw stacks summarised: self time by package and by function, and the deepest frame of our own code.

Shared by bench/scale_profile.py (PostgreSQL, scale.py's loads) and bench/profile.py (issue 15's SQLite creates
and SMPP end-to-end loads), so that both profiles group samples the same way and read side by side.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]+):(?P<line>\d+)\)$")
NATIVE = "(no Python frame: native code, e.g. granian's Rust threads)"
NONE_OF_OURS = "(no frame of ours: SQLAlchemy's greenlet stacks, granian's callbacks, the loop)"
TOP = 12


def package(file: str) -> str:
    """The bucket of a source file as py-spy prints it (site-packages and stdlib paths shortened)."""
    parts = file.split("/")
    if parts[0] == "mycpaas" and len(parts) > 2:
        return f"mycpaas.{parts[1]}"
    return parts[0].removesuffix(".py")


def frames(stack: str) -> list[tuple[str, str]]:
    """(function, file) of each frame of a raw stack, outermost first; the process/thread frames aside."""
    found = []
    for frame in stack.split(";"):
        match = FRAME.match(frame)
        if match:
            found.append((match["function"], match["file"]))
    return found


def summarise(raw: Path, what: str) -> list[str]:
    self_package: Counter[str] = Counter()
    self_function: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        found = frames(stack)
        if not found:
            self_package[NATIVE] += count
            self_function[NATIVE] += count
            ours[NATIVE] += count
            continue
        function, file = found[-1]
        self_package[package(file)] += count
        self_function[f"{function} ({file})"] += count
        own = [frame for frame in found if frame[1].startswith("mycpaas/")]
        ours[f"{own[-1][0]} ({own[-1][1]})" if own else NONE_OF_OURS] += count

    def share(counter: Counter[str], limit: int = TOP) -> list[str]:
        return [f"    {100 * n / max(total, 1):5.1f}%  {name}" for name, n in counter.most_common(limit)]

    return [
        f"  py-spy, {what}: {total} samples",
        "   self time by package:",
        *share(self_package),
        "   top functions by self time:",
        *share(self_function),
        "   deepest frame of our code (self time of what it calls included):",
        *share(ours),
    ]
