"""Who may act on which account: a matrix over every route of the API (mycpaas.api.app.ROUTES) and method.

The world: A is the server's owner (a main account), A1 and A2 are subaccounts of A, B is an unrelated main
account made with the `mycpaas accounts create` CLI. Every account owns a number, a message and a standard API
key, and the matrix uses those real SIDs, so a refusal can never be explained by "it does not exist".

- B (token or key) on any path of A, A1 or A2: 401/20003.
- A1 (token or key) on A's or A2's paths, and A2 on A's or A1's: 401/20003.
- A (the parent) on A1's and A2's paths: allowed (200 for reads; never 401/403 for anything).
- Standard API keys on the Accounts, Keys and AuthTokens routes: 401/20003, on every account.
- What belongs to A1 is never visible through A's own paths.
- A closed subaccount takes no number or key from its parent (403/20005); A1 cannot send from A's number (21606).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from mycpaas.api.app import ROUTES
from mycpaas.api.router import Route, match
from mycpaas.services.auth import Scope
from tests.conftest import remember_secret
from tests.integration.auth_support import (
    Creds,
    assert_auth_failure,
    list_all,
    new_key,
    new_subaccount,
    other_main_account,
    own_number,
    send_message,
    unique_number,
)
from tests.server import ServerProcess

METHODS = ("GET", "POST", "DELETE", "PUT")
PREFIXES = ("", "/api/laml")
_SUFFIX = r"(?:\.json)?/?"  # routes are matched whole (fullmatch): no anchors
_PARAM = re.compile(r"\(\?P<(\w+)>([^()]*)\)")
_ANY_SEGMENT = "[^/]+?"


@dataclass(frozen=True)
class Tenant:
    name: str
    creds: Creds
    key: Creds
    number_sid: str
    message_sid: str

    @property
    def sid(self) -> str:
        return self.creds.username

    def item(self, collection: str, existing: bool) -> str | None:
        real = {
            "Messages": self.message_sid,
            "IncomingPhoneNumbers": self.number_sid,
            "Keys": self.key.username,
        }
        fake = {"Messages": "SM", "IncomingPhoneNumbers": "PN", "Keys": "SK"}
        if collection not in real:
            return None
        return real[collection] if existing else fake[collection] + secrets.token_hex(16)


def template(route: Route) -> str:
    """The route's path with {name} for a free segment, or the first alternative of a fixed set of words
    (e.g. IncomingPhoneNumbers/{number_type} limited to Local|Mobile|TollFree becomes .../Local)."""
    pattern = route.pattern.pattern
    assert pattern.startswith("/") and pattern.endswith(_SUFFIX), pattern

    def segment(found: re.Match[str]) -> str:
        if found.group(2) == _ANY_SEGMENT:
            return "{" + found.group(1) + "}"
        words = found.group(2).split("|")
        assert all(re.fullmatch(r"\w+", w) for w in words), f"teach test_cross_account about {pattern}"
        return words[0]

    return _PARAM.sub(segment, pattern[: -len(_SUFFIX)])


TEMPLATES = [(template(route), route) for route in ROUTES]
ACCOUNT_ROUTES = [(t, r) for t, r in TEMPLATES if "{account_sid}" in t]
GLOBAL_ROUTES = [(t, r) for t, r in TEMPLATES if "{account_sid}" not in t]


def fill(path_template: str, route: Route, tenant: Tenant, existing: bool = True) -> str:
    """A concrete path for `tenant`; a new route with a parameter this test does not know fails loudly."""
    parts = path_template.split("/")
    for index, part in enumerate(parts):
        found = re.fullmatch(r"\{(\w+)\}", part)
        if not found:
            continue
        if found.group(1) == "account_sid":
            parts[index] = tenant.sid
            continue
        value = tenant.item(parts[index - 1], existing)
        assert value is not None, f"route {path_template}: teach test_cross_account about {part} here"
        parts[index] = value
    path = "/".join(parts)
    assert re.fullmatch(r"[\w/\-]+", path), path
    matched = match(ROUTES, path)
    assert matched is not None and matched[0] is route, f"{path} is not served by {route.pattern.pattern}"
    return path + ".json"


@pytest.fixture(scope="module")
def world(server: ServerProcess) -> dict[str, Tenant]:
    with server.client() as owner:
        a1 = new_subaccount(server, owner, "A1")
        a2 = new_subaccount(server, owner, "A2")
    accounts = {
        "A": Creds(server.account_sid, server.auth_token),
        "A1": a1,
        "A2": a2,
        "B": other_main_account(server),
    }
    tenants = {}
    for name, creds in accounts.items():
        with server.client(creds.username, creds.password) as client:
            number_sid, number = own_number(server, client, creds.username)
            message_sid = send_message(server, client, creds.username, number, f"cross-account test {name}")
            key = new_key(server, client, creds.username, f"{name} standard key")
        tenants[name] = Tenant(name, creds, key, number_sid, message_sid)
    return tenants


Check = Callable[[str, str, Route, httpx.Response], None]


def run_matrix(
    server: ServerProcess, creds: Creds, calls: Iterable[tuple[str, str, Route]], check: Check
) -> list[str]:
    """Send every call with `creds`; returns one line per call that `check` rejects."""
    failures = []
    with server.client(creds.username, creds.password) as client:
        for method, path, route in calls:
            response = client.request(method, path)
            body = response.json() if response.content else {}
            for field in ("secret", "auth_token"):
                if isinstance(body, dict) and isinstance(body.get(field), str):
                    remember_secret(body[field])
            try:
                check(method, path, route, response)
            except AssertionError as error:
                failures.append(f"{creds.username[:6]}… {method} {path}: {response.status_code} {error}")
    return failures


def account_calls(target: Tenant, existing: bool = True) -> list[tuple[str, str, Route]]:
    return [
        (method, prefix + fill(path_template, route, target, existing), route)
        for path_template, route in ACCOUNT_ROUTES
        for method in METHODS
        for prefix in PREFIXES
    ]


def refused(*presented: str) -> Check:
    def check(method: str, path: str, route: Route, response: httpx.Response) -> None:
        detail = assert_auth_failure(response, *presented)
        assert "cannot access" in detail or "standard key" in detail, detail

    return check


def test_matrix_covers_every_route() -> None:
    assert len(TEMPLATES) == len(ROUTES) and ACCOUNT_ROUTES and GLOBAL_ROUTES
    for path_template, route in ACCOUNT_ROUTES:
        assert set(route.methods) <= set(METHODS), f"{path_template}: add {set(route.methods) - set(METHODS)}"


@pytest.mark.parametrize("as_key", [False, True], ids=["token", "key"])
def test_unrelated_main_account_is_refused_on_every_path_of_a(
    server: ServerProcess, world: dict[str, Tenant], as_key: bool
) -> None:
    b = world["B"]
    creds = b.key if as_key else b.creds
    failures = []
    for target in ("A", "A1", "A2"):
        failures += run_matrix(server, creds, account_calls(world[target]), refused(creds.password))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("as_key", [False, True], ids=["token", "key"])
@pytest.mark.parametrize(("caller", "targets"), [("A1", ("A", "A2")), ("A2", ("A", "A1"))])
def test_subaccount_is_refused_on_parent_and_sibling_paths(
    server: ServerProcess, world: dict[str, Tenant], caller: str, targets: tuple[str, ...], as_key: bool
) -> None:
    tenant = world[caller]
    creds = tenant.key if as_key else tenant.creds
    failures = []
    for target in targets:
        failures += run_matrix(server, creds, account_calls(world[target]), refused(creds.password))
    assert not failures, "\n".join(failures)


def allowed(method: str, path: str, route: Route, response: httpx.Response) -> None:
    assert response.status_code not in (401, 403) and response.status_code < 500, response.text[:300]
    if method not in route.methods:
        assert response.status_code == 405 and response.json()["code"] == 20004, response.text[:300]
    elif method == "GET":
        assert response.status_code == 200, response.text[:300]
    elif method == "DELETE":
        assert response.status_code == 404 and response.json()["code"] == 20404, response.text[:300]


@pytest.mark.parametrize("sub", ["A1", "A2"])
def test_parent_may_use_every_route_of_its_subaccounts(
    server: ServerProcess, world: dict[str, Tenant], sub: str
) -> None:
    """Reads and updates use the subaccount's real SIDs; deletes use unknown SIDs so nothing is lost."""
    target = world[sub]
    calls = [(method, path, route) for method, path, route in account_calls(target) if method != "DELETE"] + [
        (method, path, route)
        for method, path, route in account_calls(target, existing=False)
        if method == "DELETE"
    ]
    failures = run_matrix(server, world["A"].creds, calls, allowed)
    assert not failures, "\n".join(failures)


