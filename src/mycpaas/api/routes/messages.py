"""/2010-04-01/Accounts/{AccountSid}/Messages: create, list, fetch, update (redact, cancel), delete."""

from __future__ import annotations

from mycpaas.api import forms
from mycpaas.api.http import ApiRequest, JsonResponse
from mycpaas.api.paging import envelope, page_params
from mycpaas.api.serializers import base_uri, message_json, webhook_attempt_json
from mycpaas.domain.messages import Message
from mycpaas.errors import NotFound
from mycpaas.services import messaging, webhooks
from mycpaas.services.auth import Principal
from mycpaas.services.platform import Platform


async def create(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    form = request.form
    send = messaging.SendRequest(
        to=form.get("To"),
        from_=form.get("From"),
        messaging_service_sid=form.get("MessagingServiceSid") or None,
        body=form.get("Body"),
        media_urls=form.getlist("MediaUrl"),
        status_callback=form.get("StatusCallback") or None,
        validity_period=form.get("ValidityPeriod"),
        smart_encoded=forms.boolean(form, "SmartEncoded"),
        schedule_type=form.get("ScheduleType") or None,
        send_at=form.get("SendAt") or None,
        content_sid=form.get("ContentSid") or None,
        content_variables=form.get("ContentVariables") or None,
    )
    message = await messaging.send_message(platform, principal.target, send)
    return JsonResponse(201, message_json(message, request.prefix, feedback=False))


async def list_(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    params = page_params(request.query)
    where, echoed = forms.message_filter(request.query)
    found = await messaging.list_messages(
        platform,
        principal.target,
        messaging.ListQuery(where, params.page_size + 1, params.page_token),
    )
    has_more = len(found) > params.page_size
    page = found[: params.page_size]
    if params.page_token and params.page_token.startswith("PB"):
        # Walking back: the extra row, if any, lies beyond the *newest* end of the page.
        page = found[-params.page_size :]
        has_more = True
    records = [message_json(m, request.prefix) for m in page]
    list_uri = f"{base_uri(request.prefix)}/Accounts/{principal.target.sid}/Messages.json"
    return JsonResponse(
        200,
        envelope(
            "messages",
            records,
            list_uri,
            echoed,
            params,
            next_token=f"PA{page[-1].sid}" if has_more and page else None,
            previous_token=f"PB{page[0].sid}" if page else None,
        ),
    )


async def _find(platform: Platform, request: ApiRequest, principal: Principal) -> Message:
    message = await messaging.get_message(platform, principal.target, request.params["sid"])
    if message is None:
        raise NotFound(request.full_path)
    return message


async def fetch(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    return JsonResponse(200, message_json(await _find(platform, request, principal), request.prefix))


async def update(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    message = await _find(platform, request, principal)
    updated = await messaging.update_message(
        platform, message, request.form.get("Body"), request.form.get("Status")
    )
    return JsonResponse(200, message_json(updated, request.prefix))


async def delete(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    await messaging.delete_message(platform, await _find(platform, request, principal))
    return JsonResponse(204)


async def list_media(platform: Platform, request: ApiRequest, principal: Principal) -> JsonResponse:
    """Media are not stored yet: the list is empty, but the message must exist."""
    request.params["sid"] = request.params["message_sid"]
    message = await _find(platform, request, principal)
    params = page_params(request.query)
    list_uri = f"{base_uri(request.prefix)}/Accounts/{message.account_sid}/Messages/{message.sid}/Media.json"
    return JsonResponse(200, envelope("media_list", [], list_uri, [], params, None, None))


async def list_webhook_attempts(
    platform: Platform, request: ApiRequest, principal: Principal
) -> JsonResponse:
    """Every webhook attempt for the message, oldest first (a mycpaas extension, docs/webhooks.md)."""
    request.params["sid"] = request.params["message_sid"]
    message = await _find(platform, request, principal)
    params = page_params(request.query)
    found = await webhooks.list_attempts(platform, message, params.page_size + 1, params.page_token)
    page = found[: params.page_size]
    next_token = f"PA{page[-1].sid}" if len(found) > params.page_size else None
    list_uri = f"{base_uri(request.prefix)}/Accounts/{message.account_sid}/Messages/{message.sid}/WebhookAttempts.json"
    records = [webhook_attempt_json(attempt, request.prefix) for attempt in page]
    return JsonResponse(200, envelope("webhook_attempts", records, list_uri, [], params, next_token, None))
