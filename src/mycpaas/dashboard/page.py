"""What a dashboard handler receives: the request, the signed-in user, the account in view, the form."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mycpaas.domain.accounts import Account
from mycpaas.domain.audit import Actor
from mycpaas.domain.clock import as_utc, utcnow
from mycpaas.domain.failures import masked_url
from mycpaas.domain.users import Session
from mycpaas.errors import AuthenticationFailed, TooManyRequests
from mycpaas.services import users
from mycpaas.services.platform import Platform
from mycpaas.services.users import SignInThrottle

TEMPLATES = Path(__file__).parent / "templates"

# Notices shown after a redirect, chosen by a short code in the query string (never free text, never a secret).
NOTICES = {
    "unlocked": "Password confirmed. For the next few minutes you can reveal and rotate credentials.",
    "secondary-created": "Secondary Auth Token created. Both tokens work until you promote or delete it.",
    "secondary-deleted": "Secondary Auth Token deleted; it no longer works.",
    "promoted": "The secondary token is now the primary Auth Token. The old token no longer works.",
    "key-renamed": "API key renamed.",
    "key-revoked": "API key revoked; it no longer works.",
    "subaccount-created": "Subaccount created.",
    "subaccount-renamed": "Subaccount renamed.",
    "subaccount-status": "Subaccount status changed.",
    "switched": "Switched account.",
    "number-added": "Phone number added.",
    "number-saved": "Phone number configuration saved.",
    "number-released": "Phone number released.",
    "message-sent": "Test message accepted and queued.",
    "message-canceled": "Scheduled message canceled; it will not be sent.",
    "message-not-cancelable": "This message is no longer scheduled, so it cannot be canceled.",
    "service-created": "Messaging Service created. Add numbers to its pool below.",
    "service-saved": "Messaging Service settings saved.",
    "service-number-added": "Number added to the pool.",
    "service-number-removed": "Number removed from the pool; it stays in the account.",
    "service-alpha-added": "Alpha sender added.",
    "service-alpha-removed": "Alpha sender removed.",
    "carrier-added": "Carrier connector added. Running servers bind it within a second or two.",
    "carrier-saved": "Carrier connector saved. Running servers bind again with the new settings.",
    "carrier-enabled": "Carrier connector enabled. Running servers bind it within a second or two.",
    "carrier-disabled": "Carrier connector disabled. Running servers unbind it; it routes nothing now.",
    "carrier-removed": "Carrier connector removed. Running servers unbind it.",
    "redelivery-queued": "Redelivery queued: it goes out under the same idempotency token and appears below.",
}


def _date(value: datetime | None) -> str:
    return as_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def build_templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["date"] = _date
    env.filters["masked_url"] = masked_url
    return env


@dataclass(slots=True)
class Page:
    request: Request
    platform: Platform
    templates: Environment
    session: Session
    account: Account  # in view: the user's account or one of its subaccounts
    main: Account  # the user's own account
    form: dict[str, str]
    csrf: str
    throttle: SignInThrottle

    @property
    def unlocked(self) -> bool:
        """Whether the password was re-entered recently enough to reveal or rotate credentials."""
        return self.session.unlocked(utcnow())

    async def reenter_password(self) -> tuple[int, str] | None:
        """Check the form's `password` and open the password window; on failure, the status and reason."""
        try:
            await users.unlock(
                self.platform,
                self.throttle,
                self.session,
                self.form.get("password", ""),
                client_address(self.request),
            )
        except TooManyRequests as error:
            return 429, error.detail or ""
        except AuthenticationFailed as error:
            return 401, error.detail or ""
        return None

    @property
    def actor(self) -> Actor:
        return Actor(self.session.user.email, client_address(self.request))

    def param(self, name: str) -> str:
        return str(self.request.path_params.get(name, ""))

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        notice = NOTICES.get(self.request.query_params.get("notice", ""), "")
        html = self.templates.get_template(template).render(
            page=self,
            user=self.session.user,
            account=self.account,
            main=self.main,
            csrf=self.csrf,
            notice=notice,
            path=self.request.url.path,
            **context,
        )
        return HTMLResponse(html, status_code=status)


Handler = Callable[[Page], Awaitable[Response]]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def redirect(path: str, notice: str = "", **query: str) -> RedirectResponse:
    """303 See Other after a post, so reloading the page does not post again."""
    params = {k: v for k, v in {"notice": notice, **query}.items() if v}
    return RedirectResponse(path + ("?" + urlencode(params) if params else ""), status_code=303)
