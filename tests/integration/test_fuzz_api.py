"""Schema-driven fuzzing of the API a real server serves: every operation of Twilio's OpenAPI files that mycpaas
implements gets requests generated from the operation's own parameter and body schemas (hypothesis-jsonschema),
with path SIDs of the caller's account, of another account, unknown and malformed, and credentials that are
right, wrong, absent or garbled. The invariants, for every answer: never a 5xx; a 2xx is the status the spec
documents, with a body valid against the spec's response schema; anything else is JSON in Twilio's error shape
whose `status` is the HTTP status. The server's log must end the run without a traceback.

Operations of the spec that mycpaas does not implement get one request each: a 404 (a 405 where the path is
served for other methods) in the error shape. Deterministic in `make test`; MYCPAAS_TEST_FUZZ=<factor> runs
longer from a random seed (tests/fuzz_profile.py).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from mycpaas.api.app import ROUTES
from mycpaas.api.router import match
from tests.conftest import dispose_server, make_server, remember_secret
from tests.fuzz_profile import examples
from tests.schemas import _spec, assert_valid, request_schemas, response_validator
from tests.server import ServerProcess

API = "twilio_api_v2010.json"
ACCOUNTS = "twilio_accounts_v1.json"
MESSAGING = "twilio_messaging_v1.json"
METHODS = ("get", "post", "delete")
ERROR_KEYS = {"code", "message", "more_info", "status"}
PREFIXES = {
    "AccountSid": "AC",
    "MessageSid": "MM",
    "ResourceSid": "PN",
    "CallSid": "CA",
    "ServiceSid": "MG",
    "MessagingServiceSid": "MG",
}
SANDBOX_TO = ["+15005550006", "+15005550010", "+15005550001", "+15005550004", "+14155550123"]


@dataclass(frozen=True)
class Operation:
    spec: str
    path: str  # as in the spec, e.g. /2010-04-01/Accounts/{AccountSid}/Messages.json
    method: str

    @property
    def id(self) -> str:
        return f"{self.method.upper()} {self.path}"


def _placeholder(name: str, path: str) -> str:
    """A well-formed SID for a path parameter, to ask the route table whether the path is served."""
    prefix = PREFIXES.get(name) or _sid_prefix(path)
    return prefix + "0" * 32


def _sid_prefix(path: str) -> str:
    """The prefix of the `{Sid}` in `path`, read from the collection it follows."""
    collection = path.rsplit("/{Sid}", 1)[0].rsplit("/", 1)[-1]
    return {
        "Accounts": "AC",
        "Messages": "SM",
        "IncomingPhoneNumbers": "PN",
        "Keys": "SK",
        "Services": "MG",
        "PhoneNumbers": "PN",
        "AlphaSenders": "AI",
    }.get(collection, "XX")


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: _placeholder(m[1], path), path)


def _all_operations() -> list[Operation]:
    return [
        Operation(spec, path, method)
        for spec in (API, ACCOUNTS, MESSAGING)
        for path, item in _spec(spec)["paths"].items()
        for method in METHODS
        if method in item
    ]


def _served(operation: Operation) -> bool:
    found = match(ROUTES, _concrete(operation.path))
    return found is not None and operation.method.upper() in found[0].methods


# Operations that change who may call (token rotation, closing accounts) run last, and deletions before them,
# so that the rest are fuzzed with working credentials and existing resources first; Promote follows the
# creation of a secondary token.
_LAST = ("/v1/AuthTokens", "/2010-04-01/Accounts.json", "/2010-04-01/Accounts/{Sid}.json")
SERVED = sorted(
    (op for op in _all_operations() if _served(op)),
    key=lambda op: (
        op.path.startswith(_LAST),
        op.method == "delete",
        op.path.endswith("/Promote"),
        op.path,
        op.method,
    ),
)
UNSERVED = [op for op in _all_operations() if not _served(op)]


@dataclass
class World:
    """The server and the real resources whose SIDs fill path parameters, with the credentials that work now."""

    server: ServerProcess
    owner: tuple[str, str]
    sub: tuple[str, str]
    key: tuple[str, str]
    sids: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # account -> SID prefix -> its SIDs
    numbers: dict[str, list[str]] = field(default_factory=dict)  # account -> its phone numbers
    secondary: str | None = None  # the owner's secondary Auth Token, once the fuzzing created one

    def observe(self, operation: Operation, auth: tuple[str, str] | None, response: httpx.Response) -> None:
        """Follow token rotation, so later requests still carry the owner's working token, add what a
        request created to the SIDs later ones use, and have the run's leak check look for every secret the
        server handed out (tests/conftest.py)."""
        if response.status_code == 201 and operation.spec in (API, MESSAGING):
            body = response.json()
            for name in ("auth_token", "secret"):
                if isinstance(body.get(name), str):
                    remember_secret(body[name])
            if body.get("account_sid") in self.sids and isinstance(body.get("sid"), str):
                self.sids[body["account_sid"]].setdefault(body["sid"][:2], []).append(body["sid"])
        if not (auth and auth[0] == self.owner[0]) or not operation.path.startswith("/v1/AuthTokens/"):
            return
        if operation.path.endswith("/Secondary") and response.status_code == 201:
            self.secondary = remember_secret(response.json()["secondary_auth_token"])
        elif operation.path.endswith("/Secondary") and response.status_code == 204:
            self.secondary = None
        elif operation.path.endswith("/Promote") and response.status_code == 200 and self.secondary:
            self.owner, self.secondary = (self.owner[0], self.secondary), None


def _check(client: httpx.Client, method: str, url: str, data: dict[str, Any]) -> httpx.Response:
    response = client.request(method, url, **data)
    assert response.status_code < 500, (
        f"{method} {url} {data} -> {response.status_code} {response.text[:300]}"
    )
    return response


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = make_server(tmp_path_factory.mktemp("fuzz"), "sqlite")
    owner = (server.account_sid, server.auth_token)
    with httpx.Client(base_url=server.url, auth=owner, timeout=30) as client:
        created = _check(client, "POST", "/2010-04-01/Accounts.json", {"data": {"FriendlyName": "fuzz sub"}})
        sub = (created.json()["sid"], remember_secret(created.json()["auth_token"]))
        world = World(server, owner, sub, ("", ""))
        for account in (owner[0], owner[0], sub[0]):
            base = f"/2010-04-01/Accounts/{account}"
            number = f"+1415{secrets.randbelow(10**7):07d}"
            made = _check(
                client, "POST", f"{base}/IncomingPhoneNumbers.json", {"data": {"PhoneNumber": number}}
            )
            world.numbers.setdefault(account, []).append(number)
            own = world.sids.setdefault(account, {"AC": [account]})
            own.setdefault("PN", []).append(made.json()["sid"])
            sent = _check(
                client,
                "POST",
                f"{base}/Messages.json",
                {"data": {"To": SANDBOX_TO[0], "From": number, "Body": "hi"}},
            )
            own.setdefault("SM", []).append(sent.json()["sid"])
            key = _check(client, "POST", f"{base}/Keys.json", {"data": {"FriendlyName": "fuzz"}}).json()
            own.setdefault("SK", []).append(key["sid"])
            if account == owner[0]:
                world.key = (key["sid"], remember_secret(key["secret"]))
            # The account's credentials choose its Messaging Services (the v1 paths name no account).
            caller = owner if account == owner[0] else sub
            service = _check(
                client, "POST", "/v1/Services", {"data": {"FriendlyName": "fuzz"}, "auth": caller}
            )
            own.setdefault("MG", []).append(service.json()["sid"])
    yield world
    dispose_server(server)


def _tracebacks(server: ServerProcess) -> list[str]:
    text = server.log_text()
    return [chunk[:1500] for chunk in text.split("Traceback (most recent call last)")[1:]]


# --- strategies ------------------------------------------------------------------------------------------------


def malformed_segments() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["x", "AC123", "SM" + "g" * 32, "%00", "%FF", "PN" + "0" * 300, "%2E%2E", "AC%0A"]),
        st.text(min_size=1, max_size=40).map(lambda t: quote(t, safe="").replace(".", "%2E")),
    )


def path_values(world: World, name: str, path: str, account: str | None) -> st.SearchStrategy[str]:
    """SIDs of `account` (the caller's own) mostly; otherwise of either account, unknown or malformed."""
    prefix = {"MessageSid": "SM", "AccountSid": "AC"}.get(name) or _sid_prefix(path)
    if account is not None:
        return st.sampled_from(world.sids[account].get(prefix) or [prefix + "0" * 32])
    real = [sid for own in world.sids.values() for sid in own.get(prefix, [])]
    unknown = st.builds(lambda n: prefix + format(n, "032x"), st.integers(0, 2**128 - 1))
    return st.one_of(st.sampled_from(real or [prefix + "0" * 32]), unknown, malformed_segments())


def bad_credentials(world: World) -> st.SearchStrategy[tuple[str, str] | str | None]:
    """A wrong token, no Authorization header, or a raw, garbled Authorization header."""
    wrong = st.builds(lambda t: (world.owner[0], t), st.text("0123456789abcdef", min_size=32, max_size=32))
    garbled = st.sampled_from(
        ["Basic !!!", "Bearer x", "Basic " + base64.b64encode(b"no-colon").decode(), "Basic", "Digest a=b"]
    )
    return st.one_of(wrong, st.none(), garbled)


def _form_value(value: Any) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, list):
        return [v for item in value for v in _form_value(item)]
    if isinstance(value, dict):
        return [json.dumps(value)]
    return [] if value is None else [str(value)]


