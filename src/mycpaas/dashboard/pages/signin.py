"""Signing in and out, and the first user's set-up through the one-time link printed at first start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from mycpaas.dashboard import cookies
from mycpaas.dashboard.page import Page, client_address, redirect
from mycpaas.errors import AuthenticationFailed, InvalidRequest, TooManyRequests
from mycpaas.services import users

if TYPE_CHECKING:
    from mycpaas.dashboard.app import DashboardApp


def _safe_next(value: str) -> str:
    """Only a path on this server: never `//evil.example` or an absolute URL (no open redirect)."""
    if (
        value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and value.isprintable()
        and len(value) <= 2048
    ):
        return value
    return "/"


def _anonymous_form(
    app: DashboardApp, request: Request, template: str, status: int = 200, **context: object
) -> Response:
    """Render a pre-sign-in form with a CSRF token bound to a pre-session cookie (set if missing)."""
    anonymous = cookies.read(request, cookies.ANONYMOUS) or cookies.new_anonymous_id()
    html = app.templates.get_template(template).render(
        csrf=cookies.csrf_token(app.platform.secrets, anonymous), **context
    )
    response = HTMLResponse(html, status_code=status)
    cookies.write(response, request, cookies.ANONYMOUS, anonymous, max_age=3600)
    return response


async def sign_in_form(app: DashboardApp, request: Request, form: dict[str, str]) -> Response:
    if await users.load_session(app.platform, cookies.read(request, cookies.SESSION)):
        return redirect(_safe_next(request.query_params.get("next", "/")))
    return _anonymous_form(
        app, request, "sign_in.html", next=_safe_next(request.query_params.get("next", "/")), email=""
    )


async def sign_in(app: DashboardApp, request: Request, form: dict[str, str]) -> Response:
    email, next_path = form.get("email", ""), _safe_next(form.get("next", "/"))
    try:
        session_id, session = await users.sign_in(
            app.platform, app.throttle, email, form.get("password", ""), client_address(request)
        )
    except (AuthenticationFailed, TooManyRequests) as error:
        status = 429 if isinstance(error, TooManyRequests) else 401
        message = error.detail
        return _anonymous_form(
            app, request, "sign_in.html", status=status, error=message, next=next_path, email=email[:254]
        )
    # A new identifier at every sign-in: a session fixed before sign-in is never carried over.
    old = await users.load_session(app.platform, cookies.read(request, cookies.SESSION))
    if old is not None:
        await users.sign_out(app.platform, old)
    response = redirect(next_path)
    max_age = int(app.platform.settings.dashboard_session_seconds)
    cookies.write(response, request, cookies.SESSION, session_id, max_age=max_age)
    cookies.clear(response, request, cookies.ANONYMOUS)
    return response


async def sign_out(page: Page) -> Response:
    await users.sign_out(page.platform, page.session)
    response = redirect("/sign-in")
    cookies.clear(response, page.request, cookies.SESSION)
    return response


async def setup_form(app: DashboardApp, request: Request, form: dict[str, str]) -> Response:
    # The code travels in the link's #fragment, which browsers never send: a small script copies it into
    # the form; without scripts, the user pastes it.
    return _anonymous_form(app, request, "setup.html", email="")


async def setup(app: DashboardApp, request: Request, form: dict[str, str]) -> Response:
    email = form.get("email", "")
    if form.get("password", "") != form.get("password_again", ""):
        return _anonymous_form(
            app, request, "setup.html", status=400, error="The two passwords differ.", email=email[:254]
        )
    try:
        await users.redeem_setup_code(
            app.platform,
            app.throttle,
            form.get("code", "").strip(),
            email,
            form.get("password", ""),
            client_address(request),
        )
    except (AuthenticationFailed, TooManyRequests) as error:
        status = 429 if isinstance(error, TooManyRequests) else 401
        return _anonymous_form(
            app, request, "setup.html", status=status, error=error.detail, email=email[:254]
        )
    except InvalidRequest as error:
        return _anonymous_form(app, request, "setup.html", status=400, error=error.message, email=email[:254])
    return await sign_in(app, request, form)
