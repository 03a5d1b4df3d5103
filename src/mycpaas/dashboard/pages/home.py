"""The overview: which account is in view, its Account SID, and the latest messages."""

from __future__ import annotations

from starlette.responses import Response

from mycpaas.dashboard.page import Page
from mycpaas.domain.messages import MessageFilter
from mycpaas.services import messaging, numbers
from mycpaas.services.messaging import ListQuery


async def show(page: Page) -> Response:
    recent = await messaging.list_messages(page.platform, page.account, ListQuery(MessageFilter(), 5, None))
    owned = await numbers.list_numbers(page.platform, page.account, None, None, None, 6)
    return page.render("home.html", recent=recent, numbers=owned[:5], more_numbers=len(owned) > 5)
