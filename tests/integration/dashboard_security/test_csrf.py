"""CSRF: every form (every POST of mycpaas.dashboard.app.PAGES, /sign-in and /setup) is refused, with nothing
changed, without its session's token or from another Origin; the same form with both succeeds.

Over real HTTP against real `mycpaas serve` processes; the shared world and helpers are in support.py and
conftest.py of this package."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.dashboard_support import PASSWORD
from tests.integration.auth_support import TO, Creds, new_key, new_subaccount, unique_number
from tests.integration.dashboard_security.support import (
    MAGIC_FROM,
    POST_PAGES,
    Browser,
    Case,
    World,
    created_key,
    failed_attempt,
    hex_tag,
    secondary_token,
    try_forgeries,
)

# --- 1. CSRF and Origin on every form -----------------------------------------------------------------------


class Sandbox:
    """A's fresh session, viewing a fresh subaccount S of A's: a form's effect touches nothing shared.
    The API checks use A's credentials (a parent may use its subaccounts' resources)."""

    def __init__(self, world: World) -> None:
        self.server = world.server
        self.failing_url = world.failing_url
        with self.server.client() as api:
            self.sub = new_subaccount(self.server, api, f"csrf sandbox {hex_tag()}")
        self.browser = world.browser("A")
        self.browser.switch(self.sub.username)
        self.base = self.server.accounts_path(self.sub.username)

    def api_get(
        self, path: str, username: str | None = None, password: str | None = None, **params: str
    ) -> httpx.Response:
        with self.server.client(username, password) as api:
            return api.get(path, params=params)

    def works(self, username: str, password: str) -> bool:
        status = self.api_get(f"{self.base}/Messages.json", username, password).status_code
        assert status in (200, 401), status
        return status == 200

    def credentials_page(self) -> str:
        return self.browser.get("/credentials").text

    def unlock(self) -> None:
        assert self.browser.unlock().status_code == 303

    def secondary(self) -> str:
        """Unlock, create S's secondary token through the dashboard and read it off the page."""
        self.unlock()
        assert self.browser.submit("/credentials/secondary").status_code == 303
        return secondary_token(self.credentials_page())

    def new_key(self) -> Creds:
        with self.server.client() as api:
            return new_key(self.server, api, self.sub.username, f"csrf key {hex_tag()}")

    def key_name(self, sid: str) -> str:
        return str(self.api_get(f"{self.base}/Keys/{sid}.json").json()["friendly_name"])

    def new_subaccount(self) -> str:
        with self.server.client() as api:
            return new_subaccount(self.server, api, f"csrf other {hex_tag()}").username

    def account(self, sid: str) -> dict[str, Any]:
        return dict(self.api_get(f"{self.server.accounts_path(sid)}.json").json())

    def new_number(self) -> str:
        with self.server.client() as api:
            response = api.post(
                f"{self.base}/IncomingPhoneNumbers.json", data={"PhoneNumber": unique_number()}
            )
        assert response.status_code == 201, response.text
        return str(response.json()["sid"])

    def v1(self, path: str) -> httpx.Response:
        """A v1 API read with S's own credentials (the v1 paths name no account: a parent's do not reach S's)."""
        return self.api_get(path, self.sub.username, self.sub.password)

    def new_service(self) -> str:
        with self.server.client(self.sub.username, self.sub.password) as api:
            response = api.post("/v1/Services", data={"FriendlyName": f"csrf service {hex_tag()}"})
        assert response.status_code == 201, response.text
        return str(response.json()["sid"])

    def listing(self, resource: str, key: str) -> list[dict[str, Any]]:
        response = self.api_get(f"{self.base}/{resource}.json", PageSize="1000")
        assert response.status_code == 200, response.text
        return list(response.json()[key])


def _unlock(s: Sandbox) -> Case:
    return Case("/credentials/unlock", {"password": PASSWORD}, lambda: s.sub.password in s.credentials_page())


def _create_secondary(s: Sandbox) -> Case:
    s.unlock()
    return Case("/credentials/secondary", {}, lambda: 'id="secondary-token"' in s.credentials_page())


def _delete_secondary(s: Sandbox) -> Case:
    secondary = s.secondary()
    return Case("/credentials/secondary/delete", {}, lambda: not s.works(s.sub.username, secondary))


def _promote(s: Sandbox) -> Case:
    secondary = s.secondary()
    return Case(
        "/credentials/promote",
        {"confirm": "yes"},
        lambda: not s.works(s.sub.username, s.sub.password) and s.works(s.sub.username, secondary),
    )