def realistic(world: World, account: str | None) -> dict[str, st.SearchStrategy[Any]]:
    """Values that pass validation, drawn for a field now and then, so the fuzzing reaches the success paths
    (and their response schemas) as well as the refusals."""
    new_number = st.integers(0, 10**7 - 1).map(lambda n: f"+1628{n:07d}")
    everyone = [n for numbers in world.numbers.values() for n in numbers]
    own = world.numbers[account] if account else everyone
    return {
        "To": st.sampled_from(SANDBOX_TO + everyone),
        "From": st.sampled_from([*own, *own, "+15005550006", "+15005550007"]),
        "Body": st.one_of(st.sampled_from(["hello", "€ 😀 ü", "a" * 400]), st.text(max_size=200)),
        "PhoneNumber": st.one_of(new_number, st.sampled_from(everyone)),
        "PageSize": st.integers(-1, 60),
        "Page": st.integers(-1, 3),
        "DateSent": st.sampled_from(["2026-12-07", "Mon, 07 Dec 2026 00:00:00 +0000", "2026-13-01"]),
        "Status": st.sampled_from(["active", "suspended", "closed", "canceled", "bogus"]),
        "PhoneNumberSid": st.sampled_from(
            [
                sid
                for sids in ([world.sids[account]] if account else world.sids.values())
                for sid in sids["PN"]
            ]
        ),
        "AlphaSender": st.sampled_from(["MyBrand", "Shop 24", "12345", "far too long a name", ""]),
        "FriendlyName": st.sampled_from(["fuzzed", "x" * 70, ""]),
    }


