"""API keys and phone numbers at the depth of the use cases (services/keys.py, services/numbers.py), on a
migrated database of each test's own and no server process: what a key may do, revocation, number validation
in Twilio's codes, uniqueness and transfer between a parent and its subaccounts. The HTTP shape is tested
through the API elsewhere (test_messages_api.py, test_cross_account.py, test_bad_input_sweep.py)."""

from __future__ import annotations

import pytest

from mycpaas.domain.audit import Actor, AuditAction
from mycpaas.errors import AuthenticationFailed, ErrorCode, InvalidRequest
from mycpaas.services import accounts, audit, keys, messaging, numbers
from mycpaas.services.auth import Authenticator, Scope
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from tests.integration.helpers import unique_number
from tests.platform_support import run_on_platform

ACTOR = Actor("tester@example.com", "127.0.0.9")


def test_api_keys_scope_revocation_and_ownership(sqlite_platform: Settings) -> None:
    async def scenario(platform: Platform) -> None:
        auth = Authenticator(platform)
        owner = (await accounts.create_account(platform, "keys")).account
        other = (await accounts.create_account(platform, "other")).account
        standard, secret = await keys.create_key(platform, owner, "standard key", ACTOR)
        main, main_secret = await keys.create_key(platform, owner, None, ACTOR, key_type="main")
        assert standard.sid.startswith("SK") and len(secret) >= 32 and main.friendly_name == ""

        principal = await auth.authenticate(standard.sid, secret, owner.sid, "192.0.2.1")
        assert (principal.account.sid, principal.key and principal.key.sid) == (owner.sid, standard.sid)
        with pytest.raises(AuthenticationFailed) as admin:
            await auth.authenticate(standard.sid, secret, owner.sid, "192.0.2.1", Scope.ACCOUNT_ADMIN)
        assert "standard key" in str(admin.value.detail)
        await auth.authenticate(main.sid, main_secret, owner.sid, "192.0.2.1", Scope.ACCOUNT_ADMIN)
        with pytest.raises(AuthenticationFailed) as foreign:
            await auth.authenticate(standard.sid, secret, other.sid, "192.0.2.1")
        assert "cannot access account" in str(foreign.value.detail)
        with pytest.raises(AuthenticationFailed) as wrong:
            await auth.authenticate(standard.sid, main_secret, owner.sid, "192.0.2.1")
        assert "not valid for API key" in str(wrong.value.detail) and main_secret not in str(
            wrong.value.detail
        )

        # A key belongs to its account: another account neither sees nor finds it.
        assert await keys.get_key(platform, other, standard.sid) is None
        assert [k.sid for k in await keys.list_keys(platform, other)] == []
        assert {k.sid for k in await keys.list_keys(platform, owner)} == {standard.sid, main.sid}
        with pytest.raises(InvalidRequest) as long_name:
            await keys.rename_key(platform, standard, "k" * 65)
        assert long_name.value.code is ErrorCode.INVALID_FRIENDLY_NAME
        renamed = await keys.rename_key(platform, standard, "renamed")
        found = await keys.get_key(platform, owner, standard.sid)
        assert found is not None and found.friendly_name == renamed.friendly_name == "renamed"

        await keys.revoke_key(platform, standard, ACTOR)
        assert await keys.get_key(platform, owner, standard.sid) is None
        with pytest.raises(AuthenticationFailed) as revoked:
            await auth.authenticate(standard.sid, secret, owner.sid, "192.0.2.1")
        assert "was revoked on" in str(revoked.value.detail)
        actions = [(e.action, e.target) for e in await audit.recent(platform, owner.sid)]
        assert (AuditAction.KEY_CREATED, standard.sid) in actions
        assert (AuditAction.KEY_REVOKED, standard.sid) in actions

    run_on_platform(sqlite_platform, scenario)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, ErrorCode.PHONE_NUMBER_REQUIRED),
        ({"PhoneNumber": "   "}, ErrorCode.PHONE_NUMBER_REQUIRED),
        ({"PhoneNumber": "not a number"}, ErrorCode.PHONE_NUMBER_INVALID),
        ({"PhoneNumber": "+1555"}, ErrorCode.PHONE_NUMBER_INVALID),
        ({"AreaCode": "012"}, ErrorCode.INVALID_PARAMETER),
        ({"AreaCode": "41"}, ErrorCode.INVALID_PARAMETER),
        ({"PhoneNumber": "+15005550199", "SmsUrl": "ftp://app.example/sms"}, ErrorCode.INVALID_URL),
        ({"PhoneNumber": "+15005550199", "SmsMethod": "PUT"}, ErrorCode.INVALID_PARAMETER),
        ({"PhoneNumber": "+15005550199", "VoiceCallerIdLookup": "maybe"}, ErrorCode.INVALID_PARAMETER),
        ({"PhoneNumber": "+15005550199", "FriendlyName": ""}, ErrorCode.INVALID_FRIENDLY_NAME),
    ],
    ids=repr,
)
def test_number_validation_in_twilios_codes(
    sqlite_platform: Settings, params: dict[str, str], code: ErrorCode
) -> None:
    async def scenario(platform: Platform) -> None:
        owner = (await accounts.create_account(platform, "numbers")).account
        with pytest.raises(InvalidRequest) as refused:
            await numbers.create_number(platform, owner, params)
        assert refused.value.code is code
        assert await numbers.list_numbers(platform, owner, None, None, None, 50) == []

    run_on_platform(sqlite_platform, scenario)