def test_parents_standard_key_works_on_subaccount_resources_only(
    server: ServerProcess, world: dict[str, Tenant]
) -> None:
    key = world["A"].key

    def check(method: str, path: str, route: Route, response: httpx.Response) -> None:
        if route.scope is Scope.ACCOUNT_ADMIN:
            detail = assert_auth_failure(response, key.password)
            assert "standard key" in detail, detail
        else:
            allowed(method, path, route, response)

    calls = [c for c in account_calls(world["A1"]) if c[0] != "DELETE"]
    calls += [c for c in account_calls(world["A1"], existing=False) if c[0] == "DELETE"]
    failures = run_matrix(server, key, calls, check)
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("owner", ["A", "A1", "B"])
def test_standard_keys_are_refused_on_accounts_keys_and_authtokens(
    server: ServerProcess, world: dict[str, Tenant], owner: str
) -> None:
    tenant = world[owner]
    admin = [(t, r) for t, r in TEMPLATES if r.scope is Scope.ACCOUNT_ADMIN]
    assert any("{account_sid}" not in t for t, _ in admin), "expected /Accounts and /v1/AuthTokens among them"
    calls = [
        (method, prefix + fill(path_template, route, tenant), route)
        for path_template, route in admin
        for method in METHODS
        for prefix in PREFIXES
    ]

    def check(method: str, path: str, route: Route, response: httpx.Response) -> None:
        detail = assert_auth_failure(response, tenant.key.password)
        assert "standard key" in detail, detail

    failures = run_matrix(server, tenant.key, calls, check)
    # ...while the same key reads its own account's resources.
    resources = [
        ("GET", fill(t, r, tenant), r)
        for t, r in ACCOUNT_ROUTES
        if r.scope is Scope.RESOURCES and "GET" in r.methods
    ]
    failures += run_matrix(server, tenant.key, resources, allowed)
    assert not failures, "\n".join(failures)


