"""How GraphCalendarProvider reports what Graph and Entra refuse: each failure as
the port's AuthorizationFailed with the ReconnectReason that says why (and so
whether a person must act or the calendar may heal), or Throttled."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from service.sync.port import AuthorizationFailed, CalendarRef, ReconnectReason, Throttled
from service.sync.providers.microsoft.adapter import GraphCalendarProvider
from service.sync.providers.microsoft.consent import GraphConnect
from service.sync.providers.microsoft.http import classify
from tests.sync.graph_sandbox import REDIRECT, WINDOW, Sandbox, next_number

R = ReconnectReason


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (404, "ErrorInvalidUser", R.user_not_found),  # deleted (or renamed, when addressed by name)
        (404, "MailboxNotEnabledForRESTAPI", R.no_mailbox),  # no Exchange licence, or on-premises
        (403, "ErrorAccessDenied", R.delegation_denied),  # an application access policy leaves it out
        (403, "Authorization_RequestDenied", R.delegation_denied),  # the admin did not grant the role
    ],
)
async def test_graph_refusals_of_an_org_grant_say_why(
    world: Sandbox, provider: GraphCalendarProvider, status: int, code: str, reason: ReconnectReason
) -> None:
    world.fake.faults.fail_next(1, status, reason=code, target="graph")
    with pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(world.org_ref(world.mailbox(), resolved=True), None, WINDOW)
    assert err.value.reason is reason and err.value.status == status and not err.value.transient
    assert code in str(err.value)


def test_a_delegated_grant_refused_is_forbidden_not_delegation() -> None:
    user = CalendarRef(1, "x@acme.test", "x@acme.test", "rt", "user")
    assert classify(403, "ErrorAccessDenied", user) is R.forbidden
    assert classify(401, "InvalidAuthenticationToken", user) is R.consent_withdrawn
    assert classify(401, "InvalidAuthenticationToken", dataclasses.replace(user, connection_kind="org")) is (
        R.app_misconfigured
    )
    assert classify(403, "ExtensionError", user) is None  # e.g. the subscription cap: not the grant
    assert classify(404, "ErrorItemNotFound", user) is None  # an event, not the mailbox


async def test_throttling_past_the_retries_is_throttled_with_retry_after(
    world: Sandbox, provider: GraphCalendarProvider, sleeps: list[float]
) -> None:
    world.fake.faults.throttle(1, retry_after=600, target="graph")
    with pytest.raises(Throttled) as err:
        await provider.fetch_changes(world.org_ref(world.mailbox()), None, WINDOW)
    assert err.value.status == 429 and err.value.retry_after == 600.0 and err.value.transient and sleeps == []


async def test_a_wrong_app_secret_is_app_misconfigured(world: Sandbox, provider: GraphCalendarProvider) -> None:
    with pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(world.org_ref(world.mailbox(), credentials="wrong"), None, WINDOW)
    assert err.value.reason is R.app_misconfigured and "AADSTS7000215" in str(err.value)


@pytest.mark.parametrize("tenant", ["common", "organizations", "consumers", "Common"])
async def test_app_only_access_refuses_a_multi_tenant_authority(
    world: Sandbox, provider: GraphCalendarProvider, tenant: str
) -> None:
    creds = json.dumps({"tenant_id": tenant, "client_id": "any", "client_secret": "any"})
    with pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(world.org_ref(world.mailbox(), credentials=creds), None, WINDOW)
    assert err.value.reason is R.app_misconfigured and "tenant id" in str(err.value)
    assert world.recorder.calls == []  # refused before asking Entra, which would say AADSTS50059


async def _delegated(world: Sandbox, provider: GraphCalendarProvider, connect: GraphConnect) -> CalendarRef:
    email = world.mailbox()
    url = await connect.authorization_url(REDIRECT, "state", login_hint=email)
    code = parse_qs(urlsplit(world.login.get(url).headers["location"]).query)["code"][0]
    grant = await connect.exchange_code(code, REDIRECT)
    return CalendarRef(next_number(), email, email, grant.refresh_token, "user")


async def test_expired_and_revoked_refresh_tokens_are_consent_withdrawn(
    world: Sandbox, provider: GraphCalendarProvider
) -> None:
    connect = GraphConnect(world.settings.microsoft, http_client=world.login)
    idle = await _delegated(world, provider, connect)
    revoked = await _delegated(world, provider, connect)
    world.fake.entra.revoke_refresh_tokens(revoked.email)
    with pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(revoked, None, WINDOW)
    assert err.value.reason is R.consent_withdrawn and "AADSTS50173" in str(err.value)

    world.clock.set(world.clock.now() + timedelta(days=91))  # Entra's 90 days without use
    with pytest.raises(AuthorizationFailed) as err:
        await provider.fetch_changes(idle, None, WINDOW)
    assert err.value.reason is R.consent_withdrawn and "AADSTS700082" in str(err.value)


async def test_a_delegated_grant_may_use_the_common_authority(world: Sandbox) -> None:
    settings = world.settings.model_copy(
        update={"microsoft": world.settings.microsoft.model_copy(update={"tenant_id": "common"})}
    )
    provider = GraphCalendarProvider(settings, clock=world.clock, msal_http_client=world.login)
    try:
        ref = await _delegated(world, provider, GraphConnect(settings.microsoft, http_client=world.login))
        assert (await provider.fetch_changes(ref, None, WINDOW)).baseline == WINDOW
        with pytest.raises(AuthorizationFailed) as err:  # an org grant falling back to `common`
            await provider.fetch_changes(world.org_ref(ref.email, credentials="secret-only"), None, WINDOW)
        assert err.value.reason is R.app_misconfigured
    finally:
        await provider.aclose()