def test_numbers_are_unique_and_move_only_within_the_family(platform_settings: Settings) -> None:
    """On both databases: uniqueness is the database's, transfer is a conditional update."""

    async def scenario(platform: Platform) -> None:
        parent = (await accounts.create_account(platform, "parent")).account
        child = (await accounts.create_subaccount(platform, parent, "child")).account
        stranger = (await accounts.create_account(platform, "stranger")).account
        phone = unique_number()
        number = await numbers.create_number(
            platform, parent, {"PhoneNumber": phone, "SmsUrl": "https://app.example/sms", "SmsMethod": "get"}
        )
        assert (number.phone_number, number.sms_url, number.sms_method) == (
            phone,
            "https://app.example/sms",
            "GET",
        )
        for someone in (parent, stranger):
            with pytest.raises(InvalidRequest) as taken:
                await numbers.create_number(platform, someone, {"PhoneNumber": phone})
            assert taken.value.code is ErrorCode.PHONE_NUMBER_UNAVAILABLE

        provisioned = await numbers.create_number(platform, stranger, {"AreaCode": "415"})
        assert provisioned.phone_number.startswith("+1415555")

        # Only the parent moves numbers, and only between itself and its subaccounts.
        with pytest.raises(InvalidRequest) as elsewhere:
            await numbers.update_number(platform, parent, number, {"AccountSid": stranger.sid})
        assert elsewhere.value.code is ErrorCode.INVALID_PARAMETER
        moved = await numbers.update_number(platform, parent, number, {"AccountSid": child.sid})
        assert moved.account_sid == child.sid
        assert await numbers.get_number(platform, parent, number.sid) is None
        assert await numbers.get_number(platform, child, number.sid) is not None
        with pytest.raises(InvalidRequest) as by_child:
            await numbers.update_number(platform, child, moved, {"AccountSid": parent.sid})
        assert by_child.value.code is ErrorCode.FORBIDDEN
        back = await numbers.update_number(
            platform, parent, moved, {"AccountSid": parent.sid, "FriendlyName": "home"}
        )
        assert (back.account_sid, back.friendly_name, back.sms_url) == (
            parent.sid,
            "home",
            "https://app.example/sms",
        )

        # Released, the number is free again, for anyone.
        await numbers.release_number(platform, back)
        assert await numbers.get_number(platform, parent, number.sid) is None
        again = await numbers.create_number(platform, stranger, {"PhoneNumber": phone})
        assert again.account_sid == stranger.sid

    run_on_platform(platform_settings, scenario)


