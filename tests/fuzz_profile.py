"""Hypothesis settings for every property and fuzz test: deterministic by default, longer on request.

`make test` derandomizes (the same examples every run, so a failure in CI is a failure on every machine, and
no example database is written). `MYCPAAS_TEST_FUZZ=<factor>` runs <factor> times as many examples from a
random seed and keeps Hypothesis' example database in .hypothesis/, so a local hunt replays what it found:

    MYCPAAS_TEST_FUZZ=50 .venv/bin/python -m pytest tests/unit/test_properties_*.py tests/integration/test_fuzz_api.py
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ_FACTOR = max(1, int(os.environ.get("MYCPAAS_TEST_FUZZ") or 1))
EXPLORING = "MYCPAAS_TEST_FUZZ" in os.environ

# The autouse fixtures of tests/conftest.py are function-scoped; none holds state an example could leak into.
_COMMON = {
    "deadline": None,  # a busy CI machine is no reason to fail a property
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    "print_blob": True,
}
settings.register_profile("ci", derandomize=True, database=None, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("explore", max_examples=100 * FUZZ_FACTOR, **_COMMON)  # type: ignore[arg-type]
settings.load_profile("explore" if EXPLORING else "ci")


def examples(count: int) -> int:
    """`count` examples in CI, `count` times the factor when exploring."""
    return count * FUZZ_FACTOR
