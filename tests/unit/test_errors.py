"""The ErrorCode table: unique codes, allowed statuses, templates that format, the error envelope's parts."""

from __future__ import annotations

import string
from urllib.parse import urlsplit

import pytest

from mycpaas.errors import (
    ApiError,
    AuthenticationFailed,
    DeliveryError,
    ErrorCode,
    InvalidRequest,
    MycpaasError,
    NotFound,
    TooManyRequests,
)

ALLOWED_STATUSES = {400, 401, 403, 404, 405, 408, 415, 429, 500, 503}


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def test_no_code_is_an_alias_of_another() -> None:
    # An IntEnum member with a value already taken silently becomes an alias: it is in __members__ but not
    # iterated, so a duplicated code would answer with another entry's status and text.
    assert len(ErrorCode) == len(ErrorCode.__members__)
    aliases = {name: member.name for name, member in ErrorCode.__members__.items() if name != member.name}
    assert aliases == {}


def test_codes_are_unique_five_digit_twilio_codes() -> None:
    codes = [int(code) for code in ErrorCode]
    assert len(codes) == len(set(codes))
    assert all(10000 <= code <= 99999 for code in codes)


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda c: c.name)
def test_status_is_an_allowed_http_status(code: ErrorCode) -> None:
    assert isinstance(code.status, int)
    assert code.status in ALLOWED_STATUSES


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda c: c.name)
def test_template_formats_with_the_placeholders_it_names(code: ErrorCode) -> None:
    names = placeholders(code.template)
    assert all(name.isidentifier() for name in names), names  # no positional or attribute fields
    values = {name: f"<{name}-value>" for name in names}
    rendered = code.render(**values)
    assert "{" not in rendered and "}" not in rendered
    for value in values.values():
        assert value in rendered
    assert rendered.strip() == rendered and rendered


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda c: c.name)
def test_more_info_points_at_the_code(code: ErrorCode) -> None:
    parts = urlsplit(code.more_info)
    assert parts.scheme == "https"
    assert parts.netloc
    assert parts.path.rstrip("/").rsplit("/", 1)[-1] == str(int(code))
    assert not parts.query and not parts.fragment


@pytest.mark.parametrize(
    ("code", "status", "params", "message"),
    [
        # Texts marked [OBS] in API.md §3.2: verbatim from captured Twilio responses.
        (ErrorCode.AUTHENTICATE, 401, {}, "Authenticate"),
        (ErrorCode.TOO_MANY_REQUESTS, 429, {}, "Too Many Requests"),
        (
            ErrorCode.NOT_FOUND,
            404,
            {"path": "/2010-04-01/Accounts/AC1/Messages/SM1.json"},
            "The requested resource /2010-04-01/Accounts/AC1/Messages/SM1.json was not found",
        ),
        (ErrorCode.TO_INVALID, 400, {"to": "+1555"}, "The 'To' number +1555 is not a valid phone number."),
        (
            ErrorCode.FROM_INVALID,
            400,
            {"from_": "+1555"},
            "The 'From' number +1555 is not a valid phone number, shortcode, or alphanumeric sender ID.",
        ),
        (ErrorCode.BODY_REQUIRED, 400, {}, "Message body is required."),
        (ErrorCode.FROM_REQUIRED, 400, {}, "A 'From' phone number is required."),
        (ErrorCode.TO_REQUIRED, 400, {}, "A 'To' phone number is required."),
        (
            ErrorCode.FROM_NOT_OWNED,
            400,
            {"from_": "+15551234567"},
            "The From phone number +15551234567 is not a valid, SMS-capable inbound phone number or short "
            "code for your account.",
        ),
        (ErrorCode.TO_UNSUBSCRIBED, 400, {}, "Attempt to send to unsubscribed recipient"),
        (ErrorCode.METHOD_NOT_ALLOWED, 405, {}, "Method not allowed"),
        (ErrorCode.INTERNAL, 500, {}, "Internal Server Error"),
    ],
    ids=lambda v: v.name if isinstance(v, ErrorCode) else None,
)
def test_twilio_wire_texts(code: ErrorCode, status: int, params: dict[str, str], message: str) -> None:
    assert code.status == status
    assert code.render(**params) == message


def test_twilio_numbers_of_well_known_codes() -> None:
    assert (int(ErrorCode.AUTHENTICATE), int(ErrorCode.NOT_FOUND), int(ErrorCode.TOO_MANY_REQUESTS)) == (
        20003,
        20404,
        20429,
    )
    assert int(ErrorCode.TO_INVALID) == 21211 and int(ErrorCode.BODY_TOO_LONG) == 21617
    assert int(ErrorCode.UNKNOWN_ERROR) == 30008


def test_error_carries_code_status_and_rendered_message() -> None:
    error = InvalidRequest(ErrorCode.TO_INVALID, to="+1555")
    assert isinstance(error, ApiError) and isinstance(error, MycpaasError)
    assert error.code is ErrorCode.TO_INVALID
    assert error.status == 400
    assert error.message == str(error) == "The 'To' number +1555 is not a valid phone number."
    assert error.headers == {}


def test_authentication_failed_is_401_with_a_basic_challenge() -> None:
    error = AuthenticationFailed("no such account")
    assert (error.code, error.status, error.message) == (ErrorCode.AUTHENTICATE, 401, "Authenticate")
    assert error.detail == "no such account"
    assert error.headers["WWW-Authenticate"].startswith("Basic ")
    assert ApiError.headers == {}  # the class-level default is not mutated by an instance


@pytest.mark.parametrize(("seconds", "header"), [(30, "30"), (1, "1"), (0, "1"), (-5, "1")])
def test_too_many_requests_retry_after_is_at_least_one_second(seconds: int, header: str) -> None:
    error = TooManyRequests(seconds, "slow down")
    assert error.status == 429
    assert error.headers == {"Retry-After": header}


def test_not_found_names_the_path() -> None:
    error = NotFound("/2010-04-01/Accounts/AC1.json")
    assert error.status == 404
    assert error.message == "The requested resource /2010-04-01/Accounts/AC1.json was not found"


def test_delivery_error_is_not_an_api_error() -> None:
    error = DeliveryError(ErrorCode.UNREACHABLE_HANDSET)
    assert not isinstance(error, ApiError)
    assert error.message == "Unreachable destination handset"
