"""No open redirect through /sign-in?next=.

Over real HTTP against real `mycpaas serve` processes; the shared world and helpers are in support.py and
conftest.py of this package."""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin, urlsplit

import pytest

from tests.integration.dashboard_security.support import (
    Browser,
    World,
)
from tests.server import ServerProcess

# --- 6. No open redirect ------------------------------------------------------------------------------------

HOSTILE_NEXT = [
    "//evil.example",
    "https://evil.example",
    "//evil.example/%2F..",
    "/\\evil.example",
    "\\\\evil.example",
    "https:evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "javascript:alert(1)",
]


def assert_local(server: ServerProcess, location: str) -> None:
    # What a browser does with a Location: drop tabs and newlines, trim, resolve against the page.
    cleaned = re.sub(r"[\t\n\r]", "", location).strip(" \x00-\x1f")
    resolved = urlsplit(urljoin(server.url + "/sign-in", cleaned))
    assert (resolved.scheme, resolved.netloc) == tuple(urlsplit(server.url)[:2]), location
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location, location


@pytest.mark.parametrize("next_path", HOSTILE_NEXT, ids=repr)
def test_sign_in_next_never_leaves_the_server(world: World, next_path: str) -> None:
    server = world.server
    browser = Browser(server)
    form = browser.get("/sign-in", params={"next": next_path})
    kept = re.search(r'name="next" value="([^"]*)"', form.text)
    assert kept and html.unescape(kept.group(1)).startswith("/") and not kept.group(1).startswith("//")
    response = browser.try_sign_in(world.emails["A"], next_path=next_path)
    assert response.status_code == 303
    assert_local(server, response.headers["location"])
    browser.signed_in()
    # Signed in, /sign-in?next= redirects at once: to a local path as well.
    again = browser.get("/sign-in", params={"next": next_path})
    assert again.status_code == 303
    assert_local(server, again.headers["location"])


def test_sign_in_next_keeps_a_local_path(world: World) -> None:
    browser = Browser(world.server)
    redirect = browser.get("/numbers")
    assert redirect.headers["location"] == "/sign-in?next=%2Fnumbers"
    assert browser.sign_in(world.emails["A"], next_path="/numbers").headers["location"] == "/numbers"
