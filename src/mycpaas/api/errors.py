"""The only renderer of errors: ApiError -> Twilio's {"code", "message", "more_info", "status"} shape."""

from __future__ import annotations

from mycpaas.api.http import JsonResponse
from mycpaas.errors import ApiError, ErrorCode


def error_response(error: ApiError) -> JsonResponse:
    body: dict[str, object] = {
        "code": int(error.code),
        "message": error.message,
        "more_info": error.code.more_info,
        "status": error.status,
    }
    if error.detail:
        body["detail"] = error.detail
    return JsonResponse(error.status, body, dict(error.headers))


def internal_error() -> JsonResponse:
    code = ErrorCode.INTERNAL
    return JsonResponse(
        500, {"code": int(code), "message": code.template, "more_info": code.more_info, "status": 500}
    )
