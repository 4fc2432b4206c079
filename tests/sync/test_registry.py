"""service.sync.registry: adapters and connect flows picked from settings."""

from __future__ import annotations

import asyncio

import pytest

from service.settings import GoogleSettings, MicrosoftSettings, Settings
from service.sync.registry import (
    NotConfigured,
    ProviderSet,
    UnknownProvider,
    build_connect_flow,
    build_directory,
    close_providers,
    configured_providers,
)


def test_only_configured_providers_are_built(clock):
    bare = Settings(_env_file=None)
    assert configured_providers(bare) == set() and dict(ProviderSet(bare, clock)) == {}
    google = Settings(_env_file=None, google=GoogleSettings(service_account_file="/keys/sa.json"))
    assert set(ProviderSet(google, clock)) == {"google"}
    both = Settings(_env_file=None, google=GoogleSettings(client_id="g"), microsoft=MicrosoftSettings(client_id="m"))
    assert {name: p.name for name, p in ProviderSet(both, clock).items()} == {
        "google": "google",
        "microsoft": "microsoft",
    }


async def test_an_org_grant_gets_its_adapter_on_demand(clock):
    providers = ProviderSet(Settings(_env_file=None, google=GoogleSettings(client_id="g")), clock)
    assert list(providers) == ["google"]
    assert providers.get("microsoft").name == "microsoft"  # a calendar of it came up: built now
    assert list(providers) == ["google", "microsoft"] and providers.get("yahoo") is None
    await close_providers(providers)


@pytest.mark.parametrize("provider", ["google", "microsoft"])
def test_a_connect_flow_needs_the_servers_oauth_app(provider):
    with pytest.raises(NotConfigured):
        build_connect_flow(provider, Settings(_env_file=None))
    app = {"client_id": "id", "client_secret": "secret"}
    configured = Settings(_env_file=None, google=GoogleSettings(**app), microsoft=MicrosoftSettings(**app))
    assert build_connect_flow(provider, configured).name == provider


def test_a_directory_lookup_is_googles_only(clock):
    settings = Settings(_env_file=None)
    directory = build_directory("google", settings, clock)
    assert asyncio.iscoroutinefunction(directory.resolve)
    with pytest.raises(UnknownProvider):
        build_directory("microsoft", settings, clock)
