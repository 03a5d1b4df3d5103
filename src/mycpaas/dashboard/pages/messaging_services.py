"""Messaging Services of the account in view: list and create them, configure the settings the platform acts
on, change the sender pool (numbers, alpha sender) and see which pool number served each recent destination.

The settings go through the same parser as the v1 API (`domain/messaging_services.parse_settings`), by their
API names, so the two cannot accept different things.
"""

from __future__ import annotations

from starlette.responses import Response

from mycpaas.dashboard.page import Page, redirect
from mycpaas.domain.messaging_services import MessagingService
from mycpaas.errors import ErrorCode, InvalidRequest, NotFound
from mycpaas.services import messaging_services as services

PAGE_SIZE = 100
POOL_SHOWN = 200  # a pool's numbers shown (and offered) at most; the API lists all
STICKY_SHOWN = 50
# Form field -> the API's parameter of the same meaning. Checkboxes are absent when unticked: false.
TEXT_FIELDS = {
    "friendly_name": "FriendlyName",
    "inbound_request_url": "InboundRequestUrl",
    "inbound_method": "InboundMethod",
    "fallback_url": "FallbackUrl",
    "fallback_method": "FallbackMethod",
    "status_callback": "StatusCallback",
    "validity_period": "ValidityPeriod",
}
CHECKBOXES = {
    "sticky_sender": "StickySender",
    "use_inbound_webhook_on_number": "UseInboundWebhookOnNumber",
    "area_code_geomatch": "AreaCodeGeomatch",
    "smart_encoding": "SmartEncoding",
    "fallback_to_long_code": "FallbackToLongCode",
}


async def show(page: Page, status: int = 200, **context: object) -> Response:
    after = page.request.query_params.get("after") or None
    found = await services.list_services(page.platform, page.account, after, PAGE_SIZE + 1)
    listed = found[:PAGE_SIZE]
    next_after = listed[-1].sid if len(found) > PAGE_SIZE else None
    return page.render("services.html", status=status, services=listed, next_after=next_after, **context)


async def create(page: Page) -> Response:
    try:
        service = await services.create_service(
            page.platform, page.account, {"FriendlyName": page.form.get("friendly_name", "").strip()}
        )
    except InvalidRequest as error:
        return await show(page, 400, error=error.message)
    return redirect(f"/services/{service.sid}", "service-created")


async def _service(page: Page) -> MessagingService:
    service = await services.get_service(page.platform, page.account, page.param("sid"))
    if service is None:
        raise NotFound(page.request.url.path)
    return service


async def edit(
    page: Page, status: int = 200, service: MessagingService | None = None, **context: object
) -> Response:
    service = service or await _service(page)
    pool = await services.list_pool_numbers(page.platform, service, None, POOL_SHOWN)
    return page.render(
        "service.html",
        status=status,
        service=service,
        pool=pool,
        free=await services.numbers_outside_pools(page.platform, page.account, POOL_SHOWN),
        alpha=await services.get_alpha_sender(page.platform, service),
        sticky=await services.recent_sticky_senders(page.platform, service, STICKY_SHOWN),
        **context,
    )


async def save(page: Page) -> Response:
    service = await _service(page)
    params = {api: page.form[field] for field, api in TEXT_FIELDS.items() if field in page.form}
    params |= {api: "true" if page.form.get(field) else "false" for field, api in CHECKBOXES.items()}
    try:
        await services.update_service(page.platform, service, params)
    except InvalidRequest as error:
        return await edit(page, 400, service, error=error.message, form=page.form)
    return redirect(f"/services/{service.sid}", "service-saved")


async def change_senders(page: Page) -> Response:
    """One form per change of the pool: add or remove a number, add or remove the alpha sender."""
    service = await _service(page)
    form = page.form
    try:
        if number_sid := form.get("add_number", ""):
            await services.add_number(page.platform, service, number_sid)
            notice = "service-number-added"
        elif number_sid := form.get("remove_number", ""):
            pooled = await services.get_pool_number(page.platform, service, number_sid)
            if pooled is None:
                raise NotFound(page.request.url.path)
            await services.remove_number(page.platform, pooled)
            notice = "service-number-removed"
        elif "add_alpha" in form:
            await services.add_alpha_sender(page.platform, service, form["add_alpha"].strip())
            notice = "service-alpha-added"
        elif "remove_alpha" in form:
            alpha = await services.get_alpha_sender(page.platform, service)
            if alpha is not None:
                await services.remove_alpha_sender(page.platform, alpha)
            notice = "service-alpha-removed"
        else:
            raise InvalidRequest(ErrorCode.INVALID_PARAMETER, reason="The form named no change to the pool.")
    except InvalidRequest as error:
        return await edit(page, 400, service, error=error.message)
    return redirect(f"/services/{service.sid}", notice)
