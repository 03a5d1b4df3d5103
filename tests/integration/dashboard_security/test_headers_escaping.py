"""The security headers on every response, and user-supplied text escaped in every page.

Over real HTTP against real `mycpaas serve` processes; the shared world and helpers are in support.py and
conftest.py of this package."""

from __future__ import annotations

from markupsafe import escape

from tests.integration.auth_support import new_key, new_subaccount, send_message, unique_number
from tests.integration.dashboard_security.support import (
    GET_PAGES,
    MAGIC_FROM,
    Browser,
    World,
    assert_secured,
    failed_attempt,
    fill,
    get_pages,
    hex_tag,
    kind_of,
)

# --- 4b. Security headers and escaping ---------------------------------------------------------------------


def test_every_response_carries_the_security_headers(world: World) -> None:
    """Browser checks every response it gets (assert_secured); here the ones no other test asks for."""
    anonymous = Browser(world.server)
    responses = [anonymous.get(path) for path in ("/sign-in", "/setup", "/nowhere", "/", "/keys")]
    responses.append(anonymous.post("/keys", {"friendly_name": "x"}))
    browser = world.browser("A")
    responses += [browser.get(path) for path in get_pages(world.tenants["A"])]
    responses += [browser.get("/numbers/PN" + "0" * 32), browser.get("/messages?status=nonsense")]
    responses.append(browser.post("/keys", {"friendly_name": "no token"}))
    responses.append(browser.submit("/keys", {"friendly_name": "x" * 70_000}))
    assert {r.status_code for r in responses} >= {200, 303, 400, 403, 404, 413}
    for response in responses:
        assert_secured(response)


def test_user_supplied_text_is_escaped(world: World) -> None:
    payload = f"<img src=x onerror=alert({hex_tag()})>\"'"
    server = world.server
    with server.client() as api:
        sub = new_subaccount(server, api, payload)
        new_key(server, api, sub.username, payload)
        response = api.post(
            f"{server.accounts_path(sub.username)}/IncomingPhoneNumbers.json",
            data={"PhoneNumber": unique_number(), "FriendlyName": payload},
        )
        assert response.status_code == 201, response.text
        number_sid = response.json()["sid"]
        message_sid = send_message(server, api, sub.username, MAGIC_FROM, payload)
        attempt_sid = failed_attempt(server, api, sub.username, world.failing_url)
    with server.client(sub.username, sub.password) as sub_api:  # the v1 API: the sub's own credentials
        service = sub_api.post("/v1/Services", data={"FriendlyName": payload})
        assert service.status_code == 201, service.text
        service_sid = service.json()["sid"]
    browser = world.browser("A")
    assert payload not in browser.get("/subaccounts").text
    browser.switch(sub.username)
    for path in [*GET_PAGES, "/subaccounts"]:
        if "{" in path:
            sids = {
                "number": number_sid,
                "message": message_sid,
                "service": service_sid,
                "attempt": attempt_sid,
            }
            path = fill(path, sids.get(kind_of(path), "x"))
        response = browser.get(path)
        if path.endswith(".csv"):  # data, not a page: a download that no browser renders as HTML
            assert response.headers["content-type"] == "text/csv; charset=utf-8", path
            assert response.headers["content-disposition"].startswith("attachment;"), path
            assert response.headers["x-content-type-options"] == "nosniff", path
            assert payload.replace('"', '""') in response.text, path  # the text as written, CSV-quoted
            continue
        page = response.text
        assert payload not in page and "<img" not in page, path
        assert str(escape(payload)) in page, path  # in the "Viewing subaccount" banner of every page
