"""The one table of Twilio error codes and the exception tree every layer raises.

    MycpaasError                 .code (ErrorCode), .status, .message
    ├── ApiError                 rendered as {"code","message","more_info","status"} by api/errors.py
    │   ├── AuthenticationFailed 20003 / 401, with a `detail` naming the row of the 401 table that applies
    │   ├── TooManyRequests      20429 / 429, with Retry-After
    │   ├── NotFound             20404 / 404
    │   ├── Unavailable          20503 / 503, with Retry-After: the database cannot be reached
    │   └── InvalidRequest       400-class validation and state errors (21211, 21606, 20009, 30400, ...)
    └── DeliveryError            a 300xx code stored on a message; never an HTTP error

Message texts follow Twilio's wording where it is known, so that code which matches on them keeps working.
Nothing here may format a secret into a message: callers pass SIDs and phone numbers only.
"""

from __future__ import annotations

from enum import IntEnum

MORE_INFO_BASE = "https://www.twilio.com/docs/errors/"


class ErrorCode(IntEnum):
    """A Twilio error code with its HTTP status and message template."""

    status: int
    template: str

    def __new__(cls, code: int, status: int, template: str) -> ErrorCode:
        obj = int.__new__(cls, code)
        obj._value_ = code
        obj.status = status
        obj.template = template
        return obj

    MISSING_PARAMETER = (20001, 400, "Missing required parameter {param} in the post body")
    INVALID_FRIENDLY_NAME = (20002, 400, "Invalid FriendlyName")
    AUTHENTICATE = (20003, 401, "Authenticate")
    METHOD_NOT_ALLOWED = (20004, 405, "Method not allowed")
    ACCOUNT_NOT_ACTIVE = (20005, 403, "Account not active")
    DELETE_IN_PROGRESS = (20009, 400, "Cannot delete this resource before it is complete")
    FORBIDDEN = (20403, 403, "{reason}")
    NOT_FOUND = (20404, 404, "The requested resource {path} was not found")
    INVALID_PARAMETER = (20422, 400, "{reason}")
    TOO_MANY_REQUESTS = (20429, 429, "Too Many Requests")
    REQUEST_TIMEOUT = (20408, 408, "Request Timeout: the request body did not arrive within {seconds} s")
    INTERNAL = (20500, 500, "Internal Server Error")
    UNAVAILABLE = (20503, 503, "Service unavailable")
    UNSUPPORTED_MEDIA_TYPE = (20415, 415, "Unsupported Media Type: request bodies must be form-encoded")
    INVALID_URL = (21502, 400, "Invalid {param}: {reason}")
    PHONE_NUMBER_INVALID = (21421, 400, "PhoneNumber {number} is invalid")
    PHONE_NUMBER_UNAVAILABLE = (21422, 400, "PhoneNumber {number} is not available")
    AREA_CODE_EXHAUSTED = (21452, 400, "No phone numbers found in area code {area_code}")
    PHONE_NUMBER_REQUIRED = (21450, 400, "A 'PhoneNumber' or 'AreaCode' parameter is required")
    REGION_NOT_ENABLED = (
        21408,
        400,
        "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}",
    )
    SUBACCOUNT_CLOSED = (
        21479,
        400,
        "Unable to update Status for subaccount, subaccount has been closed",
    )
    INVALID_PAGE_TOKEN = (21481, 400, "Invalid PageToken")
    TO_INVALID = (21211, 400, "The 'To' number {to} is not a valid phone number.")
    FROM_INVALID = (
        21212,
        400,
        "The 'From' number {from_} is not a valid phone number, shortcode, or alphanumeric sender ID.",
    )
    BODY_REQUIRED = (21602, 400, "Message body is required.")
    FROM_REQUIRED = (21603, 400, "A 'From' phone number is required.")
    TO_REQUIRED = (21604, 400, "A 'To' phone number is required.")
    FROM_NOT_OWNED = (
        21606,
        400,
        "The From phone number {from_} is not a valid, SMS-capable inbound phone number or short code "
        "for your account.",
    )
    STATUS_CALLBACK_INVALID = (21609, 400, "Invalid 'StatusCallback' ({reason})")
    TO_UNSUBSCRIBED = (21610, 400, "Attempt to send to unsubscribed recipient")
    QUEUE_FULL = (21611, 400, "This 'From' number has exceeded the maximum number of queued messages")
    TO_UNREACHABLE = (21612, 400, "The 'To' phone number: {to}, is not currently reachable via SMS.")
    TO_NOT_MOBILE = (21614, 400, "'To' number {to} is not a valid mobile number")
    BODY_TOO_LONG = (21617, 400, "The concatenated message body exceeds the 1600 character limit.")
    MEDIA_URL_INVALID = (21620, 400, "Invalid media URL(s)")
    TOO_MANY_MEDIA = (21623, 400, "Number of media files exceeds allowed limit")
    VALIDITY_PERIOD_INVALID = (21624, 400, "Invalid validity period value")
    CONTENT_SID_REQUIRED = (21654, 400, "ContentSid Required")
    MESSAGING_SERVICE_NOT_FOUND = (21701, 400, "The Messaging Service {sid} does not exist")
    NO_USABLE_SENDER = (
        21703,
        400,
        "The Messaging Service does not have a phone number available to send a message to {to}",
    )
    SERVICE_HAS_NO_SENDERS = (21704, 400, "The Messaging Service {sid} contains no phone numbers")
    MESSAGING_SERVICE_INVALID = (21705, 400, "The Messaging Service {sid} is invalid")
    NUMBER_IN_SERVICE = (21710, 400, "Phone Number {sid} is already in a Messaging Service")
    FROM_NOT_IN_SERVICE = (
        21711,
        400,
        "The 'From' {from_} is not associated to the specified Messaging Service {sid}",
    )
    UPDATE_INVALID = (30400, 400, "Parameters are not valid: {reason}")
    NOT_CANCELABLE = (30409, 400, "This message cannot be canceled")
    SEND_AT_MISSING = (35111, 400, "SendAt timestamp is missing")
    SEND_AT_NOT_SUPPORTED = (35114, 400, "Scheduling does not support this timestamp: {reason}")
    SEND_AT_TOO_FAR = (35115, 400, "Scheduling does not support this timestamp: {reason}")
    SCHEDULING_REQUIRES_SERVICE = (35118, 400, "MessagingServiceSid is required to schedule a message")

    # Delivery-time codes: stored on the message, never returned as HTTP errors.
    QUEUE_OVERFLOW = (30001, 400, "Queue overflow")
    ACCOUNT_SUSPENDED = (30002, 400, "Account suspended")
    UNREACHABLE_HANDSET = (30003, 400, "Unreachable destination handset")
    MESSAGE_BLOCKED = (30004, 400, "Message blocked")
    UNKNOWN_HANDSET = (30005, 400, "Unknown destination handset")
    LANDLINE = (30006, 400, "Landline or unreachable carrier")
    CARRIER_VIOLATION = (30007, 400, "Message filtered")
    UNKNOWN_ERROR = (30008, 400, "Unknown error")

    # Webhook codes: recorded on webhook attempts, never returned as HTTP errors.
    WEBHOOK_HTTP_FAILURE = (11200, 400, "HTTP retrieval failure")
    WEBHOOK_CONNECTION_FAILURE = (11205, 400, "HTTP connection failure")
    WEBHOOK_PROTOCOL_VIOLATION = (11206, 400, "HTTP protocol violation")
    WEBHOOK_BAD_HOST = (11210, 400, "HTTP bad host name")
    WEBHOOK_TOO_MANY_REDIRECTS = (11215, 400, "HTTP too many redirections")
    WEBHOOK_TLS_FAILURE = (11220, 400, "SSL/TLS handshake error")
    WEBHOOK_INVALID_OVERRIDE = (11243, 400, "Invalid webhook connection override")
    WEBHOOK_RESPONSE_TOO_LARGE = (11750, 400, "TwiML response body too large")
    LAML_PARSE_FAILURE = (12100, 400, "Document parse failure")
    LAML_SCHEMA_WARNING = (12200, 400, "Schema validation warning")
    LAML_BAD_CONTENT_TYPE = (12300, 400, "Invalid Content-Type")
    LAML_REPLY_LIMIT = (14109, 400, "TwiML Reply message limit exceeded")

    @property
    def more_info(self) -> str:
        return f"{MORE_INFO_BASE}{int(self)}"

    def render(self, **params: object) -> str:
        return self.template.format(**params) if params else self.template


