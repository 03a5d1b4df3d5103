"""Secrets: the Auth Token only behind a password re-entry, no secret in any URL, a key's secret shown once,
no password echoed, none in the server log.

Over real HTTP against real `mycpaas serve` processes; the shared world and helpers are in support.py and
conftest.py of this package."""

from __future__ import annotations

import html
import re

from tests.conftest import ISSUED_SECRETS, find_leaks, remember_secret
from tests.dashboard_support import PASSWORD
from tests.integration.auth_support import TO, new_subaccount, unique_number
from tests.integration.dashboard_security.support import (
    GET_PAGES,
    MAGIC_FROM,
    Browser,
    World,
    created_key,
    failed_attempt,
    fill,
    get_pages,
    hex_tag,
    kind_of,
    known_secrets,
    secondary_token,
    secrets_in_urls,
    setup_code,
    urls_of,
)

# --- 4. Secrets and security headers ------------------------------------------------------------------------


def all_secrets(world: World) -> list[str]:
    return [s for tenant in world.tenants.values() for s in tenant.secrets()]


def test_auth_token_is_shown_only_after_the_password_is_re_entered(world: World) -> None:
    a, a1 = world.tenants["A"], world.tenants["A1"]
    browser = world.browser("A")
    for view in (a, a1):
        if view is a1:
            browser.switch(a1.sid)
        for path in get_pages(view):
            page = browser.get(path)
            assert page.status_code in (200, 403), f"{path}: {page.status_code}"
            shown = [s[:4] for s in all_secrets(world) if s in page.text]
            assert not shown, f"{path} (viewing {view.name}, locked) shows secrets {shown}"

    assert browser.unlock().status_code == 303  # viewing A1
    assert a1.creds.password in browser.get("/credentials").text
    for path in get_pages(a1):
        page = browser.get(path).text
        if not path.startswith("/credentials"):  # /credentials/promote falls back to /credentials
            assert a1.creds.password not in page, f"{path} shows the Auth Token"
        assert not [s for s in all_secrets(world) if s != a1.creds.password and s in page], path
    # The re-entry opened this session only.
    other = world.browser("A")
    other.switch(a1.sid)
    assert a1.creds.password not in other.get("/credentials").text


def test_no_secret_in_any_url_location_or_link(world: World) -> None:
    """A whole visit, from the sign-in redirect to sign-out through every page and form, in a fresh
    subaccount; every Location and every link, form action and GET-form field is searched for secrets."""
    server = world.server
    code = setup_code(server)  # dead since the first user was made, but a secret all the same
    with server.client() as api:
        sub = new_subaccount(server, api, f"url walk {hex_tag()}")
    browser = Browser(server)
    assert browser.get("/credentials").headers["location"] == "/sign-in?next=%2Fcredentials"
    wrong = remember_secret(f"a wrong password {hex_tag()}")
    assert browser.try_sign_in(world.emails["A"], wrong, "/credentials").status_code == 401
    assert browser.sign_in(world.emails["A"], next_path="/credentials").headers["location"] == "/credentials"
    browser.switch(sub.username)
    assert browser.unlock().status_code == 303
    assert browser.submit("/credentials/secondary").status_code == 303
    credentials = browser.get("/credentials").text
    secondary = secondary_token(credentials)
    assert sub.password in credentials
    assert browser.get("/credentials/promote").status_code == 200
    created = browser.submit("/keys", {"friendly_name": "url walk key", "password": PASSWORD})
    assert created.status_code == 201
    key = created_key(created.text)
    assert browser.submit(f"/keys/{key.username}/rename", {"friendly_name": "renamed"}).status_code == 303
    added = browser.submit("/numbers", {"phone_number": unique_number(), "friendly_name": "url walk"})
    number_sid = added.headers["location"].split("?")[0].rsplit("/", 1)[1]
    assert browser.submit(f"/numbers/{number_sid}", {"sms_url": "https://example.com/in"}).status_code == 303
    sent = browser.submit("/messages/new", {"from": MAGIC_FROM, "to": TO, "body": "url walk"})
    message_sid = sent.headers["location"].split("?")[0].rsplit("/", 1)[1]
    service = browser.submit("/services", {"friendly_name": "url walk service"})
    service_sid = service.headers["location"].split("?")[0].rsplit("/", 1)[1]
    pool_change = browser.submit(f"/services/{service_sid}/senders", {"add_number": number_sid})
    assert pool_change.status_code == 303
    saved = browser.submit(f"/services/{service_sid}", {"inbound_request_url": "https://example.com/svc"})
    assert saved.status_code == 303
    with server.client() as api:  # a failed status callback: the Debugger's attempt page
        attempt = failed_attempt(server, api, sub.username, world.failing_url)
    objects = {
        "key": key.username,
        "number": number_sid,
        "message": message_sid,
        "service": service_sid,
        "attempt": attempt,
    }
    for path in GET_PAGES:
        if "{" in path:
            path = fill(path, objects[kind_of(path)])
        assert browser.get(path).status_code == 200, path
    assert browser.get("/messages?to=%2B15558675310&status=queued").status_code == 200
    assert browser.submit("/credentials/promote", {"confirm": "yes"}).status_code == 303
    assert browser.submit(f"/numbers/{number_sid}/release").status_code == 303
    assert browser.submit(f"/keys/{key.username}/revoke").status_code == 303
    assert browser.submit("/switch", {"account_sid": world.tenants["A"].sid}).status_code == 303
    assert browser.submit("/sign-out").status_code == 303

    looked_for = known_secrets()
    for secret in (
        PASSWORD,
        wrong,
        sub.password,
        secondary,
        key.password,
        code,
    ):
        assert secret in looked_for
    assert all(s in looked_for for s in all_secrets(world))
    leaks = [leak for response in browser.seen for leak in secrets_in_urls(response, looked_for)]
    assert not leaks, leaks
    assert sum("location" in r.headers for r in browser.seen) >= 14
    assert sum(len(urls_of(r)) for r in browser.seen) > 200


