"""When each credential was last used, and from where (services/credential_uses.py), on a real server and both
databases: written after an API call with each of the primary token, the secondary token and an API key, with
the client's address, and not written again by a second use within the minute.

The rows are read from the database itself, joined to the digests accounts and api_keys hold (a test cannot
compute a keyed digest). The writes run in the background, in the order the uses were noted, so a row that
appears proves every use noted before it was written too: that is how "not written again" is checked without
sleeping.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import remember_secret
from tests.databases import sql
from tests.integration.auth_support import Creds, new_key, new_subaccount
from tests.integration.smpp_support import wait_until
from tests.server import ServerProcess


def uses(server: ServerProcess, account_sid: str) -> dict[str, tuple[Any, str]]:
    """credential ('primary', 'secondary' or a key SID) -> (used_at, used_from), for one account."""
    rows = sql(
        server.database_url,
        f"""
        SELECT 'primary', u.used_at, u.used_from FROM credential_uses u
          JOIN accounts a ON a.primary_token_digest = u.digest WHERE a.sid = '{account_sid}'
        UNION ALL
        SELECT 'secondary', u.used_at, u.used_from FROM credential_uses u
          JOIN accounts a ON a.secondary_token_digest = u.digest WHERE a.sid = '{account_sid}'
        UNION ALL
        SELECT k.sid, u.used_at, u.used_from FROM credential_uses u
          JOIN api_keys k ON k.secret_digest = u.digest WHERE k.account_sid = '{account_sid}'
        """,
    )
    return {str(name): (used_at, str(used_from)) for name, used_at, used_from in rows}


def call(server: ServerProcess, creds: Creds, account_sid: str) -> None:
    with server.client(creds.username, creds.password) as client:
        response = client.get(f"{server.accounts_path(account_sid)}/Messages.json")
    assert response.status_code == 200, response.text


def test_each_credential_records_its_last_use_once_a_minute(server: ServerProcess) -> None:
    with server.client() as parent:
        sub = new_subaccount(server, parent, "last used")
    with server.client(sub.username, sub.password) as client:
        response = client.post("/v1/AuthTokens/Secondary")
        assert response.status_code == 201, response.text
        secondary = Creds(sub.username, remember_secret(response.json()["secondary_auth_token"]))
        key = new_key(server, client, sub.username)

    # The secondary token's and the key's creation were made with the primary token: its use is recorded.
    first = wait_until(lambda: uses(server, sub.username).get("primary"), what="the primary token's use")
    assert first[1] == "127.0.0.1"
    call(server, sub, sub.username)  # a second use within the minute: not written

    call(server, key, sub.username)
    call(server, secondary, sub.username)
    found = wait_until(
        lambda: (u := uses(server, sub.username)) and "secondary" in u and key.username in u and u,
        what="the secondary token's and the key's uses",
    )
    assert set(found) == {"primary", "secondary", key.username}
    assert found["secondary"][1] == found[key.username][1] == "127.0.0.1"
    assert found["primary"] == first  # written before the two above, so not again

    # Promotion: the token keeps its use (the row is the token's, not the slot's); the old token's goes.
    with server.client(sub.username, sub.password) as client:
        assert client.post("/v1/AuthTokens/Promote").status_code == 200
    after = uses(server, sub.username)
    assert after["primary"] == found["secondary"]
    assert "secondary" not in after
