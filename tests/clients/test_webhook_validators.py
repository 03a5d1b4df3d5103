"""Our webhook signatures against the official validators a customer application would use.

- npm `twilio` 6.3.1: `twilio.validateRequest(authToken, signature, url, params)`.
- npm `@signalwire/compatibility-api` 3.2.0: `RestClient.validateRequest(...)`, its vendored twilio-node webhooks
  module (it parses the URL with url-parse, which lowercases the scheme and host and drops a default port).
- Python `signalwire` 2.1.1: `signalwire.request_validator.RequestValidator(token).validate(url, params, sig)`,
  which for a dict of form fields is twilio 6.54.0's `RequestValidator` (a string body would be checked against
  SignalWire's hex HMAC-SHA1 of URL + body first, a scheme mycpaas does not use).
- twilio-python 9 of the main venv (in process), the validator the integration tests already use.

Two sets of cases: synthetic ones, signed here with `mycpaas.domain.signatures.twilio_signature` as
`mycpaas.webhooks.client` does (POST: URL + sorted form fields; GET: the fields urlencoded into the URL's query,
nothing appended), and the exact requests a real `mycpaas serve` sent to a local receiver: three status
callbacks, three for an undelivered message (ErrorCode 30003), an inbound POST and an inbound GET. Every case
must be accepted, and every tampered copy (another token, a changed field or URL) rejected.

The Node validators run in tests/clients/node/validate.js, the SignalWire one in signalwire_validate.py under
.venv-signalwire; each gets all cases of a test on stdin at once.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import pytest
from twilio.request_validator import RequestValidator

from mycpaas.domain.signatures import twilio_signature
from tests.conftest import dispose_server, make_server
from tests.integration.helpers import own_number, send
from tests.receiver import Received, Receiver
from tests.server import ROOT, ServerProcess

NODE = shutil.which("node")
NODE_DIR = Path(__file__).with_name("node")
NODE_MODULES = NODE_DIR / "node_modules"
NODE_VALIDATE = NODE_DIR / "validate.js"
SIGNALWIRE_PYTHON = ROOT / ".venv-signalwire" / "bin" / "python"
SIGNALWIRE_VALIDATE = Path(__file__).with_name("signalwire_validate.py")
DROPPED_ENV = ("TWILIO_", "SIGNALWIRE_", "NODE_")

needs_node = pytest.mark.skipif(
    NODE is None or not NODE_MODULES.is_dir(),
    reason=f"needs `node` and {NODE_MODULES}: run `npm ci` in {NODE_DIR} (scripts/test.sh installs both)",
)
needs_signalwire = pytest.mark.skipif(
    not SIGNALWIRE_PYTHON.exists(),
    reason=f"{SIGNALWIRE_PYTHON} is missing; create it with `python3 -m venv .venv-signalwire && "
    ".venv-signalwire/bin/pip install signalwire==2.1.1` (the Makefile does this)",
)

# Synthetic cases only: made-up credentials, never a server's.
TOKEN = secrets.token_hex(16)
OTHER_TOKEN = secrets.token_hex(16)
ACCOUNT_SID = "AC" + secrets.token_hex(16)
# What an inbound message's Body can hold: emoji (with ZWJ and flags), accents (composed and combining),
# the form-encoding metacharacters & = + % and spaces, quotes, newlines.
BODIES = [
    "Hello 👋 café — naïve ✓ 🇺🇸 👨‍👩‍👧 e\u0301",
    "a & b = c + d; 100% sure? yes/no #tag",
    "  spaces  around, 'single' \"double\" <angle>\nnew line\r\n\ttab",
    "",
]


@dataclass(frozen=True)
class Case:
    name: str
    token: str
    url: str  # as the application sees it: for GET, with the webhook's parameters in the query
    params: dict[str, str]  # the POST form; {} for GET
    signature: str
    method: str

    def payload(self) -> dict[str, Any]:
        data = asdict(self)
        del data["name"]
        return data


def keep(url: str) -> str:
    return url


def strip_port(url: str) -> str:
    """The URL as an app behind a proxy may rebuild it: without the (default) port."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition(":")[0]))


def add_default_port(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.netloc}:{443 if parts.scheme == 'https' else 80}"))


