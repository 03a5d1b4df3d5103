"""Inbound messages: POSTed (or GET) to the number's SmsUrl, signed with the owner's token; the LaML reply is
executed; failures go to the SmsFallbackUrl; bad replies are recorded with Twilio's codes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.helpers import own_number, send
from tests.integration.webhook_support import statuses, subaccount, unique_path, wait_attempts
from tests.receiver import Answer, Receiver, is_valid
from tests.server import ServerProcess

INBOUND_PARAMS = {
    "ApiVersion",
    "AccountSid",
    "MessageSid",
    "SmsSid",
    "SmsMessageSid",
    "SmsStatus",
    "From",
    "To",
    "Body",
    "NumMedia",
    "NumSegments",
    "FromCity",
    "FromState",
    "FromZip",
    "FromCountry",
    "ToCity",
    "ToState",
    "ToZip",
    "ToCountry",
}


def laml(inner: str) -> Answer:
    return Answer(200, f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>')


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    instance = Receiver()
    yield instance
    instance.close()


def test_an_auto_reply_conversation_between_two_accounts(server: ServerProcess, receiver: Receiver) -> None:
    """A texts B's number; B's app answers with LaML; the reply reaches A's number and A's app."""
    a = server.client()
    b_sid, b_token = subaccount(server, a)
    b = server.client(b_sid, b_token)
    a_inbound, b_inbound = unique_path("a-inbound"), unique_path("b-inbound")
    a_status, b_status = unique_path("a-status"), unique_path("b-status")
    a_number = own_number(server, a, SmsUrl=receiver.script(a_inbound, laml("")))
    b_number = own_number(
        server,
        b,
        b_sid,
        SmsUrl=receiver.script(
            b_inbound, laml(f'<Message action="{b_status}">Auto-reply: got &quot;it&quot; 👍</Message>')
        ),
    )

    created = send(
        server, a, To=b_number, From=a_number, Body="Hi B, café?", StatusCallback=receiver.url(a_status)
    ).json()

    inbound_b = receiver.wait_for(lambda found: len(found) >= 1, path=b_inbound)[0]
    assert is_valid(b_token, inbound_b, receiver.url(b_inbound))
    assert set(inbound_b.params) == INBOUND_PARAMS
    assert inbound_b.params["Body"] == "Hi B, café?"
    assert (inbound_b.params["From"], inbound_b.params["To"]) == (a_number, b_number)
    assert inbound_b.params["AccountSid"] == b_sid
    assert inbound_b.params["SmsStatus"] == "received"
    assert inbound_b.params["ToCountry"] == "US" and inbound_b.params["ToCity"] == ""
    assert inbound_b.params["MessageSid"] == inbound_b.params["SmsSid"] == inbound_b.params["SmsMessageSid"]

    inbound_a = receiver.wait_for(lambda found: len(found) >= 1, path=a_inbound)[0]
    assert is_valid(server.auth_token, inbound_a, receiver.url(a_inbound))
    assert inbound_a.params["Body"] == 'Auto-reply: got "it" 👍'
    assert (inbound_a.params["From"], inbound_a.params["To"]) == (b_number, a_number)

    a_callbacks = receiver.wait_for(lambda found: len(found) >= 3, path=a_status)
    assert statuses(a_callbacks) == ["sending", "sent", "delivered"]
    assert {r.params["MessageSid"] for r in a_callbacks} == {created["sid"]}
    # The reply's `action` is its status callback (Twilio's meaning), relative to the LaML document's URL.
    b_callbacks = receiver.wait_for(lambda found: len(found) >= 3, path=b_status)
    assert statuses(b_callbacks) == ["sending", "sent", "delivered"]
    assert all(is_valid(b_token, r, receiver.url(b_status)) for r in b_callbacks)

    reply_sid = b_callbacks[0].params["MessageSid"]
    reply = b.get(f"{server.accounts_path(b_sid)}/Messages/{reply_sid}.json").json()
    assert reply["direction"] == "outbound-reply"
    assert (reply["from"], reply["to"]) == (b_number, a_number)
    log = wait_attempts(server, b, inbound_b.params["MessageSid"], 1, b_sid)
    assert [(x["event"], x["outcome"], x["response_status"]) for x in log] == [("inbound", "delivered", 200)]


def test_sms_method_get_puts_the_parameters_in_the_signed_url(
    server: ServerProcess, receiver: Receiver
) -> None:
    client = server.client()
    path = unique_path("get")
    number = own_number(server, client, SmsUrl=receiver.script(path + "?app=1", laml("")), SmsMethod="GET")
    send(server, client, To=number, From=own_number(server, client), Body="via GET & more")
    request = receiver.wait_for(lambda found: len(found) >= 1, path=path)[0]
    assert request.method == "GET"
    assert request.params["Body"] == "via GET & more" and request.params["app"] == "1"
    assert is_valid(server.auth_token, request, receiver.url(request.path))


def test_a_failing_sms_url_is_retried_once_then_the_fallback_gets_error_code_and_url(
    server: ServerProcess, receiver: Receiver
) -> None:
    client = server.client()
    primary, fallback = unique_path("primary"), unique_path("fallback")
    primary_url = receiver.script(primary, Answer(503, "down"))
    fallback_url = receiver.script(fallback, laml("<Message>from the fallback</Message>"))
    reply_to = unique_path("reply-to")
    sender = own_number(server, client, SmsUrl=receiver.script(reply_to, laml("")))
    number = own_number(server, client, SmsUrl=primary_url, SmsFallbackUrl=fallback_url)
    send(server, client, To=number, From=sender, Body="anyone there?")

    tried = receiver.wait_for(lambda found: len(found) >= 2, path=primary)
    assert tried[0].token == tried[1].token
    got = receiver.wait_for(lambda found: len(found) >= 1, path=fallback)[0]
    assert got.params["ErrorCode"] == "11200" and got.params["ErrorUrl"] == primary_url
    assert got.token == tried[0].token
    assert is_valid(server.auth_token, got, fallback_url)
    reply = receiver.wait_for(lambda found: len(found) >= 1, path=reply_to)[0]
    assert reply.params["Body"] == "from the fallback"
    log = wait_attempts(server, client, got.params["MessageSid"], 3)
    assert [(x["event"], x["outcome"], x["response_status"]) for x in log] == [
        ("inbound", "retrying", 503),
        ("inbound", "failed", 503),
        ("fallback", "delivered", 200),
    ]


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (Answer(200, "<Response><Message>unclosed</Response>"), 12100),
        (Answer(200, "<Reply><Message>wrong root</Message></Reply>"), 12100),
        (Answer(200, '{"reply": "json"}', content_type="application/json"), 12300),
        (Answer(200, "<Response>" + "<Message>x</Message>" * 8000 + "</Response>"), 11750),
        (
            Answer(
                200,
                '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
                "<Response><Message>&b;</Message></Response>",
            ),
            12100,
        ),
    ],
    ids=["malformed", "wrong-root", "json", "too-large", "entities"],
)
def test_a_bad_reply_is_recorded_with_twilios_code_and_sends_nothing(
    server: ServerProcess, receiver: Receiver, answer: Answer, code: int
) -> None:
    client = server.client()
    path, sender_path = unique_path("bad-laml"), unique_path("bad-laml-sender")
    sender = own_number(server, client, SmsUrl=receiver.script(sender_path, laml("")))
    number = own_number(server, client, SmsUrl=receiver.script(path, answer))
    send(server, client, To=number, From=sender, Body="reply badly")
    request = receiver.wait_for(lambda found: len(found) >= 1, path=path)[0]
    log = wait_attempts(server, client, request.params["MessageSid"], 1)
    assert [(x["outcome"], x["error_code"], x["response_status"]) for x in log] == [("failed", code, 200)]
    assert len(receiver.received(path)) == 1, "a bad reply is not retried"
    assert receiver.received(sender_path) == [], "nothing was sent back"


def test_an_empty_body_or_response_sends_nothing(server: ServerProcess, receiver: Receiver) -> None:
    client = server.client()
    sender_path = unique_path("empty-sender")
    sender = own_number(server, client, SmsUrl=receiver.script(sender_path, laml("")))
    for answer in (Answer(200, ""), Answer(204, ""), laml("")):
        path = unique_path("empty")
        number = own_number(server, client, SmsUrl=receiver.script(path, answer))
        send(server, client, To=number, From=sender, Body="quiet please")
        request = receiver.wait_for(lambda found: len(found) >= 1, path=path)[0]
        log = wait_attempts(server, client, request.params["MessageSid"], 1)
        assert [(x["outcome"], x["error_code"]) for x in log] == [("delivered", None)]
    assert receiver.received(sender_path) == []


def test_redirect_continues_in_another_document_and_loops_are_cut(
    server: ServerProcess, receiver: Receiver
) -> None:
    client = server.client()
    sender_path = unique_path("redirect-sender")
    sender = own_number(server, client, SmsUrl=receiver.script(sender_path, laml("")))
    second = unique_path("second")
    receiver.script(second, laml("<Message>two</Message><Unknown/>"))
    first = unique_path("first")
    number = own_number(
        server,
        client,
        SmsUrl=receiver.script(
            first,
            laml(f'<Message>one</Message><Redirect method="GET">{second}</Redirect><Message>never</Message>'),
        ),
    )
    send(server, client, To=number, From=sender, Body="start")
    replies = receiver.wait_for(lambda found: len(found) >= 2, path=sender_path)
    assert sorted(r.params["Body"] for r in replies) == ["one", "two"]
    redirected = receiver.received(second)[0]
    assert redirected.method == "GET" and redirected.params["Body"] == "start"
    assert is_valid(server.auth_token, redirected, receiver.url(redirected.path))
    log = wait_attempts(server, client, redirected.params["MessageSid"], 2)
    assert log[1]["error_code"] == 12200, "the unknown verb is a schema warning"

    loop = unique_path("loop")
    looping = own_number(server, client, SmsUrl=receiver.script(loop, laml(f"<Redirect>{loop}</Redirect>")))
    send(server, client, To=looping, From=sender, Body="loop")
    request = receiver.wait_for(lambda found: len(found) >= 10, path=loop)[0]
    log = wait_attempts(server, client, request.params["MessageSid"], 11)
    assert log[-1]["error_code"] == 11215
    assert len(receiver.received(loop)) == 10


def test_one_inbound_message_sends_at_most_ten_replies(server: ServerProcess, receiver: Receiver) -> None:
    """Twilio's limit: 25 <Message>s in the reply send 10; the rest are recorded with warning 14109."""
    client = server.client()
    sender_path, path = unique_path("many-sender"), unique_path("many")
    sender = own_number(server, client, SmsUrl=receiver.script(sender_path, laml("")))
    many = "".join(f"<Message>reply {i}</Message>" for i in range(25))
    number = own_number(server, client, SmsUrl=receiver.script(path, laml(many)))
    send(server, client, To=number, From=sender, Body="fan out")
    request = receiver.wait_for(lambda found: len(found) >= 1, path=path)[0]
    log = wait_attempts(server, client, request.params["MessageSid"], 2)
    assert [(x["outcome"], x["error_code"]) for x in log] == [("delivered", None), ("skipped", 14109)]
    assert log[1]["error_message"].startswith("15 <Message> replies beyond the limit of 10")
    replies = receiver.wait_for(lambda found: len(found) >= 10, path=sender_path)
    listed = client.get(
        f"{server.accounts_path()}/Messages.json", params={"From": number, "To": sender, "PageSize": 100}
    ).json()["messages"]
    # Both ends are this account's numbers: each reply is listed as sent and as received.
    assert sorted(m["direction"] for m in listed) == ["inbound"] * 10 + ["outbound-reply"] * 10
    assert sorted(r.params["Body"] for r in replies) == sorted(f"reply {i}" for i in range(10))


