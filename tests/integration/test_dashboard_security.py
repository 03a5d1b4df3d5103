"""Security of the web dashboard, over real HTTP against real `mycpaas serve` processes.

- CSRF: every form (every POST of mycpaas.dashboard.app.PAGES, /sign-in and /setup) is refused, with nothing
  changed, without its session's token or from another Origin; the same form with both succeeds.
- The session cookie: flags over http and https, a new identifier at every sign-in, sign-out and expiry.
- Throttling of failed sign-ins, password re-entries and set-up codes, per address (no lockout from elsewhere).
- Secrets: the Auth Token only behind a password re-entry, no secret in any URL, a key's secret shown once,
  no password echoed, none in the server log; the security headers on every response.
- A cross-account matrix over every page with a {sid}, built from PAGES so a new page is covered or fails here;
  the session cookie does not authenticate the API.
- No open redirect through /sign-in?next=.

The `world` server (https) holds two main accounts, A (the owner) and B (made with the CLI), each with a
dashboard user and a subaccount (A1, B1); each of the four accounts owns a number, a message and an API key.
Forms that change things act in a fresh subaccount of A, so tests share the world without touching each other.
Throttling and session expiry change settings, so they run on servers of their own (over http).
"""

from __future__ import annotations

import html
import re
import secrets
import ssl
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urljoin, urlsplit

import httpx
import pytest
from markupsafe import escape

from mycpaas.dashboard.app import PAGES
from tests.conftest import BACKENDS, ISSUED_SECRETS, dispose_server, find_leaks, make_server, remember_secret
from tests.dashboard_support import PASSWORD, create_user, csrf_of
from tests.integration.auth_support import (
    TO,
    Creds,
    new_key,
    new_main_account,
    new_subaccount,
    send_message,
    unique_number,
)
from tests.server import ServerProcess

MAGIC_FROM = "+15005550006"
EVIL = "http://evil.example"
# The object a page's {sid} names, by the page's first path segment.
KINDS = {"keys": "key", "numbers": "number", "messages": "message", "subaccounts": "subaccount"}
GET_PAGES = [path for method, path, _ in PAGES if method == "GET"]
POST_PAGES = [path for method, path, _ in PAGES if method == "POST"]
SID_PAGES = [(method, path) for method, path, _ in PAGES if "{" in path]


def kind_of(path: str) -> str:
    kind = KINDS.get(path.split("/")[1])
    assert kind, f"{path}: teach test_dashboard_security which object its {{sid}} names (KINDS)"
    return kind


def fill(path: str, sid: str) -> str:
    names = set(re.findall(r"\{(\w+)\}", path))
    assert names <= {"sid"}, f"{path}: teach test_dashboard_security about the parameters {names - {'sid'}}"
    return path.replace("{sid}", sid)


def hex_tag() -> str:
    return secrets.token_hex(4)


# --- what every response must carry, and what no URL may carry ---------------------------------------------


