"""Sender pacing applies to the sender a Messaging Service's pool provides: with every pool number over its queue
limit (21611 at create time for a From), a message through the service ends `failed` with 21611, and its
callback says so, on SQLite and PostgreSQL. A real server whose long codes send 0.01 message/s with 1 s of
queue: one queued message fills a number (its first message goes at once; the next waits 100 s for its slot,
queued)."""

from __future__ import annotations

from pathlib import Path

import pytest
from twilio.rest import Client

from tests.clients.conftest import wait_for
from tests.conftest import BACKENDS, dispose_server, make_server
from tests.receiver import Receiver


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_message_fails_with_21611_when_every_pool_sender_is_full(tmp_path: Path, backend: str) -> None:
    env = {"MYCPAAS_SENDER_MPS_LONG_CODE": "0.01", "MYCPAAS_SENDER_QUEUE_SECONDS": "1"}
    server = make_server(tmp_path, backend, env=env)
    receiver = Receiver()
    try:
        client = Client(server.account_sid, server.auth_token)
        client.api.base_url = client.messaging.base_url = server.url
        callback = receiver.url("/mg-full")
        service = client.messaging.v1.services.create(
            friendly_name="paced", status_callback=callback, sticky_sender=False
        )
        pool = [client.incoming_phone_numbers.create(phone_number=f"+1415555{n:04d}") for n in (1201, 1202)]
        for number in pool:
            client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=number.sid)

        def send(wanted: set[str]) -> str:
            sid = client.messages.create(to="+14155550199", messaging_service_sid=service.sid, body="x").sid
            wait_for(lambda: client.messages(sid).fetch(), lambda m: m.status in wanted)
            return str(sid)

        for _ in pool:  # each number's first message goes at once
            send({"sending", "sent", "delivered"})
        waiting = [client.messages(send({"queued"})).fetch() for _ in pool]  # then one each waits, queued
        assert {m.from_ for m in waiting} == {n.phone_number for n in pool}, "spread over the pool"
        full = client.messages(send({"failed"})).fetch()
        assert (full.error_code, full.from_) == (21611, None)
        got = receiver.wait_for(
            lambda found: any(r.params["MessageSid"] == full.sid for r in found), path="/mg-full"
        )
        [failed] = [r.params for r in got if r.params["MessageSid"] == full.sid]
        assert (failed["MessageStatus"], failed["ErrorCode"]) == ("failed", "21611")
    finally:
        receiver.close()
        dispose_server(server)
