"""One POST to a webhook endpoint, safely.

The URL's host is resolved at each delivery and every address it resolves to is
judged (service.security.addresses); the request then goes to the first one, pinned:
the connection is made to that address with the URL's host in `Host` and in TLS
(SNI and the certificate check), so a DNS answer that changes between the check and
the connection (rebinding) cannot send it elsewhere. Redirects are not followed;
connecting may take `connect_timeout_seconds` and the whole exchange
`timeout_seconds`; at most `max_response_bytes` of the answer is read."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx

from service.security.addresses import IPAddress, Network, literal_ip, refusal
from service.settings import OutboundWebhookSettings

EXCERPT_CHARS = 1024
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


async def resolve(host: str, port: int) -> list[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = literal_ip(str(sockaddr[0]))
        if ip is not None and ip not in found:
            found.append(ip)
    return found


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int | None
    latency_ms: int
    excerpt: str | None
    error: str | None
    retry_after: float | None = None  # seconds, from the answer's Retry-After

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Sender:
    def __init__(
        self,
        settings: OutboundWebhookSettings,
        allowed: list[Network],
        *,
        resolver: Resolver = resolve,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.allowed = allowed
        self.resolver = resolver
        timeout = httpx.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds)
        self.client = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, transport=transport, trust_env=False, http2=False
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def post(self, url: str, headers: dict[str, str], body: bytes, now: datetime) -> Answer:
        started = time.monotonic()  # latency is infrastructure time, not domain time

        def took() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            async with asyncio.timeout(self.settings.timeout_seconds):
                target = httpx.URL(url)
                pinned, problem = await self._pin(target)
                if problem:
                    return Answer(None, took(), None, problem)
                return await self._send(target, pinned, headers, body, now, took)
        except TimeoutError:
            return Answer(None, took(), None, f"timed out after {self.settings.timeout_seconds:g} s")
        except httpx.TimeoutException as exc:
            return Answer(None, took(), None, f"timed out ({type(exc).__name__})")
        except (httpx.HTTPError, OSError, ValueError) as exc:
            return Answer(None, took(), None, f"{type(exc).__name__}: {exc}"[:300])

    async def _pin(self, target: httpx.URL) -> tuple[httpx.URL, str | None]:
        host = target.host
        port = target.port or (443 if target.scheme == "https" else 80)
        try:
            addresses = await self.resolver(host, port)
        except OSError as exc:
            return target, f"cannot resolve {host}: {exc}"[:300]
        if not addresses:
            return target, f"{host} resolves to no address"
        for ip in addresses:
            if why := refusal(ip, self.allowed):
                return target, f"refused: {host} resolves to {ip}, a {why} address"
        return target.copy_with(host=str(addresses[0])), None

    async def _send(self, target, pinned, headers, body, now, took) -> Answer:
        default = 443 if target.scheme == "https" else 80
        host_header = target.host if target.port in (None, default) else f"{target.host}:{target.port}"
        if ":" in target.host:  # an IPv6 literal
            host_header = f"[{target.host}]" + ("" if target.port in (None, default) else f":{target.port}")
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = self.client.build_request(
            "POST",
            pinned,
            content=body,
            headers={
                **headers,
                "host": host_header,
                "content-type": "application/json",
                "user-agent": "oneonone-webhooks/1",
                "accept-encoding": "identity",
            },
            extensions=extensions,
        )
        response = await self.client.send(request, stream=True)
        try:
            data = bytearray()
            async for chunk in response.aiter_raw():
                data += chunk[: self.settings.max_response_bytes - len(data)]
                if len(data) >= self.settings.max_response_bytes:
                    break
        finally:
            await response.aclose()
        excerpt = bytes(data[: EXCERPT_CHARS * 4]).decode("utf-8", "replace")[:EXCERPT_CHARS]
        return Answer(response.status_code, took(), excerpt or None, None, _retry_after(response, now))


def _retry_after(response: httpx.Response, now: datetime) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
    except (TypeError, ValueError, IndexError):
        return None
