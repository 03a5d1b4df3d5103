"""One webhook turn (webhooks/attempt.py) driven by a scripted sender: no server, no network, no database.

The end-to-end behaviour is covered against a real receiver in tests/integration; this pins down the turn's
own decisions: retry or give up, the fallback follow-up, LaML replies across <Redirect>s and their limit, and
what the attempt records keep (the signing token never).
"""

from __future__ import annotations

import asyncio
from collections import deque

from mycpaas.domain.clock import utcnow
from mycpaas.domain.connection_policy import CLIENT_ERROR, SERVER_ERROR, ConnectionPolicy
from mycpaas.domain.jobs import Job
from mycpaas.domain.messages import Message
from mycpaas.domain.webhooks import AttemptOutcome, EventKind, incoming_message_event
from mycpaas.errors import ErrorCode
from mycpaas.services.webhooks import Dispatch
from mycpaas.webhooks.attempt import MAX_REDIRECT_DOCUMENTS, Attempter, Turn
from mycpaas.webhooks.client import Delivery

TOKEN = "f" * 32
LAML = "application/xml"


class ScriptedSender:
    """Answers each request with the next scripted Delivery and remembers what was asked."""

    def __init__(self, *answers: Delivery) -> None:
        self.answers = deque(answers)
        self.requests: list[tuple[str, str, str]] = []

    async def send(
        self,
        method: str,
        url: str,
        params: dict[str, str],
        auth_token: str,
        idempotency_token: str,
        policy: ConnectionPolicy,
    ) -> Delivery:
        self.requests.append((method, url, auth_token))
        return self.answers.popleft()


def reply(body: str, url: str = "https://app.example/sms") -> Delivery:
    return Delivery("POST", url, 200, LAML, body.encode())


def failed(status: int, failure: str, url: str = "https://app.example/sms") -> Delivery:
    return Delivery(
        "POST", url, status, "text/plain", b"no", error=ErrorCode.WEBHOOK_HTTP_FAILURE, failure=failure
    )


def inbound_dispatch(fallback: str = "", attempts: int = 1) -> Dispatch:
    message = Message.inbound(
        account_sid="AC" + "1" * 32,
        from_number="+15551230000",
        to_number="+15005550006",
        body="hi",
        carrier_message_id="mo-1",
        now=utcnow(),
    )
    event = incoming_message_event(message, "https://app.example/sms", "POST", fallback, "POST")
    return Dispatch(
        Job(1, event.kind.value, message.sid, attempts, attempts, event.to_json()), event, TOKEN, ()
    )


def attempt(sender: ScriptedSender, dispatch: Dispatch, retries: int = 1) -> Turn:
    policy = ConnectionPolicy(connect_timeout=1, read_timeout=1, total_timeout=1, retries=retries)
    return asyncio.run(Attempter(sender, policy, policy).attempt(dispatch))


def test_replies_are_collected_across_redirects_and_signed_with_the_token() -> None:
    sender = ScriptedSender(
        reply("<Response><Message>one</Message><Redirect>https://app.example/next</Redirect></Response>"),
        reply("<Response><Message>two</Message></Response>", "https://app.example/next"),
    )
    turn = attempt(sender, inbound_dispatch())
    assert [r.body for r in turn.replies or []] == ["one", "two"]
    assert [url for _, url, _ in sender.requests] == ["https://app.example/sms", "https://app.example/next"]
    assert {token for _, _, token in sender.requests} == {TOKEN}
    assert [a.outcome for a in turn.settlement.attempts] == [AttemptOutcome.DELIVERED] * 2
    assert turn.settlement.retry_at is None and turn.settlement.follow_up is None


