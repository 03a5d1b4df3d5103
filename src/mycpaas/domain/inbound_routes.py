"""Where an inbound message's webhook goes: the number's own SmsUrl, or its Messaging Service's URLs.

Twilio's rule (the Messaging v1 Service resource): a number in a service's pool is answered by the service's
`inbound_request_url` / `fallback_url`, unless the service has `use_inbound_webhook_on_number`, in which case
the number's own SmsUrl / SmsFallbackUrl apply. A service with neither has inbound webhooks disabled: Twilio
then does not even log the message; mycpaas keeps it (nothing is lost) and calls no URL.
"""

from __future__ import annotations

from dataclasses import dataclass

from mycpaas.domain.messaging_services import MessagingService
from mycpaas.domain.numbers import IncomingNumber


@dataclass(frozen=True, slots=True)
class InboundRoute:
    url: str
    method: str
    fallback_url: str
    fallback_method: str


def inbound_route(number: IncomingNumber, service: MessagingService | None) -> InboundRoute | None:
    """The URLs to call for a message to `number` (in `service`'s pool, or in none); None: no webhook."""
    if service is None or service.use_inbound_webhook_on_number:
        if not number.sms_url:
            return None
        return InboundRoute(
            number.sms_url, number.sms_method, number.sms_fallback_url, number.sms_fallback_method
        )
    if not service.inbound_request_url:
        return None
    return InboundRoute(
        service.inbound_request_url,
        service.inbound_method,
        service.fallback_url or "",
        service.fallback_method,
    )
