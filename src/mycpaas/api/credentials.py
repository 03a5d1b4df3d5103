"""Reading HTTP Basic credentials, with an error for each way the header can be wrong."""

from __future__ import annotations

import base64
import binascii

from mycpaas.api.http import ApiRequest
from mycpaas.domain.audit import Actor
from mycpaas.errors import AuthenticationFailed
from mycpaas.services.auth import Principal


def parse_basic(header: str | None) -> tuple[str, str]:
    if not header:
        raise AuthenticationFailed(
            "No Authorization header was sent. Authenticate with HTTP Basic auth: your Account SID as the "
            "username and your Auth Token as the password (curl -u AccountSid:AuthToken)."
        )
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise AuthenticationFailed(
            "The Authorization header must use the Basic scheme: 'Basic ' followed by the Base64 encoding "
            "of AccountSid:AuthToken."
        )
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise AuthenticationFailed(
            "The Authorization header is not valid Base64. Encode AccountSid:AuthToken (with the colon) in "
            "Base64, or let your HTTP client do it (curl -u AccountSid:AuthToken)."
        ) from None
    if ":" not in decoded:
        raise AuthenticationFailed(
            "The decoded credentials have no colon between the Account SID and the Auth Token; encode "
            "AccountSid:AuthToken including the colon separator."
        )
    username, _, password = decoded.partition(":")
    return username.strip(), password


def api_actor(request: ApiRequest, principal: Principal) -> Actor:
    """The audit log's name for an API caller: the credential used (an SID, never a secret)."""
    credential = principal.key.sid if principal.key else principal.account.sid
    return Actor(f"api:{credential}", request.client)