def signed_post(
    name: str, url: str, params: dict[str, str], seen: Callable[[str], str] = keep, token: str = TOKEN
) -> Case:
    return Case(name, token, seen(url), params, twilio_signature(token, url, params), "POST")


def signed_get(
    name: str, url: str, params: dict[str, str], seen: Callable[[str], str] = keep, token: str = TOKEN
) -> Case:
    full = url + ("&" if urlsplit(url).query else "?") + urlencode(params)
    return Case(name, token, seen(full), {}, twilio_signature(token, full), "GET")


def status_params(status: str, error_code: str | None = None) -> dict[str, str]:
    sid = "SM" + secrets.token_hex(16)
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": ACCOUNT_SID,
        "From": "+15551230000",
        "To": "+15551230001",
        "ApiVersion": "2010-04-01",
    }
    if error_code is not None:
        params["ErrorCode"] = error_code
    return params


def inbound_params(body: str) -> dict[str, str]:
    sid = "SM" + secrets.token_hex(16)
    return {
        "ApiVersion": "2010-04-01",
        "AccountSid": ACCOUNT_SID,
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "SmsStatus": "received",
        "From": "+15551230000",
        "To": "+14155550100",
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "FromCity": "",
        "FromState": "",
        "FromZip": "",
        "FromCountry": "US",
        "ToCity": "",
        "ToState": "",
        "ToZip": "",
        "ToCountry": "US",
    }


URLS = [
    "https://example.com/sms",
    "https://example.com/hooks/status?tenant=a&x=%2F1",
    "http://example.com:8080/hooks/status?x=1",
    "https://example.com:8443/sms",
    "http://127.0.0.1:5000/cb?x=1&empty=&plus=a+b",
    "https://example.com/path%20with%20space/sms?q=caf%C3%A9",
    "http://[::1]:8080/hooks?x=1",
]


def synthetic_cases() -> list[Case]:
    cases: list[Case] = []
    for url in URLS:
        cases += [
            signed_post(f"POST status sending {url}", url, status_params("sending")),
            signed_post(f"POST status undelivered 30003 {url}", url, status_params("undelivered", "30003")),
            signed_get(f"GET status delivered {url}", url, status_params("delivered")),
        ]
        for number, body in enumerate(BODIES):
            cases += [
                signed_post(f"POST inbound body#{number} {url}", url, inbound_params(body)),
                signed_get(f"GET inbound body#{number} {url}", url, inbound_params(body)),
            ]
    # The validators try the URL with and without the scheme's default port, so either form the app rebuilds
    # is accepted, whichever one was signed.
    for url, seen in [
        ("https://example.com/sms?x=1", add_default_port),
        ("https://example.com:443/sms?x=1", strip_port),
        ("http://example.com/sms", add_default_port),
        ("http://example.com:80/sms", strip_port),
    ]:
        cases += [
            signed_post(f"POST seen as {seen.__name__} {url}", url, inbound_params(BODIES[0]), seen),
            signed_get(f"GET seen as {seen.__name__} {url}", url, status_params("sent"), seen),
        ]
    return cases


def tampered(case: Case) -> list[Case]:
    """Copies that must be rejected: another token, a changed URL, a changed or added parameter."""
    parts = urlsplit(case.url)
    copies = [
        replace(case, name=f"{case.name} / other token", token=OTHER_TOKEN),
        replace(
            case, name=f"{case.name} / other path", url=urlunsplit(parts._replace(path=parts.path + "x"))
        ),
    ]
    if case.method == "GET":
        query = parts.query.replace("=", "=x", 1)
        copies += [
            replace(case, name=f"{case.name} / changed query", url=urlunsplit(parts._replace(query=query))),
            replace(case, name=f"{case.name} / added query", url=case.url + "&Extra=1"),
        ]
    else:
        field = "Body" if "Body" in case.params else "MessageStatus"
        changed = {**case.params, field: case.params[field] + "!"}
        copies += [
            replace(case, name=f"{case.name} / changed {field}", params=changed),
            replace(case, name=f"{case.name} / added field", params={**case.params, "Extra": ""}),
        ]
    return copies


# ---- the real server ---------------------------------------------------------------------------------------

