"""The caches of per-request lookups at the depth of the use cases, on SQLite and PostgreSQL, with no change
watcher running: only the process's own emptying after a commit (`changes.write`) can make these pass, so
every change that matters must go through it. The server-level tests (other processes, the Dashboard) are in
test_lookup_caches.py.
"""

from __future__ import annotations

import pytest

from mycpaas.domain.audit import Actor
from mycpaas.errors import AuthenticationFailed, ErrorCode, InvalidRequest
from mycpaas.services import accounts, keys, messaging, numbers
from mycpaas.services.auth import Authenticator, Scope
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.storage import changes as change_store
from tests.integration.helpers import unique_number
from tests.platform_support import run_on_platform

ACTOR = Actor("tester@example.com", "127.0.0.9")
CLIENT = "192.0.2.1"


async def versions(platform: Platform) -> dict[str, int]:
    async with platform.db.read() as conn:
        return await change_store.versions(conn)


def test_every_credential_change_empties_the_authentication_cache_at_once(
    platform_settings: Settings,
) -> None:
    async def scenario(platform: Platform) -> None:
        auth = Authenticator(platform)
        parent = (await accounts.create_account(platform, "cache parent")).account
        parent_token = (await accounts.get_account(platform, parent.sid)).auth_token  # type: ignore[union-attr]
        child = await accounts.create_subaccount(platform, parent, "cache child")
        sub, token = child.account, child.auth_token

        async def check(change: object, topic: str = "credentials") -> None:
            before = await versions(platform)
            await change  # type: ignore[misc]
            assert (await versions(platform)).get(topic, 0) > before.get(topic, 0), topic

        # Cached, then promoted away: refused at once, with the detailed 401.
        assert (await auth.authenticate(sub.sid, token, None, CLIENT)).account.sid == sub.sid
        assert len(auth.cache) == 1
        view = await accounts.create_secondary_token(platform, sub, ACTOR)
        assert len(auth.cache) == 0
        secondary = view.secondary_auth_token
        assert secondary is not None
        await auth.authenticate(sub.sid, token, None, CLIENT)
        await check(accounts.promote_secondary_token(platform, sub, ACTOR))
        with pytest.raises(AuthenticationFailed) as rotated:
            await auth.authenticate(sub.sid, token, None, CLIENT)
        assert "rotated" in str(rotated.value.detail)
        await auth.authenticate(sub.sid, secondary, None, CLIENT)

        # The parent on the subaccount's path sees its current name and status.
        acting = await auth.authenticate(parent.sid, parent_token, sub.sid, CLIENT)
        assert acting.target.friendly_name == "cache child"
        await check(accounts.update_account(platform, parent, acting.target, "renamed", None, ACTOR))
        acting = await auth.authenticate(parent.sid, parent_token, sub.sid, CLIENT)
        assert acting.target.friendly_name == "renamed"
        await check(accounts.update_account(platform, parent, acting.target, None, "suspended", ACTOR))
        acting = await auth.authenticate(parent.sid, parent_token, sub.sid, CLIENT)
        assert acting.target.status.value == "suspended"
        with pytest.raises(AuthenticationFailed):
            await auth.authenticate(sub.sid, secondary, None, CLIENT)
        await check(accounts.update_account(platform, parent, acting.target, None, "active", ACTOR))
        await auth.authenticate(sub.sid, secondary, None, CLIENT)

        # Keys: renamed (the principal carries the key), revoked.
        key, key_secret = await keys.create_key(platform, sub, "before", ACTOR, key_type="main")
        cached = await auth.authenticate(key.sid, key_secret, sub.sid, CLIENT, Scope.ACCOUNT_ADMIN)
        assert cached.key is not None and cached.key.friendly_name == "before"
        await check(keys.rename_key(platform, key, "after"))
        renamed = await auth.authenticate(key.sid, key_secret, sub.sid, CLIENT, Scope.ACCOUNT_ADMIN)
        assert renamed.key is not None and renamed.key.friendly_name == "after"
        await check(keys.revoke_key(platform, renamed.key, ACTOR))
        with pytest.raises(AuthenticationFailed) as revoked:
            await auth.authenticate(key.sid, key_secret, sub.sid, CLIENT)
        assert "revoked" in str(revoked.value.detail)

        # The secondary deleted; the account closed (nothing may act on a closed subaccount's resources).
        await accounts.create_secondary_token(platform, sub, ACTOR)
        await auth.authenticate(sub.sid, secondary, None, CLIENT)
        await check(accounts.delete_secondary_token(platform, sub, "/x", ACTOR))
        await auth.authenticate(sub.sid, secondary, None, CLIENT)  # the primary since the promotion
        await auth.authenticate(parent.sid, parent_token, sub.sid, CLIENT)
        current = await accounts.find_account(platform, sub.sid)
        assert current is not None
        await check(accounts.update_account(platform, parent, current, None, "closed", ACTOR))
        with pytest.raises(AuthenticationFailed) as closed:
            await auth.authenticate(parent.sid, parent_token, sub.sid, CLIENT)
        assert "closed" in str(closed.value.detail)

        # Failures are never kept: each gets its whole path again.
        kept = len(auth.cache)
        for _ in range(2):
            with pytest.raises(AuthenticationFailed):
                await auth.authenticate(sub.sid, token, None, CLIENT)
        assert len(auth.cache) == kept

    run_on_platform(platform_settings, scenario)


