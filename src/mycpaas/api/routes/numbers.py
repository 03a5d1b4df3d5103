"""/2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers: create, list, fetch, update, release."""

from __future__ import annotations

from mycpaas.api.http import ApiRequest, JsonResponse
from mycpaas.api.paging import envelope, page_params
from mycpaas.api.serializers import base_uri, number_json
from mycpaas.domain.numbers import IncomingNumber
from mycpaas.errors import ErrorCode, InvalidRequest, NotFound
from mycpaas.services import numbers
from mycpaas.services.auth import Principal
from mycpaas.services.platform import Platform


def _params(request: ApiRequest) -> dict[str, str]:
    return dict(request.form.items())


def _typed(request: ApiRequest) -> bool:
    """Resources under /IncomingPhoneNumbers/Local (Mobile, TollFree) have no `type` in Twilio's schema."""
    return "number_type" not in request.params


async def create(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    number = await numbers.create_number(platform, principal.target, _params(request))
    return JsonResponse(201, number_json(number, request.prefix, _typed(request)))


async def list_(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    params = page_params(request.query)
    after = None
    if params.page_token:
        if not params.page_token.startswith("PA"):
            raise InvalidRequest(ErrorCode.INVALID_PAGE_TOKEN)
        after = params.page_token[2:]
    found = await numbers.list_numbers(
        platform,
        principal.target,
        request.query.get("FriendlyName"),
        request.query.get("PhoneNumber"),
        after,
        params.page_size + 1,
    )
    page = found[: params.page_size]
    echoed = [(k, request.query[k]) for k in ("FriendlyName", "PhoneNumber") if request.query.get(k)]
    list_uri = f"{base_uri(request.prefix)}/Accounts/{principal.target.sid}/IncomingPhoneNumbers.json"
    return JsonResponse(
        200,
        envelope(
            "incoming_phone_numbers",
            [number_json(n, request.prefix, _typed(request)) for n in page],
            list_uri,
            echoed,
            params,
            f"PA{page[-1].sid}" if len(found) > params.page_size else None,
            None,
        ),
    )


async def _find(platform: Platform, request: ApiRequest, principal: Principal) -> IncomingNumber:
    number = await numbers.get_number(platform, principal.target, request.params["sid"])
    if number is None:
        raise NotFound(request.full_path)
    return number


async def fetch(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    return JsonResponse(200, number_json(await _find(platform, request, principal), request.prefix))


async def update(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    number = await _find(platform, request, principal)
    updated = await numbers.update_number(platform, principal.account, number, _params(request))
    return JsonResponse(200, number_json(updated, request.prefix))


async def delete(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    await numbers.release_number(platform, await _find(platform, request, principal))
    return JsonResponse(204)
