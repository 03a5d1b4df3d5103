"""A cross-account matrix over every page with a {sid}, built from PAGES so a new page is covered or fails here.

Over real HTTP against real `mycpaas serve` processes; the shared world and helpers are in support.py and
conftest.py of this package."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from tests.integration.auth_support import TO
from tests.integration.dashboard_security.support import (
    KINDS,
    SID_PAGES,
    Browser,
    Tenant,
    World,
    fill,
    get_pages,
    kind_of,
)
from tests.server import ServerProcess

# --- 5. The cross-account matrix over every page with a {sid} -----------------------------------------------


def snapshot(server: ServerProcess, tenant: Tenant) -> dict[str, Any]:
    """What the API, with the tenant's own credentials, says about its objects."""
    base = server.accounts_path(tenant.sid)
    with server.client(tenant.sid, tenant.creds.password) as api:
        account = api.get(f"{base}.json").json()
        number = api.get(f"{base}/IncomingPhoneNumbers/{tenant.number_sid}.json")
        key = api.get(f"{base}/Keys/{tenant.key.username}.json")
        message = api.get(f"{base}/Messages/{tenant.message_sid}.json")
        service = api.get(f"/v1/Services/{tenant.service_sid}")
        pool = api.get(f"/v1/Services/{tenant.service_sid}/PhoneNumbers").json()
    with server.client(tenant.key.username, tenant.key.password) as as_key:
        key_works = as_key.get(f"{base}/Messages.json").status_code
    fields = ("friendly_name", "sms_url", "sms_method", "status_callback", "phone_number")
    return {
        "account": (account["friendly_name"], account["status"]),
        "number": (number.status_code, *(number.json().get(f) for f in fields)),
        "key": (key.status_code, key.json().get("friendly_name")),
        "message": (message.status_code, message.json().get("body")),
        "service": (
            service.status_code,
            *(service.json().get(f) for f in ("friendly_name", "inbound_request_url")),
        ),
        "pool": [n["sid"] for n in pool["phone_numbers"]],
        "key works": key_works,
    }


HOSTILE_FORM = {
    "friendly_name": "taken over",
    "status": "suspended",
    "sms_url": "https://evil.example/hook",
    "sms_method": "GET",
    "status_callback": "https://evil.example/status",
    "inbound_request_url": "https://evil.example/inbound",
    "add_alpha": "Evil",
    "confirm": "yes",
}


def probe(browser: Browser, method: str, path: str) -> httpx.Response:
    return browser.get(path) if method == "GET" else browser.submit(path, HOSTILE_FORM)


def refusals(browser: Browser, targets: dict[str, list[str]], hidden: list[str]) -> list[str]:
    """Every {sid} page with each target SID of its kind: 404 (403 for a form; a redirect only if it reveals
    nothing), a page that shows none of `hidden`, and the same answer as for a SID that does not exist."""
    failures = []
    for method, template in SID_PAGES:
        kind = kind_of(template)
        for sid in targets[kind]:
            path = fill(template, sid)
            response = probe(browser, method, path)
            text = response.text + response.headers.get("location", "")
            allowed = (404,) if method == "GET" else (403, 404)
            redirect = response.status_code in (302, 303) and method == "GET"
            if response.status_code not in allowed and not redirect:
                failures.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
            if shown := [h for h in hidden if h in text]:
                failures.append(f"{method} {path}: shows {shown}")
            unknown = probe(browser, method, fill(template, sid[:2] + secrets.token_hex(16)))
            if (unknown.status_code, unknown.text) != (response.status_code, response.text):
                failures.append(f"{method} {path}: answers otherwise than for an unknown SID")
    return failures


def walk(browser: Browser, view: Tenant, hidden: list[str]) -> list[str]:
    failures = []
    for path in get_pages(view):
        page = browser.get(path)
        if page.status_code != (403 if path == "/credentials/promote" else 200):  # 403 until unlocked
            failures.append(f"GET {path} (viewing {view.name}): {page.status_code}")
        failures += [f"GET {path} (viewing {view.name}) shows {h}" for h in hidden if h in page.text]
    return failures


def test_matrix_maps_every_sid_page() -> None:
    assert SID_PAGES, "PAGES has no page with a {sid}?"
    for _, path in SID_PAGES:
        kind_of(path)
        fill(path, "XX")


