"""Google Calendar push channels (`events.watch`, `channels.stop`) and the
notifications they produce.

As Google does it:
- a channel watches one calendar's events; its `resourceId` names the watched
  resource and is the same for every channel on that calendar;
- the channel lives `params.ttl` seconds (default 7 days, capped at `max_ttl`);
  there is no renewal; after expiry nothing is delivered;
- right after creation the channel gets a `sync` message (number 1), then an
  `exists` message on every change, numbers increasing per channel;
- a message is a POST with an empty body and X-Goog-* headers;
- the channel id must be unique and match [A-Za-z0-9-_+/=]{1,64};
- the address must be https (else 400 push.webhookUrlNotHttps), unless the
  fake was told `allow_http_loopback` (http to a loopback receiver only).
`faults.deliver_after_stop` keeps notifying stopped channels (Google may)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

from service.clock import Clock
from service.sandbox.errors import GoogleApiError
from service.sandbox.faults import Faults
from service.sandbox.notifier import Delivery, Notifier

DEFAULT_TTL = timedelta(days=7)
_CHANNEL_ID = re.compile(r"^[A-Za-z0-9\-_+/=]{1,64}$")
_USER_AGENT = "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)"


@dataclass
class Channel:
    id: str
    resource_id: str
    resource_uri: str
    calendar: str
    owner: str  # the user whose token created it
    address: str
    token: str | None
    expiration: datetime
    number: int = 0
    stopped: bool = False

    def resource(self) -> dict[str, Any]:
        out = {
            "kind": "api#channel",
            "id": self.id,
            "resourceId": self.resource_id,
            "resourceUri": self.resource_uri,
            "expiration": str(int(self.expiration.timestamp() * 1000)),
        }
        if self.token is not None:
            out["token"] = self.token
        return out


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resource_id(calendar: str) -> str:
    """Stable per watched calendar, opaque like Google's."""
    return hashlib.sha1(f"events:{calendar.lower()}".encode()).hexdigest()[:27]


class GoogleChannels:
    def __init__(
        self,
        clock: Clock,
        notifier: Notifier,
        faults: Faults,
        *,
        max_ttl: timedelta = timedelta(days=30),
        allow_http_loopback: bool = False,
    ) -> None:
        self.clock, self.notifier, self.faults = clock, notifier, faults
        self.max_ttl = max_ttl
        # Google only posts to https addresses (with a valid certificate, on a verified
        # domain) and refuses any other with 400 push.webhookUrlNotHttps. The replays,
        # the demo and tests run their receivers on loopback over plain http: they opt
        # in to http on 127.0.0.0/8, ::1 and localhost, and to nothing else.
        self.allow_http_loopback = allow_http_loopback
        self._channels: dict[str, Channel] = {}
        # By calendar too: a change notifies its calendar's channels, and a long
        # replay opens thousands of channels over many calendars.
        self._by_calendar: dict[str, list[Channel]] = {}
        self._lock = threading.Lock()

    def channels(self, calendar: str | None = None) -> list[Channel]:
        with self._lock:
            if calendar is None:
                return list(self._channels.values())
            return list(self._by_calendar.get(calendar.lower(), ()))

    def rename_calendar(self, calendar: str, new: str) -> None:
        """The watched calendar's id changed (its owner was renamed): its channels live on."""
        with self._lock:
            moved = self._by_calendar.pop(calendar.lower(), [])
            for channel in moved:
                channel.calendar = new.lower()
            self._by_calendar.setdefault(new.lower(), []).extend(moved)

    def clear(self) -> None:
        """Forget every channel (a test's clean slate)."""
        with self._lock:
            self._channels.clear()
            self._by_calendar.clear()

    def watch(self, calendar: str, owner: str, body: dict[str, Any], resource_uri: str) -> dict[str, Any]:
        channel_id, address = body.get("id"), body.get("address")
        kind = body.get("type")
        if not channel_id or not address or not kind:
            field = "id" if not channel_id else "address" if not address else "type"
            raise GoogleApiError(400, "required", f"Required: {field}")
        if kind not in ("web_hook", "webhook"):
            raise GoogleApiError(400, "invalid", f"Invalid value for type: {kind}")
        if not isinstance(channel_id, str) or not _CHANNEL_ID.match(channel_id):
            raise GoogleApiError(400, "invalid", "Invalid channel id")
        if not self._deliverable(str(address)):
            raise GoogleApiError(400, "push.webhookUrlNotHttps", f"WebHook callback must be HTTPS: {address}")
        token = body.get("token")
        if token is not None and len(str(token)) > 256:
            raise GoogleApiError(400, "invalid", "Channel token too long")
        ttl = DEFAULT_TTL
        params = body.get("params") or {}
        if "ttl" in params:
            try:
                ttl = timedelta(seconds=int(params["ttl"]))
            except (TypeError, ValueError):
                raise GoogleApiError(400, "invalid", "Invalid value for ttl") from None
        ttl = max(timedelta(seconds=1), min(ttl, self.max_ttl))
        now = self.clock.now()
        with self._lock:
            if channel_id in self._channels:
                raise GoogleApiError(400, "channelIdNotUnique", f"Channel id {channel_id} not unique", domain="push")
            # Expiration is whole milliseconds on the wire; keep it that way here too.
            expiration = datetime.fromtimestamp(int((now + ttl).timestamp() * 1000) / 1000, tz=UTC)
            channel = Channel(
                channel_id,
                resource_id(calendar),
                resource_uri,
                calendar.lower(),
                owner,
                str(address),
                None if token is None else str(token),
                expiration,
            )
            self._channels[channel_id] = channel
            self._by_calendar.setdefault(channel.calendar, []).append(channel)
            sync = self._message(channel, "sync")
        self.notifier.enqueue(sync)
        return channel.resource()

    def _deliverable(self, address: str) -> bool:
        parts = urlsplit(address)
        if parts.scheme == "https" and parts.hostname:
            return True
        return self.allow_http_loopback and parts.scheme == "http" and _loopback(parts.hostname or "")

    def stop(self, owner: str, body: dict[str, Any]) -> None:
        with self._lock:
            channel = self._channels.get(str(body.get("id", "")))
            if (
                channel is None
                or channel.stopped
                or channel.resource_id != body.get("resourceId")
                or channel.owner != owner
            ):
                raise GoogleApiError(404, "notFound", f"Channel '{body.get('id')}' not found for project")
            channel.stopped = True

    def notify(self, calendar: str, at: datetime | None = None) -> int:
        """Queue an `exists` message on every live channel of `calendar`; returns how many."""
        when = at or self.clock.now()
        with self._lock:
            messages = [
                self._message(c, "exists")
                for c in self._by_calendar.get(calendar.lower(), ())
                if when < c.expiration and (not c.stopped or self.faults.deliver_after_stop)
            ]
        for message in messages:
            self.notifier.enqueue(message)
        return len(messages)

    def _message(self, channel: Channel, state: str) -> Delivery:
        channel.number += 1
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": format_datetime(channel.expiration, usegmt=True),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": channel.resource_uri,
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(channel.number),
            "User-Agent": _USER_AGENT,
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        return Delivery(
            "google",
            channel.address,
            channel.id,
            headers,
            b"",
            meta={"calendar": channel.calendar, "state": state, "number": channel.number},
        )
