"""X-Twilio-Signature: our signer must produce exactly what Twilio's own validators accept."""

from __future__ import annotations

import random

import pytest
from twilio.request_validator import RequestValidator

from mycpaas.domain.signatures import twilio_signature

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
URL_WITH_PORT = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
# Characters that trip up naive implementations: form-encoding specials, non-ASCII, astral, empty.
ALPHABET = "abcXYZ019 +&=?%#/é日本😀\u00a0\t"


def random_params(rng: random.Random) -> dict[str, str]:
    names = {"".join(rng.choices("AaBbZz_09é", k=rng.randint(1, 6))) for _ in range(rng.randint(1, 8))}
    return {name: "".join(rng.choices(ALPHABET, k=rng.randint(0, 12))) for name in names}


@pytest.mark.parametrize(
    ("url", "expected"),
    [(URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="), (URL_WITH_PORT, "kvajT1Ptam85bY51eRf/AJRuM3w=")],
)
def test_twilio_python_vectors(url: str, expected: str) -> None:
    """The vectors from twilio-python's test suite pin the exact algorithm, port included."""
    assert twilio_signature(TOKEN, url, PARAMS) == expected


def test_parameter_order_does_not_matter() -> None:
    """Parameters are signed sorted by name, whatever order the caller's dict has."""
    reordered = dict(reversed(list(PARAMS.items())))
    assert twilio_signature(TOKEN, URL, reordered) == twilio_signature(TOKEN, URL, PARAMS)


def test_none_and_empty_params_sign_the_url_alone() -> None:
    """A GET signs only its URL; None and {} must mean the same thing."""
    assert twilio_signature(TOKEN, URL) == twilio_signature(TOKEN, URL, {})


@pytest.mark.parametrize("seed", range(50))
def test_official_validator_accepts_random_params(seed: int) -> None:
    """Twilio's RequestValidator accepts our signature for arbitrary (unicode, empty, +, &) values."""
    rng = random.Random(seed)
    params = random_params(rng)
    url = rng.choice([URL, "https://example.com/sms", "http://example.com:8080/a/b?x=%20y&z=+"])
    signature = twilio_signature(TOKEN, url, params)
    validator = RequestValidator(TOKEN)
    assert validator.validate(url, params, signature)
    name = rng.choice(sorted(params))
    assert not validator.validate(url, {**params, name: params[name] + "x"}, signature)
    assert not RequestValidator("54321").validate(url, params, signature)


def test_get_signature_validates_with_empty_params() -> None:
    """For GET the parameters are in the query string, so the receiver validates (url, {}, sig)."""
    url = "https://example.com/sms?MessageSid=SM1&Body=hello+w%C3%B6rld&From=%2B14155550100"
    signature = twilio_signature(TOKEN, url)
    assert RequestValidator(TOKEN).validate(url, {}, signature)
    assert not RequestValidator(TOKEN).validate(url.replace("SM1", "SM2"), {}, signature)