END_TO_END_BODY = "Hi 👋 café & co = 1 + 1, 100% 'sure'\nsecond line"


@dataclass
class Sent:
    """The requests a real server sent to a local receiver, and what they were configured with."""

    server: ServerProcess
    receiver: Receiver
    urls: dict[str, str]  # kind -> the configured URL
    received: dict[str, list[Received]]  # kind -> the requests, in arrival order
    numbers: dict[str, str]

    def cases(self) -> list[Case]:
        cases = []
        for kind, requests in self.received.items():
            for number, request in enumerate(requests):
                url = self.receiver.url(request.path)  # rebuilt from the request line, as an app would
                params = {} if request.method == "GET" else request.params
                name = f"{kind}#{number} {request.method} {request.params.get('MessageStatus', '')}"
                cases.append(
                    Case(name, self.server.auth_token, url, params, request.signature, request.method)
                )
        return cases


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sent]:
    server = make_server(tmp_path_factory.mktemp("validators-server"), "sqlite")
    receiver = Receiver()
    try:
        tag = uuid.uuid4().hex[:12]
        urls = {
            "status": receiver.url(f"/status/{tag}?x=1"),
            "undelivered": receiver.url(f"/undelivered/{tag}?tenant=a&x=%2F1"),
            "inbound-post": receiver.url(f"/inbound-post/{tag}?x=1"),
            "inbound-get": receiver.url(f"/inbound-get/{tag}?x=1&y=a%20b"),
        }
        client = server.client()
        numbers = {
            "sender": own_number(server, client),
            "inbound-post": own_number(server, client, SmsUrl=urls["inbound-post"], SmsMethod="POST"),
            "inbound-get": own_number(server, client, SmsUrl=urls["inbound-get"], SmsMethod="GET"),
        }
        sender = numbers["sender"]
        for data in [
            # To a number of our own: the sandbox hands it back as an inbound message, POSTed to its SmsUrl.
            {"To": numbers["inbound-post"], "Body": END_TO_END_BODY, "StatusCallback": urls["status"]},
            {"To": numbers["inbound-get"], "Body": END_TO_END_BODY},
            # The sandbox's unreachable handset: undelivered with ErrorCode 30003.
            {"To": "+15005550010", "Body": "x", "StatusCallback": urls["undelivered"]},
        ]:
            response = send(server, client, From=sender, **data)
            assert response.status_code == 201, response.text
        wanted = {"status": 3, "undelivered": 3, "inbound-post": 1, "inbound-get": 1}
        received = {
            kind: receiver.wait_for(lambda found, n=count: len(found) >= n, path=urlsplit(urls[kind]).path)
            for kind, count in wanted.items()
        }
        yield Sent(server, receiver, urls, received, numbers)
    finally:
        receiver.close()
        dispose_server(server)


def test_the_real_server_sent_the_webhooks_validated_below(sent: Sent) -> None:
    """What the end-to-end cases are: the requests as expected, all three signature headers equal."""
    received, urls, numbers = sent.received, sent.urls, sent.numbers
    assert [r.params["MessageStatus"] for r in received["status"]] == ["sending", "sent", "delivered"]
    assert [r.params["MessageStatus"] for r in received["undelivered"]] == ["sending", "sent", "undelivered"]
    assert received["undelivered"][2].params["ErrorCode"] == "30003"
    for kind in ("status", "undelivered", "inbound-post"):
        for request in received[kind]:
            assert request.method == "POST"
            assert sent.receiver.url(request.path) == urls[kind], "POSTed to the configured URL, unchanged"
    (post,) = received["inbound-post"]
    assert (post.params["Body"], post.params["To"]) == (END_TO_END_BODY, numbers["inbound-post"])
    assert post.params["ToCity"] == "" and post.params["FromZip"] == ""
    (get,) = received["inbound-get"]
    assert get.method == "GET"
    assert sent.receiver.url(get.path).startswith(urls["inbound-get"] + "&")
    assert (get.params["Body"], get.params["x"], get.params["y"]) == (END_TO_END_BODY, "1", "a b")
    for requests in received.values():
        for request in requests:
            assert len(request.signature) == 28
            assert request.headers["x-signalwire-signature"] == request.signature
            assert request.headers["x-mycpaas-signature"] == request.signature


