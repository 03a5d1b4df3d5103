"""Metric labels: requests are labelled by route template (never by a path holding SIDs), methods from a
fixed set; every metric has labels (so `serve` may still choose the metrics directory, see metrics.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.routing import Route as StarletteRoute

from mycpaas import metrics
from mycpaas.api.app import LAML_PREFIX, ROUTES, is_api_path
from mycpaas.api.front import HttpFront
from mycpaas.api.router import match
from mycpaas.dashboard.app import PAGES

ACCOUNT = "AC" + "1" * 32


@pytest.mark.parametrize(
    ("path", "template"),
    [
        (f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json", "/2010-04-01/Accounts/{account_sid}/Messages"),
        (
            f"/2010-04-01/Accounts/{ACCOUNT}/Messages/SM{'2' * 32}.json",
            "/2010-04-01/Accounts/{account_sid}/Messages/{sid}",
        ),
        (
            f"/2010-04-01/Accounts/{ACCOUNT}/Messages/SM{'2' * 32}/Media",
            "/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media",
        ),
        (
            f"/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers/Local.json",
            "/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers/{number_type}",
        ),
        (
            f"/2010-04-01/Accounts/{ACCOUNT}/Keys/SK{'3' * 32}",
            "/2010-04-01/Accounts/{account_sid}/Keys/{sid}",
        ),
        ("/v1/AuthTokens/Promote", "/v1/AuthTokens/Promote"),
    ],
)
def test_api_paths_are_labelled_by_their_template(path: str, template: str) -> None:
    found = match(ROUTES, path)
    assert found is not None
    assert metrics.route_label(found[0]) == template


def test_every_api_route_has_a_template_without_ids() -> None:
    assert all(route.path.startswith(("/2010-04-01", "/v1/")) for route in ROUTES)
    assert not [route.path for route in ROUTES if "AC" in route.path or route.path.endswith(".json")]


def test_dashboard_routes_are_labelled_by_their_template() -> None:
    for method, path, _ in PAGES:
        assert metrics.route_label(StarletteRoute(path, lambda request: None, methods=[method])) == path
    assert metrics.route_label(None) == metrics.UNMATCHED
    assert metrics.route_label("/healthz") == "/healthz"


def _requests(text: str) -> dict[tuple[str, str, str], float]:
    return {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "mycpaas_http_requests_total"
    }


@pytest.mark.parametrize(
    "wrap", [metrics.http_observed, lambda app: HttpFront(app, 30, is_api_path)], ids=["listener", "serve"]
)
def test_observed_requests_count_the_template_the_app_matched(wrap: Any) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        found = match(ROUTES, scope["path"].removeprefix(LAML_PREFIX))
        scope["route"] = found[0] if found else None
        await send({"type": "http.response.start", "status": 404 if found is None else 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: Any) -> None:
        pass

    observed = wrap(app)
    before = _requests(metrics.exposition().decode())
    sid = "SM" + "9" * 32
    for path, method in [
        (f"{LAML_PREFIX}/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json", "GET"),
        (f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}", "GET"),
        (f"/nothing/{sid}", "BREW"),
    ]:
        asyncio.run(observed({"type": "http", "path": path, "method": method, "headers": []}, None, send))
    after = _requests(metrics.exposition().decode())
    grown = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}
    assert grown == {
        ("/2010-04-01/Accounts/{account_sid}/Messages/{sid}", "GET", "200"): 2,
        (metrics.UNMATCHED, "other", "404"): 1,
    }


def test_every_metric_has_labels() -> None:
    """A metric without labels opens its file when this module is imported, before `serve` can choose the
    directory it belongs in."""
    kinds = (metrics.Counter, metrics.Gauge, metrics.Histogram)
    found = [value for value in vars(metrics).values() if isinstance(value, kinds)]
    assert len(found) >= 10
    assert [m for m in found if not m._labelnames] == []
