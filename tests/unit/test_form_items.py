"""api/body._form_items: the same items as parse_qsl(keep_blank_values=True, max_num_fields=budget)."""

from __future__ import annotations

import random
from urllib.parse import parse_qsl

import pytest

from mycpaas.api.body import _form_items
from mycpaas.errors import InvalidRequest

CASES = [
    "",
    "To=%2B15551220199&From=%2B14154378013&Body=ready+your+at+at+at+t",
    "a=1&a=2&b",
    "&&a=&=b&=&",
    "x=%zz%&y=%C3%A9%e9%ff&z=%2",
    "sp+ace=+%2B+&Body=%00%0A%F0%9F%98%80",
    "\u00e9=\ud800&k=v=w",
]


@pytest.mark.parametrize("text", CASES)
def test_as_parse_qsl(text: str) -> None:
    assert _form_items(text, 1000) == parse_qsl(text, keep_blank_values=True, max_num_fields=1000)


def test_random_forms_and_budgets() -> None:
    pieces = ["a", "b", "=", "&", "+", "%", "2B", "%zz", "%e9", "%C3%A9", "%00", " ", "~", "\u00e9", "\ud800"]
    rng = random.Random(15)
    for _ in range(20000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        budget = rng.randint(1, 6)
        try:
            expected: object = parse_qsl(text, keep_blank_values=True, max_num_fields=budget)
        except ValueError:
            expected = "too many"
        try:
            got: object = _form_items(text, budget)
        except InvalidRequest:
            got = "too many"
        assert got == expected, text