def test_every_number_change_empties_the_owner_cache_at_once(platform_settings: Settings) -> None:
    async def scenario(platform: Platform) -> None:
        owner = (await accounts.create_account(platform, "numbers parent")).account
        sub = (await accounts.create_subaccount(platform, owner, "numbers child")).account
        phone = unique_number()
        number = await numbers.create_number(platform, owner, {"PhoneNumber": phone})

        def request() -> messaging.SendRequest:
            return messaging.SendRequest(
                to="+15558675310", from_=phone, messaging_service_sid=None, body="hi"
            )

        async def refused(account: object) -> None:
            with pytest.raises(InvalidRequest) as not_owned:
                await messaging.compose(platform, account, request())  # type: ignore[arg-type]
            assert not_owned.value.code is ErrorCode.FROM_NOT_OWNED

        assert (await messaging.compose(platform, owner, request())).status_callback is None
        assert platform.number_owners.get(phone) is not None
        await refused(sub)  # a parent's number is not its subaccount's

        before = (await versions(platform)).get("numbers", 0)
        await numbers.update_number(platform, owner, number, {"StatusCallback": "https://example.com/s"})
        assert (await versions(platform))["numbers"] == before + 1
        assert (
            await messaging.compose(platform, owner, request())
        ).status_callback == "https://example.com/s"

        moved = await numbers.update_number(platform, owner, number, {"AccountSid": sub.sid})
        await refused(owner)
        await messaging.compose(platform, sub, request())

        await numbers.release_number(platform, moved)
        await refused(sub)
        again = await numbers.create_number(platform, owner, {"PhoneNumber": phone})
        await messaging.compose(platform, owner, request())

        # Closing an account releases its numbers: announced on NUMBERS too.
        await numbers.update_number(platform, owner, again, {"AccountSid": sub.sid})
        await messaging.compose(platform, sub, request())
        before = (await versions(platform))["numbers"]
        await accounts.update_account(platform, owner, sub, None, "closed", ACTOR)
        assert (await versions(platform))["numbers"] == before + 1
        assert platform.number_owners.get(phone) is None
        await refused(owner)

    run_on_platform(platform_settings, scenario)


def test_a_number_found_unowned_by_an_inbound_offer_is_owned_once_added(platform_settings: Settings) -> None:
    """Inbound offers remember numbers nobody owns (the sandbox offers every message it delivers); adding the
    number, or giving it to another account and releasing it, must not leave that answer behind."""
    from mycpaas.domain.carriage import InboundSms
    from mycpaas.services import inbound

    async def scenario(platform: Platform) -> None:
        owner = (await accounts.create_account(platform, "inbound cache")).account
        phone = unique_number()

        def offer(n: int) -> InboundSms:
            return InboundSms("sandbox", f"mo-cache-{phone}-{n}", "+15558675310", phone, f"hello {n}")

        assert await inbound.record_inbound(platform, offer(1)) is None
        assert platform.unowned_numbers.get(phone)
        assert await inbound.record_inbound(platform, offer(2)) is None  # from the cache

        number = await numbers.create_number(platform, owner, {"PhoneNumber": phone})
        assert not platform.unowned_numbers.get(phone)
        kept = await inbound.record_inbound(platform, offer(3))
        assert kept is not None and kept.account_sid == owner.sid and kept.body == "hello 3"

        await numbers.release_number(platform, number)
        assert await inbound.record_inbound(platform, offer(4)) is None
        assert platform.unowned_numbers.get(phone)
        await numbers.create_number(platform, owner, {"PhoneNumber": phone})
        assert (await inbound.record_inbound(platform, offer(5))) is not None

        # An answer read before a change of numbers is not kept after it.
        other = unique_number()
        generation = platform.unowned_numbers.generation
        await numbers.create_number(platform, owner, {"PhoneNumber": other})
        platform.unowned_numbers.put(other, True, generation)
        assert not platform.unowned_numbers.get(other)

    run_on_platform(platform_settings, scenario)
