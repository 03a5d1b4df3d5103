"""When each credential was last used, and from where (services/credential_uses.py), on a real server and both
databases: written after an API call with each of the primary token, the secondary token and an API key, with
the client's address, and not written again by a second use within the minute.

The rows are read from the database itself, joined to the digests accounts and api_keys hold (a test cannot
compute a keyed digest). The writes run in the background, in the order the uses were noted, so a row that
appears proves every use noted before it was written too: that is how "not written again" is checked without
sleeping.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.conftest import dispose_server, make_server, remember_secret
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


def call(server: ServerProcess, creds: Creds, account_sid: str, resource: str = "Messages.json") -> None:
    """One request on a connection of its own."""
    with server.client(creds.username, creds.password) as client:
        response = client.get(f"{server.accounts_path(account_sid)}/{resource}")
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


# Every write of a use, counted by the database itself: a BEFORE INSERT trigger fires for each row an upsert
# offers, whether it then inserts, updates or (an older use) changes nothing.
COUNT_WRITES = (
    "CREATE TABLE credential_use_writes (digest varchar(64) NOT NULL)",
    "CREATE FUNCTION count_credential_use_write() RETURNS trigger AS $$ BEGIN "
    "INSERT INTO credential_use_writes VALUES (NEW.digest); RETURN NEW; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER count_credential_use_write BEFORE INSERT ON credential_uses "
    "FOR EACH ROW EXECUTE FUNCTION count_credential_use_write()",
)


def writes(server: ServerProcess, digest_of: str) -> int:
    [(count,)] = sql(
        server.database_url, f"SELECT count(*) FROM credential_use_writes WHERE digest IN ({digest_of})"
    )
    return int(count)


def test_each_server_process_writes_a_credentials_use_once(tmp_path: Path) -> None:
    """`serve --workers 2` on PostgreSQL: each process writes a credential's use once within the minute, however
    many requests it serves with it. Requests go on fresh connections until both processes (named by the access
    log) have served each credential."""
    server = make_server(tmp_path, "postgres", args=["--workers", "2"])
    try:
        for statement in COUNT_WRITES:
            sql(server.database_url, statement)
        with server.client() as parent:
            sub = new_subaccount(server, parent, "last used, two processes")
        with server.client(sub.username, sub.password) as client:
            key = new_key(server, client, sub.username)

        def served_by_both(creds: Creds, resource: str) -> set[int]:
            path = f"{server.accounts_path(sub.username)}/{resource}"
            pattern = re.compile(rf'\[(\d+)\] mycpaas\.access \S+ "GET {re.escape(path)}" 200')
            calls = 0

            def both() -> set[int] | None:
                nonlocal calls
                call(server, creds, sub.username, resource)
                calls += 1
                served = {int(pid) for pid in pattern.findall(server.log_text())}
                return served if len(served) == 2 else None

            served: set[int] = wait_until(both, what=f"both processes serving {resource}")
            assert calls >= 2
            return served

        served_by_both(sub, "Messages.json")
        served_by_both(key, "IncomingPhoneNumbers.json")
        # Each process writes in the order its uses came: once both have written the key's, the token's are in.
        key_digest = f"SELECT secret_digest FROM api_keys WHERE sid = '{key.username}'"
        wait_until(lambda: writes(server, key_digest) == 2, what="each process's write of the key's use")
        token_digest = f"SELECT primary_token_digest FROM accounts WHERE sid = '{sub.username}'"
        assert writes(server, token_digest) == 2
        assert set(uses(server, sub.username)) == {"primary", key.username}
    finally:
        dispose_server(server)


def test_the_address_is_the_client_forwarding_believes(tmp_path: Path) -> None:
    """Behind a trusted proxy the use is recorded from the client it names (forwarding.py), not the proxy."""
    server = make_server(tmp_path, "sqlite", env={"MYCPAAS_TRUSTED_PROXIES": "127.0.0.1"})
    try:
        with server.client() as parent:
            sub = new_subaccount(server, parent, "last used behind a proxy")
        with server.client(sub.username, sub.password) as client:
            path = f"{server.accounts_path(sub.username)}/Messages.json"
            response = client.get(path, headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"})
            assert response.status_code == 200, response.text
        used = wait_until(lambda: uses(server, sub.username).get("primary"), what="the token's use")
        assert used[1] == "203.0.113.9"
    finally:
        dispose_server(server)
