"""FailureThrottle: a sliding window of failures per key, driven by an injected clock."""

from __future__ import annotations

from mycpaas.services.throttle import FailureThrottle


class Clock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(max_failures: int = 3, window: float = 60.0) -> tuple[FailureThrottle, Clock]:
    clock = Clock()
    return FailureThrottle(max_failures, window, clock=clock), clock


def test_no_failures_means_no_throttle() -> None:
    throttle, _ = make()
    assert throttle.retry_after(["ip:1.2.3.4"]) is None
    assert throttle.retry_after([]) is None


def test_below_the_limit_is_not_throttled() -> None:
    throttle, clock = make(max_failures=3)
    for _ in range(2):
        throttle.record_failure(["ip:a"])
        clock.advance(1)
    assert throttle.retry_after(["ip:a"]) is None


def test_reaching_the_limit_throttles_until_the_oldest_failure_leaves_the_window() -> None:
    throttle, clock = make(max_failures=3, window=60)
    throttle.record_failure(["ip:a"])  # t=0
    clock.advance(10)
    throttle.record_failure(["ip:a"])  # t=10
    clock.advance(10)
    throttle.record_failure(["ip:a"])  # t=20
    # The oldest failure (t=0) expires at t=60: 40 s from now, rounded up to whole seconds.
    assert throttle.retry_after(["ip:a"]) == 41
    clock.advance(39.5)  # t=59.5
    assert throttle.retry_after(["ip:a"]) == 1
    clock.advance(0.5)  # t=60: the t=0 failure is out (the window is half-open)
    assert throttle.retry_after(["ip:a"]) is None


def test_failures_slide_out_one_by_one() -> None:
    throttle, clock = make(max_failures=2, window=30)
    throttle.record_failure(["k"])
    clock.advance(20)
    throttle.record_failure(["k"])
    assert throttle.retry_after(["k"]) is not None
    clock.advance(10)  # first failure expired, second still inside
    assert throttle.retry_after(["k"]) is None
    throttle.record_failure(["k"])
    assert throttle.retry_after(["k"]) == 21  # the t=20 failure expires at t=50; now is t=30 -> 20 s, +1


def test_keys_are_counted_separately() -> None:
    throttle, _ = make(max_failures=2)
    throttle.record_failure(["ip:a", "account:AC1"])
    throttle.record_failure(["ip:b", "account:AC1"])
    assert throttle.retry_after(["ip:a"]) is None
    assert throttle.retry_after(["ip:b"]) is None
    assert throttle.retry_after(["account:AC1"]) is not None
    # Any throttled key throttles the request, e.g. a new address trying the hammered account.
    assert throttle.retry_after(["ip:c", "account:AC1"]) is not None
    assert throttle.retry_after(["ip:c", "account:AC2"]) is None


def test_retry_after_reports_the_longest_wait_among_throttled_keys() -> None:
    throttle, clock = make(max_failures=1, window=100)
    throttle.record_failure(["a"])  # expires at t=100
    clock.advance(50)
    throttle.record_failure(["b"])  # expires at t=150
    assert throttle.retry_after(["a"]) == 51
    assert throttle.retry_after(["b"]) == 101
    assert throttle.retry_after(["a", "b"]) == 101


def test_retry_after_is_always_at_least_one_second_while_throttled() -> None:
    throttle, clock = make(max_failures=1, window=5)
    throttle.record_failure(["a"])
    clock.advance(4.999)
    assert throttle.retry_after(["a"]) == 1


def test_checking_does_not_count_as_a_failure() -> None:
    throttle, _ = make(max_failures=2)
    throttle.record_failure(["a"])
    for _ in range(10):
        assert throttle.retry_after(["a"]) is None


def test_idle_keys_are_forgotten_when_the_table_grows_large() -> None:
    throttle, clock = make(max_failures=5, window=10)
    for i in range(100_001):
        throttle.record_failure([f"ip:{i}"])
    clock.advance(11)  # every one of those failures is now outside the window
    throttle.record_failure(["ip:fresh"])
    assert len(throttle._failures) < 1000
    assert throttle.retry_after(["ip:fresh"]) is None