def test_a_server_error_is_retried_later_and_a_client_error_goes_to_the_fallback() -> None:
    retried = attempt(
        ScriptedSender(failed(500, SERVER_ERROR)), inbound_dispatch("https://fallback.example/")
    )
    assert retried.replies is None
    assert retried.settlement.retry_at is not None and retried.settlement.retry_at > utcnow()
    assert [a.outcome for a in retried.settlement.attempts] == [AttemptOutcome.RETRYING]
    assert retried.settlement.follow_up is None

    dispatch = inbound_dispatch("https://fallback.example/", attempts=2)  # the one retry is used up
    given_up = attempt(ScriptedSender(failed(500, SERVER_ERROR)), dispatch)
    assert given_up.settlement.retry_at is None
    follow_up = given_up.settlement.follow_up
    assert follow_up is not None and follow_up.kind is EventKind.INCOMING_FALLBACK
    assert follow_up.params["ErrorUrl"] == "https://app.example/sms"

    refused = attempt(ScriptedSender(failed(404, CLIENT_ERROR)), inbound_dispatch())
    assert refused.settlement.retry_at is None and refused.settlement.follow_up is None, "no fallback URL"
    assert [a.outcome for a in refused.settlement.attempts] == [AttemptOutcome.FAILED]


def test_bad_laml_fails_the_turn_but_a_bad_redirect_keeps_earlier_replies() -> None:
    bad = attempt(ScriptedSender(reply("<Nonsense")), inbound_dispatch("https://fallback.example/"))
    assert bad.replies == []
    assert bad.settlement.follow_up is not None, "a broken SmsUrl reply goes to the fallback URL"
    redirect = "<Response><Message>kept</Message><Redirect>https://app.example/next</Redirect></Response>"
    later = attempt(
        ScriptedSender(reply(redirect), reply("<Nonsense")), inbound_dispatch("https://fb.example/")
    )
    assert [r.body for r in later.replies or []] == ["kept"]
    assert later.settlement.follow_up is None


def test_redirects_stop_at_the_limit() -> None:
    loop = "<Response><Redirect>https://app.example/sms</Redirect></Response>"
    sender = ScriptedSender(*[reply(loop) for _ in range(MAX_REDIRECT_DOCUMENTS)])
    turn = attempt(sender, inbound_dispatch())
    assert len(sender.requests) == MAX_REDIRECT_DOCUMENTS
    last = turn.settlement.attempts[-1]
    assert last.error_code == int(ErrorCode.WEBHOOK_TOO_MANY_REDIRECTS)


def messages(count: int, tail: str = "") -> Delivery:
    return reply(
        "<Response>" + "".join(f"<Message>m{i}</Message>" for i in range(count)) + tail + "</Response>"
    )


def test_replies_beyond_the_limit_are_skipped_with_warning_14109_across_redirects() -> None:
    one = attempt(ScriptedSender(messages(25)), inbound_dispatch())
    assert [r.body for r in one.replies or []] == [f"m{i}" for i in range(10)]
    delivered, over = one.settlement.attempts
    assert delivered.outcome is AttemptOutcome.DELIVERED and delivered.error_code is None
    assert over.outcome is AttemptOutcome.SKIPPED and over.error_code == 14109
    assert over.error_message is not None and over.error_message.startswith("15 <Message> replies beyond")

    # 6 + 6 + 6 across two <Redirect>s: 10 sent, 8 skipped; every document is still fetched.
    redirect = "<Redirect>https://app.example/next</Redirect>"
    sender = ScriptedSender(messages(6, redirect), messages(6, redirect), messages(6))
    chained = attempt(sender, inbound_dispatch())
    assert len(sender.requests) == 3
    assert [r.body for r in chained.replies or []] == [f"m{i}" for i in (*range(6), *range(4))]
    assert chained.settlement.attempts[-1].error_message is not None
    assert chained.settlement.attempts[-1].error_message.startswith("8 <Message> replies beyond")

    exact = attempt(ScriptedSender(messages(10)), inbound_dispatch())
    assert len(exact.replies or []) == 10
    assert [a.outcome for a in exact.settlement.attempts] == [AttemptOutcome.DELIVERED]


def test_the_token_never_reaches_a_record() -> None:
    echo = Delivery("POST", "https://app.example/sms", 500, "text/plain", f"bad {TOKEN} sig".encode())
    echo.error, echo.failure = ErrorCode.WEBHOOK_HTTP_FAILURE, CLIENT_ERROR
    turn = attempt(ScriptedSender(echo), inbound_dispatch())
    [record] = turn.settlement.attempts
    assert record.response_excerpt == "bad [redacted] sig"
