"""Edges a review found: odd form input, calendar limits, the password window across accounts, bursts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from mycpaas.dashboard.app import ADMIN_PAGES, PAGES
from tests.conftest import dispose_server, make_server, remember_secret
from tests.dashboard_support import PASSWORD, create_user, csrf_of, signed_in
from tests.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    instance = make_server(
        tmp_path_factory.mktemp("edges"), "sqlite", env={"MYCPAAS_SIGN_IN_MAX_FAILURES": "5"}
    )
    create_user(instance, "edge@example.com")
    yield instance
    dispose_server(instance)


def test_non_ascii_csrf_token_is_refused_not_a_crash(server: ServerProcess) -> None:
    client = signed_in(server, "edge@example.com")
    response = client.post("/keys", data={"friendly_name": "x", "csrf_token": "é" * 64})
    assert response.status_code == 403
    anonymous = httpx.post(f"{server.url}/sign-in", data={"email": "a@b.co", "csrf_token": "ü"})
    assert anonymous.status_code == 403


@pytest.mark.parametrize(
    "query", ["date_to=9999-12-31", "date_from=0001-01-01", "date_to=2026-02-30", "to=%00"]
)
def test_message_filters_at_the_edges(server: ServerProcess, query: str) -> None:
    response = signed_in(server, "edge@example.com").get(f"/messages?{query}")
    assert response.status_code in (200, 400)


# Every page whose path names something ({sid}, {name}), with a NUL there: the administrator's pages included
# (the first user is one).
NAMED_PAGES = sorted((method, path) for method, path, _ in [*PAGES, *ADMIN_PAGES] if "{" in path)


def test_a_nul_in_a_pages_path_is_refused_not_a_crash(fresh_server: ServerProcess) -> None:
    """`/numbers/%00` and the like: the NUL reached the database, and PostgreSQL refuses such a string (a 500).
    Now refused as a NUL in the query string is, on both databases, before any handler runs."""
    create_user(fresh_server, "nul@example.com")
    client = signed_in(fresh_server, "nul@example.com")
    token = csrf_of(client.get("/").text)
    answers = {}
    for method, path in NAMED_PAGES:
        address = re.sub(r"\{\w+\}", "%00", path)
        if method == "GET":
            response = client.get(address)
        else:
            response = client.post(
                address, data={"csrf_token": token, "friendly_name": "x", "confirm": "yes"}
            )
        answers[f"{method} {address}"] = (response.status_code, "NUL character" in response.text)
    assert answers == {what: (400, True) for what in answers}
    assert client.get("/").status_code == 200  # the session is still good


def test_switching_accounts_closes_the_password_window(server: ServerProcess) -> None:
    sub = httpx.post(
        f"{server.url}/2010-04-01/Accounts.json",
        auth=(server.account_sid, server.auth_token),
        data={"FriendlyName": "Edge sub"},
    ).json()
    remember_secret(sub["auth_token"])
    client = signed_in(server, "edge@example.com")
    form = csrf_of(client.get("/credentials").text)
    assert (
        client.post("/credentials/unlock", data={"password": PASSWORD, "csrf_token": form}).status_code == 303
    )
    assert server.auth_token in client.get("/credentials").text
    assert client.post("/switch", data={"account_sid": sub["sid"], "csrf_token": form}).status_code == 303
    page = client.get("/credentials").text
    assert sub["sid"] in page and sub["auth_token"] not in page and "Re-enter your password" in page


def test_parallel_wrong_passwords_cannot_outrun_the_throttle(tmp_path: Path) -> None:
    fresh = make_server(tmp_path, "sqlite", env={"MYCPAAS_SIGN_IN_MAX_FAILURES": "5"})
    try:
        create_user(fresh, "burst@example.com")

        def attempt(_: int) -> int:
            with httpx.Client(base_url=fresh.url, timeout=60) as client:
                token = csrf_of(client.get("/sign-in").text)
                return client.post(
                    "/sign-in",
                    data={"email": "burst@example.com", "password": "wrong" * 3, "csrf_token": token},
                ).status_code

        with ThreadPoolExecutor(20) as pool:
            statuses = list(pool.map(attempt, range(20)))
        assert statuses.count(401) <= 5 and statuses.count(429) >= 15, statuses
    finally:
        dispose_server(fresh)


def test_every_response_carries_the_security_headers(server: ServerProcess) -> None:
    client = signed_in(server, "edge@example.com")
    wrong_method = client.get("/keys/SK00000000000000000000000000000000/rename")
    assert wrong_method.status_code == 405
    static = client.get("/static/app.css")
    assert static.status_code == 200
    for response in (wrong_method, static):
        assert "'unsafe-inline'" not in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
    assert wrong_method.headers["cache-control"] == "no-store"
    assert static.headers.get("cache-control") != "no-store"  # assets may be cached


def test_creating_a_key_asks_for_the_password(tmp_path: Path) -> None:
    fresh = make_server(tmp_path, "sqlite")
    try:
        create_user(fresh, "keys@example.com")
        client = signed_in(fresh, "keys@example.com")
        page = client.get("/keys").text
        assert 'name="password"' in page
        refused = client.post("/keys", data={"friendly_name": "no pw", "csrf_token": csrf_of(page)})
        wrong = client.post(
            "/keys",
            data={"friendly_name": "bad pw", "password": "not it at all", "csrf_token": csrf_of(page)},
        )
        assert refused.status_code == wrong.status_code == 401
        assert "not it at all" not in wrong.text
        listing = httpx.get(
            f"{fresh.url}/2010-04-01/Accounts/{fresh.account_sid}/Keys.json",
            auth=(fresh.account_sid, fresh.auth_token),
        )
        assert listing.json()["keys"] == []
        made = client.post(
            "/keys", data={"friendly_name": "ok", "password": PASSWORD, "csrf_token": csrf_of(page)}
        )
        assert made.status_code == 201
        remember_secret(
            made.text.split('id="new-key-secret" type="password" readonly value="', 1)[1].split('"', 1)[0]
        )
        # The window is now open: the next key needs no password, and the form does not ask.
        assert 'name="password"' not in client.get("/keys").text
    finally:
        dispose_server(fresh)
