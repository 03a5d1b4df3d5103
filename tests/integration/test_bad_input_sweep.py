"""A seeded sweep of malformed requests over every route: each answer is JSON in Twilio's error shape (or a
success), never a 5xx. Catches the unhandled-exception class of bug that example-based tests miss."""

from __future__ import annotations

import json
import random
import string

import pytest

from tests.server import ServerProcess

ALPHABET = string.printable + "€😀é\u0000\ud7ff\uffff%+&=;/?#[]"
KEYS = [
    "To", "From", "Body", "MediaUrl", "StatusCallback", "ValidityPeriod", "SmartEncoded", "MessagingServiceSid",
    "ContentSid", "ContentVariables", "ScheduleType", "SendAt", "PageSize", "Page", "PageToken", "DateSent", "DateSent>",
    "DateSent<", "Status", "FriendlyName", "PhoneNumber", "AreaCode", "SmsUrl", "SmsMethod", "AccountSid",
    "InboundRequestUrl", "StickySender", "ValidityPeriod", "Usecase", "PhoneNumberSid", "AlphaSender",
]  # fmt: skip
CONTENT_TYPES = ["application/x-www-form-urlencoded", "application/json", "multipart/form-data", "text/plain"]


def _text(rng: random.Random, size: int | None = None) -> str:
    size = rng.randint(0, 40) if size is None else size
    return "".join(rng.choice(ALPHABET) for _ in range(size))


def _json_body(rng: random.Random, data: dict[str, str]) -> str:
    """A JSON object of the sweep's values, some turned into what no parameter is: nested values, numbers
    past a float or past int's 4,300 digits, lone surrogate escapes, nesting past the recursion limit."""
    odd = [
        lambda v: [v, v], lambda v: {"a": v}, lambda v: [[v]], lambda v: 1e308 * 10, lambda v: None,
        lambda v: rng.random() < 0.5, lambda v: "\ud800" + v, lambda v: v + "\udfff",
    ]  # fmt: skip
    fields = {k: rng.choice(odd)(v) if rng.random() < 0.5 else v for k, v in data.items()}
    text = json.dumps(fields)  # ASCII: a lone surrogate becomes a \ud800 escape
    if rng.random() < 0.1:
        text = text[:-1] + ', "Body": ' + "[" * 20_000 + "]" * 20_000 + "}" if fields else "[" * 20_000
    elif rng.random() < 0.1:
        text = '{"Page": ' + "9" * 5000 + "}"
    return text


@pytest.mark.parametrize("seed", [1, 2])
def test_malformed_requests_never_cause_a_server_error(server: ServerProcess, seed: int) -> None:
    rng = random.Random(seed)
    sid = server.account_sid
    with server.client() as client:
        service = client.post("/v1/Services", data={"FriendlyName": "sweep"}).json()["sid"]
    paths = [
        f"/2010-04-01/Accounts/{sid}/Messages.json",
        f"/2010-04-01/Accounts/{sid}/Messages/SM{'a' * 32}.json",
        f"/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers.json",
        f"/2010-04-01/Accounts/{sid}/IncomingPhoneNumbers/Local.json",
        f"/2010-04-01/Accounts/{sid}/Keys/SK{'b' * 32}.json",
        "/2010-04-01/Accounts.json",
        f"/api/laml/2010-04-01/Accounts/{sid}/Messages",
        "/v1/AuthTokens/Secondary",
        "/v1/Services",
        f"/v1/Services/{service}",
        f"/v1/Services/{service}/PhoneNumbers",
        f"/v1/Services/{service}/AlphaSenders",
    ]
    failures = []
    with server.client() as client:
        for _ in range(250):
            data = {rng.choice(KEYS): _text(rng) for _ in range(rng.randint(0, 6))}
            path = rng.choice(paths)
            method = rng.choice(["GET", "POST", "POST", "DELETE"])
            if method == "GET":
                response = client.get(path, params=data)
            elif method == "POST" and rng.random() < 0.3:
                response = client.post(
                    path, content=_json_body(rng, data), headers={"Content-Type": "application/json"}
                )
            elif method == "POST" and rng.random() < 0.5:
                raw = _text(rng, 30).encode("utf-8", "surrogatepass") + rng.choice([b"", b"\xff\xfe"])
                response = client.post(path, content=raw, headers={"Content-Type": rng.choice(CONTENT_TYPES)})
            elif method == "POST":
                response = client.post(path, data=data)
            else:
                response = client.delete(path)
            if response.status_code == 204:
                continue
            try:
                body = json.loads(response.text)
            except ValueError:
                body = None
            shaped = isinstance(body, dict) and (
                response.status_code < 400 or {"code", "message", "more_info", "status"} <= set(body)
            )
            if response.status_code >= 500 or not shaped:
                failures.append(f"{method} {path} {data!r} -> {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures[:10])