class _PageScan(HTMLParser):
    """Every URL a page points a browser to (links, form actions, sources, and the fields of GET forms, which
    end up in a URL), and everything the Content-Security-Policy would block (inline scripts and styles)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._get_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.urls += [values[name] for name in ("href", "src", "action", "formaction") if name in values]
        if tag == "form":
            self._get_form = values.get("method", "get").lower() == "get"
        if self._get_form and tag in ("input", "select", "textarea", "button") and values.get("value"):
            self.urls.append(values["value"])
        if tag == "script" and "src" not in values:
            self.inline.append("<script> without src")
        self.inline += [f"<{tag} {name}=…>" for name in values if name == "style" or name.startswith("on")]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._get_form = False


def scan(page: str) -> _PageScan:
    parser = _PageScan()
    parser.feed(page)
    return parser


def urls_of(response: httpx.Response) -> list[str]:
    urls = [response.headers["location"]] if "location" in response.headers else []
    if response.headers.get("content-type", "").startswith("text/html"):
        urls += scan(response.text).urls
    return urls


_FIRST_SECRET = [0]


@pytest.fixture(scope="module", autouse=True)
def _count_secrets_from_here() -> None:
    _FIRST_SECRET[0] = len(ISSUED_SECRETS)


def known_secrets() -> list[str]:
    """Every secret handed out since this module began (tokens, key secrets, passwords, session ids…)."""
    return [s for s in set(ISSUED_SECRETS[_FIRST_SECRET[0] :]) if len(s) >= 12]


def secrets_in_urls(response: httpx.Response, secrets_: list[str]) -> list[str]:
    urls = urls_of(response)
    text = "\n".join(urls + [unquote_plus(url) for url in urls])
    return [
        f"{s[:4]}… in {next((u for u in urls if s in u or s in unquote_plus(u)), '')[:80]!r}"
        for s in secrets_
        if s in text
    ]


def assert_secured(response: httpx.Response) -> None:
    where = f"{response.request.method} {response.request.url.path}"
    csp = response.headers.get("content-security-policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert "default-src" in directives and directives.get("frame-ancestors") == ["'none'"], (
        f"{where}: {csp!r}"
    )
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, f"{where}: {csp!r}"
    assert response.headers.get("x-frame-options") == "DENY", where
    assert response.headers.get("referrer-policy") in ("same-origin", "no-referrer"), where
    assert "no-store" in response.headers.get("cache-control", ""), where
    assert response.headers.get("x-content-type-options") == "nosniff", where
    if response.headers.get("content-type", "").startswith("text/html"):
        assert not scan(response.text).inline, f"{where}: the CSP blocks {scan(response.text).inline}"


def set_cookies(response: httpx.Response) -> dict[str, tuple[str, dict[str, str]]]:
    """name -> (value, {attribute (lower case): value}) of every Set-Cookie header."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        first, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = first.partition("=")
        found[name] = (value, {k.lower(): v for k, _, v in (a.partition("=") for a in attributes)})
    return found


def session_cookie(server: ServerProcess) -> str:
    return ("__Host-" if server.tls else "") + "mycpaas_session"


_BROWSERS: list[Browser] = []


def close_browsers(server: ServerProcess) -> None:
    """Close the browsers' connections (uvicorn waits for open TLS keep-alive connections at shutdown)."""
    for browser in [b for b in _BROWSERS if b.server is server]:
        browser.http.close()
        _BROWSERS.remove(browser)


class Browser:
    """A browser as the dashboard sees one: a cookie jar, an Origin header on every request (a browser sends
    one with every POST), a source address of its own if wanted (the throttle counts per address). Every
    response is checked for the security headers and for secrets in its Location and links."""

    def __init__(self, server: ServerProcess, address: str | None = None) -> None:
        verify: Any = ssl.create_default_context(cafile=str(server.cert_file)) if server.tls else True
        self.server = server
        self.seen: list[httpx.Response] = []
        self.token = ""  # the CSRF token of this browser's session (or pre-session)
        self.http = httpx.Client(
            base_url=server.url,
            transport=httpx.HTTPTransport(verify=verify, local_address=address),
            headers={"Origin": server.url},
            timeout=30,
            event_hooks={"response": [self._inspect]},
        )
        _BROWSERS.append(self)

    def _inspect(self, response: httpx.Response) -> None:
        response.read()
        assert_secured(response)
        leaks = secrets_in_urls(response, known_secrets())
        assert not leaks, f"{response.request.method} {response.request.url.path}: secret in a URL: {leaks}"
        self.seen.append(response)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> httpx.Response:
        return self.http.post(path, data=data, **kwargs)

    def submit(self, path: str, data: dict[str, str] | None = None) -> httpx.Response:
        """Post a form as the page would: with this session's CSRF token and this server's Origin."""
        return self.post(path, {**(data or {}), "csrf_token": self.token})

    def form_token(self, path: str = "/sign-in") -> str:
        """Open a pre-sign-in form (which sets the pre-session cookie) and keep its CSRF token."""
        self.token = remember_secret(csrf_of(self.get(path).text))
        remember_secret(self.cookie("mycpaas_pre_session"))
        return self.token

    def try_sign_in(self, email: str, password: str = PASSWORD, next_path: str = "/") -> httpx.Response:
        self.form_token()
        data = {"email": email, "password": password, "next": next_path}
        return self.post("/sign-in", {**data, "csrf_token": self.token})

    def sign_in(self, email: str, password: str = PASSWORD, next_path: str = "/") -> httpx.Response:
        response = self.try_sign_in(email, password, next_path)
        assert response.status_code == 303, response.text
        self.signed_in()
        return response

    def signed_in(self) -> None:
        remember_secret(self.session_id)
        self.token = remember_secret(csrf_of(self.get("/").text))

    def cookie(self, base: str) -> str:
        return self.http.cookies.get(("__Host-" if self.server.tls else "") + base) or ""

    @property
    def session_id(self) -> str:
        return self.cookie("mycpaas_session")

    def unlock(self, password: str = PASSWORD) -> httpx.Response:
        return self.submit("/credentials/unlock", {"password": password})

    def switch(self, account_sid: str) -> None:
        response = self.submit("/switch", {"account_sid": account_sid})
        assert response.status_code == 303, response.text


