"""The fake Google Workspace directory (Admin SDK users.get) and the identity rules
delegation follows: primary addresses only, aliases, renames, deletions."""

from __future__ import annotations

import pytest
from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError

from service.clock import FixedClock
from service.sandbox.providers import GOOGLE_ADMIN, SandboxProviders
from tests.sandbox.builders import google_event, t

T0 = t("2026-01-10T09:00:00Z")
DIRECTORY = ("https://www.googleapis.com/auth/admin.directory.user.readonly",)
ANA, BEN, CAL = "ana@acme.test", "ben@acme.test", "cal@acme.test"


@pytest.fixture
def sandbox():
    with SandboxProviders(clock=FixedClock(T0)) as box:
        for email in (ANA, BEN, CAL):
            box.add_person(email, "google")
        box.google.store.create([ANA], google_event("ev1"), at=T0)
        yield box


def _users(sandbox: SandboxProviders, admin: str = GOOGLE_ADMIN):
    google = sandbox.google_connection()
    return google.build_directory(google.delegated_credentials(admin, DIRECTORY)).users()


def _events(sandbox: SandboxProviders, subject: str):
    google = sandbox.google_connection()
    return google.build(google.delegated_credentials(subject)).events()


def test_users_get_by_primary_alias_or_id(sandbox) -> None:
    sandbox.google.add_alias(ANA, "ana.alias@acme.test")
    users = _users(sandbox)
    ana = users.get(userKey=ANA).execute()
    assert ana["primaryEmail"] == ANA and ana["aliases"] == ["ana.alias@acme.test"]
    assert ana["kind"] == "admin#directory#user" and len(ana["id"]) == 21 and ana["id"].isdigit()
    assert users.get(userKey="ANA.Alias@acme.test").execute()["id"] == ana["id"]
    assert users.get(userKey=ana["id"]).execute()["primaryEmail"] == ANA
    assert users.get(userKey=BEN).execute()["id"] != ana["id"]
    with pytest.raises(HttpError) as missing:
        users.get(userKey="nobody@acme.test").execute()
    assert missing.value.status_code == 404 and missing.value.reason == "Resource Not Found: userKey"


def test_only_an_admin_with_the_directory_scope_reads_it(sandbox) -> None:
    with pytest.raises(HttpError) as not_admin:
        _users(sandbox, admin=BEN).get(userKey=ANA).execute()
    assert not_admin.value.status_code == 403 and not_admin.value.reason == "Not Authorized to access this resource/api"
    google = sandbox.google_connection()
    calendar_only = google.build_directory(google.delegated_credentials(GOOGLE_ADMIN)).users()
    with pytest.raises(HttpError) as scopes:
        calendar_only.get(userKey=ANA).execute()
    assert scopes.value.status_code == 403


def test_delegation_takes_a_primary_address_only(sandbox) -> None:
    sandbox.google.add_alias(ANA, "ana.alias@acme.test")
    assert _events(sandbox, ANA).list(calendarId=ANA).execute()["items"]
    with pytest.raises(RefreshError, match="invalid_grant: Invalid email or User ID"):
        _events(sandbox, "ana.alias@acme.test").list(calendarId=ANA).execute()
    with pytest.raises(HttpError) as alias_id:  # an alias names no calendar either
        _events(sandbox, ANA).list(calendarId="ana.alias@acme.test").execute()
    assert alias_id.value.status_code == 404


def test_a_rename_moves_the_calendar_and_keeps_the_id(sandbox) -> None:
    before = _users(sandbox).get(userKey=BEN).execute()
    refresh = sandbox.google_connection().user_credentials(BEN)
    sandbox.google.rename_user(BEN, "benjamin@acme.test")
    after = _users(sandbox).get(userKey=before["id"]).execute()
    assert after["id"] == before["id"] and after["primaryEmail"] == "benjamin@acme.test"
    assert after["aliases"] == [BEN]  # the old address stays an alias
    with pytest.raises(RefreshError, match="invalid_grant"):
        _events(sandbox, BEN).list(calendarId=BEN).execute()
    with pytest.raises(HttpError) as old_id:
        _events(sandbox, "benjamin@acme.test").list(calendarId=BEN).execute()
    assert old_id.value.status_code == 404
    assert _events(sandbox, "benjamin@acme.test").list(calendarId="benjamin@acme.test").execute()["kind"]
    # A person's own grant follows the account.
    google = sandbox.google_connection()
    assert google.build(refresh).calendars().get(calendarId="primary").execute()["id"] == "benjamin@acme.test"


def test_a_rename_without_alias_and_a_deletion(sandbox) -> None:
    cal = _users(sandbox).get(userKey=CAL).execute()
    sandbox.google.rename_user(CAL, "caleb@acme.test", keep_alias=False)
    users = _users(sandbox)
    with pytest.raises(HttpError) as old:
        users.get(userKey=CAL).execute()
    assert old.value.status_code == 404
    assert users.get(userKey=cal["id"]).execute()["primaryEmail"] == "caleb@acme.test"

    sandbox.google.delete_user("caleb@acme.test")
    with pytest.raises(HttpError) as deleted:
        users.get(userKey=cal["id"]).execute()
    assert deleted.value.status_code == 404
    with pytest.raises(RefreshError, match="invalid_grant"):
        _events(sandbox, "caleb@acme.test").list(calendarId="caleb@acme.test").execute()
    assert "caleb@acme.test" not in sandbox.google.store.calendars()


async def test_a_renamed_calendars_channel_keeps_notifying(sandbox) -> None:
    sandbox.google.channels.watch(ANA, ANA, {"id": "c1", "type": "web_hook", "address": "https://h.test/g"}, "uri")
    sandbox.google.rename_user(ANA, "anna@acme.test")
    assert sandbox.google.changed(["anna@acme.test"]) == 1
    assert sandbox.google.changed([ANA]) == 0
    sandbox.notifier.clear()
