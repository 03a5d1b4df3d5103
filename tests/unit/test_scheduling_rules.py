"""domain/scheduling.py: which requests schedule, SendAt's formats, and Twilio's window and codes at its edges."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from mycpaas.domain.scheduling import MAX_LEAD, parse_send_at, requested_send_time
from mycpaas.errors import ErrorCode, InvalidRequest

NOW = datetime(2030, 5, 1, 12, 0, 0)


def code(schedule_type: str | None, send_at: str | None, has_service: bool = True, lead: float = 300) -> int:
    with pytest.raises(InvalidRequest) as refused:
        requested_send_time(schedule_type, send_at, has_service, NOW, lead)
    return int(refused.value.code)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2030-05-01T12:10:00Z", datetime(2030, 5, 1, 12, 10)),
        ("2030-05-01T14:10:00+02:00", datetime(2030, 5, 1, 12, 10)),
        ("2030-05-01T12:10:00", datetime(2030, 5, 1, 12, 10)),  # no offset: UTC
        ("2030-05-01T12:10:00.250Z", datetime(2030, 5, 1, 12, 10, 0, 250000)),
        (" 2030-05-01T12:10:00Z ", datetime(2030, 5, 1, 12, 10)),
        ("2030-05-01", datetime(2030, 5, 1)),
    ],
)
def test_iso_8601_forms_are_read_as_utc(raw: str, expected: datetime) -> None:
    assert parse_send_at(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "tomorrow", "2030-W18-3", "20300501T121000Z", "05/01/2030 12:10:00", "Wed, 01 May 2030 12:10:00 +0000",
     "2030-02-30T00:00:00Z", "2030-05-01T25:00:00Z",
     "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59", "2030-05-01T12:10:00Z\u0000", "１２３４-05-01"],
)  # fmt: skip
def test_other_forms_are_not_send_times(raw: str) -> None:
    assert parse_send_at(raw) is None


def test_no_schedule_type_schedules_nothing_whatever_send_at_says() -> None:
    for send_at in (None, "", "garbage", iso(NOW + timedelta(hours=1))):
        assert requested_send_time(None, send_at, True, NOW, 300) is None
        assert requested_send_time("", send_at, False, NOW, 300) is None


def test_the_window_is_inclusive_at_both_ends() -> None:
    soonest, latest = NOW + timedelta(seconds=300), NOW + MAX_LEAD
    assert requested_send_time("fixed", iso(soonest), True, NOW, 300) == soonest
    assert requested_send_time("fixed", iso(latest), True, NOW, 300) == latest
    assert code("fixed", iso(soonest - timedelta(seconds=1))) == 35114
    assert code("fixed", iso(NOW - timedelta(days=1))) == 35114
    assert code("fixed", iso(latest + timedelta(seconds=1))) == 35115
    assert requested_send_time("fixed", iso(NOW), True, NOW, 0) == NOW  # the test-only setting


def test_codes_come_in_twilios_order() -> None:
    assert code("recurring", None, has_service=False) == int(ErrorCode.INVALID_PARAMETER)
    assert code("fixed", None, has_service=False) == 35111
    assert code("fixed", "  ", has_service=False) == 35111
    assert code("fixed", "garbage", has_service=False) == 35118
    assert code("fixed", "garbage") == 35114
