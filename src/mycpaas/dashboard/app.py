"""The dashboard's ASGI app: routing, sessions, CSRF checks and security headers around the page handlers.

Every page handler gets a `Page` only after the session was found, the account in view was checked to be the
user's own account or one of its subaccounts, and (for a POST) the CSRF token and the Origin matched. Handlers
call the same services as the API; nothing here speaks HTTP to the API.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from jinja2 import Environment
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from mycpaas.dashboard import cookies
from mycpaas.dashboard.forms import FormInvalid, FormTooLarge, check_query, read_form
from mycpaas.dashboard.page import Handler, Page, build_templates, redirect
from mycpaas.dashboard.pages import (
    carriers,
    credentials,
    debugger,
    home,
    keys,
    messages,
    messaging_services,
    numbers,
    signin,
    subaccounts,
)
from mycpaas.domain.accounts import Account
from mycpaas.domain.users import Session
from mycpaas.errors import MycpaasError, NotFound
from mycpaas.services import accounts, users
from mycpaas.services.platform import Platform

log = logging.getLogger("mycpaas.dashboard")

# Every page and form behind sign-in: (method, path, handler). Tests walk this table (cross-account matrix).
PAGES: list[tuple[str, str, Handler]] = [
    ("GET", "/", home.show),
    ("GET", "/credentials", credentials.show),
    ("POST", "/credentials/unlock", credentials.unlock),
    ("POST", "/credentials/secondary", credentials.create_secondary),
    ("POST", "/credentials/secondary/delete", credentials.delete_secondary),
    ("GET", "/credentials/promote", credentials.confirm_promote),
    ("POST", "/credentials/promote", credentials.promote),
    ("GET", "/keys", keys.show),
    ("POST", "/keys", keys.create),
    ("POST", "/keys/{sid}/rename", keys.rename),
    ("POST", "/keys/{sid}/revoke", keys.revoke),
    ("GET", "/subaccounts", subaccounts.show),
    ("POST", "/subaccounts", subaccounts.create),
    ("POST", "/subaccounts/{sid}/rename", subaccounts.rename),
    ("POST", "/subaccounts/{sid}/status", subaccounts.change_status),
    ("POST", "/switch", subaccounts.switch),
    ("GET", "/numbers", numbers.show),
    ("POST", "/numbers", numbers.add),
    ("GET", "/numbers/{sid}", numbers.edit),
    ("POST", "/numbers/{sid}", numbers.save),
    ("POST", "/numbers/{sid}/release", numbers.release),
    ("GET", "/services", messaging_services.show),
    ("POST", "/services", messaging_services.create),
    ("GET", "/services/{sid}", messaging_services.edit),
    ("POST", "/services/{sid}", messaging_services.save),
    ("POST", "/services/{sid}/senders", messaging_services.change_senders),
    ("GET", "/messages", messages.show),
    ("GET", "/messages.csv", messages.export),
    ("GET", "/messages/new", messages.new),
    ("POST", "/messages/new", messages.send),
    ("GET", "/messages/{sid}", messages.detail),
    ("POST", "/messages/{sid}/cancel", messages.cancel),
    ("GET", "/debugger", debugger.show),
    ("GET", "/debugger/attempts/{sid}", debugger.attempt),
    ("POST", "/debugger/attempts/{sid}/redeliver", debugger.redeliver),
    ("POST", "/sign-out", signin.sign_out),
]

# Pages of what belongs to no account, for platform administrators only (anyone else gets a 404 before the
# form is read): (method, path, handler), as PAGES.
ADMIN_PAGES: list[tuple[str, str, Handler]] = [
    ("GET", "/carriers", carriers.show),
    ("POST", "/carriers", carriers.add),
    ("GET", "/carriers/{name}", carriers.edit),
    ("POST", "/carriers/{name}", carriers.save),
    ("POST", "/carriers/{name}/enabled", carriers.switch),
    ("POST", "/carriers/{name}/remove", carriers.remove),
]

_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": _CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
_PAGE_HEADERS = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]
_STATIC_HEADERS = [(name, value) for name, value in _PAGE_HEADERS if name != b"cache-control"]


class DashboardApp:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.templates: Environment = build_templates()
        self.throttle = users.new_throttle(platform)
        routes: list[Route | Mount] = [
            Mount("/static", _Static(self), name="static"),
            Route("/sign-in", self._public(signin.sign_in_form), methods=["GET"]),
            Route("/sign-in", self._public(signin.sign_in), methods=["POST"]),
            Route("/setup", self._public(signin.setup_form), methods=["GET"]),
            Route("/setup", self._public(signin.setup), methods=["POST"]),
        ]
        for method, path, handler in PAGES:
            routes.append(Route(path, self._private(handler), methods=[method]))
        for method, path, handler in ADMIN_PAGES:
            routes.append(Route(path, self._private(handler, admin=True), methods=[method]))
        self.router = Router(routes, default=self._not_found)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Every response gets the security headers, whoever made it (pages, errors, Starlette's 405s, static
        files); static files keep their own caching."""
        extra = _STATIC_HEADERS if scope.get("path", "").startswith("/static/") else _PAGE_HEADERS

        async def send_secured(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((name, value) for name, value in extra if name not in present),
                ]
            await send(message)

        await self.router(scope, receive, send_secured)

    async def _not_found(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = self.error_page(404, "Page not found", "There is no page at this address.")
        await response(scope, receive, send)

    def error_page(self, status: int, title: str, message: str) -> Response:
        html = self.templates.get_template("error.html").render(title=title, message=message)
        return HTMLResponse(html, status_code=status)

    async def _checked_form(self, request: Request, csrf_cookie: str) -> dict[str, str] | Response:
        """The posted form, or the error page when it is too large or its CSRF token or Origin do not match."""
        try:
            check_query(request)
            form = await read_form(request)
        except FormTooLarge:
            return self.error_page(413, "Form too large", "The form sent was too large.")
        except FormInvalid as error:
            return self.error_page(400, "Form not accepted", str(error))
        if request.method == "POST" and not (
            _same_origin(request, self.platform.settings.public_url)
            and cookies.csrf_matches(self.platform.secrets, csrf_cookie, form.get("csrf_token", ""))
        ):
            return self.error_page(
                403,
                "Form expired",
                "The form was not accepted (missing or stale security token). Reload the page and try again.",
            )
        return form

    def _public(self, handler: Callable[[DashboardApp, Request, dict[str, str]], Awaitable[Response]]) -> Any:
        async def endpoint(request: Request) -> Response:
            form = await self._checked_form(request, cookies.read(request, cookies.ANONYMOUS))
            if isinstance(form, Response):
                return form
            try:
                return await handler(self, request, form)
            except Exception:
                log.exception("dashboard page failed", extra={"action": "dashboard_unhandled"})
                return self.error_page(500, "Something went wrong", "The page failed; the error was logged.")

        return endpoint

    def _private(self, handler: Handler, admin: bool = False) -> Any:
        async def endpoint(request: Request) -> Response:
            session_id = cookies.read(request, cookies.SESSION)
            session = await users.load_session(self.platform, session_id)
            if session is None:
                if request.method in ("GET", "HEAD"):
                    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return redirect("/sign-in", next=wanted)
                return self.error_page(403, "Signed out", "Your session ended. Sign in again.")
            if admin and not session.user.is_admin:  # not even told that the page exists
                return self.error_page(404, "Page not found", "There is no page at this address.")
            form = await self._checked_form(request, session_id)
            if isinstance(form, Response):
                return form
            csrf = cookies.csrf_token(self.platform.secrets, session_id)
            main, in_view = await self._accounts(session)
            page = Page(
                request, self.platform, self.templates, session, in_view, main, form, csrf, self.throttle
            )
            try:
                return await handler(page)
            except NotFound:
                return self.error_page(404, "Not found", "There is no such item in this account.")
            except MycpaasError as error:
                return self.error_page(error.status, "Not possible", error.message)
            except Exception:
                log.exception("dashboard page failed", extra={"action": "dashboard_unhandled"})
                return self.error_page(500, "Something went wrong", "The page failed; the error was logged.")

        return endpoint

    async def _accounts(self, session: Session) -> tuple[Account, Account]:
        """The user's account and the one in view; a subaccount closed since it was chosen falls back."""
        main = await accounts.find_account(self.platform, session.user.account_sid)
        assert main is not None  # users reference their account by foreign key
        if session.account_sid == main.sid:
            return main, main
        sub = await accounts.find_account(self.platform, session.account_sid)
        if sub is None or not users.viewable(sub, session.user):
            session.account_sid = main.sid
            return main, main
        return main, sub


def _same_origin(request: Request, public_url: str) -> bool:
    """A browser's Origin header, when sent, must name this server (a second line of defence after CSRF):
    the scheme and Host it was reached by, or the configured public URL (behind a reverse proxy)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if public_url and origin == "/".join(public_url.split("/")[:3]):
        return True
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


class _Static(StaticFiles):
    """The dashboard's static files. Starlette's StaticFiles raises HTTPException for a missing file (404)
    and for any method but GET/HEAD (405), expecting an ExceptionMiddleware that a bare Router does not
    have: unanswered, each became a 500. Here they are the dashboard's error page, with Allow on a 405."""

    def __init__(self, dashboard: DashboardApp) -> None:
        super().__init__(packages=[("mycpaas.dashboard", "static")])
        self.dashboard = dashboard

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            return await super().get_response(path, scope)
        except HTTPException as error:
            if error.status_code == 405:
                response = self.dashboard.error_page(405, "Method not allowed", "Static files are only read.")
            else:
                response = self.dashboard.error_page(
                    404, "Page not found", "There is no page at this address."
                )
            response.headers.update(error.headers or {})
            return response