def with_cookie(server: ServerProcess, session_id: str) -> httpx.Client:
    """A client that sends exactly this session cookie, whatever its Max-Age said."""
    verify: Any = ssl.create_default_context(cafile=str(server.cert_file)) if server.tls else True
    return httpx.Client(
        base_url=server.url,
        verify=verify,
        headers={"Cookie": f"{session_cookie(server)}={session_id}", "Origin": server.url},
        timeout=30,
    )


def secondary_token(page: str) -> str:
    """The secondary Auth Token shown on an unlocked credentials page (remembered as a secret)."""
    found = re.search(r'id="secondary-token"[^>]* value="([^"]+)"', page)
    assert found, "no secondary token on the page"
    return remember_secret(found.group(1))


def created_key(page: str) -> Creds:
    """The SID and the secret of the key a create-key response shows (the secret remembered)."""
    found = re.search(
        r'id="new-key-sid">(SK[0-9a-f]{32})<.*id="new-key-secret"[^>]* value="([^"]+)"', page, re.S
    )
    assert found, "no new key on the page"
    return Creds(found.group(1), remember_secret(found.group(2)))


def setup_code(server: ServerProcess) -> str:
    """The one-time set-up code the first start printed (in the link's #fragment)."""
    found = re.search(r"/setup#code=(\S+)", server.log_text())
    assert found, "no set-up link in the server log"
    return remember_secret(found.group(1))


# --- the world: accounts A and B, their subaccounts, users and objects --------------------------------------


@dataclass
class Tenant:
    """An account and the objects it owns (a number with a webhook, a message, an API key)."""

    name: str
    creds: Creds
    friendly_name: str
    sub_sid: str  # the subaccount of this account's family (a main's own, or the subaccount itself)
    number_sid: str
    phone_number: str
    number_name: str
    message_sid: str
    message_body: str
    key: Creds
    key_name: str

    @property
    def sid(self) -> str:
        return self.creds.username

    def object_sid(self, kind: str) -> str:
        return {
            "key": self.key.username,
            "number": self.number_sid,
            "message": self.message_sid,
            "subaccount": self.sub_sid,
        }[kind]

    def identifiers(self) -> list[str]:
        """What must never show on another account's pages."""
        return [
            self.sid,
            self.friendly_name,
            self.number_sid,
            self.phone_number,
            self.number_name,
            self.message_sid,
            self.message_body,
            self.key.username,
            self.key_name,
        ]

    def secrets(self) -> list[str]:
        return [self.creds.password, self.key.password]


