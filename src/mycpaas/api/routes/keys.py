"""/2010-04-01/Accounts/{AccountSid}/Keys: API keys; the secret appears only in the create response."""

from __future__ import annotations

from mycpaas.api.credentials import api_actor
from mycpaas.api.http import ApiRequest, JsonResponse
from mycpaas.api.paging import envelope, page_params
from mycpaas.api.serializers import base_uri, key_json
from mycpaas.domain.accounts import ApiKey
from mycpaas.errors import NotFound
from mycpaas.services import keys
from mycpaas.services.auth import Principal
from mycpaas.services.platform import Platform


async def create(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    key, secret = await keys.create_key(
        platform, principal.target, request.form.get("FriendlyName"), api_actor(request, principal)
    )
    return JsonResponse(201, key_json(key, secret))


async def list_(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    params = page_params(request.query)
    found = await keys.list_keys(platform, principal.target)
    page = found[params.page * params.page_size : (params.page + 1) * params.page_size]
    more = len(found) > (params.page + 1) * params.page_size
    list_uri = f"{base_uri(request.prefix)}/Accounts/{principal.target.sid}/Keys.json"
    return JsonResponse(
        200,
        envelope(
            "keys",
            [key_json(k) for k in page],
            list_uri,
            [],
            params,
            f"PA{page[-1].sid}" if more and page else None,
            None,
        ),
    )


async def _find(platform: Platform, request: ApiRequest, principal: Principal) -> ApiKey:
    key = await keys.get_key(platform, principal.target, request.params["sid"])
    if key is None:
        raise NotFound(request.full_path)
    return key


async def fetch(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    return JsonResponse(200, key_json(await _find(platform, request, principal)))


async def update(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    key = await _find(platform, request, principal)
    name = request.form.get("FriendlyName")
    if name is not None:
        key = await keys.rename_key(platform, key, name)
    return JsonResponse(200, key_json(key))


async def delete(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    await keys.revoke_key(platform, await _find(platform, request, principal), api_actor(request, principal))
    return JsonResponse(204)
