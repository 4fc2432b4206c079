"""Microsoft Graph change-notification subscriptions on mailbox events, and the
notifications they produce.

As Graph does it:
- notification and lifecycle URLs must be https (400 InvalidRequest
  "NotificationUrl scheme='http' is not supported."); `allow_loopback_http`
  is the explicit opt-in for receivers on 127.0.0.1/localhost (replays, the
  demo, tests), never for any other host;
- a mailbox holds at most `max_per_mailbox` active subscriptions (about
  1,000 for Outlook resources, across all apps): one more is 403
  ExtensionError "Maximum number of subscriptions has been reached", so
  leaked subscriptions lock a mailbox out of new ones until they expire;
- before creating a subscription (and, by default here, before renewing one)
  Graph POSTs `{notificationUrl}?validationToken=<token>` (and the same to the
  lifecycleNotificationUrl): the endpoint must answer 200, text/plain, the
  decoded token, within 10 s, else 400 ValidationError. Real tokens contain
  spaces and colons, so do these: a receiver that does not URL-decode fails;
- expirationDateTime must lie in the future and at most `max_minutes` ahead
  (10080 minutes for Outlook events today; configurable);
- clientState is at most 128 characters, echoed in every notification;
- a change notification is `{"value": [{subscriptionId, subscriptionExpirationDateTime,
  changeType, resource, resourceData, clientState, tenantId}]}` whose resource
  names the user by object id (`Users/<guid>/Events/<id>`); only 202 counts as
  delivered (Graph retries otherwise: see Notifier.redeliver_failed), and the
  receiver has 3 s;
- lifecycle notifications (reauthorizationRequired, subscriptionRemoved, missed)
  go to the lifecycleNotificationUrl, fired by `fire_lifecycle`; a
  reauthorizationRequired challenge stays open on the subscription
  (`reauthorization_required`) until `POST /subscriptions/{id}/reauthorize`
  (204, no body) or a PATCH of its expiry answers it;
- expired subscriptions get nothing; deleted ones get nothing unless
  `faults.deliver_after_stop`."""

from __future__ import annotations

import ipaddress
import json
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from service.clock import Clock
from service.sandbox.errors import GraphApiError
from service.sandbox.faults import Faults
from service.sandbox.notifier import Delivery, Notifier
from service.sandbox.oauth import Grant
from service.sandbox.oauth_entra import object_id
from service.sandbox.timefmt import UTC, graph_stamp

CHANGE_TYPES = frozenset({"created", "updated", "deleted"})
LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})
_RESOURCE = re.compile(r"^/?(?:users/(?P<user>[^/]+)|(?P<me>me))/(?:calendar/)?events$", re.IGNORECASE)
_FRACTION = re.compile(r"(\.\d{6})\d+")
_JSON = {"Content-Type": "application/json; charset=utf-8"}
MAX_PER_MAILBOX = 1000  # Outlook resources: active subscriptions per mailbox, all apps together


@dataclass
class Subscription:
    id: str
    mailbox: str
    resource: str
    change_types: frozenset[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: datetime
    application_id: str
    creator_id: str
    deleted: bool = False
    reauthorization_required: datetime | None = None  # an unanswered reauthorizationRequired
    reauthorizations: int = 0  # challenges answered (reauthorize or a renewal)

    def resource_json(self, base: str) -> dict[str, Any]:
        return {
            "@odata.context": f"{base}/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": ",".join(sorted(self.change_types)),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": graph_stamp(self.expiration),
            "creatorId": self.creator_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }


def parse_expiration(value: Any) -> datetime:
    try:
        dt = datetime.fromisoformat(_FRACTION.sub(r"\1", str(value)))  # Graph writes 7 fractional digits
    except ValueError:
        raise GraphApiError(400, "InvalidRequest", f"Invalid expirationDateTime '{value}'.") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)


