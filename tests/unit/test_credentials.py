"""SecretBox and the credential generators: encryption bound to a context, keyed digests, hidden reprs."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography.exceptions import InvalidTag

from mycpaas.domain.credentials import (
    SERVER_SECRET_BYTES,
    SecretBox,
    digests_match,
    new_auth_token,
    new_key_secret,
    new_server_secret,
)

SECRET_A = bytes(range(32))
SECRET_B = bytes(range(1, 33))
ACCOUNT_1 = "AC" + "1" * 32
ACCOUNT_2 = "AC" + "2" * 32


def test_encrypt_decrypt_round_trip() -> None:
    box = SecretBox(SECRET_A)
    token = new_auth_token()
    sealed = box.encrypt(token, ACCOUNT_1)
    assert token not in sealed
    assert box.decrypt(sealed, ACCOUNT_1) == token


def test_round_trip_survives_a_new_box_from_the_same_server_secret() -> None:
    sealed = SecretBox(SECRET_A).encrypt("tökén ✓", ACCOUNT_1)
    assert SecretBox(SECRET_A).decrypt(sealed, ACCOUNT_1) == "tökén ✓"


def test_each_encryption_uses_a_fresh_nonce() -> None:
    box = SecretBox(SECRET_A)
    assert box.encrypt("same", ACCOUNT_1) != box.encrypt("same", ACCOUNT_1)


def test_decrypt_with_another_context_fails() -> None:
    box = SecretBox(SECRET_A)
    sealed = box.encrypt(new_auth_token(), ACCOUNT_1)
    with pytest.raises(InvalidTag):
        box.decrypt(sealed, ACCOUNT_2)


def test_decrypt_with_another_server_secret_fails() -> None:
    sealed = SecretBox(SECRET_A).encrypt(new_auth_token(), ACCOUNT_1)
    with pytest.raises(InvalidTag):
        SecretBox(SECRET_B).decrypt(sealed, ACCOUNT_1)


def test_tampered_ciphertext_fails() -> None:
    box = SecretBox(SECRET_A)
    raw = bytearray(base64.b64decode(box.encrypt(new_auth_token(), ACCOUNT_1)))
    raw[-1] ^= 0x01
    with pytest.raises(InvalidTag):
        box.decrypt(base64.b64encode(bytes(raw)).decode(), ACCOUNT_1)


def test_digest_is_stable_and_hex() -> None:
    token = new_auth_token()
    first = SecretBox(SECRET_A).digest(token)
    assert first == SecretBox(SECRET_A).digest(token)
    assert re.fullmatch(r"[0-9a-f]{64}", first)


def test_digest_is_keyed_by_the_server_secret() -> None:
    token = new_auth_token()
    assert SecretBox(SECRET_A).digest(token) != SecretBox(SECRET_B).digest(token)
    # ... and is not a plain hash someone could compute from a leaked token list alone.
    assert SecretBox(SECRET_A).digest(token) != hashlib.sha256(token.encode()).hexdigest()


def test_digest_tells_secrets_apart() -> None:
    box = SecretBox(SECRET_A)
    assert box.digest("a" * 32) != box.digest("a" * 31 + "b")
    assert box.digest("token") != box.digest("token ")


def test_digest_and_encryption_keys_differ() -> None:
    # Both keys derive from one server secret; they must not be the same key used twice.
    box = SecretBox(SECRET_A)
    assert box._digest_key != SECRET_A
    assert len(box._digest_key) == 32


def test_auth_tokens_are_32_lowercase_hex_and_unique() -> None:
    tokens = [new_auth_token() for _ in range(200)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", token) for token in tokens)
    assert len(set(tokens)) == len(tokens)


def test_key_secrets_are_url_safe_and_unique() -> None:
    secrets_ = [new_key_secret() for _ in range(200)]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", s) for s in secrets_)
    assert len(set(secrets_)) == len(secrets_)


def test_server_secret_size() -> None:
    assert len(new_server_secret()) == SERVER_SECRET_BYTES == 32
    assert new_server_secret() != new_server_secret()


def test_repr_hides_secrets() -> None:
    secret = new_server_secret()
    box = SecretBox(secret)
    text = repr(box) + str(box)
    assert "hidden" in repr(box)
    for shown in (secret.hex(), repr(secret), secret[:8].hex(), box._digest_key.hex()):
        assert shown not in text


def test_digests_match() -> None:
    box = SecretBox(SECRET_A)
    stored = box.digest("right")
    assert digests_match(stored, box.digest("right"))
    assert not digests_match(stored, box.digest("wrong"))
    assert not digests_match(None, box.digest("right"))
    assert not digests_match(stored, "")
