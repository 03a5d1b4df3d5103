"""Pages that follow what happens after they were drawn (a message's page, the message log).

static/app.js asks the page's own address again every few seconds with `live=<mark>`, the mark the page was
drawn with (`<div id="live" data-live="…">`). The handler reads what the page shows changes with (a message's
status, `updated_at` and latest webhook attempt; the log's rows) and answers 204 with no body while that mark
is the same, else the whole page, whose parts marked `data-live-part` the script swaps in without a reload.

A poll rather than server-sent events: the database is the truth, so any process of `serve --workers N` can
answer (the change may have happened in another), nothing is held open for shutdown to wait for, and an idle
page costs a few indexed reads every few seconds (fewer while nothing changes, none while its tab is hidden).
"""

from __future__ import annotations

from hashlib import blake2b

from starlette.responses import Response

from mycpaas.dashboard.page import Page

PARAM = "live"


def mark(*parts: object) -> str:
    """A short opaque digest of what a page shows changes with (no content of the page can be read from it)."""
    return blake2b(repr(parts).encode(), digest_size=8).hexdigest()


def unchanged(page: Page, current: str) -> Response | None:
    """204 No Content when the poll's mark is the current one: the page it has is up to date."""
    if page.request.query_params.get(PARAM) == current:
        return Response(status_code=204)
    return None