def test_routes_without_an_account_path_act_only_on_the_caller(
    server: ServerProcess, world: dict[str, Tenant]
) -> None:
    expected = {"A": {"A", "A1", "A2"}, "A1": {"A1"}, "A2": {"A2"}, "B": {"B"}}
    names = {tenant.sid: name for name, tenant in world.items()}
    for caller, visible in expected.items():
        with server.client(world[caller].creds.username, world[caller].creds.password) as client:
            accounts = list_all(client, "/2010-04-01/Accounts.json", "accounts")
        seen = {names[a["sid"]] for a in accounts if a["sid"] in names}
        assert seen == visible, f"{caller} lists {seen}"
        for account in accounts:
            remember_secret(account["auth_token"])
            assert account["sid"] == world[caller].sid or account["owner_account_sid"] == world[caller].sid


def test_subaccount_resources_are_not_visible_on_parents_path(
    server: ServerProcess, world: dict[str, Tenant]
) -> None:
    a = world["A"]
    others = [world[name] for name in ("A1", "A2", "B")]
    with server.client() as client:
        base = server.accounts_path(a.sid)
        messages = {m["sid"] for m in list_all(client, f"{base}/Messages.json", "messages")}
        numbers = {
            n["sid"] for n in list_all(client, f"{base}/IncomingPhoneNumbers.json", "incoming_phone_numbers")
        }
        keys = {k["sid"] for k in list_all(client, f"{base}/Keys.json", "keys")}
        assert a.message_sid in messages and a.number_sid in numbers and a.key.username in keys
        for other in others:
            assert other.message_sid not in messages
            assert other.number_sid not in numbers
            assert other.key.username not in keys
            for path in (
                f"{base}/Messages/{other.message_sid}.json",
                f"{base}/Messages/{other.message_sid}/Media.json",
                f"{base}/IncomingPhoneNumbers/{other.number_sid}.json",
                f"{base}/Keys/{other.key.username}.json",
            ):
                response = client.get(path)
                assert response.status_code == 404 and response.json()["code"] == 20404, (path, response.text)
        # On A1's own path the parent sees A1's resources, and only those.
        sub = world["A1"]
        sub_base = server.accounts_path(sub.sid)
        sub_messages = {m["sid"] for m in list_all(client, f"{sub_base}/Messages.json", "messages")}
        assert sub.message_sid in sub_messages and a.message_sid not in sub_messages
        assert client.get(f"{sub_base}/Messages/{a.message_sid}.json").status_code == 404