@st.composite
def requests(draw: st.DrawFn, world: World, operation: Operation) -> tuple[str, str, dict[str, Any], Any]:
    """Mostly a caller working on its own resources (the owner with its token or an API key, or the
    subaccount); otherwise any mix of SIDs and callers, or bad credentials."""
    kind = draw(st.sampled_from(["owner", "owner", "owner", "key", "sub", "sub", "mixed", "mixed", "bad"]))
    account = {"owner": world.owner[0], "key": world.owner[0], "sub": world.sub[0]}.get(kind)
    path = re.sub(
        r"\{(\w+)\}", lambda m: draw(path_values(world, m[1], operation.path, account)), operation.path
    )
    if operation.spec == API:
        if draw(st.booleans()):
            path = "/api/laml" + path
        if draw(st.integers(0, 4)) == 0:
            path = path.removesuffix(".json")
    query_schema, form_schema = request_schemas(operation.path, operation.method, operation.spec)
    likely = realistic(world, account)
    values = {}
    for schema, part in ((query_schema, "query"), (form_schema, "form")):
        if not schema["properties"]:
            continue
        if draw(st.integers(0, 2)) == 0:  # only plausible values: mostly a request that succeeds
            drawn = {name: draw(likely[name]) for name in schema["properties"] if name in likely}
        else:
            drawn = draw(from_schema(schema))
            for name in schema["properties"]:
                if name in likely and draw(st.integers(0, 2)) == 0:
                    drawn[name] = draw(likely[name])
        values[part] = drawn
    arguments: dict[str, Any] = {}
    if values.get("query"):
        arguments["params"] = [(k, v) for k, value in values["query"].items() for v in _form_value(value)]
    form = values.get("form")
    if form is not None and operation.method == "post":
        if draw(st.integers(0, 4)) == 0:
            arguments["content"] = json.dumps(form)
            arguments["headers"] = {"Content-Type": "application/json"}
        else:
            pairs = [(k, v) for k, value in form.items() for v in _form_value(value)]
            arguments["content"] = urlencode(pairs)
            arguments["headers"] = {"Content-Type": "application/x-www-form-urlencoded"}
    if kind == "bad":
        auth = draw(bad_credentials(world))
    elif kind == "mixed":
        auth = draw(st.sampled_from([world.owner, world.key, world.sub]))
    else:
        auth = {"owner": world.owner, "key": world.key, "sub": world.sub}[kind]
    return operation.method.upper(), path, arguments, auth


