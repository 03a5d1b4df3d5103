"""The API as an ASGI application: route table, authentication, error rendering, lifespan.

Every route is served under both `/2010-04-01/...` (Twilio, and the SignalWire SDKs' default) and
`/api/laml/2010-04-01/...` (SignalWire's documented prefix); URIs in responses follow the request's prefix.
Authentication runs before routing, so an unauthenticated caller learns nothing about what exists, and before
a byte of the body is read (api/body.py), so that a refused caller costs next to nothing.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mycpaas.api import body
from mycpaas.api.credentials import parse_basic
from mycpaas.api.errors import error_response, internal_error
from mycpaas.api.http import ApiRequest, JsonResponse, MultiDict, Scope
from mycpaas.api.router import Route, match, route
from mycpaas.api.routes import accounts, keys, messages, messaging_services, numbers
from mycpaas.domain.sids import Prefix, is_sid, random_hex32
from mycpaas.errors import ApiError, ErrorCode, InvalidRequest, NotFound
from mycpaas.services.auth import Authenticator
from mycpaas.services.auth import Scope as AuthScope
from mycpaas.services.platform import Platform

log = logging.getLogger("mycpaas.api")
access_log = logging.getLogger("mycpaas.access")

LAML_PREFIX = "/api/laml"
ADMIN = AuthScope.ACCOUNT_ADMIN
_ACCOUNT = "/2010-04-01/Accounts/{account_sid}"

ROUTES: list[Route] = [
    route("/2010-04-01/Accounts", {"GET": accounts.list_, "POST": accounts.create}, ADMIN),
    route(_ACCOUNT, {"GET": accounts.fetch, "POST": accounts.update}, ADMIN),
    route(f"{_ACCOUNT}/Messages", {"GET": messages.list_, "POST": messages.create}),
    route(f"{_ACCOUNT}/Messages/{{message_sid}}/Media", {"GET": messages.list_media}),
    route(f"{_ACCOUNT}/Messages/{{message_sid}}/WebhookAttempts", {"GET": messages.list_webhook_attempts}),
    route(
        f"{_ACCOUNT}/Messages/{{sid}}",
        {"GET": messages.fetch, "POST": messages.update, "DELETE": messages.delete},
    ),
    route(f"{_ACCOUNT}/IncomingPhoneNumbers", {"GET": numbers.list_, "POST": numbers.create}),
    route(
        f"{_ACCOUNT}/IncomingPhoneNumbers/{{number_type}}",
        {"GET": numbers.list_, "POST": numbers.create},
        number_type="Local|Mobile|TollFree",
    ),
    route(
        f"{_ACCOUNT}/IncomingPhoneNumbers/{{sid}}",
        {"GET": numbers.fetch, "POST": numbers.update, "DELETE": numbers.delete},
    ),
    route(f"{_ACCOUNT}/Keys", {"GET": keys.list_, "POST": keys.create}, ADMIN),
    route(f"{_ACCOUNT}/Keys/{{sid}}", {"GET": keys.fetch, "POST": keys.update, "DELETE": keys.delete}, ADMIN),
    route(
        "/v1/AuthTokens/Secondary",
        {"POST": accounts.create_secondary, "DELETE": accounts.delete_secondary},
        ADMIN,
    ),
    route("/v1/AuthTokens/Promote", {"POST": accounts.promote}, ADMIN),
    # Messaging v1: scoped to the credentials' own account. Sub-resources not listed (ShortCodes, ChannelSenders,
    # DestinationAlphaSenders, Compliance) match no route and answer 404 in the error shape.
    route("/v1/Services", {"GET": messaging_services.list_, "POST": messaging_services.create}),
    route(
        "/v1/Services/{service_sid}",
        {
            "GET": messaging_services.fetch,
            "POST": messaging_services.update,
            "DELETE": messaging_services.delete,
        },
    ),
    route(
        "/v1/Services/{service_sid}/PhoneNumbers",
        {"GET": messaging_services.list_numbers, "POST": messaging_services.add_number},
    ),
    route(
        "/v1/Services/{service_sid}/PhoneNumbers/{sid}",
        {"GET": messaging_services.fetch_number, "DELETE": messaging_services.remove_number},
    ),
    route(
        "/v1/Services/{service_sid}/AlphaSenders",
        {"GET": messaging_services.list_alpha_senders, "POST": messaging_services.add_alpha_sender},
    ),
    route(
        "/v1/Services/{service_sid}/AlphaSenders/{sid}",
        {"GET": messaging_services.fetch_alpha_sender, "DELETE": messaging_services.remove_alpha_sender},
    ),
]

_ACCOUNT_IN_PATH = re.compile(r"^/2010-04-01/Accounts/([^/.]+)")

_CORS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
    (b"access-control-allow-headers", b"Authorization, Content-Type"),
]

ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[dict[str, Any]]], Callable[[dict[str, Any]], Awaitable[None]]],
    Awaitable[None],
]


# The route each path matched, kept: a path matches the same route with the same parameters every time, and
# matching is the regexes of the routes before it (2.7 us for a create's path, 0.2 from here; timeit,
# 2026-12-07, issue 15). Emptied when full, so paths with every SID cannot grow it without bound; small, because
# the paths that repeat are few (an account's list and create paths) while a fetch's path names one SID, and 4,096
# such entries held 0.77 MB (tracemalloc) of the memory target's 10%.
_MATCHED: dict[str, tuple[Route, dict[str, str]] | None] = {}
_MATCHED_MAX = 256


def _match(path: str) -> tuple[Route, dict[str, str]] | None:
    try:
        found = _MATCHED[path]
    except KeyError:
        if len(_MATCHED) >= _MATCHED_MAX:
            _MATCHED.clear()
        found = _MATCHED[path] = match(ROUTES, path)
    return (found[0], dict(found[1])) if found else None  # the parameters are the request's own


def _access_line_sink() -> Callable[[str, str], bool] | None:
    """The one handler's `hold_info` (server.TurnBufferedHandler's, under `serve`) when an access record would
    reach that handler alone and unchanged: the logger enabled for INFO, no filter on it, no handler on the way
    to the root, the default record factory, the root with that one handler. Otherwise None, and the line goes
    through logging: a handler, filter, level or format configured by the user keeps working.
    """
    logger = access_log
    if logger.disabled or logger.filters or not logger.isEnabledFor(logging.INFO):
        return None
    if logging.getLogRecordFactory() is not logging.LogRecord:
        return None
    while logger.parent is not None:
        if logger.handlers or not logger.propagate:
            return None
        logger = logger.parent
    handlers = logger.handlers
    if len(handlers) != 1:
        return None
    return getattr(handlers[0], "hold_info", None)


def is_api_path(path: str) -> bool:
    if path.startswith(LAML_PREFIX + "/"):
        path = path[len(LAML_PREFIX) :]
    return path.startswith(("/2010-04-01", "/v1/"))


class ApiApp:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.authenticator = Authenticator(platform)
        self.access_log = platform.settings.logs_access

    async def close(self) -> None:
        """Finish the write of credentials' last uses under way (services/credential_uses.py)."""
        await self.authenticator.uses.close()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        request_id = "RQ" + random_hex32()
        try:
            response = await self._handle(self._head(scope), scope, receive)
        except ApiError as error:
            response = error_response(error)
        except Exception:
            log.exception("unhandled error", extra={"action": "api_unhandled", "request_id": request_id})
            response = internal_error()
        payload = response.encode()
        headers = [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-length", str(len(payload)).encode()),
            (b"twilio-request-id", request_id.encode()),
            *_CORS,
        ]
        if response.headers:
            headers += [(k.lower().encode(), v.encode()) for k, v in response.headers.items()]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        if self.access_log:
            # The path only: query strings may carry what a careless client put there, and are not logged.
            client = (scope.get("client") or ("-", 0))[0]
            elapsed = (time.perf_counter() - started) * 1000
            hold = _access_line_sink()
            if hold is None or not hold(
                "mycpaas.access",
                f'{client!s} "{scope["method"]!s} {scope["path"]!s}" {response.status:d} {elapsed:.1f}ms {request_id}',
            ):
                access_log.info(
                    '%s "%s %s" %d %.1fms %s',
                    client,
                    scope["method"],
                    scope["path"],
                    response.status,
                    elapsed,
                    request_id,
                )

    def _head(self, scope: Scope) -> ApiRequest:
        """The request as far as the path and headers tell; its parameters are read once it is authorized."""
        path: str = scope["path"]
        prefix = ""
        if path.startswith(LAML_PREFIX + "/"):
            prefix, path = LAML_PREFIX, path[len(LAML_PREFIX) :]
        client = scope.get("client") or ("unknown", 0)
        return ApiRequest(
            method=scope["method"],
            path=path,
            prefix=prefix,
            query=MultiDict([]),
            form=MultiDict([]),
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            client=str(client[0]),
            scheme=scope.get("scheme", "http"),
        )

    async def _handle(self, request: ApiRequest, asgi: Scope, receive: Any) -> JsonResponse:
        """Route, authenticate (and throttle) from the path and headers alone; only then read the body.

        Every refusal up to the body's read (401, 429, 403, 404, 405, 415, a declared length past the limit)
        leaves the body unread: a caller without credentials costs the header parse and one account lookup.
        """
        if request.method == "OPTIONS":
            return JsonResponse(204)
        found = _match(request.path)
        params = found[1] if found else {}
        # The account in the path is checked even where no route matches, so that another account's
        # credentials get 401 on any path under it, and learn nothing about what exists there.
        account_in_path = _ACCOUNT_IN_PATH.match(request.path)
        path_account = account_in_path[1] if account_in_path else None
        if path_account is not None and not is_sid(path_account, Prefix.ACCOUNT):
            path_account = None
            found = None
        asgi["route"] = found[0] if found else None  # the route's template labels the request's metrics
        username, password = parse_basic(request.headers.get("authorization"))
        scope = found[0].scope if found else AuthScope.RESOURCES
        principal = await self.authenticator.authenticate(
            username, password, path_account, request.client, scope
        )
        if found is None:
            raise NotFound(request.full_path)
        handler = found[0].methods.get(request.method)
        if handler is None:
            raise InvalidRequest(ErrorCode.METHOD_NOT_ALLOWED)
        body.check_declared(request.headers)
        request.query = body.parse_query(asgi.get("query_string", b""))
        request.form = body.parse_body(
            request.headers, await body.read(receive), body.MAX_PARAMETERS - len(request.query.items())
        )
        for given in (request.query, request.form, params):  # a path segment may spell %00 too
            body.reject_unstorable(given)
        request.params = params
        return await handler(self.platform, request, principal)
