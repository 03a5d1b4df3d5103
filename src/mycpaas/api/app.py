"""The API as an ASGI application: route table, authentication, error rendering, lifespan.

Every route is served under both `/2010-04-01/...` (Twilio, and the SignalWire SDKs' default) and
`/api/laml/2010-04-01/...` (SignalWire's documented prefix); URIs in responses follow the request's prefix.
Authentication runs before routing, so an unauthenticated caller learns nothing about what exists.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mycpaas.api.credentials import parse_basic
from mycpaas.api.errors import error_response, internal_error
from mycpaas.api.http import ApiRequest, JsonResponse, MultiDict, Scope
from mycpaas.api.router import Route, match, route
from mycpaas.api.routes import accounts, keys, messages, numbers
from mycpaas.domain.sids import Prefix, is_sid
from mycpaas.errors import ApiError, ErrorCode, InvalidRequest, NotFound
from mycpaas.services.auth import Authenticator
from mycpaas.services.auth import Scope as AuthScope
from mycpaas.services.platform import Platform

log = logging.getLogger("mycpaas.api")
access_log = logging.getLogger("mycpaas.access")

LAML_PREFIX = "/api/laml"
MAX_BODY_BYTES = 1 << 20
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


def is_api_path(path: str) -> bool:
    if path.startswith(LAML_PREFIX + "/"):
        path = path[len(LAML_PREFIX) :]
    return path.startswith(("/2010-04-01", "/v1/"))


class ApiApp:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.authenticator = Authenticator(platform)
        self.access_log = platform.settings.access_log

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        request_id = "RQ" + secrets.token_hex(16)
        try:
            request = await self._read(scope, receive)
            response = await self._handle(request, scope)
        except ApiError as error:
            response = error_response(error)
        except Exception:
            log.exception("unhandled error", extra={"action": "api_unhandled", "request_id": request_id})
            response = internal_error()
        body = response.encode()
        headers = [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"twilio-request-id", request_id.encode()),
            *_CORS,
            *((k.lower().encode(), v.encode()) for k, v in response.headers.items()),
        ]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        if self.access_log:
            # The path only: query strings may carry what a careless client put there, and are not logged.
            client = (scope.get("client") or ("-", 0))[0]
            access_log.info(
                '%s "%s %s" %d %.1fms %s',
                client,
                scope["method"],
                scope["path"],
                response.status,
                (time.perf_counter() - started) * 1000,
                request_id,
            )

    async def _read(self, scope: Scope, receive: Any) -> ApiRequest:
        path: str = scope["path"]
        prefix = ""
        if path.startswith(LAML_PREFIX + "/"):
            prefix, path = LAML_PREFIX, path[len(LAML_PREFIX) :]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        body = bytearray()
        more = True
        while more:
            event = await receive()
            body += event.get("body", b"")
            more = event.get("more_body", False)
            if len(body) > MAX_BODY_BYTES:
                raise InvalidRequest(
                    ErrorCode.INVALID_PARAMETER, reason="The request body is larger than 1 MB"
                )
        client = scope.get("client") or ("unknown", 0)
        query = MultiDict.parse(scope.get("query_string", b"").decode("latin-1"))
        form = _parse_form(headers.get("content-type", ""), bytes(body))
        _reject_unstorable(query)
        _reject_unstorable(form)
        return ApiRequest(
            method=scope["method"],
            path=path,
            prefix=prefix,
            query=query,
            form=form,
            headers=headers,
            client=str(client[0]),
            scheme=scope.get("scheme", "http"),
        )

    async def _handle(self, request: ApiRequest, asgi: Scope) -> JsonResponse:
        if request.method == "OPTIONS":
            return JsonResponse(204)
        found = match(ROUTES, request.path)
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
        _reject_unstorable(params)  # a path segment may spell %00 too
        request.params = params
        return await handler(self.platform, request, principal)


def _reject_unstorable(params: MultiDict | dict[str, str]) -> None:
    """Text no database here can store is a 400 before it reaches one: U+0000 (PostgreSQL refuses it) and
    lone UTF-16 surrogates (a JSON string may spell "\\ud800"; not encodable as UTF-8, so SQLite and
    PostgreSQL both fail, and in a group commit the whole batch would be retried)."""
    for name, value in list(params.items()):
        for text in (name, value):
            if "\x00" in text:
                raise InvalidRequest(
                    ErrorCode.INVALID_PARAMETER, reason=f"Parameter {_shown(name)} contains a NUL character"
                )
            if not text.isascii():
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise InvalidRequest(
                        ErrorCode.INVALID_PARAMETER,
                        reason=f"Parameter {_shown(name)} contains a lone UTF-16 surrogate",
                    ) from None


def _shown(name: str) -> str:
    return repr(name[:64])  # repr escapes surrogates and control characters


def _parse_form(content_type: str, body: bytes) -> MultiDict:
    if not body:
        return MultiDict([])
    kind = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest(
            ErrorCode.INVALID_PARAMETER, reason="The request body is not valid UTF-8"
        ) from None
    if kind == "application/json":
        return MultiDict(_json_items(text))
    if kind in ("", "application/x-www-form-urlencoded", "text/plain"):
        return MultiDict.parse(text)
    raise InvalidRequest(ErrorCode.UNSUPPORTED_MEDIA_TYPE)


def _json_items(text: str) -> list[tuple[str, str]]:
    """A JSON object of scalars (or lists of scalars, for repeated parameters such as MediaUrl) as form items.

    json.loads raises RecursionError on deep nesting ("[[[[..." fits thousands of levels in 1 MB) and
    ValueError on anything else malformed (integers past 4,300 digits too); deeper values than a list of
    scalars are no Twilio parameter, and refusing them keeps str() from recursing through them.
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidRequest(ErrorCode.INVALID_PARAMETER, reason="The JSON body is not valid") from None
    if not isinstance(data, dict):
        raise InvalidRequest(ErrorCode.INVALID_PARAMETER, reason="The JSON body must be an object")
    items: list[tuple[str, str]] = []
    for key, value in data.items():
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, (dict, list)):
                raise InvalidRequest(
                    ErrorCode.INVALID_PARAMETER,
                    reason=f"Parameter {_shown(key)} must be a string, number, boolean or a list of them",
                )
            items.append((key, "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)))
    return items