def _create_key(s: Sandbox) -> Case:
    name = f"csrf new key {hex_tag()}"
    return Case(
        "/keys",
        {"friendly_name": name, "password": PASSWORD},
        lambda: name in [k["friendly_name"] for k in s.listing("Keys", "keys")],
        201,
    )


def _rename_key(s: Sandbox) -> Case:
    key, name = s.new_key(), f"csrf renamed {hex_tag()}"
    return Case(
        f"/keys/{key.username}/rename", {"friendly_name": name}, lambda: s.key_name(key.username) == name
    )


def _revoke_key(s: Sandbox) -> Case:
    key = s.new_key()
    return Case(f"/keys/{key.username}/revoke", {}, lambda: not s.works(key.username, key.password))


def _create_subaccount(s: Sandbox) -> Case:
    name = f"csrf created {hex_tag()}"
    exists = lambda: bool(s.api_get("/2010-04-01/Accounts.json", FriendlyName=name).json()["accounts"])  # noqa: E731
    return Case("/subaccounts", {"friendly_name": name}, exists)


def _rename_subaccount(s: Sandbox) -> Case:
    sid, name = s.new_subaccount(), f"csrf renamed {hex_tag()}"
    return Case(
        f"/subaccounts/{sid}/rename", {"friendly_name": name}, lambda: s.account(sid)["friendly_name"] == name
    )


def _suspend_subaccount(s: Sandbox) -> Case:
    sid = s.new_subaccount()
    return Case(
        f"/subaccounts/{sid}/status", {"status": "suspended"}, lambda: s.account(sid)["status"] == "suspended"
    )


def _switch(s: Sandbox) -> Case:
    sid = s.new_subaccount()
    return Case("/switch", {"account_sid": sid}, lambda: f'id="home-sid">{sid}<' in s.browser.get("/").text)


def _add_number(s: Sandbox) -> Case:
    phone = unique_number()
    return Case(
        "/numbers",
        {"phone_number": phone},
        lambda: (
            phone in [n["phone_number"] for n in s.listing("IncomingPhoneNumbers", "incoming_phone_numbers")]
        ),
    )


def _save_number(s: Sandbox) -> Case:
    sid, name = s.new_number(), f"csrf number {hex_tag()}"
    path = f"{s.base}/IncomingPhoneNumbers/{sid}.json"
    return Case(
        f"/numbers/{sid}",
        {"friendly_name": name, "sms_url": "https://example.com/csrf"},
        lambda: s.api_get(path).json()["friendly_name"] == name,
    )


def _release_number(s: Sandbox) -> Case:
    sid = s.new_number()
    path = f"{s.base}/IncomingPhoneNumbers/{sid}.json"
    return Case(f"/numbers/{sid}/release", {}, lambda: s.api_get(path).status_code == 404)


def _send_message(s: Sandbox) -> Case:
    body = f"csrf message {hex_tag()}"
    return Case(
        "/messages/new",
        {"from": MAGIC_FROM, "to": TO, "body": body},
        lambda: body in [m["body"] for m in s.listing("Messages", "messages")],
    )


def _cancel_scheduled(s: Sandbox) -> Case:
    number = s.new_number()
    sub = (s.sub.username, s.sub.password)
    with s.server.client(*sub) as api:
        service = api.post("/v1/Services", data={"FriendlyName": "csrf"}).json()["sid"]
        added = api.post(f"/v1/Services/{service}/PhoneNumbers", data={"PhoneNumberSid": number})
        assert added.status_code == 201, added.text
        send_at = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        response = api.post(
            f"{s.base}/Messages.json",
            data={
                "To": TO,
                "MessagingServiceSid": service,
                "Body": "x",
                "ScheduleType": "fixed",
                "SendAt": send_at,
            },
        )
    assert response.status_code == 201, response.text
    path = f"{s.base}/Messages/{response.json()['sid']}.json"
    return Case(
        f"/messages/{response.json()['sid']}/cancel",
        {},
        lambda: s.api_get(path).json()["status"] == "canceled",
    )


def _create_service(s: Sandbox) -> Case:
    name = f"csrf created service {hex_tag()}"
    return Case(
        "/services",
        {"friendly_name": name},
        lambda: name in [x["friendly_name"] for x in s.v1("/v1/Services").json()["services"]],
    )