@pytest.mark.parametrize(
    "suffix", ["/Calls.json", "/Messages/SM00000000000000000000000000000000/Feedback.json"]
)
def test_unknown_subresource_of_another_account_is_refused(
    server: ServerProcess, world: dict[str, Tenant], suffix: str
) -> None:
    b = world["B"]
    with server.client(b.creds.username, b.creds.password) as client:
        response = client.get(server.accounts_path(world["A"].sid) + suffix)
    assert_auth_failure(response, b.creds.password, says=("cannot access",))


def sdk(server: ServerProcess, creds: Creds) -> Client:
    """The official twilio client with `creds`, aimed at the server on SignalWire's path."""
    client = Client(creds.username, creds.password)
    client.api.base_url = server.url
    client.api.v2010.version = "api/laml/2010-04-01"
    return client


def test_a_closed_subaccount_takes_no_number_or_key_and_numbers_send_for_their_owner_only(
    server: ServerProcess, world: dict[str, Tenant]
) -> None:
    a, a1 = world["A"], world["A1"]
    parent = sdk(server, a.creds)
    with server.client() as owner:
        closed = new_subaccount(server, owner, "closed for good")
    parent.api.v2010.accounts(closed.username).update(status="closed")
    _, a_number = own_number_of(parent)
    refusals = {
        "transfer": lambda: parent.incoming_phone_numbers(a.number_sid).update(account_sid=closed.username),
        "create key": lambda: parent.api.v2010.accounts(closed.username).new_keys.create(friendly_name="k"),
    }
    for name, attempt in refusals.items():
        with pytest.raises(TwilioRestException) as refused:
            attempt()
        assert (refused.value.status, refused.value.code) == (403, 20005), name
    assert parent.incoming_phone_numbers(a.number_sid).fetch().account_sid == a.sid
    assert parent.api.v2010.accounts(closed.username).keys.list() == []  # the parent may still read it

    # A subaccount sending from its parent's number, with its own token or the parent's on its path: 21606.
    for client in (sdk(server, a1.creds), parent):
        with pytest.raises(TwilioRestException) as not_owned:
            client.api.v2010.accounts(a1.sid).messages.create(to="+15558675310", from_=a_number, body="x")
        assert (not_owned.value.status, not_owned.value.code) == (400, 21606)
        assert a_number in not_owned.value.msg


def own_number_of(client: Client) -> tuple[str, str]:
    number = client.incoming_phone_numbers.create(phone_number=unique_number())
    return str(number.sid), str(number.phone_number)
