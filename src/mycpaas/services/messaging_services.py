"""Use cases for Messaging Services (MG…): the service's settings, its pool of numbers and its alpha sender.

Everything is scoped to one account: another account's service is None here (a 404 to the API), whatever the
caller's relation to it; a subaccount has services of its own. A closed account is read-only (`require_open`).

What other parts call:
- `pool_for(conn, account_sid, service_sid)`: the service with its numbers and alpha sender, in the caller's
  transaction, for choosing a sender or routing an inbound message.
- `leave_pool(conn, phone_number_sid)`: in the transaction that releases or transfers a number.
- `service_of_number(conn, phone_number_sid)`: which service (if any) a number is in.
"""

from __future__ import annotations

from collections.abc import Mapping

from mycpaas.domain.accounts import Account
from mycpaas.domain.clock import utcnow
from mycpaas.domain.messaging_services import (
    AlphaSender,
    MessagingService,
    PoolNumber,
    ServicePool,
    StickySender,
    alpha_sender_problem,
    new_service,
    parse_settings,
)
from mycpaas.domain.sids import Prefix, is_sid, new_sid
from mycpaas.errors import ErrorCode, InvalidRequest
from mycpaas.services import scheduling
from mycpaas.services.accounts import check_friendly_name, require_open
from mycpaas.services.platform import Platform
from mycpaas.storage import messaging_services as store
from mycpaas.storage.database import Connection

service_of_number = store.service_of_number


def _friendly_name(params: Mapping[str, str]) -> str | None:
    if "FriendlyName" not in params:
        return None
    return check_friendly_name(params["FriendlyName"])


async def create_service(platform: Platform, account: Account, params: Mapping[str, str]) -> MessagingService:
    """A new service with Twilio's defaults, overridden by `params` (Twilio's form names); FriendlyName required."""
    name = _friendly_name(params)
    if name is None:
        raise InvalidRequest(ErrorCode.MISSING_PARAMETER, param="FriendlyName")
    settings = parse_settings(params)
    service = new_service(new_sid(Prefix.MESSAGING_SERVICE), account.sid, name, utcnow())
    for field, value in settings.items():
        setattr(service, field, value)
    async with platform.db.write() as conn:
        await require_open(conn, account.sid)
        await store.insert_service(conn, service)
    return service


async def get_service(platform: Platform, account: Account, sid: str) -> MessagingService | None:
    async with platform.db.read() as conn:
        service = await store.get_service(conn, sid)
    return service if service and service.account_sid == account.sid else None


async def list_services(
    platform: Platform, account: Account, after_sid: str | None, limit: int
) -> list[MessagingService]:
    """Up to `limit` of the account's services in sid order, after `after_sid` (keyset paging)."""
    async with platform.db.read() as conn:
        return await store.list_services(conn, account.sid, after_sid, limit)


async def update_service(
    platform: Platform, service: MessagingService, params: Mapping[str, str]
) -> MessagingService:
    values = parse_settings(params)
    name = _friendly_name(params)
    if name is not None:
        values["friendly_name"] = name
    values["updated_at"] = utcnow()
    async with platform.db.write() as conn:
        await require_open(conn, service.account_sid)
        await store.update_service(conn, service.sid, **values)
        updated = await store.get_service(conn, service.sid)
    if updated is None:  # deleted meanwhile
        raise InvalidRequest(ErrorCode.MESSAGING_SERVICE_NOT_FOUND, sid=service.sid)
    return updated


async def delete_service(platform: Platform, service: MessagingService) -> bool:
    """The service goes with its pool links, alpha sender and sticky assignments; the numbers stay the account's.
    Its scheduled messages are canceled in the same transaction (services/scheduling.py). The service's row is
    locked first, as add_number and the sender choice lock it, so none of them can add a pool link or sticky
    row between the deletion of the children and of the service (a foreign-key error). False if it was gone."""
    async with platform.db.write() as conn:
        await require_open(conn, service.account_sid)
        if await store.get_service(conn, service.sid, for_update=True) is None:
            return False
        canceled = await scheduling.cancel_for_service(conn, service.sid, utcnow())
        await store.delete_service(conn, service.sid)
    if canceled:
        platform.wake_webhooks()
    return True


