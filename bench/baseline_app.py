"""The raw ASGI baseline for bench/http_create.py: same form, same Basic check, same JSON, no database.

Run: granian --interface asgi bench.baseline_app:app. It knows the accounts in BENCH_ACCOUNTS
(`sid:token,sid:token`, from the environment), as bench/workload.py's senders.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import secrets
from urllib.parse import parse_qsl

ACCOUNTS = dict(pair.split(":", 1) for pair in os.environ.get("BENCH_ACCOUNTS", "").split(",") if pair)


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        event = await receive()
        body += event.get("body", b"")
        more = event.get("more_body", False)
    headers = dict(scope["headers"])
    sid, _, token = base64.b64decode(headers[b"authorization"][6:]).decode().partition(":")
    if not hmac.compare_digest(ACCOUNTS.get(sid, "-"), token):
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
        return
    form = dict(parse_qsl(body.decode()))
    msid = "SM" + secrets.token_hex(16)
    uri = f"/2010-04-01/Accounts/{sid}/Messages/{msid}"
    payload = {
        "account_sid": sid,
        "api_version": "2010-04-01",
        "body": form["Body"],
        "date_created": "Thu, 30 Jul 2015 20:12:31 +0000",
        "date_sent": None,
        "date_updated": "Thu, 30 Jul 2015 20:12:31 +0000",
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": form["From"],
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": msid,
        "status": "queued",
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": form["To"],
        "uri": f"{uri}.json",
    }
    out = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", str(len(out)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": out})
