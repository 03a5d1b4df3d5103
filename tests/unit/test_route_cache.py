"""api/app._match: the routes' own answer for every path, from a bounded cache, with parameters of its own."""

from __future__ import annotations

from mycpaas.api import app
from mycpaas.api.router import match

PATHS = [
    "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json",
    "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages/SM11111111111111111111111111111111",
    "/2010-04-01/Accounts/AC00000000000000000000000000000000/IncomingPhoneNumbers/Local.json",
    "/2010-04-01/Accounts",
    "/v1/Services/MG00000000000000000000000000000000/PhoneNumbers",
    "/nowhere",
]


def test_the_same_answer_as_the_routes_every_time() -> None:
    for _ in range(2):
        for path in PATHS:
            assert app._match(path) == match(app.ROUTES, path)


def test_parameters_are_the_request_s_own() -> None:
    first = app._match(PATHS[0])
    assert first is not None
    first[1]["account_sid"] = "changed"
    again = app._match(PATHS[0])
    assert again is not None and again[1]["account_sid"] == "AC" + "0" * 32


def test_bounded() -> None:
    for n in range(app._MATCHED_MAX + 10):
        app._match(f"/2010-04-01/Accounts/AC{n:032d}/Messages.json")
    assert len(app._MATCHED) <= app._MATCHED_MAX