def _save_service(s: Sandbox) -> Case:
    sid, name = s.new_service(), f"csrf service {hex_tag()}"
    return Case(
        f"/services/{sid}",
        {"friendly_name": name, "inbound_request_url": "https://example.com/csrf"},
        lambda: s.v1(f"/v1/Services/{sid}").json()["friendly_name"] == name,
    )


def _change_senders(s: Sandbox) -> Case:
    sid, number = s.new_service(), s.new_number()
    return Case(
        f"/services/{sid}/senders",
        {"add_number": number},
        lambda: (
            [n["sid"] for n in s.v1(f"/v1/Services/{sid}/PhoneNumbers").json()["phone_numbers"]] == [number]
        ),
    )


def _sign_out(s: Sandbox) -> Case:
    return Case("/sign-out", {}, lambda: s.browser.get("/").status_code == 303)


# Every POST of PAGES (a new form without an entry here fails test_every_form_has_a_csrf_case).
def _redeliver(s: Sandbox) -> Case:
    with s.server.client() as api:
        attempt = failed_attempt(s.server, api, s.sub.username, s.failing_url)
        message = api.get(f"{s.base}/Messages.json", params={"To": "+15005550014"}).json()["messages"][0][
            "sid"
        ]
    log = f"{s.base}/Messages/{message}/WebhookAttempts.json"

    def redelivered() -> bool:
        """Whether the redelivery was attempted: the dispatcher sends it after the form's answer (background)."""
        return any(a["redelivery_of"] == attempt for a in s.api_get(log).json()["webhook_attempts"])

    return Case(f"/debugger/attempts/{attempt}/redeliver", {}, redelivered, background=True)


PRIVATE_CASES: dict[str, Callable[[Sandbox], Case]] = {
    "/credentials/unlock": _unlock,
    "/credentials/secondary": _create_secondary,
    "/credentials/secondary/delete": _delete_secondary,
    "/credentials/promote": _promote,
    "/keys": _create_key,
    "/keys/{sid}/rename": _rename_key,
    "/keys/{sid}/revoke": _revoke_key,
    "/subaccounts": _create_subaccount,
    "/subaccounts/{sid}/rename": _rename_subaccount,
    "/subaccounts/{sid}/status": _suspend_subaccount,
    "/switch": _switch,
    "/numbers": _add_number,
    "/numbers/{sid}": _save_number,
    "/numbers/{sid}/release": _release_number,
    "/messages/new": _send_message,
    "/messages/{sid}/cancel": _cancel_scheduled,
    "/services": _create_service,
    "/services/{sid}": _save_service,
    "/services/{sid}/senders": _change_senders,
    "/debugger/attempts/{sid}/redeliver": _redeliver,
    "/sign-out": _sign_out,
}


def test_every_form_has_a_csrf_case() -> None:
    assert set(PRIVATE_CASES) == set(POST_PAGES), "add a case to PRIVATE_CASES for every POST in PAGES"


@pytest.mark.parametrize("path", sorted(PRIVATE_CASES))
def test_form_is_refused_without_its_sessions_token_or_from_another_origin(world: World, path: str) -> None:
    sandbox = Sandbox(world)
    case = PRIVATE_CASES[path](sandbox)
    assert not case.done(), "the effect is there before the form was sent"
    foreign = {
        "B's session": world.foreign_token("B"),
        "another session of the same user": world.foreign_token("A"),
        "a pre-sign-in form": world.foreign_token("anonymous"),
    }
    try_forgeries(sandbox.browser, case, foreign)
    assert case.no_effect(), "a refused form changed something"

    response = sandbox.browser.submit(case.path, case.form)
    assert response.status_code == case.status, response.text[:500]
    if path == "/keys":
        created_key(response.text)
    assert case.took_effect(), "the form with its token and Origin did not take effect"


def test_sign_in_form_is_refused_without_its_pre_session_token_or_from_another_origin(world: World) -> None:
    browser = Browser(world.server)
    browser.form_token()
    case = Case(
        "/sign-in",
        {"email": world.emails["A"], "password": PASSWORD, "next": "/"},
        lambda: browser.get("/").status_code == 200,
    )
    assert not case.done()
    foreign = {"another browser's sign-in form": world.foreign_token("anonymous")}
    foreign["a signed-in session"] = world.foreign_token("A")
    try_forgeries(browser, case, foreign)
    assert not case.done() and not browser.session_id

    response = browser.post(case.path, {**case.form, "csrf_token": browser.token})
    assert response.status_code == 303, response.text
    browser.signed_in()
    assert case.done()
