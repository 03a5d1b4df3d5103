"""Each class of input that once made a 500, swept rather than sampled: dates a parser accepts but a datetime
cannot hold, integers of any size, JSON nested past the parser's recursion limit, lone UTF-16 surrogates, and
methods the dashboard's static files do not serve, U+0000 anywhere text reaches the database. Every answer is a 4xx in its router's shape (or a success),
and the server log holds no traceback."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mycpaas.api.app import ROUTES as API_ROUTES
from mycpaas.dashboard.app import PAGES as DASHBOARD_PAGES
from tests.conftest import BACKENDS, dispose_server, make_server
from tests.dashboard_support import create_user, csrf_of, signed_in
from tests.server import ServerProcess

SHAPE = {"code", "message", "more_info", "status"}
DATE_PARAMETERS = ["DateSent", "DateSent>", "DateSent<"]
# Impossible dates, dates a time zone or a day's step pushes past years 1-9999, and text past int's limits.
BAD_DATES = [
    "2026-02-30", "0000-01-01", "2026-13-01", "2026-00-10",
    "2026-02-30T00:00:00", "0000-01-01T00:00:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
    "02/30/2026 00:00:00", "13/01/2026 00:00:00", "00/00/0000 00:00:00",
    "Sat, 30 Feb 2026 00:00:00 +0000", "Fri, 31 Dec 9999 23:59:59 -0100",
    "Fri, 31 Dec 99999 23:59:59 +0000", "9" * 30, "=2026-01-01",
]  # fmt: skip
# Valid, at the ends of the calendar: each is an answer (possibly an empty list), not an error.
EDGE_DATES = [
    "9999-12-31",
    "9999-12-31T23:59:59",
    "9999-12-31T23:59:59.999999",
    "0001-01-01",
    "12/31/9999 23:59:59",
]
BAD_INTEGERS = ["9" * 30, "9" * 5000, str(2**63), "-1", "1e3", "0x10", "١٢", "1_0", "--1", " ", "+-1"]


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    instance = make_server(tmp_path_factory.mktemp(f"classes-{request.param}"), request.param)
    yield instance
    dispose_server(instance)


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client
    assert "Traceback" not in server.log_text()


def _refused(response: httpx.Response, status: int = 400) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= SHAPE and body["status"] == status, body
    return dict(body)


def _answered(response: httpx.Response) -> None:
    """A success, or a refusal in the error shape: never a 5xx."""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        _refused(response, response.status_code)


def _messages(server: ServerProcess) -> str:
    return f"{server.accounts_path()}/Messages.json"


@pytest.mark.parametrize("name", DATE_PARAMETERS)
def test_impossible_and_overflowing_dates_are_400(
    server: ServerProcess, client: httpx.Client, name: str
) -> None:
    for value in BAD_DATES:
        body = _refused(client.get(_messages(server), params={name: value}))
        assert name in str(body["message"]), body
    for value in EDGE_DATES:
        response = client.get(_messages(server), params={name: value})
        assert response.status_code == 200, (value, response.text)
        assert response.json()["messages"] == []


def test_every_list_refuses_integers_out_of_range(server: ServerProcess, client: httpx.Client) -> None:
    base = server.accounts_path()
    lists = [f"{base}/Messages.json", f"{base}/IncomingPhoneNumbers.json", f"{base}/Keys.json", "/2010-04-01/Accounts.json",
             f"{base}/Messages/SM{'a' * 32}/WebhookAttempts.json"]  # fmt: skip
    for path in lists:
        for name in ("PageSize", "Page"):
            for value in [
                *BAD_INTEGERS,
                "0" if name == "PageSize" else "-5",
                "1001" if name == "PageSize" else "2147483649",
            ]:
                response = client.get(path, params={name: value})
                if value == " ":  # blank is the default
                    _answered(response)
                    continue
                assert response.status_code in (400, 404), (path, name, value[:40], response.text)
                _refused(response, response.status_code)
        far = client.get(path, params={"Page": str(2**31), "PageSize": "1000"})
        _answered(far)
    for value in [*BAD_INTEGERS, "9" * 4300]:
        _answered(client.get(_messages(server), params={"PageToken": value}))
        _answered(client.post(_messages(server), data={"To": "+15551230000", "From": "+15551230001",
                                                        "Body": "x", "ValidityPeriod": value}))  # fmt: skip


def _nested(depth: int, open_: str, close: str, inner: str = "1") -> str:
    return open_ * depth + inner + close * depth


@pytest.mark.parametrize("credentials", [True, False])
def test_deeply_nested_json_is_400(server: ServerProcess, credentials: bool) -> None:
    bodies = [
        _nested(100_000, "[", "]"),
        '{"Body": ' + _nested(100_000, "[", "]") + "}",
        _nested(50_000, '{"a":', "}"),
        '{"Body": {"a": 1}}',
        '{"Body": [[1]]}',
        '{"To": ' + "9" * 5000 + "}",
    ]
    auth = (server.account_sid, server.auth_token) if credentials else None
    with httpx.Client(base_url=server.url, auth=auth, timeout=30) as client:
        for body in bodies:
            response = client.post(
                _messages(server), content=body, headers={"Content-Type": "application/json"}
            )
            _refused(response, 400 if credentials else response.status_code)
            assert response.status_code in ((400,) if credentials else (400, 401)), response.text
    assert "Traceback" not in server.log_text()


def test_lone_surrogates_are_refused_before_the_database(server: ServerProcess, client: httpx.Client) -> None:
    path = _messages(server)
    numbers = {"To": "+15551230000", "From": "+15551230001"}
    for surrogate in ("\\ud800", "\\udfff", "a\\udbff\\udc00b\\ud800"):
        for key in ("Body", "To", "From", "StatusCallback", "x"):
            fields = {**{k: json.dumps(v) for k, v in numbers.items()}, "Body": '"hi"'}
            fields[key] = f'"{surrogate}"'
            text = "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"
            body = _refused(client.post(path, content=text, headers={"Content-Type": "application/json"}))
            assert "surrogate" in str(body["message"]), body
        text = '{"B\\udc80ody": "hi"}'
        assert "surrogate" in str(
            _refused(client.post(path, content=text, headers={"Content-Type": "application/json"}))["message"]
        )
    # Form bodies are UTF-8 bytes: a surrogate's encoding is invalid UTF-8, refused as such.
    for raw in (b"Body=\xed\xa0\x80", b"Body=\xff", b"To=%2B1555&Body=\xc3"):
        _refused(
            client.post(path, content=raw, headers={"Content-Type": "application/x-www-form-urlencoded"})
        )
    # Percent-encoded invalid UTF-8 decodes to U+FFFD (as Twilio's stack does): an answer, never a 500.
    for encoded in ("Body=%ED%A0%80", "Body=%FF&To=%ED%B2%80"):
        _answered(
            client.post(path, content=encoded, headers={"Content-Type": "application/x-www-form-urlencoded"})
        )
        _answered(client.get(path + "?" + encoded.replace("Body", "PageToken")))


def test_static_files_answer_405_with_allow_not_500(server: ServerProcess) -> None:
    names = [p.name for p in (Path(__file__).parents[2] / "src/mycpaas/dashboard/static").iterdir()]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for name in [*names, "missing.css", ""]:
            for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND"):
                response = client.request(method, f"/static/{name}")
                assert response.status_code == 405, (method, name, response.status_code)
                assert response.headers["allow"] == "GET, HEAD"
            missing = client.get(f"/static/{name}x")
            assert missing.status_code == 404, (name, missing.status_code)
            assert "text/html" in missing.headers["content-type"]
        for name in names:
            assert client.get(f"/static/{name}").status_code == 200
            assert client.head(f"/static/{name}").status_code == 200
    assert "Traceback" not in server.log_text()


def test_nul_in_api_paths_and_dashboard_forms_is_refused(server: ServerProcess, client: httpx.Client) -> None:
    """U+0000 reaches PostgreSQL through any text: path segments of every API route, dashboard forms and
    query strings of every dashboard page."""
    for route in API_ROUTES:
        if set(re.findall(r"\{(\w+)\}", route.path)) <= {"account_sid"}:
            continue  # the account's SID is checked before anything else
        path = re.sub(r"\{(?!account_sid)\w+\}", "x%00y", route.path)
        path = path.replace("{account_sid}", server.account_sid)
        for method in ("GET", "POST", "DELETE"):
            response = client.request(method, path + ".json")
            assert response.status_code in (400, 404, 405), (method, path, response.text)
            _refused(response, response.status_code)
    create_user(server, "nul@example.com")
    dashboard = signed_in(server, "nul@example.com")
    token = csrf_of(dashboard.get("/keys").text)
    fields = ["friendly_name", "to", "from", "body", "phone_number", "sms_url", "status", "password", "name"]
    for method, template, _ in DASHBOARD_PAGES:
        path = template.replace("{sid}", "x%00y")
        if method == "GET":
            response = dashboard.get(path, params={"to": "+1555\x00", "status": "\x00", "x\x00": "1"})
        else:
            response = dashboard.post(path, data={"csrf_token": token, **{name: "a\x00b" for name in fields}})
        assert response.status_code in (303, 400, 404), (method, path, response.status_code)
    assert dashboard.get("/").status_code == 200  # the session survived every refusal


def test_odd_usernames_leave_the_shared_throttle_working(server: ServerProcess) -> None:
    """Failed usernames are throttle keys written to a 255-character column: a longer one, or one with U+0000,
    once failed every later flush of the process's shared failure counts."""
    path = _messages(server)
    for username in ("A" * 300, "SK" + "é" * 300, "AC\x00", "SK\x00", "x" * 4000):
        basic = base64.b64encode(f"{username}:wrong".encode()).decode()
        response = httpx.get(server.url + path, headers={"Authorization": f"Basic {basic}"}, timeout=30)
        _refused(response, 401)
    for email in ("a" * 300 + "@example.com", "b@example.com" + "\u00e9" * 250):
        page = httpx.post(server.url + "/sign-in", data={"email": email, "password": "x"}, timeout=30)
        assert page.status_code in (400, 401, 403), page.status_code
    log = server.log_text()
    assert "Traceback" not in log and "unreachable" not in log