def test_pages_refuse_another_accounts_objects(world: World) -> None:
    server, a, a1 = world.server, world.tenants["A"], world.tenants["A1"]
    b, b1 = world.tenants["B"], world.tenants["B1"]
    hidden = [h for t in (b, b1) for h in t.identifiers()]
    before = {t.name: snapshot(server, t) for t in (b, b1)}
    browser = world.browser("A")

    targets = {kind: [b.object_sid(kind), b1.object_sid(kind)] for kind in KINDS.values()}
    targets["subaccount"] = [b1.sid, b.sid]
    failures = refusals(browser, targets, hidden)
    for sid in (b.sid, b1.sid):
        response = browser.submit("/switch", {"account_sid": sid})
        if response.status_code != 404:
            failures.append(f"POST /switch to {sid}: {response.status_code}")
    if f'id="home-sid">{a.sid}<' not in browser.get("/").text:
        failures.append("a refused /switch changed the account in view")
    # Forms that name B's objects by value: B's number can be neither added nor sent from.
    for target in (b, b1):
        for path, form in (
            ("/numbers", {"phone_number": target.phone_number}),
            ("/messages/new", {"from": target.phone_number, "to": TO, "body": "spoofed"}),
        ):
            response = browser.submit(path, form)
            if response.status_code != 400:
                failures.append(f"POST {path} with {target.name}'s number: {response.status_code}")
            others = [h for h in hidden if h != target.phone_number]
            failures += [f"POST {path} shows {h}" for h in others if h in response.text]
        # Nor put in A's pool (the refusal names the sid that was typed, and nothing else of B's).
        path = f"/services/{a.service_sid}/senders"
        response = browser.submit(path, {"add_number": target.number_sid})
        if response.status_code != 400:
            failures.append(f"POST {path} with {target.name}'s number: {response.status_code}")
        failures += [
            f"POST {path} shows {h}" for h in hidden if h != target.number_sid and h in response.text
        ]
    # A's pages (A's own view and its subaccount's) never show B's family, nor do paging cursors of B's.
    failures += walk(browser, a, hidden)
    for path in (
        f"/messages?before={b.message_sid}",
        f"/messages?after={b.message_sid}",
        f"/numbers?after={b.number_sid}",
        f"/messages?from={b.phone_number.replace('+', '%2B')}",  # the filter field shows what was typed
    ):
        page = browser.get(path).text.replace(f'value="{b.phone_number}"', "")
        failures += [f"GET {path} shows {h}" for h in hidden if h in page]
    browser.switch(a1.sid)
    failures += refusals(browser, targets, hidden)
    failures += walk(browser, a1, hidden)
    assert not failures, "\n".join(failures)
    assert {t.name: snapshot(server, t) for t in (b, b1)} == before
    # And B, signed in, sees its own objects (the SIDs above were real and alive).
    b_browser = world.browser("B")
    assert b.number_sid in b_browser.get(f"/numbers/{b.number_sid}").text
    assert b.message_body in b_browser.get(f"/messages/{b.message_sid}").text


def test_subaccount_view_does_not_reach_the_parents_objects(world: World) -> None:
    """Viewing A1, A's own key, number and message are not found (nor A itself as a subaccount); viewing A,
    A1's are not found either: a page shows the objects of the account in view only."""
    server, a, a1 = world.server, world.tenants["A"], world.tenants["A1"]
    before = {t.name: snapshot(server, t) for t in (a, a1)}
    browser = world.browser("A")
    browser.switch(a1.sid)
    parents = {kind: [a.object_sid(kind)] for kind in KINDS.values()}
    parents["subaccount"] = [a.sid]
    failures = refusals(browser, parents, [a.number_sid, a.phone_number, a.message_body, a.key_name])
    browser.switch(a.sid)
    subs = {kind: [a1.object_sid(kind)] for kind in KINDS.values()}
    subs["subaccount"] = [a.sid]  # A1 is A's to manage; A itself is no subaccount
    failures += refusals(browser, subs, [a1.number_sid, a1.phone_number, a1.message_body, a1.key_name])
    assert not failures, "\n".join(failures)
    assert {t.name: snapshot(server, t) for t in (a, a1)} == before
