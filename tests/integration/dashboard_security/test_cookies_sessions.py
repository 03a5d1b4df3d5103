"""The session cookie: flags over http and https, a new identifier at every sign-in, sign-out and expiry; the
session cookie does not authenticate the API.

Over real HTTP against real `mycpaas serve` processes; the shared world and helpers are in support.py and
conftest.py of this package."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS, dispose_server, make_server, remember_secret
from tests.dashboard_support import PASSWORD
from tests.integration.dashboard_security.support import (
    Browser,
    Case,
    World,
    close_browsers,
    hex_tag,
    session_cookie,
    set_cookies,
    setup_code,
    try_forgeries,
    with_cookie,
)

# --- 2. The session cookie ----------------------------------------------------------------------------------


def assert_cookie_flags(response: httpx.Response, name: str, secure: bool, max_age: int) -> str:
    cookies = set_cookies(response)
    assert name in cookies, f"no {name} in {list(cookies)}"
    value, attributes = cookies[name]
    assert "httponly" in attributes
    assert attributes.get("samesite", "").lower() == "lax"
    assert attributes.get("path") == "/"
    assert "domain" not in attributes  # host-only (required for __Host-)
    assert attributes.get("max-age") == str(max_age), attributes
    assert ("secure" in attributes) is secure, attributes
    return value


def test_session_cookie_over_https_is_host_prefixed_secure_httponly_lax(world: World) -> None:
    browser = Browser(world.server)
    page = browser.get("/sign-in")
    pre_session = assert_cookie_flags(page, "__Host-mycpaas_pre_session", secure=True, max_age=3600)
    response = browser.try_sign_in(world.emails["A"])
    assert response.status_code == 303
    session = assert_cookie_flags(response, "__Host-mycpaas_session", secure=True, max_age=12 * 3600)
    assert not any(name.startswith("mycpaas") for name in set_cookies(response)), "an unprefixed cookie"
    assert session != pre_session and len(session) >= 32
    # The pre-session cookie is dropped at sign-in.
    assert set_cookies(response)["__Host-mycpaas_pre_session"][1].get("max-age") == "0"
    remember_secret(session)


def test_sign_in_issues_a_new_session_id_and_sign_out_ends_it(world: World) -> None:
    server = world.server
    browser = Browser(server)
    planted = "fixated-" + secrets.token_urlsafe(24)  # e.g. set by a sibling host before sign-in
    browser.http.cookies.set(session_cookie(server), planted, domain="127.0.0.1", path="/")
    browser.form_token()
    pre_session = browser.cookie("mycpaas_pre_session")
    response = browser.try_sign_in(world.emails["A"])
    assert response.status_code == 303
    browser.signed_in()
    first = browser.session_id
    assert first not in (planted, pre_session)
    with with_cookie(server, planted) as fixated:
        assert fixated.get("/").status_code == 303

    # Signing in again while signed in (a second pre-session form in the same browser) replaces the session.
    other = Browser(server)
    other.form_token()
    browser.http.cookies.set(
        ("__Host-" if server.tls else "") + "mycpaas_pre_session",
        other.cookie("mycpaas_pre_session"),
        domain="127.0.0.1",
        path="/",
    )
    data = {"email": world.emails["A"], "password": PASSWORD, "next": "/", "csrf_token": other.token}
    assert browser.post("/sign-in", data).status_code == 303
    browser.signed_in()
    second = browser.session_id
    assert second != first
    with with_cookie(server, first) as old:
        assert old.get("/").status_code == 303, "the replaced session still works"

    # Sign-out ends the session on the server, not only in the browser.
    response = browser.submit("/sign-out")
    assert response.status_code == 303 and response.headers["location"] == "/sign-in"
    cleared = set_cookies(response)[session_cookie(server)]
    assert cleared[1].get("max-age") == "0" and "secure" in cleared[1]
    with with_cookie(server, second) as old:
        page = old.get("/credentials")
        assert page.status_code == 303 and page.headers["location"].startswith("/sign-in")
        forged = old.post("/keys", data={"friendly_name": "after sign-out", "csrf_token": browser.token})
        assert forged.status_code == 403 and "Signed out" in forged.text

    # Signing in once more gives yet another identifier.
    assert browser.sign_in(world.emails["A"]).status_code == 303
    assert browser.session_id not in (first, second, planted)


# Wide enough that the checks made while the session and the unlock last still fit on a busy machine.
SESSION_SECONDS = 8
UNLOCK_SECONDS = 3


@pytest.mark.postgres
@pytest.mark.parametrize("backend", BACKENDS)
def test_first_start_over_http_setup_form_cookie_and_session_expiry(tmp_path: Path, backend: str) -> None:
    """A fresh server over plain http, with short sessions:
    - the set-up form is refused without its pre-session token or from another Origin, and its code survives
      the refusals (it then works once);
    - the session cookie has no __Host- prefix and no Secure flag over http (browsers would drop it);
    - the password window closes after MYCPAAS_DASHBOARD_UNLOCK_SECONDS, the session on the server after
      MYCPAAS_DASHBOARD_SESSION_SECONDS, whatever the browser keeps. On PostgreSQL too: expiry is SQL."""
    server = make_server(
        tmp_path,
        backend,
        env={
            "MYCPAAS_DASHBOARD_SESSION_SECONDS": str(SESSION_SECONDS),
            "MYCPAAS_DASHBOARD_UNLOCK_SECONDS": str(UNLOCK_SECONDS),
        },
    )
    try:
        browser = Browser(server)
        browser.form_token("/setup")
        email = f"first-{hex_tag()}@example.com"
        form = {"code": setup_code(server), "email": email, "password": PASSWORD, "password_again": PASSWORD}
        case = Case("/setup", form, lambda: Browser(server).try_sign_in(email).status_code == 303)
        foreign = {"another browser's form": Browser(server).form_token("/setup")}
        try_forgeries(browser, case, foreign)
        assert not browser.session_id and not case.done(), "a refused set-up form created the user"

        response = browser.post("/setup", {**form, "csrf_token": browser.token})
        signed_in_at = (
            time.monotonic()
        )  # the session began before this: it ends before signed_in_at + SESSION_SECONDS
        assert response.status_code == 303, response.text
        assert not any(name.startswith("__Host-") for name in set_cookies(response))
        session_id = assert_cookie_flags(response, "mycpaas_session", secure=False, max_age=SESSION_SECONDS)
        browser.signed_in()
        again = Browser(server)
        again.form_token("/setup")
        reused = again.post("/setup", {**form, "email": f"x{email}", "csrf_token": again.token})
        assert reused.status_code == 401 and not again.session_id, "the set-up code worked twice"

        assert browser.unlock().status_code == 303
        unlocked = time.monotonic()
        assert server.auth_token in browser.get("/credentials").text
        time.sleep(max(0.0, unlocked + UNLOCK_SECONDS + 0.3 - time.monotonic()))
        page = browser.get("/credentials")
        assert page.status_code == 200 and server.auth_token not in page.text

        time.sleep(max(0.0, signed_in_at + SESSION_SECONDS + 0.3 - time.monotonic()))
        with with_cookie(server, session_id) as stale:
            page = stale.get("/")
            assert page.status_code == 303 and page.headers["location"] == "/sign-in?next=%2F"
            forged = stale.post("/keys", data={"friendly_name": "expired", "csrf_token": browser.token})
            assert forged.status_code == 403 and "Signed out" in forged.text
        assert browser.get("/keys").status_code == 303
        assert case.done()  # the user itself lives on
    finally:
        close_browsers(server)
        dispose_server(server)


def test_session_cookie_does_not_authenticate_the_api(world: World) -> None:
    """The API answers any origin (CORS), so it must not take the browser's cookie for credentials: a page on
    another site could otherwise call it with the signed-in user's session."""
    browser = world.browser("A")
    base = world.server.accounts_path()
    with with_cookie(world.server, browser.session_id) as cookie_only:
        for response in (
            cookie_only.get(f"{base}.json"),
            cookie_only.get(f"{base}/Messages.json"),
            cookie_only.post(f"{base}/Keys.json", data={"FriendlyName": "via cookie"}),
        ):
            assert response.status_code == 401, response.text
            assert browser.session_id not in response.text
