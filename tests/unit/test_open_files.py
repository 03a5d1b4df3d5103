"""server._allow_open_files: `serve` raises its soft open-files limit to fit MYCPAAS_HTTP_MAX_CONNECTIONS.

Run in a child process: the limits are the process's own, and a lowered hard limit cannot be raised again.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys

import pytest

CHILD = """
import json, logging, resource
from mycpaas.server import _allow_open_files
warnings = []
logging.getLogger("mycpaas").addHandler(type("H", (logging.Handler,), {"emit": lambda s, r: warnings.append(r.getMessage())})())
resource.setrlimit(resource.RLIMIT_NOFILE, (256, 4096))
_allow_open_files(2024)
raised = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (256, 300))
_allow_open_files(2024)
print(json.dumps({"raised": raised, "capped": resource.getrlimit(resource.RLIMIT_NOFILE), "warnings": warnings}))
"""


def test_the_soft_limit_is_raised_within_the_hard_limit_and_a_short_hard_limit_is_reported() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip(f"this machine's hard limit of open files is {hard}")
    child = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=True
    )
    result = json.loads(child.stdout)
    assert result["raised"] == [2024, 4096]
    assert result["capped"] == [300, 300]
    [warning] = result["warnings"]
    assert "open files are limited to 300" in warning and "MYCPAAS_HTTP_MAX_CONNECTIONS" in warning
