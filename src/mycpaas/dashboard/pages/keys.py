"""API keys: create (the secret is shown once, in the response to the create form), list, rename, revoke.

A key is as powerful as the Auth Token, so minting one asks for the password like revealing the token does
(unless the session's password window is open).
"""

from __future__ import annotations

from starlette.responses import Response

from mycpaas.dashboard.page import Page, redirect
from mycpaas.domain.accounts import ApiKey
from mycpaas.errors import InvalidRequest, NotFound
from mycpaas.services import credential_uses, keys


async def show(page: Page, status: int = 200, **context: object) -> Response:
    listed = await keys.list_keys(page.platform, page.account)
    uses = await credential_uses.of_keys(page.platform, page.account.sid)
    return page.render("keys.html", status=status, keys=listed, uses=uses, unlocked=page.unlocked, **context)


async def create(page: Page) -> Response:
    name = page.form.get("friendly_name", "").strip()
    if not page.unlocked and (refused := await page.reenter_password()):
        status, reason = refused
        return await show(page, status, error=reason)
    try:
        key, secret = await keys.create_key(page.platform, page.account, name or None, page.actor)
    except InvalidRequest as error:
        return await show(page, 400, error=error.message)
    # Rendered in this response only (no redirect, no-store): the secret is never stored readable.
    return await show(page, 201, created=key, secret=secret)


async def _key(page: Page) -> ApiKey:
    key = await keys.get_key(page.platform, page.account, page.param("sid"))
    if key is None:
        raise NotFound(page.request.url.path)
    return key


async def rename(page: Page) -> Response:
    key = await _key(page)
    try:
        await keys.rename_key(page.platform, key, page.form.get("friendly_name", "").strip())
    except InvalidRequest as error:
        return await show(page, 400, error=error.message)
    return redirect("/keys", "key-renamed")


async def revoke(page: Page) -> Response:
    await keys.revoke_key(page.platform, await _key(page), page.actor)
    return redirect("/keys", "key-revoked")
