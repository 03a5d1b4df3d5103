"""Domain records -> Twilio JSON: every field of the spec's schema, with its exact JSON type.

URIs follow the prefix the request came in on (`/2010-04-01/...` or `/api/laml/2010-04-01/...`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mycpaas.domain.accounts import Account, ApiKey
from mycpaas.domain.clock import rfc2822
from mycpaas.domain.messages import Message
from mycpaas.domain.numbers import IncomingNumber
from mycpaas.domain.webhooks import WebhookAttempt

API_VERSION = "2010-04-01"


def _date(value: datetime | None) -> str | None:
    return rfc2822(value) if value is not None else None


def base_uri(prefix: str) -> str:
    return f"{prefix}/{API_VERSION}"


def message_json(message: Message, prefix: str, feedback: bool = True) -> dict[str, Any]:
    account_uri = f"{base_uri(prefix)}/Accounts/{message.account_sid}"
    message_uri = f"{account_uri}/Messages/{message.sid}"
    subresources = {"media": f"{message_uri}/Media.json"}
    if feedback:
        subresources["feedback"] = f"{message_uri}/Feedback.json"
    created = _date(message.created_at)  # a new message's date_updated too
    return {
        "account_sid": message.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": created,
        "date_sent": _date(message.sent_at),
        "date_updated": created if message.updated_at == message.created_at else _date(message.updated_at),
        "direction": message.direction.value,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "from": message.from_number,
        "messaging_service_sid": message.messaging_service_sid,
        "num_media": str(message.num_media),
        "num_segments": str(message.num_segments),
        "price": message.price,
        "price_unit": message.price_unit,
        "sid": message.sid,
        "status": message.status.value,
        "subresource_uris": subresources,
        "to": message.to_number,
        "uri": f"{message_uri}.json",
    }


_ACCOUNT_SUBRESOURCES = {
    "messages": "Messages",
    "incoming_phone_numbers": "IncomingPhoneNumbers",
    "keys": "Keys",
}
_UNSUPPORTED_SUBRESOURCES = (
    "available_phone_numbers",
    "calls",
    "conferences",
    "notifications",
    "outgoing_caller_ids",
    "recordings",
    "transcriptions",
    "addresses",
    "signing_keys",
    "connect_apps",
    "sip",
    "authorized_connect_apps",
    "usage",
    "applications",
    "short_codes",
    "queues",
    "balance",
)


def account_json(account: Account, auth_token: str, prefix: str) -> dict[str, Any]:
    account_uri = f"{base_uri(prefix)}/Accounts/{account.sid}"
    subresources: dict[str, str | None] = {name: None for name in _UNSUPPORTED_SUBRESOURCES}
    subresources.update({key: f"{account_uri}/{name}.json" for key, name in _ACCOUNT_SUBRESOURCES.items()})
    return {
        "auth_token": auth_token,
        "date_created": _date(account.created_at),
        "date_updated": _date(account.updated_at),
        "friendly_name": account.friendly_name,
        "owner_account_sid": account.owner_account_sid,
        "sid": account.sid,
        "status": account.status.value,
        "subresource_uris": subresources,
        "type": account.type.value,
        "uri": f"{account_uri}.json",
    }


def key_json(key: ApiKey, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sid": key.sid,
        "friendly_name": key.friendly_name,
        "date_created": _date(key.created_at),
        "date_updated": _date(key.updated_at),
    }
    if secret is not None:
        body["secret"] = secret
    return body


def number_json(number: IncomingNumber, prefix: str, typed: bool = True) -> dict[str, Any]:
    """An IncomingPhoneNumber. `typed=False` for the Local, Mobile and TollFree lists, whose resources have no
    `type` in Twilio's schema. Applications do not exist here: their SIDs are "", as
    Twilio answers for a number without one (the spec's pattern would want null)."""
    body: dict[str, Any] = {
        "account_sid": number.account_sid,
        "address_requirements": "none",
        "address_sid": None,
        "api_version": API_VERSION,
        "beta": False,
        "bundle_sid": None,
        "capabilities": {"voice": False, "sms": True, "mms": False, "fax": False},
        "date_created": _date(number.created_at),
        "date_updated": _date(number.updated_at),
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "emergency_status": "Inactive",
        "friendly_name": number.friendly_name,
        "identity_sid": None,
        "origin": "hosted",
        "phone_number": number.phone_number,
        "sid": number.sid,
        "sms_application_sid": "",
        "sms_fallback_method": number.sms_fallback_method,
        "sms_fallback_url": number.sms_fallback_url,
        "sms_method": number.sms_method,
        "sms_url": number.sms_url,
        "status": "in-use",
        "status_callback": number.status_callback,
        "status_callback_method": number.status_callback_method,
        "trunk_sid": None,
        "type": "local",
        "uri": f"{base_uri(prefix)}/Accounts/{number.account_sid}/IncomingPhoneNumbers/{number.sid}.json",
        "voice_application_sid": "",
        "voice_caller_id_lookup": number.voice_caller_id_lookup,
        "voice_fallback_method": number.voice_fallback_method,
        "voice_fallback_url": number.voice_fallback_url,
        "voice_method": number.voice_method,
        "voice_receive_mode": "voice",
        "voice_url": number.voice_url,
    }
    if not typed:
        del body["type"]
    return body


def webhook_attempt_json(attempt: WebhookAttempt, prefix: str) -> dict[str, Any]:
    """A mycpaas extension (docs/webhooks.md): one request to a customer URL, or a decision not to send."""
    message_uri = f"{base_uri(prefix)}/Accounts/{attempt.account_sid}/Messages/{attempt.message_sid}"
    return {
        "sid": attempt.sid,
        "account_sid": attempt.account_sid,
        "message_sid": attempt.message_sid,
        "event": attempt.kind.value.removeprefix("webhook."),
        "message_status": attempt.message_status or None,
        "idempotency_token": attempt.idempotency_token,
        "attempt": attempt.attempt,
        "outcome": attempt.outcome.value,
        "request_method": attempt.request_method,
        "request_url": attempt.request_url or None,
        "response_status": attempt.response_status,
        "duration_ms": attempt.duration_ms,
        "error_code": attempt.error_code,
        "error_message": attempt.error_message,
        "response_excerpt": attempt.response_excerpt,
        "redelivery_of": attempt.redelivery_of,
        "date_created": _date(attempt.created_at),
        "uri": f"{message_uri}/WebhookAttempts.json",
    }
