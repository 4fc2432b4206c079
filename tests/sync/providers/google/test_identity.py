"""Whose calendar an org grant reads: Google's delegation impersonates a user's primary
address only, and that address is also the calendar's id. People whose address in our
directory is an alias, or who were renamed, are found in the Workspace directory (as the
admin stored with the grant), by immutable id when we have it."""

from __future__ import annotations

import json

import pytest

from service.sync.port import AuthorizationFailed, CalendarRef, FullResyncRequired, Identity, ReconnectReason
from service.sync.providers.google.adapter import GoogleCalendarProvider
from tests.sync.providers.google.world import WINDOW, Sandbox, numbers, seed_calendar

CALENDAR = "https://www.googleapis.com/auth/calendar.readonly"
DIRECTORY = "https://www.googleapis.com/auth/admin.directory.user.readonly"
R = ReconnectReason


@pytest.fixture
def org(world: Sandbox):
    """A service account delegated calendar and directory reads, and a Workspace admin."""
    n = next(numbers)
    admin = f"admin.{n}@acme.test"
    world.fake.directory.add_user(admin, admin=True)
    key = world.fake.auth.new_service_account(
        f"sync{n}@sandbox.iam.gserviceaccount.com", delegated_scopes=[CALENDAR, DIRECTORY]
    )
    return {"key": key, "admin": admin, "grant": json.dumps({"service_account_key": key, "directory_admin": admin})}


def ref(email: str, grant: str, *, external_id: str | None = None, user_id: str | None = None) -> CalendarRef:
    return CalendarRef(
        calendar_id=next(numbers),
        email=email,
        external_id=external_id or email,
        credentials=grant,
        connection_kind="org",
        provider_user_id=user_id,
    )


def directory_calls(world: Sandbox) -> int:
    return len([r for r in world.recorder.requests if r[1].startswith("/admin/directory/v1/users/")])


async def test_a_person_known_to_us_by_an_alias_is_read_by_their_primary_address(
    world: Sandbox, provider: GoogleCalendarProvider, org: dict
) -> None:
    primary = world.person("ana")
    alias = primary.replace("ana.", "ana.alias.")
    world.fake.add_alias(primary, alias)
    seed_calendar(world.store, primary)
    # As connect-all stored calendars before: our directory's address as external_id.
    without_admin = ref(alias, json.dumps(org["key"]))
    with pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(without_admin, None, WINDOW)
    assert err.value.reason is R.user_not_found and "--admin-email" in str(err.value)

    calendar = ref(alias, org["grant"])
    changes = await provider.fetch_changes(calendar, None, WINDOW)
    assert len(changes.upserts) == 7 and {s.calendar for s in changes.upserts} == {alias}
    again = await provider.fetch_changes(calendar, changes.cursor, WINDOW)
    assert again.upserts == [] and directory_calls(world) == 1  # found once, remembered


async def test_connect_all_resolves_primary_address_and_immutable_id(
    world: Sandbox, provider: GoogleCalendarProvider, org: dict
) -> None:
    primary = world.person("ben")
    alias = primary.replace("ben.", "b.")
    world.fake.add_alias(primary, alias)
    user_id = world.fake.directory.user(primary).id
    found = await provider.resolve(org["grant"], [alias, primary.upper(), user_id, "nobody@acme.test"])
    expected = Identity(primary, user_id)
    assert found == {alias: expected, primary.upper(): expected, user_id: expected}
    with pytest.raises(AuthorizationFailed) as no_admin:
        await provider.resolve(json.dumps(org["key"]), [primary])
    assert no_admin.value.reason is R.app_misconfigured


async def test_a_renamed_user_is_found_again_by_immutable_id(
    world: Sandbox, provider: GoogleCalendarProvider, org: dict
) -> None:
    old = world.person("cy")
    seed_calendar(world.store, old)
    user_id = world.fake.directory.user(old).id
    calendar = ref(old, org["grant"], user_id=user_id)
    first = await provider.fetch_changes(calendar, None, WINDOW)
    new = old.replace("cy.", "cyrus.")
    # Renamed, and the old address not even kept as an alias: only the id finds them.
    world.fake.rename_user(old, new, keep_alias=False)
    with pytest.raises(FullResyncRequired):  # same user, new calendar id: the old token is void
        await provider.fetch_changes(calendar, first.cursor, WINDOW)
    again = await provider.fetch_changes(calendar, None, WINDOW)
    assert len(again.upserts) == 7 and {s.calendar for s in again.upserts} == {old}
    assert directory_calls(world) == 1
    lists = [p for m, p, q in world.recorder.requests if p.endswith("/events")]
    assert lists[-1] == f"/calendar/v3/calendars/{new}/events"
    channel = await provider.watch(calendar, "https://hooks.example.test/google", "", "tok", 600)
    assert world.fake.channels.channels(new)[0].id == channel.channel_id
    world.fake.notifier.clear()


async def test_a_renamed_user_whose_token_still_works_is_found_too(
    world: Sandbox, provider: GoogleCalendarProvider, org: dict
) -> None:
    """The access token follows the account, so the stored address is refused by the
    API (404: no calendar has that id) rather than by the token endpoint."""
    old = world.person("dee")
    seed_calendar(world.store, old)
    calendar = ref(old, org["grant"], user_id=world.fake.directory.user(old).id)
    await provider.fetch_changes(calendar, None, WINDOW)
    world.fake.rename_user(old, old.replace("dee.", "deidre."))
    changes = await provider.fetch_changes(calendar, None, WINDOW)
    assert len(changes.upserts) == 7


@pytest.mark.parametrize("fate", ["deleted", "suspended"])
async def test_a_user_gone_from_the_directory_is_user_not_found(
    world: Sandbox, provider: GoogleCalendarProvider, org: dict, fate: str
) -> None:
    email = world.person("eve")
    calendar = ref(email, org["grant"], user_id=world.fake.directory.user(email).id)
    if fate == "deleted":
        world.fake.delete_user(email)
    else:
        world.fake.directory.set_suspended(email)
    with pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(calendar, None, WINDOW)
    assert err.value.reason is R.user_not_found and not err.value.transient
    assert ("deleted?" if fate == "deleted" else "suspended") in str(err.value)


async def test_a_directory_the_grant_may_not_read_leaves_user_not_found(
    world: Sandbox, provider: GoogleCalendarProvider, org: dict
) -> None:
    primary = world.person("flo")
    alias = primary.replace("flo.", "florence.")
    world.fake.add_alias(primary, alias)
    narrow = world.fake.auth.new_service_account(f"narrow{next(numbers)}@sandbox.iam.gserviceaccount.com")
    grant = json.dumps({"service_account_key": narrow, "directory_admin": org["admin"]})
    with pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(ref(alias, grant), None, WINDOW)
    assert err.value.reason is R.user_not_found and "delegation_denied" in str(err.value)
