"""The official Python `twilio` SDK (9.13) against a real `mycpaas serve` process.

Configured as docs/CLIENTS.md recommends: `client.api.base_url` is the server root, and (in one test)
`client.api.v2010.version` carries the SignalWire `/api/laml` prefix.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from twilio import __version__ as twilio_version
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from tests.clients.conftest import FINAL_STATUSES, unique_number, wait_for
from tests.conftest import remember_secret
from tests.schemas import assert_valid, list_validator, resource_validator
from tests.server import ServerProcess

MESSAGE = resource_validator("api.v2010.account.message")
MESSAGE_LIST = list_validator("/2010-04-01/Accounts/{AccountSid}/Messages.json")
ACCOUNT = resource_validator("api.v2010.account")


def test_installed_sdk_is_the_one_under_test() -> None:
    assert twilio_version == "9.13.0"


@pytest.fixture(autouse=True)
def _no_edge_or_region(monkeypatch: pytest.MonkeyPatch) -> None:
    # Both rewrite the hostname (127.0.0.1 -> 127.dublin.0.0.1): never let the environment leak them in.
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)


class RecordingHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, noting every request it makes (to prove each page is fetched)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, method: str, url: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((method, url, dict(params or {})))
        # A next_page_uri that never becomes null would page forever: stop it here instead.
        assert len(self.calls) < 100, f"runaway paging: {self.calls[-3:]}"
        return super().request(method, url, params, *args, **kwargs)


def sdk(
    server: ServerProcess,
    username: str | None = None,
    password: str | None = None,
    *,
    account_sid: str | None = None,
    laml: bool = False,
    http_client: TwilioHttpClient | None = None,
) -> Client:
    client = Client(
        username or server.account_sid,
        password if password is not None else server.auth_token,
        account_sid=account_sid,
        http_client=http_client,
    )
    client.api.base_url = server.url
    client.accounts.base_url = server.url
    if laml:
        client.api.v2010.version = "api/laml/2010-04-01"
    return client


def own_number(client: Client) -> str:
    number = unique_number()
    created = client.incoming_phone_numbers.create(phone_number=number)
    assert created.phone_number == number
    assert created.sid.startswith("PN")
    return number


def wait_final(client: Client, sid: str) -> Any:
    return wait_for(lambda: client.messages(sid).fetch(), lambda m: m.status in FINAL_STATUSES)


def assert_rest_error(error: pytest.ExceptionInfo[TwilioRestException], status: int, code: int) -> None:
    assert (error.value.status, error.value.code) == (status, code), str(error.value)


# ----------------------------------------------------------------------------------------------------------
# Messages


def test_message_lifecycle(server: ServerProcess) -> None:
    client = sdk(server)
    sender, recipient = own_number(client), unique_number()

    created = client.messages.create(to=recipient, from_=sender, body="Hello from twilio-python")
    assert created.sid.startswith("SM") and len(created.sid) == 34
    assert created.account_sid == server.account_sid
    assert (created.to, created.from_, created.body) == (recipient, sender, "Hello from twilio-python")
    assert created.status in ("accepted", "queued", "sending", "sent", "delivered")
    assert created.direction == "outbound-api"
    assert created.num_segments == "1"
    assert created.api_version == "2010-04-01"
    assert created.date_created is not None and created.date_created.tzinfo is not None
    assert abs(created.date_created - datetime.now(UTC)) < timedelta(minutes=1)
    assert created.uri == f"/2010-04-01/Accounts/{server.account_sid}/Messages/{created.sid}.json"

    fetched = client.messages(created.sid).fetch()
    assert (fetched.sid, fetched.to, fetched.from_) == (created.sid, recipient, sender)
    assert fetched.body == created.body

    delivered = wait_final(client, created.sid)
    assert delivered.status == "delivered"
    assert delivered.date_sent is not None
    assert delivered.error_code is None

    with server.client() as http:
        raw = http.get(f"{server.accounts_path()}/Messages/{created.sid}.json")
    assert raw.status_code == 200
    assert_valid(MESSAGE, raw.json())

    redacted = client.messages(created.sid).update(body="")
    assert redacted.sid == created.sid
    assert redacted.body == ""
    assert client.messages(created.sid).fetch().body == ""

    assert client.messages(created.sid).delete() is True
    with pytest.raises(TwilioRestException) as gone:
        client.messages(created.sid).fetch()
    assert_rest_error(gone, 404, 20404)
    with pytest.raises(TwilioRestException) as again:
        client.messages(created.sid).delete()
    assert_rest_error(again, 404, 20404)


def test_from_must_be_owned(server: ServerProcess) -> None:
    client = sdk(server)
    with pytest.raises(TwilioRestException) as error:
        client.messages.create(to=unique_number(), from_=unique_number(), body="not my number")
    assert_rest_error(error, 400, 21606)


def test_list_follows_every_page_of_a_filtered_list(server: ServerProcess) -> None:
    recorder = RecordingHttpClient()
    client = sdk(server, http_client=recorder)
    sender, target, other = own_number(client), unique_number(), unique_number()

    def send(to: str, n: int) -> list[str]:
        sids = [client.messages.create(to=to, from_=sender, body=f"paging {i}").sid for i in range(n)]
        for sid in sids:
            wait_final(client, sid)
        return sids

    # Sent before the cutoff: same recipient, must be filtered out by DateSent>.
    old = send(target, 2)
    last_old_sent = max(client.messages(sid).fetch().date_sent for sid in old)
    cutoff = last_old_sent + timedelta(seconds=1)  # date_sent has one-second resolution
    while datetime.now(UTC) < cutoff + timedelta(milliseconds=50):
        time.sleep(0.05)
    wanted = send(target, 5)
    send(other, 2)  # after the cutoff, but to someone else: filtered out by To

    recorder.calls.clear()
    listed = client.messages.list(to=target, date_sent_after=cutoff, page_size=2)
    assert [m.sid for m in listed] == list(reversed(wanted)), "newest first, exactly the filtered messages"
    assert all(m.to == target and m.date_sent >= cutoff for m in listed)
    gets = [c for c in recorder.calls if c[0] == "GET"]
    assert len(gets) == 3, f"5 records at PageSize=2 are 3 pages, each fetched once: {gets}"
    first_params = gets[0][2]
    assert first_params["To"] == target
    assert first_params["PageSize"] == 2
    assert first_params["DateSent>"] == cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")
    for _, url, _ in gets[1:]:
        assert url.startswith(f"{server.url}/2010-04-01/Accounts/{server.account_sid}/Messages.json?")
        assert "PageToken=" in url and "PageSize=2" in url

    recorder.calls.clear()
    limited = client.messages.list(to=target, date_sent_after=cutoff, page_size=2, limit=3)
    assert [m.sid for m in limited] == list(reversed(wanted))[:3]
    assert len([c for c in recorder.calls if c[0] == "GET"]) == 2

    page = client.messages.page(to=target, date_sent_after=cutoff, page_size=2)
    seen: list[str] = []
    while page is not None:
        seen += [m.sid for m in page]
        page = page.next_page()
    assert seen == list(reversed(wanted))

    # The raw pages, against the twilio-oai list schema, following next_page_uri by hand.
    pages = []
    with server.client() as http:
        response = http.get(
            f"{server.accounts_path()}/Messages.json",
            params={"To": target, "DateSent>": first_params["DateSent>"], "PageSize": 2},
        )
        while True:
            assert response.status_code == 200, response.text
            body = response.json()
            assert_valid(MESSAGE_LIST, body)
            pages.append(body)
            if body["next_page_uri"] is None:
                break
            assert not body["next_page_uri"].startswith("http"), "next_page_uri must be relative"
            response = http.get(server.url + body["next_page_uri"])
    assert [len(p["messages"]) for p in pages] == [2, 2, 1]
    assert [m["sid"] for p in pages for m in p["messages"]] == list(reversed(wanted))
    assert [p["page"] for p in pages] == [0, 1, 2]


def test_laml_prefix(server: ServerProcess) -> None:
    recorder = RecordingHttpClient()
    client = sdk(server, laml=True, http_client=recorder)
    sender, recipient = own_number(client), unique_number()

    sids = [client.messages.create(to=recipient, from_=sender, body=f"laml {i}").sid for i in range(3)]
    assert all(url.startswith(f"{server.url}/api/laml/2010-04-01/") for _, url, _ in recorder.calls)

    fetched = client.messages(sids[0]).fetch()
    assert fetched.uri == f"/api/laml/2010-04-01/Accounts/{server.account_sid}/Messages/{sids[0]}.json"

    recorder.calls.clear()
    listed = client.messages.list(to=recipient, page_size=1)
    assert [m.sid for m in listed] == list(reversed(sids))
    urls = [url for method, url, _ in recorder.calls if method == "GET"]
    assert len(urls) == 3
    assert all(url.startswith(f"{server.url}/api/laml/2010-04-01/Accounts/") for url in urls), urls

    wait_final(client, sids[0])
    assert client.messages(sids[0]).update(body="").body == ""
    assert client.messages(sids[0]).delete() is True
    with pytest.raises(TwilioRestException) as gone:
        client.messages(sids[0]).fetch()
    assert_rest_error(gone, 404, 20404)


# ----------------------------------------------------------------------------------------------------------
# Subaccounts


def test_subaccount_flow(server: ServerProcess) -> None:
    parent = sdk(server)
    name = f"client-suite-{secrets.token_hex(4)}"
    sub = parent.api.accounts.create(friendly_name=name)
    sub_token = remember_secret(sub.auth_token)
    assert sub.sid.startswith("AC") and sub.sid != server.account_sid
    assert (sub.friendly_name, sub.status, sub.owner_account_sid) == (name, "active", server.account_sid)
    with server.client() as http:
        raw = http.get(f"{server.accounts_path(sub.sid)}.json")
    assert raw.status_code == 200
    assert_valid(ACCOUNT, raw.json())
    assert [a.sid for a in parent.api.accounts.list(friendly_name=name)] == [sub.sid]

    # The parent's credentials, acting on the subaccount.
    on_sub = sdk(server, account_sid=sub.sid)
    sub_sender = own_number(on_sub)
    message = on_sub.messages.create(to=unique_number(), from_=sub_sender, body="from the subaccount")
    assert message.account_sid == sub.sid
    assert message.uri.startswith(f"/2010-04-01/Accounts/{sub.sid}/Messages/")
    assert [m.sid for m in on_sub.messages.list(from_=sub_sender)] == [message.sid]
    assert parent.messages.list(from_=sub_sender) == [], "the parent's own list holds only its own messages"

    # The subaccount's own credentials see its messages, but never the parent.
    sub_client = sdk(server, sub.sid, sub_token)
    assert sub_client.messages(message.sid).fetch().account_sid == sub.sid
    parent_sender = own_number(parent)
    parent_message = parent.messages.create(to=unique_number(), from_=parent_sender, body="parent only")
    reach_parent = sdk(server, sub.sid, sub_token, account_sid=server.account_sid)
    with pytest.raises(TwilioRestException) as denied:
        reach_parent.messages(parent_message.sid).fetch()
    assert_rest_error(denied, 401, 20003)
    with pytest.raises(TwilioRestException) as denied_create:
        reach_parent.messages.create(to=unique_number(), from_=parent_sender, body="x")
    assert_rest_error(denied_create, 401, 20003)
    with pytest.raises(TwilioRestException) as denied_account:
        sub_client.api.accounts(server.account_sid).fetch()
    assert_rest_error(denied_account, 401, 20003)
    with pytest.raises(TwilioRestException) as own_status:
        sub_client.api.accounts(sub.sid).update(status="suspended")
    assert own_status.value.status in (400, 403)

    # Suspend: the subaccount's credentials stop working; reactivate: they work again.
    assert parent.api.accounts(sub.sid).update(status="suspended").status == "suspended"
    with pytest.raises(TwilioRestException) as suspended:
        sub_client.messages(message.sid).fetch()
    assert_rest_error(suspended, 401, 20003)
    assert parent.api.accounts(sub.sid).fetch().status == "suspended"
    with pytest.raises(TwilioRestException) as not_active:
        on_sub.messages.create(to=unique_number(), from_=sub_sender, body="while suspended")
    assert_rest_error(not_active, 403, 20005)
    assert on_sub.messages(message.sid).fetch().sid == message.sid, "the parent still reads a suspended sub"
    assert parent.api.accounts(sub.sid).update(status="active").status == "active"
    assert sub_client.messages(message.sid).fetch().sid == message.sid

    # Close: permanent, and nobody reaches the subaccount any more.
    assert parent.api.accounts(sub.sid).update(status="closed").status == "closed"
    with pytest.raises(TwilioRestException) as closed:
        sub_client.messages(message.sid).fetch()
    assert_rest_error(closed, 401, 20003)
    with pytest.raises(TwilioRestException) as closed_for_parent:
        on_sub.messages(message.sid).fetch()
    assert_rest_error(closed_for_parent, 401, 20003)
    closed_list = parent.api.accounts.list(friendly_name=name, status="closed")
    assert [(a.sid, a.status) for a in closed_list] == [(sub.sid, "closed")]
    assert parent.api.accounts.list(friendly_name=name, status="active") == []


def closed_subaccount(parent: Client) -> str:
    sub = parent.api.accounts.create(friendly_name=f"client-suite-closed-{secrets.token_hex(4)}")
    remember_secret(sub.auth_token)
    assert parent.api.accounts(sub.sid).update(status="closed").status == "closed"
    return sub.sid


def test_parent_can_fetch_a_closed_subaccount(server: ServerProcess) -> None:
    parent = sdk(server)
    sid = closed_subaccount(parent)
    assert parent.api.accounts(sid).fetch().status == "closed"


def test_reopening_a_closed_subaccount_is_refused(server: ServerProcess) -> None:
    parent = sdk(server)
    sid = closed_subaccount(parent)
    with pytest.raises(TwilioRestException) as reopen:
        parent.api.accounts(sid).update(status="active")
    assert_rest_error(reopen, 400, 21479)


# ----------------------------------------------------------------------------------------------------------
# API keys


def test_api_key_flow(server: ServerProcess) -> None:
    client = sdk(server)
    sender = own_number(client)
    name = f"client-suite-key-{secrets.token_hex(4)}"
    key = client.new_keys.create(friendly_name=name)
    secret = remember_secret(key.secret)
    assert key.sid.startswith("SK") and len(key.sid) == 34
    assert key.friendly_name == name
    assert secret and secret != server.auth_token

    keyed = sdk(server, key.sid, secret, account_sid=server.account_sid)
    message = keyed.messages.create(to=unique_number(), from_=sender, body="sent with an API key")
    assert message.account_sid == server.account_sid
    assert keyed.messages(message.sid).fetch().body == "sent with an API key"
    assert message.sid in {m.sid for m in keyed.messages.list(from_=sender)}

    fetched = client.keys(key.sid).fetch()
    assert (fetched.sid, fetched.friendly_name) == (key.sid, name)
    assert key.sid in {k.sid for k in client.keys.list()}

    # A standard key may not touch Accounts or Keys.
    with pytest.raises(TwilioRestException) as accounts_denied:
        keyed.api.accounts(server.account_sid).fetch()
    assert_rest_error(accounts_denied, 401, 20003)
    with pytest.raises(TwilioRestException) as keys_denied:
        keyed.keys(key.sid).fetch()
    assert_rest_error(keys_denied, 401, 20003)
    with pytest.raises(TwilioRestException) as create_denied:
        keyed.new_keys.create(friendly_name="escalate")
    assert_rest_error(create_denied, 401, 20003)

    assert client.keys(key.sid).delete() is True
    with pytest.raises(TwilioRestException) as revoked:
        keyed.messages.create(to=unique_number(), from_=sender, body="after revocation")
    assert_rest_error(revoked, 401, 20003)
    with pytest.raises(TwilioRestException) as gone:
        client.keys(key.sid).fetch()
    assert_rest_error(gone, 404, 20404)

    wrong_secret = sdk(server, client.new_keys.create().sid, "not-the-secret", account_sid=server.account_sid)
    with pytest.raises(TwilioRestException) as bad_secret:
        wrong_secret.messages.create(to=unique_number(), from_=sender, body="x")
    assert_rest_error(bad_secret, 401, 20003)


# ----------------------------------------------------------------------------------------------------------
# 401s


def test_wrong_token_and_unknown_account_are_401_20003(server: ServerProcess) -> None:
    sender = own_number(sdk(server))
    wrong_token = "0" * 32 if server.auth_token != "0" * 32 else "1" * 32
    unknown_sid = "AC" + secrets.token_hex(16)
    for client in (sdk(server, password=wrong_token), sdk(server, unknown_sid, server.auth_token)):
        with pytest.raises(TwilioRestException) as created:
            client.messages.create(to=unique_number(), from_=sender, body="x")
        assert_rest_error(created, 401, 20003)
        assert created.value.method == "POST"
        assert "Authenticate" in created.value.msg
        with pytest.raises(TwilioRestException) as fetched:
            client.messages("SM" + secrets.token_hex(16)).fetch()
        assert_rest_error(fetched, 401, 20003)
        # list/stream/page raise the base TwilioException, carrying the response.
        with pytest.raises(TwilioException) as listed:
            client.messages.list(limit=1)
        response = listed.value.args[1]
        assert response.status_code == 401

    with httpx.Client(base_url=server.url, auth=(server.account_sid, wrong_token), timeout=30) as http:
        form = {"To": unique_number(), "From": sender, "Body": "x"}
        raw = http.post(f"{server.accounts_path()}/Messages.json", data=form)
    assert raw.status_code == 401
    assert raw.headers["content-type"].startswith("application/json")
    body = raw.json()
    assert {k: body[k] for k in ("code", "message", "more_info", "status")} == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    assert not {"type", "title"} <= body.keys(), "type+title would make twilio 9 raise TwilioServiceException"
    assert wrong_token not in raw.text


# ----------------------------------------------------------------------------------------------------------
# Auth token rotation (Accounts v1), on a server of its own: the primary token changes.


def test_auth_token_rotation(fresh_server: ServerProcess) -> None:
    server = fresh_server
    old = sdk(server)
    sender = own_number(old)

    secondary = old.accounts.v1.secondary_auth_token().create()
    token2 = remember_secret(secondary.secondary_auth_token)
    assert secondary.account_sid == server.account_sid
    assert len(token2) == 32 and token2 != server.auth_token
    assert secondary.date_created is not None

    with_secondary = sdk(server, password=token2)
    via_secondary = with_secondary.messages.create(to=unique_number(), from_=sender, body="secondary")
    assert via_secondary.sid.startswith("SM")
    assert old.messages.create(to=unique_number(), from_=sender, body="primary still works").sid

    promoted = old.accounts.v1.auth_token_promotion().update()
    assert promoted.account_sid == server.account_sid
    assert promoted.auth_token == token2

    with pytest.raises(TwilioRestException) as retired:
        old.messages.create(to=unique_number(), from_=sender, body="old primary")
    assert_rest_error(retired, 401, 20003)
    assert with_secondary.messages.create(to=unique_number(), from_=sender, body="new primary").sid

    # A new secondary can be made and deleted; once deleted it no longer authenticates.
    third = with_secondary.accounts.v1.secondary_auth_token().create()
    token3 = remember_secret(third.secondary_auth_token)
    assert token3 not in (token2, server.auth_token)
    with_third = sdk(server, password=token3)
    assert with_third.messages.list(limit=1)
    assert with_secondary.accounts.v1.secondary_auth_token().delete() is True
    with pytest.raises(TwilioRestException) as deleted:
        with_third.messages.create(to=unique_number(), from_=sender, body="deleted secondary")
    assert_rest_error(deleted, 401, 20003)
    with pytest.raises(TwilioRestException) as nothing_to_promote:
        with_secondary.accounts.v1.auth_token_promotion().update()
    assert nothing_to_promote.value.status == 400
