"""Messaging v1 records -> JSON: every field of the spec's Service, PhoneNumber and AlphaSender schemas.

v1 resources carry absolute URLs (`url`, `links`) under the request's own scheme, host and prefix, and ISO 8601
dates, unlike the 2010-04-01 API's relative URIs and RFC 2822 dates.
"""

from __future__ import annotations

from typing import Any

from mycpaas.api.http import ApiRequest
from mycpaas.domain.addresses import region_of
from mycpaas.domain.clock import iso8601
from mycpaas.domain.messaging_services import AlphaSender, MessagingService, PoolNumber

# Sub-resources Twilio links from a service; only phone_numbers and alpha_senders are served (the rest answer 404).
_LINKS = {
    "phone_numbers": "PhoneNumbers",
    "short_codes": "ShortCodes",
    "alpha_senders": "AlphaSenders",
    "messages": "Messages",
    "us_app_to_person": "Compliance/Usa2p",
    "us_app_to_person_usecases": "Compliance/Usa2p/Usecases",
    "channel_senders": "ChannelSenders",
    "destination_alpha_senders": "DestinationAlphaSenders",
}


def services_url(request: ApiRequest) -> str:
    """The absolute URL of /v1/Services as this request reached it."""
    host = request.headers.get("host", "localhost")
    return f"{request.scheme}://{host}{request.prefix}/v1/Services"


def service_json(service: MessagingService, request: ApiRequest) -> dict[str, Any]:
    url = f"{services_url(request)}/{service.sid}"
    return {
        "sid": service.sid,
        "account_sid": service.account_sid,
        "friendly_name": service.friendly_name,
        "date_created": iso8601(service.created_at),
        "date_updated": iso8601(service.updated_at),
        "inbound_request_url": service.inbound_request_url,
        "inbound_method": service.inbound_method,
        "fallback_url": service.fallback_url,
        "fallback_method": service.fallback_method,
        "status_callback": service.status_callback,
        "sticky_sender": service.sticky_sender,
        "mms_converter": service.mms_converter,
        "smart_encoding": service.smart_encoding,
        "scan_message_content": service.scan_message_content,
        "fallback_to_long_code": service.fallback_to_long_code,
        "area_code_geomatch": service.area_code_geomatch,
        "synchronous_validation": service.synchronous_validation,
        "validity_period": service.validity_period,
        "url": url,
        "links": {key: f"{url}/{path}" for key, path in _LINKS.items()},
        "usecase": service.usecase,
        "us_app_to_person_registered": False,
        "use_inbound_webhook_on_number": service.use_inbound_webhook_on_number,
    }


def pool_number_json(number: PoolNumber, request: ApiRequest) -> dict[str, Any]:
    return {
        "sid": number.sid,
        "account_sid": number.account_sid,
        "service_sid": number.service_sid,
        "date_created": iso8601(number.created_at),
        "date_updated": iso8601(number.created_at),
        "phone_number": number.phone_number,
        "country_code": region_of(number.phone_number) or None,
        "capabilities": ["SMS"],
        "url": f"{services_url(request)}/{number.service_sid}/PhoneNumbers/{number.sid}",
    }


def alpha_sender_json(alpha: AlphaSender, request: ApiRequest) -> dict[str, Any]:
    return {
        "sid": alpha.sid,
        "account_sid": alpha.account_sid,
        "service_sid": alpha.service_sid,
        "date_created": iso8601(alpha.created_at),
        "date_updated": iso8601(alpha.created_at),
        "alpha_sender": alpha.alpha_sender,
        "capabilities": ["SMS"],
        "url": f"{services_url(request)}/{alpha.service_sid}/AlphaSenders/{alpha.sid}",
    }