class MycpaasError(Exception):
    """Base of every error the platform raises on purpose."""

    def __init__(self, code: ErrorCode, **params: object) -> None:
        self.code = code
        self.message = code.render(**params)
        super().__init__(self.message)

    @property
    def status(self) -> int:
        return self.code.status


class ApiError(MycpaasError):
    """An error answered to an API caller in Twilio's error shape."""

    headers: dict[str, str] = {}
    detail: str | None = None


class AuthenticationFailed(ApiError):
    """401 / 20003. `detail` says which cause of the seed's 401 table applies; it never holds a secret."""

    def __init__(self, detail: str) -> None:
        super().__init__(ErrorCode.AUTHENTICATE)
        self.detail = detail
        self.headers = {"WWW-Authenticate": 'Basic realm="mycpaas API"'}


class TooManyRequests(ApiError):
    def __init__(self, retry_after_seconds: int, detail: str) -> None:
        super().__init__(ErrorCode.TOO_MANY_REQUESTS)
        self.detail = detail
        self.headers = {"Retry-After": str(max(1, retry_after_seconds))}


class NotFound(ApiError):
    def __init__(self, path: str) -> None:
        super().__init__(ErrorCode.NOT_FOUND, path=path)


class Unavailable(ApiError):
    """503 / 20503: the database cannot be reached right now (restarting, failing over); the request may be
    sent again. Raised by storage/database.py, so that an outage is an answer, not a 500."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.UNAVAILABLE)
        self.headers = {"Retry-After": "1"}


class InvalidRequest(ApiError):
    """Any 400/403/405-class error from the table; the code decides the status."""


class DeliveryError(MycpaasError):
    """A delivery failure stored on a message as error_code/error_message."""
