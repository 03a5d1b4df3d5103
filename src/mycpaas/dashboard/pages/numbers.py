"""Phone numbers of the account in view: add one, configure where its messages go, release it."""

from __future__ import annotations

from starlette.responses import Response

from mycpaas.dashboard.page import Page, redirect
from mycpaas.domain.numbers import IncomingNumber
from mycpaas.errors import InvalidRequest, NotFound
from mycpaas.services import numbers

PAGE_SIZE = 100
# Form field -> the API's parameter of the same meaning, so the one parser validates both.
CONFIG_FIELDS = {
    "friendly_name": "FriendlyName",
    "sms_url": "SmsUrl",
    "sms_method": "SmsMethod",
    "sms_fallback_url": "SmsFallbackUrl",
    "sms_fallback_method": "SmsFallbackMethod",
    "status_callback": "StatusCallback",
}


async def show(page: Page, status: int = 200, **context: object) -> Response:
    after = page.request.query_params.get("after") or None
    found = await numbers.list_numbers(page.platform, page.account, None, None, after, PAGE_SIZE + 1)
    listed = found[:PAGE_SIZE]
    next_after = listed[-1].sid if len(found) > PAGE_SIZE else None
    return page.render("numbers.html", status=status, numbers=listed, next_after=next_after, **context)


async def add(page: Page) -> Response:
    params = {"PhoneNumber": page.form.get("phone_number", ""), "AreaCode": page.form.get("area_code", "")}
    if page.form.get("friendly_name", "").strip():
        params["FriendlyName"] = page.form["friendly_name"].strip()
    try:
        number = await numbers.create_number(page.platform, page.account, params)
    except InvalidRequest as error:
        return await show(page, 400, error=error.message, form=page.form)
    return redirect(f"/numbers/{number.sid}", "number-added")


async def _number(page: Page) -> IncomingNumber:
    number = await numbers.get_number(page.platform, page.account, page.param("sid"))
    if number is None:
        raise NotFound(page.request.url.path)
    return number


async def edit(page: Page) -> Response:
    return page.render("number.html", number=await _number(page))


async def save(page: Page) -> Response:
    number = await _number(page)
    params = {api: page.form[field] for field, api in CONFIG_FIELDS.items() if field in page.form}
    try:
        await numbers.update_number(page.platform, page.account, number, params)
    except InvalidRequest as error:
        return page.render("number.html", status=400, number=number, error=error.message, form=page.form)
    return redirect(f"/numbers/{number.sid}", "number-saved")


async def release(page: Page) -> Response:
    await numbers.release_number(page.platform, await _number(page))
    return redirect("/numbers", "number-released")
