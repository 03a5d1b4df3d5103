"""Shared by the dashboard security tests (this package): real `mycpaas serve` processes over real HTTP, a
browser-like client, page scanners, the secrets handed out, and the world they run against.

The `world` server (https) holds two main accounts, A (the owner) and B (made with the CLI), each with a
dashboard user and a subaccount (A1, B1); each of the four accounts owns a number, a message and an API key.
Forms that change things act in a fresh subaccount of A, so tests share the world without touching each other.
Throttling and session expiry change settings, so they run on servers of their own (over http).
"""

from __future__ import annotations

import re
import secrets
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import httpx

from mycpaas.dashboard.app import PAGES
from tests.conftest import ISSUED_SECRETS, make_server, remember_secret
from tests.dashboard_support import PASSWORD, create_user, csrf_of
from tests.integration.auth_support import (
    Creds,
    new_key,
    new_main_account,
    new_subaccount,
    send_message,
    unique_number,
)
from tests.receiver import Answer, Receiver
from tests.server import ServerProcess

MAGIC_FROM = "+15005550006"
EVIL = "http://evil.example"
# The object a page's {sid} names, by the page's first path segment.
KINDS = {
    "keys": "key",
    "numbers": "number",
    "messages": "message",
    "subaccounts": "subaccount",
    "services": "service",
    "debugger": "attempt",
}
GET_PAGES = [path for method, path, _ in PAGES if method == "GET"]
POST_PAGES = [path for method, path, _ in PAGES if method == "POST"]
SID_PAGES = [(method, path) for method, path, _ in PAGES if "{" in path]


def kind_of(path: str) -> str:
    kind = KINDS.get(path.split("/")[1])
    assert kind, (
        f"{path}: teach tests/integration/dashboard_security/support.py which object its {{sid}} names (KINDS)"
    )
    return kind


def fill(path: str, sid: str) -> str:
    names = set(re.findall(r"\{(\w+)\}", path))
    assert names <= {"sid"}, (
        f"{path}: teach tests/integration/dashboard_security/support.py about the parameters {names - {'sid'}}"
    )
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


def known_secrets() -> list[str]:
    """Every secret handed out since the first dashboard security test began (tokens, key secrets, passwords, session ids…)."""
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
    """Close the browsers' connections (a server may wait for open TLS keep-alive connections at shutdown)."""
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
    """An account and the objects it owns (a number with a webhook, a message, an API key, a Messaging
    Service with the number in its pool)."""

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
    service_sid: str
    service_name: str
    attempt_sid: str  # a failed status callback of another message (the Debugger's)

    @property
    def sid(self) -> str:
        return self.creds.username

    def object_sid(self, kind: str) -> str:
        return {
            "key": self.key.username,
            "number": self.number_sid,
            "message": self.message_sid,
            "subaccount": self.sub_sid,
            "service": self.service_sid,
            "attempt": self.attempt_sid,
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
            self.service_sid,
            self.service_name,
            self.attempt_sid,
        ]

    def secrets(self) -> list[str]:
        return [self.creds.password, self.key.password]


def populate(
    server: ServerProcess, name: str, creds: Creds, friendly_name: str, sub_sid: str, failing_url: str
) -> Tenant:
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
        # The v1 API names no account: the service is the authenticated account's own.
        service_name = f"{name} service {tag}"
        service = api.post("/v1/Services", data={"FriendlyName": service_name})
        assert service.status_code == 201, service.text
        service_sid = service.json()["sid"]
        pooled = api.post(f"/v1/Services/{service_sid}/PhoneNumbers", data={"PhoneNumberSid": number["sid"]})
        assert pooled.status_code == 201, pooled.text
        attempt_sid = failed_attempt(server, api, creds.username, failing_url)
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
        service_sid,
        service_name,
        attempt_sid,
    )


def failed_attempt(server: ServerProcess, api: httpx.Client, account_sid: str, failing_url: str) -> str:
    """A message whose status callback fails (`failing_url` answers 500; no retry), and its attempt's sid."""
    base = server.accounts_path(account_sid)
    sent = api.post(
        f"{base}/Messages.json",
        data={
            "To": "+15005550014",
            "From": MAGIC_FROM,
            "Body": "x",
            "StatusCallback": failing_url + "#rc=0",
        },
    )
    assert sent.status_code == 201, sent.text
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        log = api.get(f"{base}/Messages/{sent.json()['sid']}/WebhookAttempts.json").json()["webhook_attempts"]
        if log:
            return str(log[0]["sid"])
        time.sleep(0.1)
    raise AssertionError("the status callback was never attempted")


@dataclass
class World:
    server: ServerProcess
    emails: dict[str, str]
    tenants: dict[str, Tenant]
    receiver: Receiver  # answers the tenants' failing status callbacks (the Debugger's attempts)
    failing_url: str
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
    receiver = Receiver()
    failing = receiver.script("/failing", Answer(500, "no", "text/plain"))
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
            "A": populate(server, "Alpha", a_creds, f"Alpha {tag}", a1.username, failing),
            "A1": populate(server, "Alphasub", a1, f"Alpha sub {tag}", a1.username, failing),
        }
        b = b_creds.result()
        user_b = pool.submit(create_user, server, emails["B"], PASSWORD, b.username)
        with server.client(b.username, b.password) as api:
            b1 = new_subaccount(server, api, f"Bravo sub {tag}")
        tenants["B"] = populate(server, "Bravo", b, f"Bravo {tag}", b1.username, failing)
        tenants["B1"] = populate(server, "Bravosub", b1, f"Bravo sub {tag}", b1.username, failing)
        user_a.result()
        user_b.result()
    return World(server, emails, tenants, receiver, failing)


def get_pages(view: Tenant) -> list[str]:
    """Every GET page of PAGES, its {sid} filled with an object of the account in view."""
    return [fill(path, view.object_sid(kind_of(path))) if "{" in path else path for path in GET_PAGES]


# --- forms and forgeries (CSRF and Origin) ----------------------------------------------------------------


# How long a form's effect made in the background (a redelivery, sent by the webhook dispatcher after the form's
# answer) is waited for: generous, since a busy CI machine may take seconds, and a passing run waits only as
# long as the effect takes. A refused form's effect is looked for much more briefly: it could only show up
# late by being queued, and a forgery that queued something fails the later checks of the same test too.
BACKGROUND_EFFECT_SECONDS = 30.0
REFUSED_EFFECT_SECONDS = 2.0


@dataclass
class Case:
    """A form that works when sent properly, and how to tell whether its effect took place (`done` looks once;
    `background` says the effect follows the form's answer, so `took_effect` polls for it)."""

    path: str
    form: dict[str, str]
    done: Callable[[], bool]
    status: int = 303
    background: bool = False

    def took_effect(self) -> bool:
        """Whether the proper form's effect is there: at once, or for a background effect within
        BACKGROUND_EFFECT_SECONDS."""
        return self._seen_within(BACKGROUND_EFFECT_SECONDS if self.background else 0.0)

    def no_effect(self) -> bool:
        """Whether the effect is absent after refused forms: for a background effect, still absent after
        REFUSED_EFFECT_SECONDS."""
        return not self._seen_within(REFUSED_EFFECT_SECONDS if self.background else 0.0)

    def _seen_within(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not self.done():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True


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
