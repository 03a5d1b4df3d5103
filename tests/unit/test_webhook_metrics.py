"""metrics.webhook_attempts (a batch of attempts counted once per series, as the dispatcher counts them) adds
exactly what prometheus_client's own inc() and observe(), one attempt at a time, add."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import mycpaas.metrics as metrics

OUTCOMES = ("delivered", "retrying", "failed")


def _values() -> dict[str, Any]:
    values = {}
    for outcome in OUTCOMES:
        counter, histogram = metrics._attempt_series(outcome)
        values[outcome] = (
            counter._value.get(),
            round(histogram._sum.get(), 6),
            tuple(bucket.get() for bucket in histogram._buckets),
        )
    return values


def _delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {
        outcome: (
            after[outcome][0] - before[outcome][0],
            round(after[outcome][1] - before[outcome][1], 6),
            tuple(a - b for a, b in zip(after[outcome][2], before[outcome][2], strict=True)),
        )
        for outcome in OUTCOMES
    }


durations = st.one_of(st.none(), st.sampled_from([0, 5, 10, 11, 250, 30_000, 30_001]), st.integers(0, 60_000))


@settings(max_examples=50)
@given(st.lists(st.tuples(st.sampled_from(OUTCOMES), durations), max_size=40))
def test_a_batch_counts_as_its_attempts_one_by_one(attempts: list[tuple[str, int | None]]) -> None:
    before = _values()
    for outcome, duration_ms in attempts:
        counter, histogram = metrics._attempt_series(outcome)
        counter.inc()
        if duration_ms is not None:
            histogram.observe(duration_ms / 1000)
    one_by_one = _delta(before, _values())
    before = _values()
    metrics.webhook_attempts(attempts)
    assert _delta(before, _values()) == one_by_one