def populate(server: ServerProcess, name: str, creds: Creds, friendly_name: str, sub_sid: str) -> Tenant:
    tag = hex_tag()
    with server.client(creds.username, creds.password) as api:
        base = server.accounts_path(creds.username)
        response = api.post(
            f"{base}/IncomingPhoneNumbers.json",
            data={
                "PhoneNumber": unique_number(),
                "FriendlyName": f"{name} number {tag}",
                "SmsUrl": f"https://{name.lower()}-{tag}.example/sms",
            },
        )
        assert response.status_code == 201, response.text
        number = response.json()
        body = f"{name} message {tag}"
        message_sid = send_message(server, api, creds.username, number["phone_number"], body)
        key_name = f"{name} key {tag}"
        key = new_key(server, api, creds.username, key_name)
    return Tenant(
        name,
        creds,
        friendly_name,
        sub_sid,
        number["sid"],
        number["phone_number"],
        number["friendly_name"],
        message_sid,
        body,
        key,
        key_name,
    )


@dataclass
class World:
    server: ServerProcess
    emails: dict[str, str]
    tenants: dict[str, Tenant]
    _tokens: dict[str, str] = field(default_factory=dict)

    def browser(self, who: str = "A") -> Browser:
        browser = Browser(self.server)
        browser.sign_in(self.emails[who])
        return browser

    def foreign_token(self, whose: str) -> str:
        """A CSRF token that is valid, but for another browser: B's session, another session of A's user,
        or a pre-sign-in form."""
        if whose not in self._tokens:
            browser = Browser(self.server)
            if whose == "anonymous":
                browser.form_token()
            else:
                browser.sign_in(self.emails[whose])
            self._tokens[whose] = browser.token
        return self._tokens[whose]


def build_world(directory: Path, backend: str) -> World:
    server = make_server(directory, backend, tls=True, env={"MYCPAAS_SIGN_IN_MAX_FAILURES": "1000"})
    tag = hex_tag()
    emails = {"A": f"alpha-{tag}@example.com", "B": f"bravo-{tag}@example.com"}
    with ThreadPoolExecutor(2) as pool:
        # The CLI takes about a second a call: users and B's account are made while A's objects are.
        user_a = pool.submit(create_user, server, emails["A"])
        b_creds = pool.submit(new_main_account, server, f"Bravo {tag}")
        a_creds = Creds(server.account_sid, server.auth_token)
        with server.client() as api:
            renamed = api.post(f"{server.accounts_path()}.json", data={"FriendlyName": f"Alpha {tag}"})
            assert renamed.status_code == 200, renamed.text
            a1 = new_subaccount(server, api, f"Alpha sub {tag}")
        tenants = {
            "A": populate(server, "Alpha", a_creds, f"Alpha {tag}", a1.username),
            "A1": populate(server, "Alphasub", a1, f"Alpha sub {tag}", a1.username),
        }
        b = b_creds.result()
        user_b = pool.submit(create_user, server, emails["B"], PASSWORD, b.username)
        with server.client(b.username, b.password) as api:
            b1 = new_subaccount(server, api, f"Bravo sub {tag}")
        tenants["B"] = populate(server, "Bravo", b, f"Bravo {tag}", b1.username)
        tenants["B1"] = populate(server, "Bravosub", b1, f"Bravo sub {tag}", b1.username)
        user_a.result()
        user_b.result()
    return World(server, emails, tenants)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """SQLite only: what a page may show is decided in Python (services compare the owner's SID); the SQL
    that differs between the backends, the session's expiry, is tested on PostgreSQL below."""
    built = build_world(tmp_path_factory.mktemp("dashboard-world"), "sqlite")
    yield built
    close_browsers(built.server)
    dispose_server(built.server)


def get_pages(view: Tenant) -> list[str]:
    """Every GET page of PAGES, its {sid} filled with an object of the account in view."""
    return [fill(path, view.object_sid(kind_of(path))) if "{" in path else path for path in GET_PAGES]


# --- 1. CSRF and Origin on every form -----------------------------------------------------------------------


@dataclass
class Case:
    """A form that works when sent properly, and how to tell whether its effect took place."""

    path: str
    form: dict[str, str]
    done: Callable[[], bool]
    status: int = 303


