"""/v1/Services (Twilio's Messaging v1 API): services, their PhoneNumbers and AlphaSenders.

Account-scoped by the credentials, as the v1 APIs are: an Auth Token or API key sees its own account's services
only; another account's service (a parent's subaccount's too) is a 404, as if it did not exist.
"""

from __future__ import annotations

from mycpaas.api.http import ApiRequest, JsonResponse
from mycpaas.api.paging import keyset_after, page_params, v1_envelope
from mycpaas.api.service_serializers import alpha_sender_json, pool_number_json, service_json, services_url
from mycpaas.domain.messaging_services import AlphaSender, MessagingService, PoolNumber
from mycpaas.errors import NotFound
from mycpaas.services import messaging_services as services
from mycpaas.services.auth import Principal
from mycpaas.services.platform import Platform


async def _service(platform: Platform, request: ApiRequest, principal: Principal) -> MessagingService:
    service = await services.get_service(platform, principal.target, request.params["service_sid"])
    if service is None:
        raise NotFound(request.full_path)
    return service


async def create(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    service = await services.create_service(platform, principal.target, dict(request.form.items()))
    return JsonResponse(201, service_json(service, request))


async def list_(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    params = page_params(request.query)
    found = await services.list_services(
        platform, principal.target, keyset_after(params), params.page_size + 1
    )
    page = found[: params.page_size]
    more = f"PA{page[-1].sid}" if len(found) > params.page_size else None
    records = [service_json(s, request) for s in page]
    return JsonResponse(200, v1_envelope("services", records, services_url(request), params, more))


async def fetch(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    return JsonResponse(200, service_json(await _service(platform, request, principal), request))


async def update(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    service = await _service(platform, request, principal)
    updated = await services.update_service(platform, service, dict(request.form.items()))
    return JsonResponse(200, service_json(updated, request))


async def delete(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    if not await services.delete_service(platform, await _service(platform, request, principal)):
        raise NotFound(request.full_path)  # deleted meanwhile
    return JsonResponse(204)


async def add_number(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    service = await _service(platform, request, principal)
    added = await services.add_number(platform, service, request.form.get("PhoneNumberSid") or "")
    return JsonResponse(201, pool_number_json(added, request))


async def list_numbers(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    service = await _service(platform, request, principal)
    params = page_params(request.query)
    found = await services.list_pool_numbers(platform, service, keyset_after(params), params.page_size + 1)
    page = found[: params.page_size]
    more = f"PA{page[-1].sid}" if len(found) > params.page_size else None
    records = [pool_number_json(n, request) for n in page]
    list_url = f"{services_url(request)}/{service.sid}/PhoneNumbers"
    return JsonResponse(200, v1_envelope("phone_numbers", records, list_url, params, more))


async def _number(platform: Platform, request: ApiRequest, principal: Principal) -> PoolNumber:
    service = await _service(platform, request, principal)
    number = await services.get_pool_number(platform, service, request.params["sid"])
    if number is None:
        raise NotFound(request.full_path)
    return number


async def fetch_number(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    return JsonResponse(200, pool_number_json(await _number(platform, request, principal), request))


async def remove_number(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    await services.remove_number(platform, await _number(platform, request, principal))
    return JsonResponse(204)


async def add_alpha_sender(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    service = await _service(platform, request, principal)
    alpha = await services.add_alpha_sender(platform, service, request.form.get("AlphaSender"))
    return JsonResponse(201, alpha_sender_json(alpha, request))


async def list_alpha_senders(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    service = await _service(platform, request, principal)
    params = page_params(request.query)
    alpha = await services.get_alpha_sender(platform, service)
    records = [alpha_sender_json(alpha, request)] if alpha and params.page == 0 else []
    list_url = f"{services_url(request)}/{service.sid}/AlphaSenders"
    return JsonResponse(200, v1_envelope("alpha_senders", records, list_url, params, None))


async def _alpha(platform: Platform, request: ApiRequest, principal: Principal) -> AlphaSender:
    alpha = await services.get_alpha_sender(platform, await _service(platform, request, principal))
    if alpha is None or alpha.sid != request.params["sid"]:
        raise NotFound(request.full_path)
    return alpha


async def fetch_alpha_sender(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    return JsonResponse(200, alpha_sender_json(await _alpha(platform, request, principal), request))


async def remove_alpha_sender(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    await services.remove_alpha_sender(platform, await _alpha(platform, request, principal))
    return JsonResponse(204)
