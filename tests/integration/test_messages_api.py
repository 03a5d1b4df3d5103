"""The Messages resource over real HTTP, on SQLite and PostgreSQL, validated against twilio-oai."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import dispose_server, make_server
from tests.integration.helpers import own_number, send, unique_number, wait_final
from tests.schemas import assert_valid, list_validator, resource_validator
from tests.server import ServerProcess

MESSAGE = resource_validator("api.v2010.account.message")
MESSAGE_LIST = list_validator("/2010-04-01/Accounts/{AccountSid}/Messages.json")
RFC2822_SUFFIX = " +0000"


def test_create_returns_201_with_every_field(server: ServerProcess) -> None:
    with server.client() as client:
        sender = own_number(server, client)
        response = send(server, client, To="+15558675310", From=sender, Body="Hello! 👍")
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert_valid(MESSAGE, {**body, "subresource_uris": body["subresource_uris"]})
    assert body["status"] == "queued"
    assert body["direction"] == "outbound-api"
    assert body["date_sent"] is None
    assert body["date_created"].endswith(RFC2822_SUFFIX)
    assert body["num_segments"] == "1" and body["num_media"] == "0"
    assert body["error_code"] is None
    assert body["sid"].startswith("SM") and len(body["sid"]) == 34
    assert body["uri"] == f"/2010-04-01/Accounts/{server.account_sid}/Messages/{body['sid']}.json"
    assert set(body["subresource_uris"]) == {"media"}


def test_laml_prefix_and_no_suffix_are_served_and_echoed(server: ServerProcess) -> None:
    with server.client() as client:
        sender = own_number(server, client)
        created = client.post(
            f"/api/laml/2010-04-01/Accounts/{server.account_sid}/Messages",
            data={"To": "+15558675310", "From": sender, "Body": "laml"},
        )
        assert created.status_code == 201
        sid = created.json()["sid"]
        assert created.json()["uri"].startswith("/api/laml/2010-04-01/")
        fetched = client.get(f"/api/laml/2010-04-01/Accounts/{server.account_sid}/Messages/{sid}")
        assert fetched.status_code == 200
        assert fetched.json()["subresource_uris"]["feedback"].startswith("/api/laml/")
        listed = client.get(f"/api/laml/2010-04-01/Accounts/{server.account_sid}/Messages.json?PageSize=1")
        assert listed.json()["first_page_uri"].startswith("/api/laml/2010-04-01/")


def test_message_reaches_delivered_through_the_sandbox(server: ServerProcess) -> None:
    with server.client() as client:
        sender = own_number(server, client)
        sid = send(server, client, To="+15558675310", From=sender, Body="hi").json()["sid"]
        final = wait_final(server, client, sid)
    assert final["status"] == "delivered"
    assert final["date_sent"] is not None and final["date_sent"].endswith(RFC2822_SUFFIX)
    assert_valid(MESSAGE, final)


@pytest.mark.parametrize(
    ("data", "code", "fragment"),
    [
        ({"From": "+15005550006", "Body": "x"}, 21604, "A 'To' phone number is required."),
        ({"To": "+15558675310", "Body": "x"}, 21603, "A 'From' phone number is required."),
        ({"To": "+15558675310", "From": "+15005550006"}, 21602, "Message body is required."),
        ({"To": "+1555", "From": "+15005550006", "Body": "x"}, 21211, "The 'To' number +1555 is not a valid"),
        (
            {"To": "+15558675310", "From": "+1!!", "Body": "x"},
            21212,
            "is not a valid phone number, shortcode",
        ),
        (
            {"To": "+15558675310", "From": "+15559990000", "Body": "x"},
            21606,
            "The From phone number +15559990000",
        ),
        ({"To": "+15558675310", "From": "+15005550006", "Body": "x" * 1601}, 21617, "1600 character limit"),
        (
            {"To": "+15558675310", "From": "+15005550006", "Body": "x", "MediaUrl": ["ftp://a/b.png"]},
            21620,
            "Invalid media URL",
        ),
        (
            {
                "To": "+15558675310",
                "From": "+15005550006",
                "Body": "x",
                "MediaUrl": [f"https://e.com/{i}.png" for i in range(11)],
            },
            21623,
            "exceeds allowed limit",
        ),
        (
            {"To": "+15558675310", "From": "+15005550006", "Body": "x", "ValidityPeriod": "0"},
            21624,
            "validity",
        ),
        (
            {"To": "+15558675310", "From": "+15005550006", "Body": "x", "ValidityPeriod": "36001"},
            21624,
            "validity",
        ),
        (
            {
                "To": "+15558675310",
                "From": "+15005550006",
                "Body": "x",
                "StatusCallback": "https://bad_host.com/x",
            },
            21609,
            "StatusCallback",
        ),
        (
            {"To": "+15558675310", "From": "+15005550006", "Body": "x", "StatusCallback": "/relative"},
            21609,
            "",
        ),
        ({"To": "+15005550001", "From": "+15005550006", "Body": "x"}, 21211, ""),
        ({"To": "+15005550002", "From": "+15005550006", "Body": "x"}, 21612, ""),
        ({"To": "+15005550003", "From": "+15005550006", "Body": "x"}, 21408, ""),
        ({"To": "+15005550004", "From": "+15005550006", "Body": "x"}, 21610, ""),
        ({"To": "+15005550009", "From": "+15005550006", "Body": "x"}, 21614, ""),
        ({"To": "+15558675310", "From": "+15005550001", "Body": "x"}, 21212, ""),
        ({"To": "+15558675310", "From": "+15005550007", "Body": "x"}, 21606, ""),
        ({"To": "+15558675310", "From": "+15005550008", "Body": "x"}, 21611, ""),
        ({"To": "+15558675310", "From": "MyBrand", "Body": "x"}, 21612, ""),
        ({"To": "+15558675310", "From": "+15005550006", "Body": "x", "ContentVariables": "{}"}, 21654, ""),
        ({"To": "+15558675310", "From": "+15005550006", "Body": "x", "ScheduleType": "fixed"}, 35111, ""),
        (
            {
                "To": "+15558675310",
                "From": "+15005550006",
                "Body": "x",
                "ScheduleType": "fixed",
                "SendAt": "2030-01-01T00:00:00Z",
            },
            35118,
            "",
        ),
    ],
)
def test_validation_errors_use_twilio_codes(
    server: ServerProcess, data: dict, code: int, fragment: str
) -> None:
    with server.client() as client:
        response = send(server, client, **data)
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["code"] == code and body["status"] == 400
    assert body["more_info"].endswith(str(code))
    assert fragment in body["message"]


def test_unknown_parameters_are_ignored_and_alphanumeric_sender_allowed_abroad(server: ServerProcess) -> None:
    with server.client() as client:
        response = send(server, client, To="+447700900123", From="MyBrand", Body="x", Frobnicate="yes")
    assert response.status_code == 201, response.text
    assert response.json()["from"] == "MyBrand"


def test_segments_and_encoding(server: ServerProcess) -> None:
    with server.client() as client:

        def segments(body: str) -> str:
            response = send(server, client, To="+15558675310", From="+15005550006", Body=body)
            assert response.status_code == 201, response.text
            return response.json()["num_segments"]

        assert segments("a" * 160) == "1"
        assert segments("a" * 161) == "2"
        assert segments("€" * 80) == "1"
        assert segments("€" * 81) == "2"
        assert segments("é" * 160) == "1"  # é is in the GSM 03.38 basic table
        assert segments("ć" * 70) == "1"
        assert segments("ć" * 71) == "2"
        assert segments("😀" * 35) == "1"
        assert segments("😀" * 36) == "2"
        assert segments("x" * 1600) == "11"


def test_curl_style_unencoded_plus_is_accepted(server: ServerProcess) -> None:
    with server.client() as client:
        response = client.post(
            f"{server.accounts_path()}/Messages.json",
            content=b"To=+15558675310&From=+15005550006&Body=Hello",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert response.status_code == 201
    assert response.json()["to"] == "+15558675310"


def test_list_pages_with_filters_and_cursor(server: ServerProcess) -> None:
    to = unique_number()
    with server.client() as client:
        sids = [
            send(server, client, To=to, From="+15005550006", Body=f"m{i}").json()["sid"] for i in range(7)
        ]
        for sid in sids:
            wait_final(server, client, sid)
        url = f"{server.accounts_path()}/Messages.json"
        seen: list[str] = []
        page = client.get(url, params={"To": to, "PageSize": 3, "DateSent>": "2020-01-01T00:00:00Z"}).json()
        pages = 0
        while True:
            assert_valid(MESSAGE_LIST, page)
            keys = set(page) - {
                "end",
                "first_page_uri",
                "next_page_uri",
                "last_page_uri",
                "page",
                "page_size",
                "previous_page_uri",
                "total",
                "num_pages",
                "start",
                "uri",
            }
            assert keys == {"messages"}
            assert page["start"] == pages * 3
            seen += [m["sid"] for m in page["messages"]]
            pages += 1
            if page["next_page_uri"] is None:
                break
            assert "To=%2B" in page["next_page_uri"] and "PageToken=PA" in page["next_page_uri"]
            assert "DateSent%3E=" in page["next_page_uri"]
            page = client.get(page["next_page_uri"]).json()
    assert pages == 3
    assert seen == list(reversed(sids)), "newest first, each message exactly once"


def test_previous_page_token_walks_back(server: ServerProcess) -> None:
    to = unique_number()
    with server.client() as client:
        sids = [
            send(server, client, To=to, From="+15005550006", Body=f"p{i}").json()["sid"] for i in range(4)
        ]
        url = f"{server.accounts_path()}/Messages.json"
        first = client.get(url, params={"To": to, "PageSize": 2}).json()
        second = client.get(first["next_page_uri"]).json()
        assert second["previous_page_uri"]
        back = client.get(second["previous_page_uri"]).json()
    assert [m["sid"] for m in back["messages"]] == [m["sid"] for m in first["messages"]] == sids[:1:-1]


def test_date_sent_filters(server: ServerProcess) -> None:
    to = unique_number()
    with server.client() as client:
        sid = send(server, client, To=to, From="+15005550006", Body="d").json()["sid"]
        wait_final(server, client, sid)
        url = f"{server.accounts_path()}/Messages.json"

        def count(**params: str) -> int:
            response = client.get(url, params={"To": to, **params})
            assert response.status_code == 200, response.text
            return len(response.json()["messages"])

        from datetime import UTC, datetime, timedelta

        today = datetime.now(UTC).date()
        assert count(DateSent=str(today)) == 1
        assert count(DateSent=str(today - timedelta(days=1))) == 0
        assert count(**{"DateSent<": str(today)}) == 1
        assert count(**{"DateSent<": str(today - timedelta(days=1))}) == 0
        assert count(**{"DateSent>": str(today + timedelta(days=1))}) == 0
        assert (
            count(**{"DateSent>": (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")})
            == 1
        )
        bad = client.get(url, params={"DateSent": "yesterday"})
    assert bad.status_code == 400 and bad.json()["code"] == 20422


def test_paging_parameter_errors(server: ServerProcess) -> None:
    url = f"{server.accounts_path()}/Messages.json"
    with server.client() as client:
        assert client.get(url, params={"PageSize": 0}).json()["code"] == 20422
        assert client.get(url, params={"PageSize": 1001}).json()["code"] == 20422
        assert client.get(url, params={"PageSize": 1000}).status_code == 200
        bad = client.get(url, params={"PageToken": "PAnot-a-sid"})
    assert bad.status_code == 400 and bad.json()["code"] == 21481


def test_fetch_unknown_and_malformed_sids_are_404(server: ServerProcess) -> None:
    with server.client() as client:
        path = f"{server.accounts_path()}/Messages/SM{'0' * 32}.json"
        response = client.get(path)
        assert response.status_code == 404
        assert response.json() == {
            "code": 20404,
            "message": f"The requested resource {path} was not found",
            "more_info": "https://www.twilio.com/docs/errors/20404",
            "status": 404,
        }
        assert client.get(f"{server.accounts_path()}/Nope.json").status_code == 404
        assert client.get("/2010-04-01/Accounts/not-a-sid/Messages.json").status_code == 404


def test_method_not_allowed_is_twilio_shaped(server: ServerProcess) -> None:
    with server.client() as client:
        response = client.delete(f"{server.accounts_path()}/Messages.json")
    assert response.status_code == 405 and response.json()["code"] == 20004


def test_redact_cancel_and_delete(server: ServerProcess) -> None:
    with server.client() as client:
        sid = send(server, client, To="+15558675310", From="+15005550006", Body="secret stuff").json()["sid"]
        path = f"{server.accounts_path()}/Messages/{sid}.json"
        # While in flight: neither redaction nor deletion.
        early = client.post(path, data={"Body": ""})
        if early.status_code != 200:
            assert early.json()["code"] == 30400
        wait_final(server, client, sid)
        assert client.post(path, data={}).json()["code"] == 30400
        assert client.post(path, data={"Body": "new text"}).json()["code"] == 30400
        assert client.post(path, data={"Body": "", "Status": "canceled"}).json()["code"] == 30400
        assert client.post(path, data={"Status": "canceled"}).json()["code"] == 30409
        redacted = client.post(path, data={"Body": ""})
        assert redacted.status_code == 200 and redacted.json()["body"] == ""
        assert_valid(MESSAGE, redacted.json())
        assert client.get(path).json()["body"] == ""
        deleted = client.delete(path)
        assert deleted.status_code == 204 and deleted.content == b""
        assert client.get(path).status_code == 404


def test_in_flight_messages_can_be_neither_deleted_nor_redacted(tmp_path: Path) -> None:
    """With the delivery worker off a message stays queued, so the in-flight rules are checked for certain."""
    server = make_server(tmp_path, "sqlite", env={"MYCPAAS_DELIVERY_WORKER": "false"})
    try:
        with server.client() as client:
            sid = send(server, client, To="+15558675310", From="+15005550006", Body="x").json()["sid"]
            path = f"{server.accounts_path()}/Messages/{sid}.json"
            deleted = client.delete(path)
            redacted = client.post(path, data={"Body": ""})
            still = client.get(path).json()
    finally:
        dispose_server(server)
    assert deleted.status_code == 400 and deleted.json()["code"] == 20009
    assert redacted.status_code == 400 and redacted.json()["code"] == 30400
    assert still["status"] == "queued" and still["body"] == "x"


def test_json_bodies_and_bad_content_types(server: ServerProcess) -> None:
    with server.client() as client:
        ok = client.post(
            f"{server.accounts_path()}/Messages.json",
            json={"To": "+15558675310", "From": "+15005550006", "Body": "json"},
        )
        assert ok.status_code == 201
        bad = client.post(
            f"{server.accounts_path()}/Messages.json",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        assert bad.status_code == 400 and bad.json()["code"] == 20422
        xml = client.post(
            f"{server.accounts_path()}/Messages.json",
            content=b"<x/>",
            headers={"Content-Type": "application/xml"},
        )
        assert xml.status_code == 415 and xml.json()["code"] == 20415


def test_typed_incoming_number_lists_are_served(server: ServerProcess) -> None:
    with server.client() as client:
        own_number(server, client)
        for kind in ("Local", "Mobile", "TollFree"):
            response = client.get(f"{server.accounts_path()}/IncomingPhoneNumbers/{kind}.json")
            assert response.status_code == 200
            assert "incoming_phone_numbers" in response.json()


def test_validation_order_follows_twilio(server: ServerProcess) -> None:
    """An unowned From is reported (21606) before a body that is too long (21617), as Twilio orders them."""
    with server.client() as client:
        response = send(server, client, To="+15558675310", From="+15559990001", Body="x" * 1601)
    assert response.json()["code"] == 21606


def test_nul_characters_are_refused_not_stored(server: ServerProcess) -> None:
    with server.client() as client:
        response = send(server, client, To="+15558675310", From="+15005550006", Body="a\x00b")
        listed = client.get(f"{server.accounts_path()}/Messages.json", params={"To": "+1555\x00"})
    assert response.status_code == 400 and response.json()["code"] == 20422
    assert "NUL" in response.json()["message"]
    assert listed.status_code == 400
