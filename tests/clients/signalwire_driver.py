"""Drive the official Python `signalwire` SDK (2.1.1, on twilio 6.54.0) against a mycpaas https server.

Runs under /work/main/.venv-signalwire/bin/python (the SDK's pins clash with the project's twilio 9),
started by tests/clients/test_signalwire_python.py. Input comes from the environment:

    SW_SPACE_URL   "127.0.0.1:PORT"  (the SDK forces https)
    SW_PROJECT     the Account SID
    SW_TOKEN       its Auth Token
    SW_CA_FILE     the server's self-signed certificate

It prints one JSON object of observations on stdout; the pytest side makes the assertions. It includes the
secrets the server handed out (subaccount token, API key secret) so the test can register them.
Only unexpected errors make it exit non-zero (with a traceback on stderr).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import version

import requests
from signalwire.rest import Client as signalwire_client
from twilio import __version__ as twilio_version
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient

SPACE = os.environ["SW_SPACE_URL"]
PROJECT = os.environ["SW_PROJECT"]
TOKEN = os.environ["SW_TOKEN"]
CA_FILE = os.environ["SW_CA_FILE"]
FINAL = {"delivered", "undelivered", "failed", "canceled"}


class RecordingHttpClient(TwilioHttpClient):
    """twilio 6.54's own HTTP client, noting each request (to prove every page is fetched)."""

    def __init__(self):
        super().__init__()
        self.session.verify = CA_FILE
        self.calls = []

    def request(self, method, url, params=None, *args, **kwargs):
        self.calls.append([method, url, dict(params or {})])
        if len(self.calls) >= 100:  # a next_page_uri that never becomes null would page forever
            raise RuntimeError(f"runaway paging: {self.calls[-3:]}")
        return super().request(method, url, params, *args, **kwargs)


def client(username=PROJECT, password=TOKEN, account_sid=None, http_client=None):
    made = signalwire_client(
        username, password, account_sid=account_sid, http_client=http_client, signalwire_space_url=SPACE
    )
    # twilio 6.54 never merges environment settings, so REQUESTS_CA_BUNDLE is ignored: trust on the session.
    made.http_client.session.verify = CA_FILE
    return made


def number():
    return f"+1415{secrets.randbelow(10**7):07d}"


def rest_error(call):
    """(status, code, exception class) of the TwilioRestException `call` raises, or what happened instead."""
    try:
        result = call()
    except TwilioRestException as error:
        return {"status": error.status, "code": error.code, "type": "TwilioRestException"}
    except TwilioException as error:
        response = error.args[1] if len(error.args) > 1 else None
        status = getattr(response, "status_code", None)
        code = None
        with contextlib.suppress(Exception):  # only recording what came back
            code = json.loads(response.text)["code"]
        return {"status": status, "code": code, "type": "TwilioException"}
    return {"status": None, "code": None, "type": "no error", "result": repr(result)}