def test_key_secret_is_shown_once_in_the_create_response_only(world: World) -> None:
    browser = world.browser("A")
    created = browser.submit("/keys", {"friendly_name": f"shown once {hex_tag()}", "password": PASSWORD})
    assert created.status_code == 201
    sid, secret = created_key(created.text).username, created_key(created.text).password
    with world.server.client(sid, secret) as as_key:
        assert as_key.get(f"{world.server.accounts_path()}/Messages.json").status_code == 200
    listing = browser.get("/keys").text
    assert sid in listing and secret not in listing
    for path in get_pages(world.tenants["A"]):
        assert secret not in browser.get(path).text, path


def test_password_is_never_echoed_in_error_pages(world: World) -> None:
    browser = Browser(world.server)
    guesses = [
        f'wrong <b>"pass"</b> & {hex_tag()}',
        f"{hex_tag()} " * 300,  # longer than the 1024 characters a password may have
    ]
    for guess in map(remember_secret, guesses):
        for email in (world.emails["A"], "not an email"):
            page = browser.try_sign_in(email, guess)
            assert page.status_code == 401 and "not correct" in page.text, page.text
            assert guess not in page.text and html.escape(guess) not in page.text
            assert guess.strip()[:12] not in page.text
            password_fields = re.findall(r"<input[^>]*type=\"password\"[^>]*>", page.text)
            assert password_fields and not any("value=" in f for f in password_fields)

    first, second = (
        remember_secret(f"first {hex_tag()} password"),
        remember_secret(f"second {hex_tag()} pass"),
    )
    browser.form_token("/setup")
    form = {"code": "not-a-code", "email": "x@example.com", "password": first, "password_again": second}
    for data in (
        form,
        {**form, "password_again": first},
        {**form, "password": "short", "password_again": "short"},
    ):
        page = browser.post("/setup", {**data, "csrf_token": browser.token})
        assert page.status_code in (400, 401), page.text
        assert first not in page.text and second not in page.text

    signed = world.browser("A")
    page = signed.unlock(first)
    assert page.status_code == 401 and first not in page.text and html.escape(first) not in page.text


def test_server_log_holds_no_password_session_token_or_key_secret(world: World) -> None:
    browser = world.browser("A")
    wrong = remember_secret(f"logged? {hex_tag()} password")
    assert Browser(world.server).try_sign_in(world.emails["A"], wrong).status_code == 401
    assert browser.unlock(wrong).status_code == 401
    assert browser.unlock().status_code == 303
    assert world.server.auth_token in browser.get("/credentials").text
    secret = created_key(
        browser.submit("/keys", {"friendly_name": "log check", "password": PASSWORD}).text
    ).password
    assert browser.submit("/sign-out").status_code == 303

    for must_be_checked in (PASSWORD, wrong, secret, world.server.auth_token, browser.token):
        assert must_be_checked in ISSUED_SECRETS
    leaks = find_leaks(world.server, ISSUED_SECRETS)
    assert not leaks, "\n".join(leaks)