async def add_number(platform: Platform, service: MessagingService, phone_number_sid: str) -> PoolNumber:
    """Put one of the account's numbers in the pool: 21421 for a sid that is not the account's number, 21710
    for a number already in a service (this one or another)."""
    sid = phone_number_sid.strip()
    if not sid:
        raise InvalidRequest(ErrorCode.MISSING_PARAMETER, param="PhoneNumberSid")
    if not is_sid(sid, Prefix.PHONE_NUMBER):
        raise InvalidRequest(ErrorCode.PHONE_NUMBER_INVALID, number=sid)
    async with platform.db.write() as conn:
        await require_open(conn, service.account_sid)
        if await store.get_service(conn, service.sid, for_update=True) is None:
            raise InvalidRequest(ErrorCode.MESSAGING_SERVICE_NOT_FOUND, sid=service.sid)
        if await store.lock_number_owner(conn, sid) != service.account_sid:
            raise InvalidRequest(ErrorCode.PHONE_NUMBER_INVALID, number=sid)
        if await store.service_of_number(conn, sid) is not None:
            raise InvalidRequest(ErrorCode.NUMBER_IN_SERVICE, sid=sid)
        await store.add_number(conn, service.sid, sid, utcnow())
        added = await store.get_pool_number(conn, service.sid, sid)
    assert added is not None
    return added


async def get_pool_number(platform: Platform, service: MessagingService, sid: str) -> PoolNumber | None:
    async with platform.db.read() as conn:
        return await store.get_pool_number(conn, service.sid, sid)


async def list_pool_numbers(
    platform: Platform, service: MessagingService, after_sid: str | None, limit: int
) -> list[PoolNumber]:
    async with platform.db.read() as conn:
        return await store.list_pool_numbers(conn, service.sid, after_sid, limit)


async def remove_number(platform: Platform, number: PoolNumber) -> None:
    async with platform.db.write() as conn:
        await require_open(conn, number.account_sid)
        await leave_pool(conn, number.sid)


async def leave_pool(conn: Connection, phone_number_sid: str) -> None:
    """The number leaves its pool (if any) with its sticky assignments; a no-op for a number in none. Its row is
    locked first, as add_number locks it, so an add racing a release or transfer waits for it and then sees
    the number's new owner (or none) instead of putting it back in a pool."""
    await store.lock_number_owner(conn, phone_number_sid)
    await store.remove_number(conn, phone_number_sid)


async def numbers_outside_pools(platform: Platform, account: Account, limit: int) -> list[tuple[str, str]]:
    """(sid, phone number) of the account's numbers that could join a pool (those in none), for a chooser."""
    async with platform.db.read() as conn:
        return await store.numbers_outside_pools(conn, account.sid, limit)


async def recent_sticky_senders(
    platform: Platform, service: MessagingService, limit: int
) -> list[StickySender]:
    """Which pool number served each of the service's most recent destinations (sticky sender)."""
    async with platform.db.read() as conn:
        return await store.recent_sticky_senders(conn, service.sid, limit)


async def add_alpha_sender(platform: Platform, service: MessagingService, value: str | None) -> AlphaSender:
    """Twilio allows one alpha sender per service: a second is refused until the first is removed."""
    if not value:
        raise InvalidRequest(ErrorCode.MISSING_PARAMETER, param="AlphaSender")
    if problem := alpha_sender_problem(value):
        raise InvalidRequest(ErrorCode.INVALID_PARAMETER, reason=problem)
    alpha = AlphaSender(new_sid(Prefix.ALPHA_SENDER), service.account_sid, service.sid, value, utcnow())
    async with platform.db.write() as conn:
        await require_open(conn, service.account_sid)
        current = await store.get_service(conn, service.sid, for_update=True)
        if current is None:
            raise InvalidRequest(ErrorCode.MESSAGING_SERVICE_NOT_FOUND, sid=service.sid)
        if await store.alpha_sender_of(conn, current) is not None:
            raise InvalidRequest(
                ErrorCode.INVALID_PARAMETER,
                reason="This Messaging Service already has an alpha sender; remove it before adding another",
            )
        await store.insert_alpha_sender(conn, alpha)
    return alpha


async def get_alpha_sender(platform: Platform, service: MessagingService) -> AlphaSender | None:
    async with platform.db.read() as conn:
        return await store.alpha_sender_of(conn, service)


async def remove_alpha_sender(platform: Platform, alpha: AlphaSender) -> None:
    async with platform.db.write() as conn:
        await require_open(conn, alpha.account_sid)
        await store.delete_alpha_sender(conn, alpha.sid)


async def pool_for(conn: Connection, account_sid: str, service_sid: str) -> ServicePool | None:
    """The account's service `service_sid` with every number of its pool (in sid order) and its alpha sender;
    None when there is no such service or it is another account's (to the Messages API: 21701).

    Read in the caller's transaction, so a sender chosen from it is consistent with what it then writes."""
    service = await store.get_service(conn, service_sid)
    if service is None or service.account_sid != account_sid:
        return None
    numbers = await store.list_pool_numbers(conn, service.sid)
    return ServicePool(service, tuple(numbers), await store.alpha_sender_of(conn, service))
