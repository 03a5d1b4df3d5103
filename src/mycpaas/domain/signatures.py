"""Webhook signatures, as Twilio computes them, so the official validators accept ours unchanged.

X-Twilio-Signature = base64(HMAC-SHA1(primary Auth Token, URL + every parameter name and value, sorted by
name)). For GET the parameters are already in the URL and nothing is appended. The #fragment is never signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str] | None = None) -> str:
    payload = url + "".join(name + (params or {})[name] for name in sorted(params or {}))
    mac = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")