def wait_final(api, sid, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        message = api.messages(sid).fetch()
        if message.status in FINAL or time.monotonic() > deadline:
            return message
        time.sleep(0.05)


def messages_flow(out):
    recorder = RecordingHttpClient()
    api = client(http_client=recorder)
    out["base_url"] = api.api.base_url
    created_number = api.incoming_phone_numbers.create(phone_number=number())
    sender = created_number.phone_number
    out["number"] = {
        "sid": created_number.sid,
        "phone_number": sender,
        "account_sid": created_number.account_sid,
    }
    recipient = number()

    message = api.messages.create(to=recipient, from_=sender, body="Hello from signalwire-python")
    out["create"] = {
        "sid": message.sid,
        "account_sid": message.account_sid,
        "to": message.to,
        "from": message.from_,
        "body": message.body,
        "status": message.status,
        "direction": message.direction,
        "date_created_utc": bool(message.date_created) and message.date_created.utcoffset() == timedelta(0),
        "url": recorder.calls[-1][1],
        "recipient": recipient,
        "sender": sender,
    }
    fetched = api.messages(message.sid).fetch()
    out["fetch"] = {"sid": fetched.sid, "body": fetched.body, "to": fetched.to, "from": fetched.from_}
    final = wait_final(api, message.sid)
    out["final"] = {"status": final.status, "date_sent_set": final.date_sent is not None}
    redacted = api.messages(message.sid).update(body="")
    out["redact"] = {"body": redacted.body, "fetched_body": api.messages(message.sid).fetch().body}
    out["delete"] = api.messages(message.sid).delete()
    out["fetch_deleted"] = rest_error(lambda: api.messages(message.sid).fetch())

    # Paging with a filter: 2 messages before the cutoff, 5 after it, 2 after it to someone else.
    target, other = number(), number()

    def send(to, n):
        sids = [api.messages.create(to=to, from_=sender, body=f"page {i}").sid for i in range(n)]
        for sid in sids:
            wait_final(api, sid)
        return sids

    old = send(target, 2)
    cutoff = max(api.messages(sid).fetch().date_sent for sid in old) + timedelta(seconds=1)
    while datetime.now(UTC) < cutoff + timedelta(milliseconds=50):
        time.sleep(0.05)
    wanted = send(target, 5)
    send(other, 2)
    del recorder.calls[:]
    listed = api.messages.list(to=target, date_sent_after=cutoff, page_size=2)
    out["list"] = {
        "wanted_newest_first": list(reversed(wanted)),
        "old": old,
        "listed": [m.sid for m in listed],
        "gets": [c for c in recorder.calls if c[0] == "GET"],
        "cutoff": cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    del recorder.calls[:]
    limited = api.messages.list(to=target, date_sent_after=cutoff, page_size=2, limit=3)
    out["list_limited"] = {"listed": [m.sid for m in limited], "gets": len(recorder.calls)}


def subaccount_flow(out):
    parent = client()
    name = f"sw-suite-{secrets.token_hex(4)}"
    sub = parent.api.accounts.create(friendly_name=name)
    out["sub"] = {
        "sid": sub.sid,
        "auth_token": sub.auth_token,
        "friendly_name": sub.friendly_name,
        "status": sub.status,
        "owner_account_sid": sub.owner_account_sid,
    }
    on_sub = client(account_sid=sub.sid)
    sub_sender = on_sub.incoming_phone_numbers.create(phone_number=number()).phone_number
    message = on_sub.messages.create(to=number(), from_=sub_sender, body="from the subaccount")
    out["sub_message"] = {"account_sid": message.account_sid, "uri": message.uri}
    out["sub_list_via_parent"] = [m.sid for m in on_sub.messages.list(from_=sub_sender)] == [message.sid]
    sub_own = client(sub.sid, sub.auth_token)
    out["sub_fetch_own"] = sub_own.messages(message.sid).fetch().account_sid
    parent_sender = parent.incoming_phone_numbers.create(phone_number=number()).phone_number
    parent_message = parent.messages.create(to=number(), from_=parent_sender, body="parent only")
    reach_parent = client(sub.sid, sub.auth_token, account_sid=PROJECT)
    out["sub_reaches_parent_fetch"] = rest_error(lambda: reach_parent.messages(parent_message.sid).fetch())
    out["sub_reaches_parent_create"] = rest_error(
        lambda: reach_parent.messages.create(to=number(), from_=parent_sender, body="x")
    )
    out["sub_fetches_parent_account"] = rest_error(lambda: sub_own.api.accounts(PROJECT).fetch())
    out["suspend"] = parent.api.accounts(sub.sid).update(status="suspended").status
    out["suspended_sub_fetch"] = rest_error(lambda: sub_own.messages(message.sid).fetch())
    out["reactivate"] = parent.api.accounts(sub.sid).update(status="active").status
    out["reactivated_sub_fetch"] = sub_own.messages(message.sid).fetch().sid == message.sid
    out["close"] = parent.api.accounts(sub.sid).update(status="closed").status
    out["closed_sub_fetch"] = rest_error(lambda: sub_own.messages(message.sid).fetch())
    out["closed_parent_on_sub_fetch"] = rest_error(lambda: on_sub.messages(message.sid).fetch())
    out["closed_listed"] = [
        (a.sid, a.status) for a in parent.api.accounts.list(friendly_name=name, status="closed")
    ]


def api_key_flow(out):
    api = client()
    sender = api.incoming_phone_numbers.create(phone_number=number()).phone_number
    key = api.new_keys.create(friendly_name="sw-suite-key")
    out["key"] = {"sid": key.sid, "secret": key.secret, "friendly_name": key.friendly_name}
    keyed = client(key.sid, key.secret, account_sid=PROJECT)
    message = keyed.messages.create(to=number(), from_=sender, body="sent with an API key")
    fetched = keyed.messages(message.sid).fetch()
    out["key_message"] = {"account_sid": message.account_sid, "fetched": fetched.sid}
    out["key_on_accounts"] = rest_error(lambda: keyed.api.accounts(PROJECT).fetch())
    out["key_on_keys"] = rest_error(lambda: keyed.keys(key.sid).fetch())
    out["key_delete"] = api.keys(key.sid).delete()
    out["deleted_key_create"] = rest_error(
        lambda: keyed.messages.create(to=number(), from_=sender, body="after revocation")
    )
    out["auth_sender"] = sender


def unauthorized(out):
    sender = out["auth_sender"]
    wrong = client(PROJECT, "0" * 32 if TOKEN != "0" * 32 else "1" * 32)
    unknown = client("AC" + secrets.token_hex(16), TOKEN)
    for label, api in (("wrong_token", wrong), ("unknown_sid", unknown)):
        out[label] = {
            "create": rest_error(lambda api=api: api.messages.create(to=number(), from_=sender, body="x")),
            "fetch": rest_error(lambda api=api: api.messages("SM" + secrets.token_hex(16)).fetch()),
            "list": rest_error(lambda api=api: api.messages.list(limit=1)),
        }
    response = requests.post(
        f"https://{SPACE}/2010-04-01/Accounts/{PROJECT}/Messages.json",
        auth=(PROJECT, "0" * 32),
        data={"To": number(), "From": sender, "Body": "x"},
        verify=CA_FILE,
        timeout=30,
    )
    out["raw_401"] = {"status": response.status_code, "json": response.json()}


def main():
    out = {"versions": {"signalwire": version("signalwire"), "twilio": twilio_version}}
    messages_flow(out)
    subaccount_flow(out)
    api_key_flow(out)
    unauthorized(out)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