# ---- the validators ------------------------------------------------------------------------------------------


def run_validator(command: list[str], cases: list[Case], cwd: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_ENV)}
    done = subprocess.run(
        command,
        input=json.dumps([case.payload() for case in cases]),
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{command[1]} failed:\n{done.stderr}\n{done.stdout}"
    out: dict[str, Any] = json.loads(done.stdout)
    assert len(out["results"]) == len(cases)
    return out


def verdicts(cases: list[Case], results: list[dict[str, bool]], validator: str) -> dict[str, list[str]]:
    """Case names by outcome: which were accepted, which rejected."""
    outcome: dict[str, list[str]] = {"accepted": [], "rejected": []}
    for case, result in zip(cases, results, strict=True):
        outcome["accepted" if result[validator] else "rejected"].append(case.name)
    return outcome


def assert_judged(
    cases: list[Case], run: Callable[[list[Case]], list[dict[str, bool]]], validators: list[str]
) -> None:
    """Every case accepted and every tampered copy rejected, by each validator; one run for all of them."""
    forged = [copy for case in cases for copy in tampered(case)]
    results = run(cases + forged)
    for validator in validators:
        genuine = verdicts(cases, results[: len(cases)], validator)
        assert genuine["rejected"] == [], f"{validator} rejected our signatures"
        fake = verdicts(forged, results[len(cases) :], validator)
        assert fake["accepted"] == [], f"{validator} accepted tampered requests"


def node(cases: list[Case]) -> list[dict[str, bool]]:
    out = run_validator([str(NODE), str(NODE_VALIDATE)], cases, NODE_DIR)
    assert out["versions"] == {"twilio": "6.3.1", "compat": "3.2.0"}
    results: list[dict[str, bool]] = out["results"]
    return results


def signalwire_python(cases: list[Case]) -> list[dict[str, bool]]:
    out = run_validator([str(SIGNALWIRE_PYTHON), str(SIGNALWIRE_VALIDATE)], cases, ROOT)
    assert out["versions"] == {"signalwire": "2.1.1", "twilio": "6.54.0"}
    results: list[dict[str, bool]] = out["results"]
    return results


def twilio_python(cases: list[Case]) -> list[dict[str, bool]]:
    return [
        {"twilio": RequestValidator(case.token).validate(case.url, case.params, case.signature)}
        for case in cases
    ]


def test_synthetic_cases_cover_what_they_claim() -> None:
    cases = synthetic_cases()
    assert len(cases) == len({case.name for case in cases}), "case names are unique"
    assert {case.method for case in cases} == {"GET", "POST"}
    gets = [case for case in cases if case.method == "GET"]
    assert all(case.params == {} and "MessageSid=SM" in case.url for case in gets)
    assert any("Body=Hello+%F0%9F%91%8B" in case.url for case in gets), "GET bodies are urlencoded"
    posts = [case for case in cases if case.method == "POST"]
    assert any(case.params.get("ErrorCode") == "30003" for case in posts)
    assert any(case.params.get("ToCity") == "" and "&" in case.params.get("Body", "") for case in posts)


@needs_node
def test_node_validators_accept_synthetic_signatures() -> None:
    assert_judged(synthetic_cases(), node, ["twilio", "compat"])


@needs_node
def test_node_validators_accept_a_real_servers_webhooks(sent: Sent) -> None:
    assert_judged(sent.cases(), node, ["twilio", "compat"])


@needs_signalwire
def test_signalwire_python_validator_accepts_synthetic_signatures() -> None:
    assert_judged(synthetic_cases(), signalwire_python, ["signalwire"])


@needs_signalwire
def test_signalwire_python_validator_accepts_a_real_servers_webhooks(sent: Sent) -> None:
    assert_judged(sent.cases(), signalwire_python, ["signalwire"])


def test_twilio_python_validator_accepts_synthetic_signatures() -> None:
    assert_judged(synthetic_cases(), twilio_python, ["twilio"])


def test_twilio_python_validator_accepts_a_real_servers_webhooks(sent: Sent) -> None:
    assert_judged(sent.cases(), twilio_python, ["twilio"])