def test_a_reply_from_a_number_the_account_does_not_own_is_refused(
    server: ServerProcess, receiver: Receiver
) -> None:
    client = server.client()
    sender_path = unique_path("not-owned-sender")
    sender = own_number(server, client, SmsUrl=receiver.script(sender_path, laml("")))
    path = unique_path("not-owned")
    number = own_number(
        server, client, SmsUrl=receiver.script(path, laml('<Message from="+14155550199">spoofed</Message>'))
    )
    send(server, client, To=number, From=sender, Body="try")
    request = receiver.wait_for(lambda found: len(found) >= 1, path=path)[0]
    log = wait_attempts(server, client, request.params["MessageSid"], 2)
    assert log[1]["outcome"] == "skipped" and log[1]["error_code"] == 21606
    assert receiver.received(sender_path) == []


def test_a_subaccounts_reply_from_its_parents_number_is_refused(
    server: ServerProcess, receiver: Receiver
) -> None:
    """A number belongs to one account: the LaML of a subaccount's number may not send from its parent's."""
    parent = server.client()
    sub_sid, sub_token = subaccount(server, parent)
    sub = server.client(sub_sid, sub_token)
    parent_path, path = unique_path("parents-number"), unique_path("subs-number")
    parents_number = own_number(server, parent, SmsUrl=receiver.script(parent_path, laml("")))
    reply = f'<Message from="{parents_number}">as my parent</Message><Message>as myself</Message>'
    subs_number = own_number(server, sub, sub_sid, SmsUrl=receiver.script(path, laml(reply)))
    send(server, parent, To=subs_number, From=parents_number, Body="who answers?")
    request = receiver.wait_for(lambda found: len(found) >= 1, path=path)[0]
    log = wait_attempts(server, sub, request.params["MessageSid"], 2, sub_sid)
    assert [(x["outcome"], x["error_code"]) for x in log] == [("delivered", None), ("skipped", 21606)]
    assert parents_number in log[1]["error_message"]
    answers = receiver.wait_for(lambda found: len(found) >= 1, path=parent_path)
    assert [(r.params["From"], r.params["Body"]) for r in answers] == [(subs_number, "as myself")]


def test_redacting_an_inbound_message_blanks_its_webhook_still_to_be_sent(
    server: ServerProcess, receiver: Receiver
) -> None:
    client = server.client()
    sender_path, path = unique_path("redact-sender"), unique_path("redact")
    sender = own_number(server, client, SmsUrl=receiver.script(sender_path, laml("")))
    url = receiver.script(path, Answer(503), Answer(503), Answer(503), laml(""))
    number = own_number(server, client, SmsUrl=url + "#rc=5")
    send(server, client, To=number, From=sender, Body="secret text")
    first = receiver.wait_for(lambda found: len(found) >= 1, path=path)[0]
    assert first.params["Body"] == "secret text"
    sid = first.params["MessageSid"]
    redacted = client.post(f"{server.accounts_path()}/Messages/{sid}.json", data={"Body": ""})
    assert redacted.status_code == 200, redacted.text
    last = receiver.wait_for(lambda found: len(found) >= 4, path=path, timeout=30)[-1]
    assert last.params["Body"] == ""
    assert last.token == first.token
    assert is_valid(server.auth_token, last, url)
