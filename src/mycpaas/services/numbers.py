"""Use cases for IncomingPhoneNumbers: register or provision a number, configure where its messages go.

Every change of a number (added, changed, moved to another account, released) is announced on the NUMBERS
topic of the change signal (services/changes.py): every create reads the From number's owner from a cache that
follows it (services/messaging.py).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from mycpaas.domain.accounts import Account
from mycpaas.domain.addresses import national_format, parse_e164
from mycpaas.domain.clock import utcnow
from mycpaas.domain.numbers import IncomingNumber
from mycpaas.domain.sids import Prefix, new_sid
from mycpaas.domain.urls import callback_url_problem
from mycpaas.errors import ErrorCode, InvalidRequest
from mycpaas.services import changes
from mycpaas.services.accounts import check_friendly_name, require_open
from mycpaas.services.messaging_services import leave_pool
from mycpaas.services.platform import Platform
from mycpaas.storage import accounts as account_store
from mycpaas.storage import numbers as store

# Form parameter -> (column, kind). Kinds: url (nullable voice URL), url_text ("" when unset), method, bool.
CONFIG_PARAMS: dict[str, tuple[str, str]] = {
    "SmsUrl": ("sms_url", "url_text"),
    "SmsMethod": ("sms_method", "method"),
    "SmsFallbackUrl": ("sms_fallback_url", "url_text"),
    "SmsFallbackMethod": ("sms_fallback_method", "method"),
    "StatusCallback": ("status_callback", "url_text"),
    "StatusCallbackMethod": ("status_callback_method", "method"),
    "VoiceUrl": ("voice_url", "url"),
    "VoiceMethod": ("voice_method", "method"),
    "VoiceFallbackUrl": ("voice_fallback_url", "url"),
    "VoiceFallbackMethod": ("voice_fallback_method", "method"),
    "VoiceCallerIdLookup": ("voice_caller_id_lookup", "bool"),
}


def parse_config(params: Mapping[str, str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for param, (column, kind) in CONFIG_PARAMS.items():
        if param not in params:
            continue
        raw = params[param].strip()
        if kind in ("url", "url_text"):
            if raw and (problem := callback_url_problem(raw)):
                raise InvalidRequest(ErrorCode.INVALID_URL, param=param, reason=problem)
            values[column] = raw if raw or kind == "url_text" else None
        elif kind == "method":
            method = raw.upper() or "POST"
            if method not in ("GET", "POST"):
                raise InvalidRequest(ErrorCode.INVALID_PARAMETER, reason=f"{param} must be GET or POST")
            values[column] = method
        else:
            if raw.lower() not in ("true", "false"):
                raise InvalidRequest(ErrorCode.INVALID_PARAMETER, reason=f"{param} must be true or false")
            values[column] = raw.lower() == "true"
    if "FriendlyName" in params:
        values["friendly_name"] = check_friendly_name(params["FriendlyName"])
    return values


async def _provision_in_area(platform: Platform, area_code: str) -> str:
    if not (len(area_code) == 3 and area_code.isdigit() and area_code[0] not in "01"):
        raise InvalidRequest(
            ErrorCode.INVALID_PARAMETER, reason=f"AreaCode {area_code} is not a valid area code"
        )
    prefix = f"+1{area_code}555"
    async with platform.db.read() as conn:
        taken = await store.taken_numbers(conn, prefix)
    free = [f"{prefix}{n:04d}" for n in range(100, 200) if f"{prefix}{n:04d}" not in taken]
    if not free:
        raise InvalidRequest(ErrorCode.AREA_CODE_EXHAUSTED, area_code=area_code)
    return secrets.choice(free)


async def create_number(platform: Platform, account: Account, params: Mapping[str, str]) -> IncomingNumber:
    raw = params.get("PhoneNumber", "").strip()
    if raw:
        phone_number = parse_e164(params["PhoneNumber"])
        if phone_number is None:
            raise InvalidRequest(ErrorCode.PHONE_NUMBER_INVALID, number=raw)
    elif params.get("AreaCode", "").strip():
        phone_number = await _provision_in_area(platform, params["AreaCode"].strip())
    else:
        raise InvalidRequest(ErrorCode.PHONE_NUMBER_REQUIRED)
    config = parse_config(params)
    now = utcnow()
    number = IncomingNumber(
        sid=new_sid(Prefix.PHONE_NUMBER),
        account_sid=account.sid,
        phone_number=phone_number,
        friendly_name=national_format(phone_number),
        sms_url="",
        sms_method="POST",
        sms_fallback_url="",
        sms_fallback_method="POST",
        status_callback="",
        status_callback_method="POST",
        voice_url=None,
        voice_method="POST",
        voice_fallback_url=None,
        voice_fallback_method="POST",
        voice_caller_id_lookup=False,
        created_at=now,
        updated_at=now,
    )
    for column, value in config.items():
        setattr(number, column, value)
    async with changes.write(platform, changes.NUMBERS) as conn:
        await require_open(conn, account.sid)
        if await store.owner_of(conn, phone_number) is not None:
            raise InvalidRequest(ErrorCode.PHONE_NUMBER_UNAVAILABLE, number=phone_number)
        await store.insert_number(conn, number)
    return number


async def get_number(platform: Platform, account: Account, sid: str) -> IncomingNumber | None:
    async with platform.db.read() as conn:
        number = await store.get_number(conn, sid)
    return number if number and number.account_sid == account.sid else None


async def list_numbers(
    platform: Platform,
    account: Account,
    friendly_name: str | None,
    phone_number: str | None,
    after_sid: str | None,
    limit: int,
) -> list[IncomingNumber]:
    like = None
    if phone_number:
        digits = phone_number.strip().replace("*", "_")
        like = f"%{digits.lstrip('+').lstrip()}%"
    async with platform.db.read() as conn:
        return await store.list_numbers(conn, account.sid, friendly_name, like, after_sid, limit)


async def update_number(
    platform: Platform, caller: Account, number: IncomingNumber, params: Mapping[str, str]
) -> IncomingNumber:
    values = parse_config(params)
    new_owner = params.get("AccountSid", "").strip()
    if new_owner and new_owner != number.account_sid:
        if caller.is_subaccount:
            raise InvalidRequest(
                ErrorCode.FORBIDDEN, reason="API User must be the parent account to transfer phone numbers"
            )
        async with platform.db.read() as conn:
            found = await account_store.get_account(conn, new_owner)
        if found is None or not caller.may_act_on(found[0]):
            raise InvalidRequest(
                ErrorCode.INVALID_PARAMETER,
                reason=f"AccountSid {new_owner} is not this account or a subaccount",
            )
        values["account_sid"] = new_owner
    now = utcnow()
    values["updated_at"] = now
    async with changes.write(platform, changes.NUMBERS) as conn:
        # Both ends must be open: a number moved to a closed account could be neither used nor released.
        await require_open(conn, number.account_sid)
        if "account_sid" in values:
            await require_open(conn, new_owner)
            await leave_pool(conn, number.sid)  # a pool holds its own account's numbers only
        await store.update_number(conn, number.sid, **values)
        updated = await store.get_number(conn, number.sid)
    assert updated is not None
    return updated


async def release_number(platform: Platform, number: IncomingNumber) -> None:
    async with changes.write(platform, changes.NUMBERS) as conn:
        await require_open(conn, number.account_sid)
        await leave_pool(conn, number.sid)
        await store.delete_number(conn, number.sid)
