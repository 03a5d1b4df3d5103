"""The log's search text (domain/message_search.py) and the CSV export's cells (dashboard/csv_export.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mycpaas.dashboard.csv_export import safe_cell
from mycpaas.domain.message_search import BadSearch, Search, parse_search

SID = "SM0123456789abcdef0123456789abcdef"


def test_a_sid_is_one_message() -> None:
    assert parse_search(f"  {SID} ") == Search(sid=SID)
    assert parse_search("MM" + SID[2:]) == Search(sid="MM" + SID[2:])
    # Not quite a SID: searched as a word (upper-case hex is not a SID of ours; 31 digits is not one).
    assert parse_search(SID.upper()) == Search(words=(SID.upper(),))
    assert parse_search(SID[:-1]) == Search(words=(SID[:-1],))


def test_words_split_on_white_space_once_each() -> None:
    assert parse_search("") == Search()
    assert parse_search("   ") == Search()
    assert parse_search("quick  brown\tfox quick") == Search(words=("quick", "brown", "fox"))
    assert parse_search('+1555 "%_') == Search(words=("+1555", '"%_'))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("hi there", "at least 3 characters"),
        ("✓✓", "at least 3 characters"),
        ("x" * 201, "at most 200 characters"),
        (" ".join(f"w{n:02d}" for n in range(9)), "at most 8 words"),
    ],
)
def test_searches_that_cannot_be_looked_up(text: str, says: str) -> None:
    with pytest.raises(BadSearch, match=says):
        parse_search(text)


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+15551234567", "'+15551234567"),
        ("-3", "'-3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ('plain, "quoted"', 'plain, "quoted"'),
        ("", ""),
        (None, ""),
        (30004, "30004"),
        (datetime(2026, 12, 7, 16, 5, 9, 123456), "2026-12-07T16:05:09Z"),
        (datetime(2026, 12, 7, 17, 5, 9, tzinfo=timezone(timedelta(hours=1))), "2026-12-07T16:05:09Z"),
        (datetime(2026, 12, 7, 16, 5, 9, tzinfo=UTC), "2026-12-07T16:05:09Z"),
    ],
)
def test_cells_a_spreadsheet_would_evaluate_are_quoted(value: object, cell: str) -> None:
    assert safe_cell(value) == cell
