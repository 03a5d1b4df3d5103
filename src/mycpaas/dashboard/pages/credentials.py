"""Credentials: the Account SID, the Auth Token behind a password re-entry, and rotation as a guided flow.

Rotation goes through a secondary token: create it (both tokens work), update the applications, then promote
it (the old token stops at once) or delete it. Every step is written to the audit log listed on the page.
"""

from __future__ import annotations

from starlette.responses import Response

from mycpaas.dashboard import audit_lines
from mycpaas.dashboard.page import Page, redirect
from mycpaas.services import accounts, audit, credential_uses

# The seed's 401 table, shown beside the token so a user who just rotated knows what a 401 means.
TROUBLESHOOTING = [
    ("Wrong Account SID", "Confirm the SID starts with AC and matches what’s shown in the Dashboard"),
    ("Wrong Auth Token", "Re-copy the Auth Token from the Dashboard; make sure there are no extra spaces"),
    (
        "Credentials not encoded correctly",
        "If constructing the header manually, verify the Base64 encoding includes the colon separator "
        "between SID and token",
    ),
    ("Auth Token recently rotated", "Update your application or environment variables with the new token"),
    (
        "Using another provider’s credentials",
        "mycpaas credentials are separate from Twilio and SignalWire — generate new credentials from the "
        "Dashboard",
    ),
]


async def show(page: Page, status: int = 200, error: str = "") -> Response:
    view = await accounts.get_account(page.platform, page.account.sid) if page.unlocked else None
    return page.render(
        "credentials.html",
        status=status,
        unlocked=page.unlocked,
        view=view,
        uses=await credential_uses.of_tokens(page.platform, page.account.sid),
        history=audit_lines.lines(
            await audit.recent(page.platform, page.account.sid, 20), page.session.user.email
        ),
        troubleshooting=TROUBLESHOOTING,
        error=error,
    )


async def unlock(page: Page) -> Response:
    if refused := await page.reenter_password():
        return await show(page, *refused)
    await accounts.record_reveal(page.platform, page.account, page.actor)
    return redirect("/credentials", "unlocked")


async def create_secondary(page: Page) -> Response:
    if not page.unlocked:
        return await show(page, 403, "Enter your password first.")
    await accounts.create_secondary_token(page.platform, page.account, page.actor)
    return redirect("/credentials", "secondary-created")


async def delete_secondary(page: Page) -> Response:
    if not page.unlocked:
        return await show(page, 403, "Enter your password first.")
    await accounts.delete_secondary_token(page.platform, page.account, "/credentials/secondary", page.actor)
    return redirect("/credentials", "secondary-deleted")


async def confirm_promote(page: Page) -> Response:
    if not page.unlocked:
        return await show(page, 403, "Enter your password first.")
    view = await accounts.get_account(page.platform, page.account.sid)
    if view is None or view.secondary_auth_token is None:
        return await show(page, 400, "There is no secondary Auth Token to promote; create one first.")
    return page.render("promote.html")


async def promote(page: Page) -> Response:
    if not page.unlocked:
        return await show(page, 403, "Enter your password first.")
    if page.form.get("confirm") != "yes":
        return page.render("promote.html", status=400, error="Tick the box to confirm.")
    await accounts.promote_secondary_token(page.platform, page.account, page.actor)
    return redirect("/credentials", "promoted")
