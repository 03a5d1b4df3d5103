"""Secrets: generating them, keeping them encrypted or digested at rest, and checking them in constant time.

Auth Tokens must be readable again (webhooks are signed with them), so they are stored encrypted with AES-GCM.
Requests are checked against a keyed digest (HMAC-SHA256 under a server key), which is one fast, indexed
comparison: the tokens carry 128 bits of entropy, so a slow KDF would buy nothing but latency. API key secrets
are never needed again after creation and are stored as the same keyed digest only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SERVER_SECRET_BYTES = 32


def new_auth_token() -> str:
    return secrets.token_hex(16)


def new_key_secret() -> str:
    return secrets.token_urlsafe(24)


def new_server_secret() -> bytes:
    return secrets.token_bytes(SERVER_SECRET_BYTES)


def _derive(server_secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(server_secret)


class SecretBox:
    """Encrypts tokens at rest and computes the lookup digests, from one server secret."""

    def __init__(self, server_secret: bytes) -> None:
        self._aead = AESGCM(_derive(server_secret, b"mycpaas token encryption v1"))
        self._digest_key = _derive(server_secret, b"mycpaas credential digest v1")

    def __repr__(self) -> str:
        return "SecretBox(<hidden>)"

    def digest(self, secret: str) -> str:
        return hmac.new(self._digest_key, secret.encode("utf-8"), hashlib.sha256).hexdigest()

    def encrypt(self, secret: str, context: str) -> str:
        """Encrypt `secret`, bound to `context` (e.g. the account SID) so rows cannot be swapped."""
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, secret.encode("utf-8"), context.encode("utf-8"))
        return base64.b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, sealed: str, context: str) -> str:
        raw = base64.b64decode(sealed)
        return self._aead.decrypt(raw[:12], raw[12:], context.encode("utf-8")).decode("utf-8")


def digests_match(expected: str | None, presented: str) -> bool:
    if expected is None:
        return False
    return hmac.compare_digest(expected, presented)


@dataclass(slots=True, frozen=True)
class CredentialUse:
    """When a credential last authenticated a request and from which client address: what a user checks before
    promoting a token away or revoking a key. About a minute late at most (services/credential_uses.py)."""

    used_at: datetime
    used_from: str