class Sandbox:
    """A's fresh session, viewing a fresh subaccount S of A's: a form's effect touches nothing shared.
    The API checks use A's credentials (a parent may use its subaccounts' resources)."""

    def __init__(self, world: World) -> None:
        self.server = world.server
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


def _sign_out(s: Sandbox) -> Case:
    return Case("/sign-out", {}, lambda: s.browser.get("/").status_code == 303)


# Every POST of PAGES (a new form without an entry here fails test_every_form_has_a_csrf_case).
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
    "/sign-out": _sign_out,
}


def assert_refused(response: httpx.Response, attempt: str) -> None:
    assert response.status_code == 403, f"{attempt}: {response.status_code} {response.text[:300]}"
    assert "not accepted" in response.text, f"{attempt}: refused for another reason: {response.text[:300]}"
    assert "location" not in response.headers, attempt
    assert not any(name.endswith("mycpaas_session") for name in set_cookies(response)), attempt


def try_forgeries(browser: Browser, case: Case, foreign: dict[str, str]) -> None:
    """The form with no token, a wrong one, other browsers' valid ones, or its own but from another site."""
    attempts: dict[str, tuple[str | None, str]] = {
        "no token": (None, browser.server.url),
        "empty token": ("", browser.server.url),
        "wrong token": (secrets.token_hex(32), browser.server.url),
        **{f"token of {label}": (token, browser.server.url) for label, token in foreign.items()},
        f"Origin {EVIL}": (browser.token, EVIL),
        "Origin null": (browser.token, "null"),
        "Origin on another port": (browser.token, f"{browser.server.url.rsplit(':', 1)[0]}:1"),
    }
    for attempt, (token, origin) in attempts.items():
        data = case.form if token is None else {**case.form, "csrf_token": token}
        assert_refused(browser.post(case.path, data, headers={"Origin": origin}), attempt)


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
    assert not case.done(), "a refused form changed something"

    response = sandbox.browser.submit(case.path, case.form)
    assert response.status_code == case.status, response.text[:500]
    if path == "/keys":
        created_key(response.text)
    assert case.done(), "the form with its token and Origin did not take effect"


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


SESSION_SECONDS = 2
UNLOCK_SECONDS = 0.5


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
        signed_in_at = time.monotonic()  # the session began before this: it ends before signed_in_at + 2
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


# --- 3. Throttling ------------------------------------------------------------------------------------------

MAX_FAILURES = 3


@dataclass
class Throttled:
    server: ServerProcess
    users: dict[str, str]


@pytest.fixture(scope="module")
def throttled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Throttled]:
    """A server that throttles after 3 failures. The throttle counts per address (and per address and
    email), and every test client is on the loopback: each test below uses addresses of its own (127.0.0.x)."""
    server = make_server(
        tmp_path_factory.mktemp("dashboard-throttle"),
        "sqlite",
        env={"MYCPAAS_SIGN_IN_MAX_FAILURES": str(MAX_FAILURES)},
    )
    tag = hex_tag()
    users = {name: f"{name}-{tag}@example.com" for name in ("victim", "other")}
    with ThreadPoolExecutor(2) as pool:
        for done in [pool.submit(create_user, server, email) for email in users.values()]:
            done.result()
    yield Throttled(server, users)
    close_browsers(server)
    dispose_server(server)


def assert_throttled(response: httpx.Response, *passwords: str) -> None:
    assert response.status_code == 429, f"{response.status_code} {response.text[:300]}"
    assert re.search(r"Too many failed attempts; try again in \d+ seconds", response.text), response.text
    assert not any(p in response.text for p in passwords)
    assert not any(name.endswith("mycpaas_session") for name in set_cookies(response))


