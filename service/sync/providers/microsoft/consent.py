"""A person connecting their own Microsoft calendar (the port's ConnectFlow).

Delegated Calendars.Read and User.Read with offline access, redeemed by our
own web app (see auth). Who connected is read from Graph, not from the id
token: `preferred_username` is the sign-in name (UPN), which can change and
need not be the mail address. `GET /me?$select=id,mail,userPrincipalName,
proxyAddresses` gives the immutable object id (stored with the calendar) and
every address the account answers to: mail, UPN and each `smtp:`
proxyAddress. The engine matches the person against those."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from service.settings import MicrosoftSettings
from service.sync.port import AuthorizationFailed, Grant, ProviderError, ReconnectReason
from service.sync.providers.microsoft.auth import (
    CONSENT_SCOPES,
    MsalApps,
    forget_people,
    in_thread,
    web_app_credentials,
)
from service.sync.providers.microsoft.http import classify, error_code

ME_SELECT = "id,mail,userPrincipalName,proxyAddresses"
_SMTP = "smtp:"


class GraphConnect:
    """ConnectFlow for Microsoft. `graph_client`: the httpx client for GET /me
    (one per exchange when None)."""

    name = "microsoft"

    def __init__(
        self, settings: MicrosoftSettings, *, http_client: Any = None, graph_client: httpx.AsyncClient | None = None
    ) -> None:
        self._apps = MsalApps(settings, http_client=http_client)
        self._credentials = web_app_credentials(settings)
        self._graph_endpoint = settings.graph_endpoint.rstrip("/")
        self._graph_client = graph_client

    async def authorization_url(self, redirect_uri: str, state: str, login_hint: str | None = None) -> str:
        def build() -> str:
            # Blocking the first time: MSAL fetches the authority's OpenID metadata.
            app, lock = self._apps.get(self._credentials)
            with lock:
                return app.get_authorization_request_url(
                    CONSENT_SCOPES, state=state, redirect_uri=redirect_uri, login_hint=login_hint
                )

        try:
            return await asyncio.to_thread(build)
        except ProviderError:
            raise
        except Exception as exc:
            raise ProviderError(f"authorization url: {type(exc).__name__}") from None

    async def exchange_code(self, code: str, redirect_uri: str) -> Grant:
        def redeem() -> dict[str, Any] | None:
            app, lock = self._apps.get(self._credentials)
            with lock:
                try:
                    return app.acquire_token_by_authorization_code(
                        code, scopes=CONSENT_SCOPES, redirect_uri=redirect_uri
                    )
                finally:
                    forget_people(app)

        result = await in_thread(redeem, "authorization code")
        refresh_token = result.get("refresh_token")
        if not refresh_token:
            raise AuthorizationFailed("no refresh token: offline_access was not granted")
        me = await self._me(result["access_token"])
        user_id, mail, upn = me.get("id"), me.get("mail"), me.get("userPrincipalName")
        if not isinstance(user_id, str) or not user_id:
            raise ProviderError("/me: Graph answered without a user id", transient=False)
        addresses = [a for a in (mail, upn) if isinstance(a, str) and a]
        addresses += [
            p[len(_SMTP) :]
            for p in me.get("proxyAddresses") or []
            if isinstance(p, str) and p.lower().startswith(_SMTP)
        ]
        if not addresses:
            raise AuthorizationFailed("the signed-in user has no address", reason=ReconnectReason.no_mailbox)
        known = tuple(dict.fromkeys(a.strip().lower() for a in addresses))
        return Grant(
            refresh_token=refresh_token,
            account=known[0],
            scopes=" ".join(CONSENT_SCOPES),
            addresses=known,
            user_id=user_id,
        )

    async def _me(self, access_token: str) -> dict[str, Any]:
        client = self._graph_client or httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0))
        try:
            response = await client.get(
                f"{self._graph_endpoint}/me",
                params={"$select": ME_SELECT},
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ProviderError(f"/me: {type(exc).__name__}") from None
        finally:
            if self._graph_client is None:
                await client.aclose()
        if response.status_code != 200:
            message = f"/me: Graph {response.status_code} {error_code(response)}".rstrip()
            reason = classify(response.status_code, error_code(response), None) or ReconnectReason.forbidden
            if response.status_code >= 500 or response.status_code == 429:
                raise ProviderError(message, status=response.status_code)
            raise AuthorizationFailed(message, reason=reason, status=response.status_code)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ProviderError("/me: Graph answered an unexpected body")
        return body


__all__ = ["GraphConnect"]
