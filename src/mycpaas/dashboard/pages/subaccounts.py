"""Subaccounts of the user's account: create, rename, suspend, reactivate, close; and switching the view."""

from __future__ import annotations

from starlette.responses import Response

from mycpaas.dashboard.page import Page, redirect
from mycpaas.domain.accounts import Account, AccountStatus
from mycpaas.errors import InvalidRequest, NotFound
from mycpaas.services import accounts, users

STATUS_CHOICES = {status.value for status in AccountStatus}


async def show(page: Page, status: int = 200, **context: object) -> Response:
    views = await accounts.list_accounts(page.platform, page.main, None, None)
    subs = [view.account for view in views if view.account.sid != page.main.sid]
    return page.render("subaccounts.html", status=status, subaccounts=subs, **context)


async def create(page: Page) -> Response:
    try:
        await accounts.create_subaccount(
            page.platform, page.main, page.form.get("friendly_name", "").strip() or None
        )
    except InvalidRequest as error:
        return await show(page, 400, error=error.message)
    return redirect("/subaccounts", "subaccount-created")


async def _subaccount(page: Page) -> Account:
    found = await accounts.find_account(page.platform, page.param("sid"))
    if found is None or found.owner_account_sid != page.main.sid or found.sid == page.main.sid:
        raise NotFound(page.request.url.path)
    return found


async def rename(page: Page) -> Response:
    sub = await _subaccount(page)
    try:
        await accounts.update_account(
            page.platform, page.main, sub, page.form.get("friendly_name", "").strip(), None, page.actor
        )
    except InvalidRequest as error:
        return await show(page, 400, error=error.message)
    return redirect("/subaccounts", "subaccount-renamed")


async def change_status(page: Page) -> Response:
    sub = await _subaccount(page)
    wanted = page.form.get("status", "")
    if wanted not in STATUS_CHOICES:
        return await show(page, 400, error="Choose active, suspended or closed.")
    try:
        await accounts.update_account(page.platform, page.main, sub, None, wanted, page.actor)
    except InvalidRequest as error:
        return await show(page, 400, error=error.message)
    return redirect("/subaccounts", "subaccount-status")


async def switch(page: Page) -> Response:
    try:
        await users.switch_account(page.platform, page.session, page.form.get("account_sid", ""))
    except InvalidRequest:
        raise NotFound(page.request.url.path) from None
    return redirect("/", "switched")
