"""Status callbacks: one signed POST per status change after `queued`, in order, with Twilio's parameters,
validated by twilio-python's own RequestValidator as a customer application would."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.helpers import own_number, send, unique_number, wait_final
from tests.integration.webhook_support import statuses, subaccount, unique_path, wait_attempts
from tests.receiver import Answer, Receiver, is_valid
from tests.server import ServerProcess

STATUS_PARAMS = {
    "ApiVersion",
    "AccountSid",
    "MessageSid",
    "SmsSid",
    "MessageStatus",
    "SmsStatus",
    "From",
    "To",
}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    instance = Receiver()
    yield instance
    instance.close()


def test_every_status_change_is_posted_signed_and_in_order(server: ServerProcess, receiver: Receiver) -> None:
    client = server.client()
    path = unique_path("status")
    url = receiver.url(f"{path}?tenant=a&x=%2F1")
    sender = own_number(server, client)
    created = send(server, client, To="+15551230001", From=sender, Body="hello", StatusCallback=url).json()

    got = receiver.wait_for(lambda found: len(found) >= 3, path=path)
    assert statuses(got) == ["sending", "sent", "delivered"]
    for request in got:
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        assert is_valid(server.auth_token, request, url), request.params
        assert request.headers["x-mycpaas-signature"] == request.signature
        assert set(request.params) == STATUS_PARAMS
        assert request.params["MessageSid"] == request.params["SmsSid"] == created["sid"]
        assert request.params["SmsStatus"] == request.params["MessageStatus"]
        assert request.params["AccountSid"] == server.account_sid
        assert (request.params["From"], request.params["To"]) == (sender, "+15551230001")
        assert request.params["ApiVersion"] == "2010-04-01"
    assert len({request.token for request in got}) == 3, "one idempotency token per event"

    log = wait_attempts(server, client, created["sid"], 3)
    assert [(a["message_status"], a["outcome"], a["response_status"]) for a in log] == [
        ("sending", "delivered", 200),
        ("sent", "delivered", 200),
        ("delivered", "delivered", 200),
    ]
    assert all(a["request_url"] == url and a["event"] == "status" for a in log)


def test_a_failed_delivery_reports_its_error_code(server: ServerProcess, receiver: Receiver) -> None:
    client = server.client()
    path = unique_path("undelivered")
    sender = own_number(server, client)
    # +15005550010 is the sandbox's unreachable handset: undelivered with 30003.
    send(server, client, To="+15005550010", From=sender, Body="x", StatusCallback=receiver.url(path))
    got = receiver.wait_for(lambda found: len(found) >= 3, path=path)
    assert statuses(got) == ["sending", "sent", "undelivered"]
    assert "ErrorCode" not in got[1].params
    assert got[2].params["ErrorCode"] == "30003"


def test_the_numbers_status_callback_is_the_default(server: ServerProcess, receiver: Receiver) -> None:
    client = server.client()
    path = unique_path("number-default")
    sender = own_number(server, client, StatusCallback=receiver.url(path))
    created = send(server, client, To="+15551230002", From=sender, Body="no callback given").json()
    got = receiver.wait_for(lambda found: len(found) >= 3, path=path)
    assert {r.params["MessageSid"] for r in got} == {created["sid"]}
    assert statuses(got) == ["sending", "sent", "delivered"]


def test_a_subaccounts_callbacks_are_signed_with_its_own_token(
    server: ServerProcess, receiver: Receiver
) -> None:
    parent = server.client()
    sub_sid, sub_token = subaccount(server, parent)
    client = server.client(sub_sid, sub_token)
    path = unique_path("sub")
    url = receiver.url(path)
    sender = own_number(server, client, sub_sid)
    send(server, client, sub_sid, To="+15551230003", From=sender, Body="x", StatusCallback=url)
    got = receiver.wait_for(lambda found: len(found) >= 3, path=path)
    assert all(is_valid(sub_token, r, url) for r in got)
    assert not any(is_valid(server.auth_token, r, url) for r in got)
    assert {r.params["AccountSid"] for r in got} == {sub_sid}


def test_a_500_is_retried_under_the_same_token_and_later_events_wait(
    server: ServerProcess, receiver: Receiver
) -> None:
    client = server.client()
    path = unique_path("flaky")
    url = receiver.script(path, Answer(500, "oops"), Answer(200))
    sender = own_number(server, client)
    created = send(server, client, To="+15551230004", From=sender, Body="x", StatusCallback=url).json()
    got = receiver.wait_for(lambda found: len(found) >= 4, path=path)
    assert statuses(got) == ["sending", "sending", "sent", "delivered"], "sent waited for sending's retry"
    assert got[0].token == got[1].token
    assert len({r.token for r in got}) == 3
    assert all(is_valid(server.auth_token, r, url) for r in got)
    log = wait_attempts(server, client, created["sid"], 4)
    first, retry = log[0], log[1]
    assert (first["outcome"], first["response_status"], first["error_code"], first["attempt"]) == (
        "retrying",
        500,
        11200,
        1,
    )
    assert first["response_excerpt"] == "oops"
    assert (retry["outcome"], retry["attempt"], retry["idempotency_token"]) == (
        "delivered",
        2,
        first["idempotency_token"],
    )


def test_a_404_is_not_retried(server: ServerProcess, receiver: Receiver) -> None:
    client = server.client()
    path = unique_path("gone")
    url = receiver.script(path, Answer(404, "not here"))
    sender = own_number(server, client)
    created = send(server, client, To="+15551230005", From=sender, Body="x", StatusCallback=url).json()
    log = wait_attempts(server, client, created["sid"], 3)
    assert [(a["message_status"], a["outcome"], a["response_status"]) for a in log] == [
        ("sending", "failed", 404),
        ("sent", "failed", 404),
        ("delivered", "failed", 404),
    ]
    assert len(receiver.received(path)) == 3


def test_a_dropped_connection_is_retried(server: ServerProcess, receiver: Receiver) -> None:
    client = server.client()
    path = unique_path("drop")
    url = receiver.script(path, Answer(close=True), Answer(204))
    sender = own_number(server, client)
    created = send(server, client, To="+15551230006", From=sender, Body="x", StatusCallback=url).json()
    got = receiver.wait_for(lambda found: len(found) >= 4, path=path)
    assert statuses(got) == ["sending", "sending", "sent", "delivered"]
    log = wait_attempts(server, client, created["sid"], 4)
    assert log[0]["outcome"] == "retrying" and log[0]["error_code"] in (11205, 11206)
    assert log[0]["response_status"] is None


def test_fragment_overrides_shorten_the_timeout_and_are_not_signed(
    server: ServerProcess, receiver: Receiver
) -> None:
    client = server.client()
    path = unique_path("slow")
    url = receiver.script(path, Answer(200, delay=3.0), Answer(200))
    sender = own_number(server, client)
    created = send(
        server, client, To="+15551230007", From=sender, Body="x", StatusCallback=f"{url}#rt=500&rc=2"
    ).json()
    got = receiver.wait_for(lambda found: len(found) >= 4, path=path)
    assert all(is_valid(server.auth_token, r, url) for r in got), (
        "the #fragment is not part of the signed URL"
    )
    log = wait_attempts(server, client, created["sid"], 4)
    assert log[0]["outcome"] == "retrying" and log[0]["error_code"] == 11200
    assert log[0]["duration_ms"] < 2500
    assert log[0]["request_url"] == url


def test_an_invalid_override_is_refused_when_the_url_is_given(
    server: ServerProcess, receiver: Receiver
) -> None:
    """Twilio fails such a webhook with 11243 at delivery time; mycpaas refuses the URL up front."""
    client = server.client()
    sender = own_number(server, client)
    response = send(
        server, client, To="+15551230008", From=sender, Body="x", StatusCallback=receiver.url("/x") + "#rc=99"
    )
    assert response.status_code == 400
    assert response.json()["code"] == 21609
    assert "rc='99'" in response.json()["message"]
    number = client.post(
        f"{server.accounts_path()}/IncomingPhoneNumbers.json",
        data={"PhoneNumber": "+14155550123", "SmsUrl": receiver.url("/x") + "#rp=sometimes"},
    )
    assert number.status_code == 400
    assert "connection override" in number.json()["message"]


@pytest.mark.parametrize("host", ["2130706433", "0177.0.0.1", "0x7f.1", "127.1", "example.com."])
def test_a_callback_url_whose_host_is_not_a_name_or_dotted_quad_is_refused_when_given(
    server: ServerProcess, host: str
) -> None:
    """Such hosts used to be accepted, then retried as connection failures; now the API refuses them."""
    client = server.client()
    url = f"http://{host}:8080/hook"
    sender = own_number(server, client)
    response = send(server, client, To="+15551230008", From=sender, Body="x", StatusCallback=url)
    assert response.status_code == 400
    assert response.json()["code"] == 21609 and response.json()["status"] == 400
    numbers = f"{server.accounts_path()}/IncomingPhoneNumbers"
    for param in ("SmsUrl", "SmsFallbackUrl", "StatusCallback"):
        created = client.post(f"{numbers}.json", data={"PhoneNumber": unique_number(), param: url})
        assert created.status_code == 400 and created.json()["code"] == 21502, (param, created.text)
        assert param in created.json()["message"]
    sid = client.get(f"{numbers}.json", params={"PhoneNumber": sender}).json()["incoming_phone_numbers"][0][
        "sid"
    ]
    updated = client.post(f"{numbers}/{sid}.json", data={"SmsUrl": url})
    assert updated.status_code == 400 and updated.json()["code"] == 21502


def test_redirects_are_followed_and_signed_for_their_target(
    server: ServerProcess, receiver: Receiver
) -> None:
    client = server.client()
    target = unique_path("moved-here")
    target_url = receiver.url(target)
    path = unique_path("moved")
    url = receiver.script(path, Answer(307, headers=(("Location", target_url),)))
    sender = own_number(server, client)
    send(server, client, To="+15551230009", From=sender, Body="x", StatusCallback=url)
    got = receiver.wait_for(lambda found: len(found) >= 3, path=target)
    assert statuses(got) == ["sending", "sent", "delivered"]
    assert all(is_valid(server.auth_token, r, target_url) for r in got)


def test_webhook_credentials_in_the_url_are_sent_as_basic_auth_and_never_shown(
    server: ServerProcess, receiver: Receiver
) -> None:
    client = server.client()
    path = unique_path("basic")
    url = receiver.url(path).replace("http://", "http://hook-user:hook-pass-123@")
    sender = own_number(server, client)
    created = send(server, client, To="+15551230010", From=sender, Body="x", StatusCallback=url).json()
    got = receiver.wait_for(lambda found: len(found) >= 3, path=path)
    assert all(r.headers["authorization"].startswith("Basic ") for r in got)
    assert all(is_valid(server.auth_token, r, receiver.url(path)) for r in got)
    log = wait_attempts(server, client, created["sid"], 3)
    assert all("hook-pass-123" not in str(a) for a in log)
    assert wait_final(server, client, created["sid"])["status"] == "delivered"


def test_another_account_cannot_read_the_attempt_log(server: ServerProcess, receiver: Receiver) -> None:
    client = server.client()
    sender = own_number(server, client)
    created = send(
        server, client, To="+15551230011", From=sender, Body="x", StatusCallback=receiver.url("/any")
    ).json()
    sub_sid, sub_token = subaccount(server, client)
    other = server.client(sub_sid, sub_token)
    response = other.get(f"{server.accounts_path(sub_sid)}/Messages/{created['sid']}/WebhookAttempts.json")
    assert response.status_code == 404
    assert response.json()["code"] == 20404
    # The owner reads the same log: its rows are this message's (the 404 above is not a broken route).
    owned = wait_attempts(server, client, created["sid"], 1)
    assert owned and {a["message_sid"] for a in owned} == {created["sid"]}


def test_order_holds_for_many_messages_whose_endpoints_fail_at_random(
    server: ServerProcess, receiver: Receiver
) -> None:
    """Retries interleave with later events of the same message; each message still sees its statuses in
    order (first arrival per idempotency token), whatever failed when."""
    client = server.client()
    sender = own_number(server, client)
    flaky = [Answer(close=True), Answer(500), Answer(204), Answer(429), Answer(204), Answer(204)]
    paths = {}
    for i in range(20):
        path = unique_path("random-failures")
        rotated = flaky[i % len(flaky) :] + flaky[: i % len(flaky)]
        url = receiver.script(path, *rotated, Answer(204))
        created = send(
            server, client, To="+15551230012", From=sender, Body=f"n{i}", StatusCallback=url
        ).json()
        paths[created["sid"]] = path
    for sid, path in paths.items():
        got = receiver.wait_for(lambda found: len({r.token for r in found}) >= 3, path=path, timeout=30)
        seen: list[str] = []
        for request in got:
            if request.params["MessageStatus"] not in seen:
                seen.append(request.params["MessageStatus"])
        assert seen == ["sending", "sent", "delivered"], (sid, statuses(got))


def test_an_unusable_location_or_a_nul_in_the_reply_is_recorded_not_retried_forever(
    server: ServerProcess, receiver: Receiver
) -> None:
    """Found in review: a Location that is not a URL made the client raise, and a NUL byte in a response
    excerpt made PostgreSQL refuse a whole batch of outcomes. Both must end as recorded attempts."""
    client = server.client()
    sender = own_number(server, client)
    bad_location = receiver.script(
        unique_path("bad-location"), Answer(302, headers=(("Location", "http://[oops/"),))
    )
    nul = receiver.script(unique_path("nul"), Answer(500, "before\x00after"), Answer(200))
    first = send(server, client, To="+15551230013", From=sender, Body="x", StatusCallback=bad_location).json()
    second = send(server, client, To="+15551230014", From=sender, Body="x", StatusCallback=nul).json()
    log = wait_attempts(server, client, first["sid"], 3)
    assert [(a["message_status"], a["outcome"], a["error_code"]) for a in log] == [
        ("sending", "failed", 11200),
        ("sent", "failed", 11200),
        ("delivered", "failed", 11200),
    ]
    log = wait_attempts(server, client, second["sid"], 4)
    assert log[0]["outcome"] == "retrying" and log[0]["response_excerpt"] == "beforeafter"
    assert [a["outcome"] for a in log[1:]] == ["delivered"] * 3


def test_webhooks_ask_for_an_uncompressed_reply(server: ServerProcess, receiver: Receiver) -> None:
    client = server.client()
    path = unique_path("identity")
    send(
        server,
        client,
        To="+15551230015",
        From=own_number(server, client),
        Body="x",
        StatusCallback=receiver.url(path),
    )
    got = receiver.wait_for(lambda found: len(found) >= 1, path=path)
    assert got[0].headers["accept-encoding"] == "identity"
    assert got[0].headers["user-agent"].startswith("TwilioProxy/1.1")