class GraphSubscriptions:
    def __init__(
        self,
        clock: Clock,
        notifier: Notifier,
        faults: Faults,
        tenant_id: str,
        *,
        max_minutes: int = 10080,
        validate_on_renew: bool = True,
        allow_loopback_http: bool = False,
        max_per_mailbox: int = MAX_PER_MAILBOX,
        validation_timeout: float = 10.0,
        notification_timeout: float = 3.0,
    ) -> None:
        self.clock, self.notifier, self.faults, self.tenant_id = clock, notifier, faults, tenant_id
        self.max_minutes = max_minutes
        self.validate_on_renew = validate_on_renew
        # Graph insists on https; receivers on loopback (replays, tests) are http: opt in.
        self.allow_loopback_http = allow_loopback_http
        self.max_per_mailbox = max_per_mailbox  # knob: the per-mailbox cap
        self.validation_timeout = validation_timeout
        self.notification_timeout = notification_timeout
        self._subs: dict[str, Subscription] = {}
        # By mailbox too: a change notifies its mailbox's subscriptions, and a long
        # replay creates thousands of them over many mailboxes.
        self._by_mailbox: dict[str, list[Subscription]] = {}
        self._lock = threading.Lock()

    def all(self, *, include_deleted: bool = False) -> list[Subscription]:
        with self._lock:
            return [s for s in self._subs.values() if include_deleted or not s.deleted]

    def active(self, mailbox: str) -> list[Subscription]:
        """The mailbox's subscriptions that count against its cap: neither deleted nor expired."""
        now = self.clock.now()
        with self._lock:
            return [s for s in self._by_mailbox.get(mailbox.lower(), ()) if not s.deleted and now < s.expiration]

    def clear(self) -> None:
        """Forget every subscription (a test's clean slate)."""
        with self._lock:
            self._subs.clear()
            self._by_mailbox.clear()

    # -- API operations (the caller has checked the token may read `mailbox`) -------------------
    async def create(self, grant: Grant, mailbox: str, body: dict[str, Any]) -> Subscription:
        for name in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
            if not body.get(name):
                raise GraphApiError(400, "InvalidRequest", f"The property '{name}' is required.")
        changes = frozenset(c.strip() for c in str(body["changeType"]).split(","))
        if not changes <= CHANGE_TYPES:
            raise GraphApiError(400, "InvalidRequest", f"Invalid changeType '{body['changeType']}'.")
        state = body.get("clientState")
        if state is not None and len(str(state)) > 128:
            raise GraphApiError(400, "InvalidRequest", "clientState cannot be longer than 128 characters.")
        expiration = self._check_expiration(body["expirationDateTime"])
        url, lifecycle = str(body["notificationUrl"]), body.get("lifecycleNotificationUrl")
        await self._validate(url, lifecycle)
        if len(self.active(mailbox)) >= self.max_per_mailbox:
            raise GraphApiError(
                403,
                "ExtensionError",
                "Operation: Create; Exception: [Status Code: Forbidden; "
                "Reason: Maximum number of subscriptions has been reached]",
            )
        sub = Subscription(
            str(uuid.uuid4()),
            mailbox,
            str(body["resource"]),
            changes,
            url,
            str(lifecycle) if lifecycle else None,
            None if state is None else str(state),
            expiration,
            grant.client_id,
            object_id(grant.user)
            if grant.user
            else str(uuid.uuid5(uuid.NAMESPACE_URL, f"fake-entra:sp:{grant.client_id}")),
        )
        with self._lock:
            self._subs[sub.id] = sub
            self._by_mailbox.setdefault(sub.mailbox, []).append(sub)
        return sub

    async def renew(self, grant: Grant, sub_id: str, body: dict[str, Any]) -> Subscription:
        sub = self.get(grant, sub_id)
        expiration = (
            self._check_expiration(body["expirationDateTime"]) if "expirationDateTime" in body else sub.expiration
        )
        url = str(body.get("notificationUrl") or sub.notification_url)
        if self.validate_on_renew or url != sub.notification_url:
            await self._validate(url, sub.lifecycle_url)
        with self._lock:
            sub.expiration, sub.notification_url = expiration, url
            if "expirationDateTime" in body:
                self._answered(sub)
        return sub

    def reauthorize(self, grant: Grant, sub_id: str) -> Subscription:
        """`POST /subscriptions/{id}/reauthorize`: the app, with a valid token, answers a challenge."""
        sub = self.get(grant, sub_id)
        with self._lock:
            self._answered(sub)
        return sub

    @staticmethod
    def _answered(sub: Subscription) -> None:
        if sub.reauthorization_required is not None:
            sub.reauthorization_required = None
            sub.reauthorizations += 1

    def get(self, grant: Grant, sub_id: str) -> Subscription:
        with self._lock:
            sub = self._subs.get(sub_id)
        if sub is None or sub.deleted or self.clock.now() >= sub.expiration:
            raise GraphApiError(404, "ResourceNotFound", "The object was not found.")
        if sub.application_id != grant.client_id or (grant.user and sub.mailbox != grant.user):
            raise GraphApiError(403, "ExtensionError", "Operation: Read; Exception: [Status Code: Forbidden]")
        return sub

    def delete(self, grant: Grant, sub_id: str) -> None:
        sub = self.get(grant, sub_id)
        with self._lock:
            sub.deleted = True

    def listed(self, grant: Grant) -> list[Subscription]:
        now = self.clock.now()
        return [
            s
            for s in self.all()
            if s.application_id == grant.client_id
            and now < s.expiration
            and (grant.user is None or s.mailbox == grant.user)
        ]

    # -- notifications ---------------------------------------------------------------------
    def notify(
        self, mailbox: str, change_type: str, event_id: str, *, etag: str | None = None, at: datetime | None = None
    ) -> int:
        when = at or self.clock.now()
        with self._lock:
            held = list(self._by_mailbox.get(mailbox.lower(), ()))
        targets = [
            s
            for s in held
            if (not s.deleted or self.faults.deliver_after_stop)
            and change_type in s.change_types
            and when < s.expiration
        ]
        resource = f"Users/{object_id(mailbox)}/Events/{event_id}"
        for sub in targets:
            data: dict[str, Any] = {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": resource, "id": event_id}
            if etag:
                data["@odata.etag"] = f'W/"{etag}"'
            item = {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": graph_stamp(sub.expiration),
                "changeType": change_type,
                "resource": resource,
                "resourceData": data,
                "clientState": sub.client_state,
                "tenantId": self.tenant_id,
            }
            self.notifier.enqueue(
                Delivery(
                    "graph",
                    sub.notification_url,
                    sub.id,
                    dict(_JSON),
                    json.dumps({"value": [item]}).encode(),
                    self.notification_timeout,
                    frozenset({202}),
                    {"mailbox": sub.mailbox, "changeType": change_type, "eventId": event_id},
                )
            )
        return len(targets)

    def fire_lifecycle(self, sub_id: str, event: str) -> bool:
        """Knob: send a lifecycle notification; `subscriptionRemoved` also removes it. False if
        the subscription has no lifecycleNotificationUrl."""
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"unknown lifecycle event {event!r}")
        with self._lock:
            sub = self._subs[sub_id]
            if event == "subscriptionRemoved":
                sub.deleted = True
            elif event == "reauthorizationRequired":
                sub.reauthorization_required = self.clock.now()
        if not sub.lifecycle_url:
            return False
        item = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": graph_stamp(sub.expiration),
            "tenantId": self.tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
            "resource": sub.resource,
        }
        self.notifier.enqueue(
            Delivery(
                "graph-lifecycle",
                sub.lifecycle_url,
                sub.id,
                dict(_JSON),
                json.dumps({"value": [item]}).encode(),
                self.notification_timeout,
                frozenset({202}),
                {"lifecycleEvent": event},
            )
        )
        return True

    # -- helpers --------------------------------------------------------------------------------
    def _check_expiration(self, value: Any) -> datetime:
        expiration, now = parse_expiration(value), self.clock.now()
        if expiration <= now:
            raise GraphApiError(400, "ExtensionError", "Subscription expiration must be in the future.")
        if expiration > now + timedelta(minutes=self.max_minutes):
            raise GraphApiError(
                400, "ExtensionError", f"Subscription expiration can only be {self.max_minutes} minutes in the future."
            )
        return expiration

    def _check_scheme(self, target: str, field: str) -> None:
        parts = urlsplit(target)
        scheme = parts.scheme.lower()
        if scheme == "https" or (scheme == "http" and self.allow_loopback_http and _loopback(parts.hostname)):
            return
        raise GraphApiError(400, "InvalidRequest", f"{field} scheme='{scheme}' is not supported.")

    async def _validate(self, url: str, lifecycle: Any) -> None:
        self._check_scheme(url, "NotificationUrl")  # both schemes before either handshake
        if lifecycle:
            self._check_scheme(str(lifecycle), "LifecycleNotificationUrl")
        for target, label in ((url, "Notification"), (lifecycle, "Lifecycle notification")):
            if not target:
                continue
            token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
            sep = "&" if "?" in str(target) else "?"
            result = await self.notifier.send_now(
                Delivery(
                    "graph-validation",
                    f"{target}{sep}validationToken={quote(token, safe='')}",
                    "",
                    {"Content-Type": "text/plain; charset=utf-8"},
                    b"",
                    self.validation_timeout,
                    frozenset({200}),
                )
            )
            if not (result.ok and result.text == token and result.content_type.startswith("text/plain")):
                raise GraphApiError(
                    400,
                    "ValidationError",
                    f"Subscription validation request failed. {label} "
                    "endpoint must respond with 200 OK to validation request.",
                )


def _loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
