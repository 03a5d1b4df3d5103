"""The overview: which account is in view, its Account SID, charts of its messages (services/overview.py),
its numbers and the latest messages; for a platform administrator also the carrier links (connectors are the
operator's business, as /carriers is administrators' only)."""

from __future__ import annotations

from starlette.responses import Response

from mycpaas.dashboard import charts
from mycpaas.dashboard.page import Page
from mycpaas.domain.messages import MessageFilter
from mycpaas.domain.overview import SERIES
from mycpaas.services import messaging, numbers, overview
from mycpaas.services.messaging import ListQuery


async def show(page: Page) -> Response:
    recent = await messaging.list_messages(page.platform, page.account, ListQuery(MessageFilter(), 5, None))
    owned = await numbers.list_numbers(page.platform, page.account, None, None, None, 6)
    admin = page.session.user.is_admin
    figures = await overview.overview(page.platform, page.account, with_links=admin)
    hourly = charts.stacked_bars(
        "chart-hours",
        "Messages per hour, last 24 hours",
        f"Messages created each hour (UTC), stacked by status: {', '.join(SERIES)}.",
        figures.hours,
        SERIES,
        lambda start: start.strftime("%H:00"),
        label_every=3,
    )
    daily = charts.stacked_bars(
        "chart-days",
        "Messages per day, last 30 days",
        f"Messages created each day (UTC), stacked by status: {', '.join(SERIES)}.",
        figures.days,
        SERIES,
        lambda start: start.strftime("%m-%d"),
        label_every=5,
    )
    return page.render(
        "home.html",
        recent=recent,
        numbers=owned[:5],
        more_numbers=len(owned) > 5,
        figures=figures,
        show_links=admin,
        series=SERIES,
        series_class=charts.series_class,
        hourly=hourly,
        daily=daily,
        delivery_meter=charts.meter("meter-delivery", "Delivery rate", figures.delivery_rate),
        webhook_meter=charts.meter("meter-webhooks", "Webhook success rate", figures.webhook_success_rate),
    )
