"""MYCPAAS_TRUSTED_PROXIES over real `mycpaas serve` processes: X-Forwarded-For, -Proto and -Host are believed
only from a connected peer in the list (forwarding.py), by the failed-auth and sign-in throttles, the audit
log, the access log, the dashboard's cookies and Origin check, and the URLs the API builds.

Every client here connects from the loopback: 127.0.0.1 is the peer, which the `proxied` server trusts and the
`plain` one does not; 127.0.0.2 is a peer neither trusts. SQLite only: the decision is made before any
database code runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import dispose_server, make_server, remember_secret
from tests.dashboard_support import PASSWORD, create_user, csrf_of
from tests.integration.auth_support import random_account_sid, random_token
from tests.integration.dashboard_security.support import hex_tag, set_cookies
from tests.server import OPEN_CLIENTS, ServerProcess

MAX_FAILURES = 3
PROXY_HOST = "proxy.example:8443"
AS_PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": PROXY_HOST}


@dataclass
class Site:
    server: ServerProcess
    email: str


def start(tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]) -> Site:
    server = make_server(
        tmp_path_factory.mktemp(name),
        "sqlite",
        env={
            "MYCPAAS_AUTH_MAX_FAILURES": str(MAX_FAILURES),
            "MYCPAAS_SIGN_IN_MAX_FAILURES": str(MAX_FAILURES),
            **env,
        },
    )
    email = f"proxy-{hex_tag()}@example.com"
    create_user(server, email)
    return Site(server, email)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    site = start(tmp_path_factory, "no-proxies", {})
    yield site
    dispose_server(site.server)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    site = start(tmp_path_factory, "trusted-proxies", {"MYCPAAS_TRUSTED_PROXIES": "127.0.0.1, ::1"})
    yield site
    dispose_server(site.server)


def client(server: ServerProcess, headers: dict[str, str], address: str | None = None) -> httpx.Client:
    made = httpx.Client(
        base_url=server.url,
        headers=headers,
        transport=httpx.HTTPTransport(local_address=address),
        timeout=30,
    )
    OPEN_CLIENTS.append(made)
    return made


def failed_auth(server: ServerProcess, forwarded_for: str) -> int:
    """A failed authentication for an account that exists nowhere: only the address's count is involved."""
    sid = random_account_sid()
    with client(server, {"X-Forwarded-For": forwarded_for}) as api:
        response = api.get(f"/2010-04-01/Accounts/{sid}/Messages.json", auth=(sid, random_token()))
    assert response.status_code in (401, 429), response.text
    return response.status_code


def api_key_created(server: ServerProcess, headers: dict[str, str], address: str | None = None) -> str:
    """The SID of a key made through the API by a client sending `headers` (the audit log records it)."""
    with client(server, headers, address) as api:
        response = api.post(
            f"{server.accounts_path()}/Keys.json", data={}, auth=(server.account_sid, server.auth_token)
        )
    assert response.status_code == 201, response.text
    remember_secret(response.json()["secret"])
    return str(response.json()["sid"])


class Visitor:
    """A browser whose requests carry `headers`. Cookies are kept by hand: a Secure cookie, which the server
    sets when told the scheme is https, would not be sent back over this plain-http connection by a jar."""

    def __init__(self, site: Site, headers: dict[str, str], origin: str) -> None:
        self.http = client(site.server, {**headers, "Origin": origin})
        self.cookies: dict[str, str] = {}
        self.set: dict[str, tuple[str, dict[str, str]]] = {}  # the last response's Set-Cookie headers

    def send(
        self, method: str, path: str, data: dict[str, str] | None = None, **headers: str
    ) -> httpx.Response:
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = self.http.request(method, path, data=data, headers={"Cookie": cookie, **headers})
        self.set = set_cookies(response)
        self.cookies.update({name: value for name, (value, _) in self.set.items() if value})
        return response

    def sign_in(self, email: str, password: str = PASSWORD, **headers: str) -> httpx.Response:
        token = csrf_of(self.send("GET", "/sign-in").text)
        form = {"email": email, "password": password, "next": "/", "csrf_token": token}
        return self.send("POST", "/sign-in", form, **headers)

    def create_key(self) -> str:
        """Create an API key on the keys page (re-entering the password); returns its SID."""
        token = csrf_of(self.send("GET", "/keys").text)
        page = self.send("POST", "/keys", {"friendly_name": "", "password": PASSWORD, "csrf_token": token})
        assert page.status_code == 201, page.text
        found = re.search(r'id="new-key-sid">(SK[0-9a-f]{32})<', page.text)
        assert found, page.text
        return found.group(1)

    def audit_addresses(self) -> dict[str, str]:
        """The audit log on the credentials page: the API key an entry is about -> the address recorded."""
        page = self.send("GET", "/credentials").text
        rows = re.findall(
            r'<tr data-action="api_key\.[a-z_]+"><td>[^<]*</td><td>[^<]* (SK[0-9a-f]{32})</td>'
            r"<td>[^<]*</td><td>([^<]*)</td></tr>",
            page,
        )
        return dict(rows)