# --- the invariants -----------------------------------------------------------------------------------------


def check_answer(operation: Operation, method: str, url: str, response: httpx.Response) -> None:
    shown = f"{method} {url} -> {response.status_code} {response.text[:400]}"
    assert response.status_code < 500, shown
    if response.status_code < 300:
        documented = list(_spec(operation.spec)["paths"][operation.path][operation.method]["responses"])
        assert str(response.status_code) in documented, shown
        validator = response_validator(
            operation.path, operation.method, str(response.status_code), operation.spec
        )
        if validator is None:
            assert response.content == b"", shown
        else:
            assert_valid(validator, response.json())
        return
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"not JSON: {shown}") from None
    assert isinstance(body, dict) and set(body) >= ERROR_KEYS, shown
    assert body["status"] == response.status_code and isinstance(body["code"], int), shown


def send(client: httpx.Client, world: World, request: tuple[str, str, dict[str, Any], Any]) -> httpx.Response:
    method, path, arguments, auth = request
    headers = dict(arguments.pop("headers", {}))
    if isinstance(auth, str):
        headers["Authorization"] = auth
        auth_arg: Any = None
    else:
        auth_arg = auth
    return client.request(method, path, headers=headers, auth=auth_arg, **arguments)


@pytest.mark.parametrize("operation", SERVED, ids=lambda op: op.id)
def test_served_operation_under_generated_requests(world: World, operation: Operation) -> None:
    with httpx.Client(base_url=world.server.url, timeout=30) as client:

        @settings(max_examples=examples(30))
        @given(st.data())
        def fuzz(data: st.DataObject) -> None:
            request = data.draw(requests(world, operation))
            auth = request[3] if isinstance(request[3], tuple) else None
            issued = (world.owner, world.sub, world.key)  # before a Promote changes the owner's
            response = send(client, world, request)
            world.observe(operation, auth, response)
            check_answer(operation, request[0], request[1], response)
            if auth not in issued:  # wrong, absent or garbled credentials
                # Authentication comes before the body is read (api/app.py): never a 400 here.
                assert response.status_code == 401, f"{request[:2]} -> {response.status_code}"

        fuzz()
    assert not _tracebacks(world.server), _tracebacks(world.server)[0]


def test_unserved_operations_answer_404_in_the_error_shape(world: World) -> None:
    """Everything else in Twilio's two files (Calls, Conferences, Recordings, AWS credentials, ...), with the
    owner's credentials and SIDs: a 404, or a 405 where the route exists for other methods."""
    wrong = []
    with httpx.Client(base_url=world.server.url, auth=world.owner, timeout=30) as client:
        for operation in UNSERVED:
            path = re.sub(r"\{AccountSid\}", world.owner[0], operation.path)
            path = _concrete(path)
            response = client.request(operation.method.upper(), path)
            route = match(ROUTES, path)
            expected = 405 if route else 404
            body = (
                response.json()
                if response.headers.get("content-type", "").startswith("application/json")
                else None
            )
            shaped = isinstance(body, dict) and set(body) >= ERROR_KEYS and body["status"] == expected
            if response.status_code != expected or not shaped:
                wrong.append(f"{operation.id}: {response.status_code} {response.text[:120]}")
    assert len(UNSERVED) > 150 and not wrong, "\n".join(wrong[:20])
    assert not _tracebacks(world.server)


def test_every_route_of_the_api_is_fuzzed() -> None:
    """A route added to api/app.py without a matching operation in the spec would escape the fuzzing."""
    covered = {found[0].path for op in SERVED if (found := match(ROUTES, _concrete(op.path)))}
    # WebhookAttempts is mycpaas's own (docs/webhooks.md), in no Twilio file
    missing = [r.path for r in ROUTES if r.path not in covered and not r.path.endswith("/WebhookAttempts")]
    assert not missing, missing