def test_failed_sign_ins_are_throttled_per_address(throttled: Throttled) -> None:
    server, users = throttled.server, throttled.users
    attacker = Browser(server, "127.0.0.2")
    wrong = [remember_secret(f"not the password {hex_tag()}") for _ in range(MAX_FAILURES)]
    for password in wrong:
        response = attacker.try_sign_in(users["victim"], password)
        assert response.status_code == 401 and "not correct" in response.text
        assert password not in response.text
    # The right password no longer helps, and other emails from that address are refused too.
    assert_throttled(attacker.try_sign_in(users["victim"]), PASSWORD, *wrong)
    assert_throttled(attacker.try_sign_in(users["other"]), PASSWORD)
    assert_throttled(attacker.try_sign_in(f"nobody-{hex_tag()}@example.com", "another guess 123"))
    assert not attacker.session_id

    # No lockout: the victim signs in from another address (the email alone is not a key).
    assert Browser(server, "127.0.0.3").sign_in(users["victim"]).status_code == 303


def test_password_re_entry_and_set_up_codes_are_throttled(throttled: Throttled) -> None:
    server, email = throttled.server, throttled.users["other"]
    browser = Browser(server, "127.0.0.4")
    browser.sign_in(email)
    wrong = [remember_secret(f"wrong re-entry {hex_tag()}") for _ in range(MAX_FAILURES)]
    for password in wrong:
        response = browser.unlock(password)
        assert response.status_code == 401 and "not correct" in response.text
        assert password not in response.text
    assert_throttled(browser.unlock(PASSWORD), PASSWORD, *wrong)
    assert server.auth_token not in browser.get("/credentials").text
    # Re-entries and sign-ins share the count of the address.
    assert_throttled(Browser(server, "127.0.0.4").try_sign_in(throttled.users["victim"]))

    guesser = Browser(server, "127.0.0.5")
    guesser.form_token("/setup")
    form = {"email": f"new-{hex_tag()}@example.com", "password": PASSWORD, "password_again": PASSWORD}
    for _ in range(MAX_FAILURES):
        code = secrets.token_urlsafe(24)
        response = guesser.post("/setup", {**form, "code": code, "csrf_token": guesser.token})
        assert response.status_code == 401, response.text
    response = guesser.post("/setup", {**form, "code": "x", "csrf_token": guesser.token})
    assert_throttled(response, PASSWORD)


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
    for path in GET_PAGES:
        if "{" in path:
            path = fill(
                path, {"key": key.username, "number": number_sid, "message": message_sid}[kind_of(path)]
            )
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
    browser = world.browser("A")
    assert payload not in browser.get("/subaccounts").text
    browser.switch(sub.username)
    for path in [*GET_PAGES, "/subaccounts"]:
        if "{" in path:
            path = fill(path, {"number": number_sid, "message": message_sid}.get(kind_of(path), "x"))
        page = browser.get(path).text
        assert payload not in page and "<img" not in page, path
        assert str(escape(payload)) in page, path  # in the "Viewing subaccount" banner of every page


# --- 5. The cross-account matrix over every page with a {sid} -----------------------------------------------


def snapshot(server: ServerProcess, tenant: Tenant) -> dict[str, Any]:
    """What the API, with the tenant's own credentials, says about its objects."""
    base = server.accounts_path(tenant.sid)
    with server.client(tenant.sid, tenant.creds.password) as api:
        account = api.get(f"{base}.json").json()
        number = api.get(f"{base}/IncomingPhoneNumbers/{tenant.number_sid}.json")
        key = api.get(f"{base}/Keys/{tenant.key.username}.json")
        message = api.get(f"{base}/Messages/{tenant.message_sid}.json")
    with server.client(tenant.key.username, tenant.key.password) as as_key:
        key_works = as_key.get(f"{base}/Messages.json").status_code
    fields = ("friendly_name", "sms_url", "sms_method", "status_callback", "phone_number")
    return {
        "account": (account["friendly_name"], account["status"]),
        "number": (number.status_code, *(number.json().get(f) for f in fields)),
        "key": (key.status_code, key.json().get("friendly_name")),
        "message": (message.status_code, message.json().get("body")),
        "key works": key_works,
    }


HOSTILE_FORM = {
    "friendly_name": "taken over",
    "status": "suspended",
    "sms_url": "https://evil.example/hook",
    "sms_method": "GET",
    "status_callback": "https://evil.example/status",
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