def test_without_the_setting_forwarded_headers_change_nothing(plain: Site) -> None:
    server = plain.server
    # Failures "from" ever new forged addresses are all counted against the peer, and throttled.
    forged = [f"203.0.113.{i}" for i in range(MAX_FAILURES + 1)]
    assert [failed_auth(server, address) for address in forged] == [401] * MAX_FAILURES + [429]

    forging = {"X-Forwarded-For": "203.0.113.9", **AS_PROXY}
    by_api = api_key_created(server, forging)
    with client(server, forging) as api:
        secondary = api.post("/v1/AuthTokens/Secondary", auth=(server.account_sid, server.auth_token))
    assert secondary.status_code == 201, secondary.text
    remember_secret(secondary.json()["secondary_auth_token"])
    assert secondary.json()["url"] == f"{server.url}/v1/AuthTokens/Secondary"

    # The dashboard ignores the claimed https and host: plain cookies, and the Origin it expects is its own.
    browser = Visitor(plain, forging, origin=server.url)
    signed_in = browser.sign_in(plain.email)
    assert signed_in.status_code == 303, signed_in.text
    value, attributes = browser.set["mycpaas_session"]
    assert value and "secure" not in attributes
    refused = browser.send("POST", "/sign-out", {"csrf_token": "x"}, Origin=f"https://{PROXY_HOST}")
    assert refused.status_code == 403
    by_dashboard = browser.create_key()

    recorded = browser.audit_addresses()
    assert recorded[by_api] == recorded[by_dashboard] == "127.0.0.1", recorded
    assert "203.0.113." not in server.log_text()  # nor in the access log


def test_a_trusted_proxy_is_believed(proxied: Site) -> None:
    server = proxied.server
    # The throttle counts the client behind the proxy, whatever the client wrote left of it.
    spoofing = [f"198.51.100.{i}, 203.0.113.9" for i in range(MAX_FAILURES)]
    assert [failed_auth(server, chain) for chain in spoofing] == [401] * MAX_FAILURES
    assert failed_auth(server, "203.0.113.9") == 429
    assert failed_auth(server, "203.0.113.10") == 401  # another client behind the same proxy
    assert failed_auth(server, "garbage") == 401  # the proxy itself: no failures counted yet

    keys = {
        api_key_created(server, {"X-Forwarded-For": "203.0.113.9"}): "203.0.113.9",
        api_key_created(server, {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}): "203.0.113.9",
        api_key_created(server, {"X-Forwarded-For": "2001:DB8::9"}): "2001:db8::9",
        api_key_created(server, {"X-Forwarded-For": "garbage, 203.0.113.9"}): "203.0.113.9",
        api_key_created(server, {"X-Forwarded-For": "203.0.113.9, garbage"}): "127.0.0.1",
        api_key_created(server, {}): "127.0.0.1",
        # A peer that is not in the list is not believed, on the same server.
        api_key_created(server, {"X-Forwarded-For": "203.0.113.9"}, address="127.0.0.2"): "127.0.0.2",
    }
    with client(server, AS_PROXY) as api:
        secondary = api.post("/v1/AuthTokens/Secondary", auth=(server.account_sid, server.auth_token))
    assert secondary.status_code == 201, secondary.text
    remember_secret(secondary.json()["secondary_auth_token"])
    assert secondary.json()["url"] == f"https://{PROXY_HOST}/v1/AuthTokens/Secondary"

    # https at the proxy: Secure, __Host- cookies, and the Origin expected is the proxy's.
    browser = Visitor(
        proxied, {"X-Forwarded-For": "203.0.113.20", **AS_PROXY}, origin=f"https://{PROXY_HOST}"
    )
    refused = browser.sign_in(proxied.email, Origin=server.url)
    assert refused.status_code == 403 and "not accepted" in refused.text
    assert browser.sign_in(proxied.email).status_code == 303
    value, attributes = browser.set["__Host-mycpaas_session"]
    assert value and "secure" in attributes
    keys[browser.create_key()] = "203.0.113.20"

    recorded = browser.audit_addresses()
    assert {sid: recorded.get(sid) for sid in keys} == keys
    assert 'mycpaas.access 203.0.113.9 "GET /2010-04-01/' in server.log_text()


def test_the_sign_in_throttle_counts_the_client_behind_a_trusted_proxy(proxied: Site) -> None:
    guesser = Visitor(proxied, {"X-Forwarded-For": "203.0.113.30"}, origin=proxied.server.url)
    for _ in range(MAX_FAILURES):
        assert guesser.sign_in(proxied.email, remember_secret(f"wrong {hex_tag()}")).status_code == 401
    assert guesser.sign_in(proxied.email).status_code == 429
    neighbour = Visitor(proxied, {"X-Forwarded-For": "203.0.113.31"}, origin=proxied.server.url)
    assert neighbour.sign_in(proxied.email).status_code == 303


def test_a_malformed_entry_stops_the_server_before_anything_is_created(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYCPAAS_")}
    env.update(
        {"MYCPAAS_DATA_DIR": str(tmp_path / "data"), "MYCPAAS_TRUSTED_PROXIES": "10.0.0.0/8, proxy.lan"}
    )
    done = subprocess.run(
        [sys.executable, "-m", "mycpaas", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done
    assert "MYCPAAS_TRUSTED_PROXIES: 'proxy.lan' is not an IP address or network" in done.stderr
    assert not (tmp_path / "data").exists()
