"""The carrier connectors, for platform administrators only: each with the live state of its binds; add,
change, disable, enable and remove them.

The same use cases as `mycpaas carriers` (services/carriers.py), so one validation judges both and every change
raises the CARRIERS change signal: running servers bind, rebind or unbind within a second, without a restart.
The SMPP password is write-only: never rendered back, and a blank password field on the edit form keeps it.
The app (dashboard/app.py) answers 404 for these pages to anyone who is not an administrator.
"""

from __future__ import annotations

import logging

from starlette.responses import Response

from mycpaas.dashboard.page import Page, redirect
from mycpaas.domain.carriers import BIND_TYPES, Coding, Concatenation, Connector, fields_from_text
from mycpaas.errors import NotFound
from mycpaas.services import carrier_status, carriers

log = logging.getLogger("mycpaas.dashboard")

# What the form offers for each choice, with the defaults of a new connector.
CHOICES = {
    "bind_type": BIND_TYPES,
    "coding": tuple(c.value for c in Coding),
    "concatenation": tuple(c.value for c in Concatenation),
}
DEFAULTS = Connector("", "", 2775, "", "")

_REFUSED = (carriers.InvalidConnector, carriers.CarrierExists, carriers.CarrierPasswordUnreadable)


def _logged(page: Page, what: str, name: str) -> None:
    """Who changed the platform's carriers, for the operator (the audit log is per account)."""
    actor = page.actor
    log.info(
        "carrier connector %s %s by %s from %s",
        name,
        what,
        actor.name,
        actor.address,
        extra={"action": f"carrier_{what}"},
    )


async def show(page: Page, status: int = 200, **context: object) -> Response:
    return page.render(
        "carriers.html",
        status=status,
        statuses=await carrier_status.statuses(page.platform),
        choices=CHOICES,
        defaults=DEFAULTS,
        **context,
    )


async def add(page: Page) -> Response:
    form = page.form
    name = form.get("name", "").strip()
    try:
        fields = fields_from_text(form)
        connector = Connector(
            name=name,
            password=form.get("password", ""),
            enabled=form.get("enabled") == "on",
            **{"host": "", "port": 0, "system_id": "", **fields},
        )
        await carriers.add(page.platform, connector)
    except _REFUSED as error:
        return await show(page, 400, error=str(error), form=_without_password(form))
    _logged(page, "added", name)
    return redirect(f"/carriers/{name}", "carrier-added")


async def _status(page: Page) -> carrier_status.ConnectorStatus:
    found = await carrier_status.status(page.platform, page.param("name"))
    if found is None:
        raise NotFound(page.request.url.path)
    return found


async def edit(page: Page, status: int = 200, **context: object) -> Response:
    return page.render("carrier.html", status=status, state=await _status(page), choices=CHOICES, **context)


async def save(page: Page) -> Response:
    state = await _status(page)
    name = state.connector.name
    try:
        changes = fields_from_text(page.form)
        if page.form.get("password"):  # blank keeps the stored password
            changes["password"] = page.form["password"]
        await carriers.update(page.platform, name, **changes)
    except carriers.CarrierNotFound:
        raise NotFound(page.request.url.path) from None
    except _REFUSED as error:
        return await edit(page, 400, error=str(error), form=_without_password(page.form))
    _logged(page, "changed", name)
    return redirect(f"/carriers/{name}", "carrier-saved")


async def switch(page: Page) -> Response:
    """Enable or disable (the form's `enabled`: "yes" or "no")."""
    state = await _status(page)
    enabled = page.form.get("enabled") == "yes"
    try:
        await carriers.update(page.platform, state.connector.name, enabled=enabled)
    except carriers.CarrierNotFound:
        raise NotFound(page.request.url.path) from None
    _logged(page, "enabled" if enabled else "disabled", state.connector.name)
    return redirect(f"/carriers/{state.connector.name}", "carrier-enabled" if enabled else "carrier-disabled")


async def remove(page: Page) -> Response:
    """Remove; while messages sent through it await their receipts, only with the form's `force` ticked."""
    state = await _status(page)
    try:
        removed = await carriers.remove(
            page.platform, state.connector.name, force=page.form.get("force") == "on"
        )
    except carriers.CarrierInFlight as refused:
        return await edit(page, 409, error=f"{refused}.", in_flight=refused.in_flight)
    if removed is None:
        raise NotFound(page.request.url.path)
    _logged(page, "removed", state.connector.name)
    return redirect("/carriers", "carrier-removed")


def _without_password(form: dict[str, str]) -> dict[str, str]:
    """The form as sent, to fill it in again after an error: never the password."""
    return {k: v for k, v in form.items() if k != "password"}