def test_a_closed_account_is_read_only_and_a_suspended_one_is_not(platform_settings: Settings) -> None:
    """Nothing may be added to or changed in a closed account, by its parent either: a number moved there could
    be neither used nor released. A suspended account may be reactivated, so its parent may still manage it."""

    async def scenario(platform: Platform) -> None:
        parent = (await accounts.create_account(platform, "parent")).account
        closing = await accounts.create_subaccount(platform, parent, "closing")
        paused = await accounts.create_subaccount(platform, parent, "paused")
        key, _ = await keys.create_key(platform, closing.account, "made while open", ACTOR)
        number = await numbers.create_number(platform, parent, {"PhoneNumber": unique_number()})
        # The account as read before closing, as a request that raced the close would hold it.
        stale = closing.account
        await accounts.update_account(platform, parent, stale, None, "closed", ACTOR)
        await accounts.update_account(platform, parent, paused.account, None, "suspended", ACTOR)

        refusals = {
            "transfer": numbers.update_number(platform, parent, number, {"AccountSid": stale.sid}),
            "create number": numbers.create_number(platform, stale, {"PhoneNumber": unique_number()}),
            "create key": keys.create_key(platform, stale, "too late", ACTOR),
            "rename key": keys.rename_key(platform, key, "renamed"),
            "revoke key": keys.revoke_key(platform, key, ACTOR),
            "secondary token": accounts.create_secondary_token(platform, stale, ACTOR),
            "rotate token": accounts.rotate_token(platform, stale, ACTOR),
        }
        for name, attempt in refusals.items():
            with pytest.raises(InvalidRequest) as refused:
                await attempt
            assert refused.value.code is ErrorCode.ACCOUNT_NOT_ACTIVE, name
        assert (await numbers.get_number(platform, parent, number.sid)) is not None, "the number stayed"
        assert [k.sid for k in await keys.list_keys(platform, stale)] == [key.sid], "still readable"
        assert (await accounts.get_account(platform, stale.sid)) is not None

        suspended = paused.account
        moved = await numbers.update_number(platform, parent, number, {"AccountSid": suspended.sid})
        assert moved.account_sid == suspended.sid
        await keys.create_key(platform, suspended, "for after reactivation", ACTOR)
        await accounts.rotate_token(platform, suspended, ACTOR)
        await numbers.release_number(platform, moved)

    run_on_platform(platform_settings, scenario)


def test_a_number_sends_only_for_the_account_that_owns_it(sqlite_platform: Settings) -> None:
    """Twilio's rule: a number belongs to one account; neither a subaccount nor its parent sends from the
    other's number (21606). The test From +15005550006 and alphanumeric senders keep working for everyone."""

    async def scenario(platform: Platform) -> None:
        parent = (await accounts.create_account(platform, "parent")).account
        child = (await accounts.create_subaccount(platform, parent, "child")).account
        parents_number = await numbers.create_number(platform, parent, {"PhoneNumber": unique_number()})
        childs_number = await numbers.create_number(platform, child, {"PhoneNumber": unique_number()})

        def request(sender: str, to: str = "+15558675310") -> messaging.SendRequest:
            return messaging.SendRequest(to=to, from_=sender, messaging_service_sid=None, body="hi")

        for account, foreign in ((child, parents_number), (parent, childs_number)):
            with pytest.raises(InvalidRequest) as refused:
                await messaging.compose(platform, account, request(foreign.phone_number))
            assert refused.value.code is ErrorCode.FROM_NOT_OWNED
            assert foreign.phone_number in refused.value.message
        for account, own in ((child, childs_number), (parent, parents_number)):
            assert (
                await messaging.compose(platform, account, request(own.phone_number))
            ).account_sid == account.sid
            await messaging.compose(platform, account, request("+15005550006"))
            await messaging.compose(platform, account, request("MyShop", to="+447700900123"))

    run_on_platform(sqlite_platform, scenario)
