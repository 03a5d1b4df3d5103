"""FailureThrottle: a sliding window of failures per key, driven by an injected clock; several processes
sharing their counts through one table (a stand-in for throttle_failures)."""

from __future__ import annotations

import asyncio

from mycpaas.services.throttle import MAX_KEY_CHARS, FailureThrottle, storable


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


def test_limited_names_the_key_whose_limit_was_hit() -> None:
    throttle, clock = make(max_failures=2)
    throttle.record_failure(["ip:a", "account:AC1"])
    clock.advance(10)
    throttle.record_failure(["ip:b", "account:AC1"])
    assert throttle.limited(["ip:c", "account:AC1"]) == ("account:AC1", 51)
    throttle.record_failure(["ip:c"])
    throttle.record_failure(["ip:c"])
    assert throttle.limited(["ip:c", "account:AC2"]) == ("ip:c", 61)
    assert throttle.limited(["ip:c", "account:AC1"]) == ("ip:c", 61)  # the longest wait
    assert throttle.limited(["ip:d", "account:AC2"]) is None


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


class Table:
    """Stands in for throttle_failures: what every process has added, by (key, bucket)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.rows: dict[tuple[str, int], int] = {}
        self.exchanges = 0

    def seconds(self) -> float:
        return self.clock()

    async def exchange(self, deltas: dict[tuple[str, int], int], since: int) -> dict[str, dict[int, int]]:
        self.exchanges += 1
        for slot, n in deltas.items():
            self.rows[slot] = self.rows.get(slot, 0) + n
        keys = {key for key, _ in deltas}
        found: dict[str, dict[int, int]] = {key: {} for key in keys}
        for (key, bucket), n in self.rows.items():
            if key in keys and bucket >= since:
                found[key][bucket] = n
        return found


def processes(count: int, max_failures: int = 4, window: float = 10.0) -> tuple[list[FailureThrottle], Table]:
    table = Table(Clock())
    return [FailureThrottle(max_failures, window, shared=table) for _ in range(count)], table


def test_processes_sharing_a_table_count_each_others_settled_failures() -> None:
    async def scenario() -> None:
        (a, b, c), table = processes(3, max_failures=4)
        for n in range(4):  # round-robin: every failure settles before the next try
            throttle = (a, b, c)[n % 3]
            assert throttle.retry_after(["ip:x"]) is None
            throttle.record_failure(["ip:x"])
            await throttle.settle()
        # The process that settled last knows all four; the others learn of failures when theirs settle.
        assert a.retry_after(["ip:x"]) is not None
        assert b.retry_after(["ip:x"]) is None  # b last read the total when it had 2
        b.record_failure(["ip:x"])  # one more at most per process that was behind
        await b.settle()
        assert b.retry_after(["ip:x"]) is not None
        # Other processes' failures leave the window with their bucket (a tenth of the window late at most).
        table.clock.advance(10.0 + 1.0 + 0.001)
        assert a.retry_after(["ip:x"]) is None and b.retry_after(["ip:x"]) is None

    asyncio.run(scenario())


def test_failures_recorded_together_share_one_exchange_and_a_withdrawal_is_shared() -> None:
    async def scenario() -> None:
        (a, b), table = processes(2, max_failures=3)
        for _ in range(3):
            a.record_failure(["ip:y", "ip-email:y e"])
        a.withdraw(["ip:y", "ip-email:y e"])  # an attempt that succeeded, taken back before the flush
        await a.settle()
        assert table.exchanges == 1
        assert sum(n for (key, _), n in table.rows.items() if key == "ip:y") == 2
        b.record_failure(["ip:y"])
        await b.settle()
        assert b.retry_after(["ip:y"]) is not None  # 2 of a's and 1 of its own
        b.withdraw(["ip:y"])
        await b.settle()
        assert b.retry_after(["ip:y"]) is None

    asyncio.run(scenario())


def test_retry_after_counts_other_processes_failures_until_their_bucket_leaves_the_window() -> None:
    async def scenario() -> None:
        (a, b), table = processes(2, max_failures=2, window=10.0)
        a.record_failure(["k"])  # at t=1000, bucket [1000, 1001)
        await a.settle()
        table.clock.advance(5)
        b.record_failure(["k"])  # at t=1005
        await b.settle()
        # a's failure leaves b's view when its bucket has left the window: t=1011, 6 s from now (+1).
        assert b.retry_after(["k"]) == 7

    asyncio.run(scenario())


def test_keys_the_shared_table_cannot_hold_are_stored_as_digests() -> None:
    assert storable("account:AC" + "a" * 32) == "account:AC" + "a" * 32
    assert storable("e" * MAX_KEY_CHARS) == "e" * MAX_KEY_CHARS
    odd = ["e" * (MAX_KEY_CHARS + 1), "e" * (MAX_KEY_CHARS + 2), "a\x00", "a\x00b", "\ud800", "\udc00"]
    stored = [storable(key) for key in odd]
    assert all(len(key) <= MAX_KEY_CHARS and "\x00" not in key and key.isascii() for key in stored)
    assert len(set(stored)) == len(odd)
