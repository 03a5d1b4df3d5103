"""/2010-04-01/Accounts (subaccounts) and the Accounts v1 AuthTokens rotation endpoints."""

from __future__ import annotations

from datetime import datetime

from mycpaas.api.credentials import api_actor
from mycpaas.api.http import ApiRequest, JsonResponse
from mycpaas.api.paging import envelope, page_params
from mycpaas.api.serializers import account_json, base_uri
from mycpaas.domain.accounts import AccountStatus
from mycpaas.domain.clock import as_utc
from mycpaas.errors import ErrorCode, InvalidRequest
from mycpaas.services import accounts
from mycpaas.services.auth import Principal
from mycpaas.services.platform import Platform


async def create(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    view = await accounts.create_subaccount(platform, principal.account, request.form.get("FriendlyName"))
    return JsonResponse(201, account_json(view.account, view.auth_token, request.prefix))


async def list_(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    params = page_params(request.query)
    status = request.query.get("Status")
    if status is not None and status not in {s.value for s in AccountStatus}:
        raise InvalidRequest(ErrorCode.INVALID_PARAMETER, reason="Status must be active, suspended or closed")
    views = await accounts.list_accounts(
        platform, principal.account, request.query.get("FriendlyName"), status
    )
    start = params.page * params.page_size
    page = views[start : start + params.page_size]
    more = len(views) > start + params.page_size
    echoed = [(k, request.query[k]) for k in ("FriendlyName", "Status") if request.query.get(k)]
    return JsonResponse(
        200,
        envelope(
            "accounts",
            [account_json(v.account, v.auth_token, request.prefix) for v in page],
            f"{base_uri(request.prefix)}/Accounts.json",
            echoed,
            params,
            f"PA{page[-1].account.sid}" if more and page else None,
            None,
        ),
    )


async def fetch(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    view = await accounts.get_account(platform, principal.target.sid)
    assert view is not None
    return JsonResponse(200, account_json(view.account, view.auth_token, request.prefix))


async def update(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    view = await accounts.update_account(
        platform,
        principal.account,
        principal.target,
        request.form.get("FriendlyName"),
        request.form.get("Status"),
        api_actor(request, principal),
    )
    return JsonResponse(200, account_json(view.account, view.auth_token, request.prefix))


def _iso(value: object) -> str | None:
    if not isinstance(value, datetime):
        return None
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _v1_url(request: ApiRequest, path: str) -> str:
    host = request.headers.get("host", "localhost")
    return f"{request.scheme}://{host}{request.prefix}/v1/AuthTokens/{path}"


async def create_secondary(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    view = await accounts.create_secondary_token(platform, principal.account, api_actor(request, principal))
    return JsonResponse(
        201,
        {
            "account_sid": view.account.sid,
            "date_created": _iso(view.secondary_created_at),
            "date_updated": _iso(view.secondary_created_at),
            "secondary_auth_token": view.secondary_auth_token,
            "url": _v1_url(request, "Secondary"),
        },
    )


async def delete_secondary(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    await accounts.delete_secondary_token(
        platform, principal.account, "/AuthTokens/Secondary", api_actor(request, principal)
    )
    return JsonResponse(204)


async def promote(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    view = await accounts.promote_secondary_token(platform, principal.account, api_actor(request, principal))
    return JsonResponse(
        200,
        {
            "account_sid": view.account.sid,
            "auth_token": view.auth_token,
            "date_created": _iso(view.account.created_at),
            "date_updated": _iso(view.account.token_rotated_at),
            "url": _v1_url(request, "Promote"),
        },
    )
