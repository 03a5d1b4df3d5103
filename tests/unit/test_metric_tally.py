"""metrics: on the serving loop, requests and creates are tallied and written once per turn; the same totals."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mycpaas import metrics

SCOPE = {"method": "POST", "route": "/test/tally"}


def _samples() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for s in family.samples
        if s.labels.get("route") == "/test/tally" or s.labels.get("direction") == "test-tally"
    }


def test_tallied_counts_are_written_at_the_next_turn_and_before_an_exposition() -> None:
    before = _samples()

    def added(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return _samples().get(key, 0.0) - before.get(key, 0.0)

    async def main() -> None:
        metrics.defer_to(asyncio.get_running_loop())
        try:
            for seconds in (0.0005, 0.003, 0.003, 20.0):
                metrics.observe_http(SCOPE, 201, seconds)
            metrics.message_created("test-tally", 3)
            metrics.message_created("test-tally", 1)
            assert metrics._TALLY.counts  # held until the loop turns
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            assert not metrics._TALLY.counts and not metrics._TALLY.observed
            metrics.observe_http(SCOPE, 201, 0.0005)
            # An exposition on the loop's thread writes the tally first.
            assert added("mycpaas_http_requests_total", route="/test/tally", method="POST", status="201") == 5
        finally:
            metrics.defer_to(None)

    asyncio.run(main())
    labels = {"route": "/test/tally", "method": "POST"}
    assert added("mycpaas_http_request_duration_seconds_count", **labels) == 5
    assert added("mycpaas_http_request_duration_seconds_sum", **labels) == pytest.approx(20.007)
    assert added("mycpaas_http_request_duration_seconds_bucket", **labels, le="0.001") == 2
    assert added("mycpaas_http_request_duration_seconds_bucket", **labels, le="0.005") == 4
    assert added("mycpaas_http_request_duration_seconds_bucket", **labels, le="10.0") == 4
    assert added("mycpaas_http_request_duration_seconds_bucket", **labels, le="+Inf") == 5
    assert added("mycpaas_messages_created_total", direction="test-tally") == 2
    assert added("mycpaas_message_segments_total", direction="test-tally") == 4


def test_counts_from_another_loop_are_written_at_once() -> None:
    async def other() -> None:
        metrics.message_created("test-tally", 1)
        assert not metrics._TALLY.counts

    async def serving() -> None:
        metrics.defer_to(asyncio.get_running_loop())
        try:
            await asyncio.to_thread(asyncio.run, other())
        finally:
            metrics.defer_to(None)

    asyncio.run(serving())
