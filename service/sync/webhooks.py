"""Push notifications from Google (watch channels) and Microsoft Graph
(subscriptions): verify the secret, request a sync of the calendar, return at once.

Never syncs inside the request. Duplicated, reordered and late notifications are
harmless: requests coalesce into one sync, and notifications for stopped channels are
acknowledged and ignored. So are Google's `sync` handshake for a channel not yet
on record (Google sends it while answering events.watch, before our row is
committed) and a Graph notification for a subscription we do not know (Graph
would retry a refusal for hours): the latter is recorded for the upkeep to delete
(service.sync.orphans). A known channel or subscription with a wrong secret is
refused.

The endpoints are unauthenticated, so whatever arrives costs little and bounded
work: a Graph batch is parsed under a size, value, depth and item budget
(`parse_graph_batch`), verified with one SELECT for all its subscription ids, and
its calendars' syncs requested with one INSERT; every identifier and secret must be a
short printable ASCII string before it reaches the database, a hash or a log line;
and rejections are logged at most once per (provider, reason) per interval
(`RejectionLog`), while the Prometheus counters still count every notification."""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import structlog
from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.clock import Clock
from service.db.models import PushChannel
from service.metrics import WEBHOOK_REJECTIONS, WEBHOOKS
from service.sync import orphans, queue

log = structlog.get_logger(__name__)

# What a notification may carry, in characters (printable ASCII only: anything else
# cannot match a channel we opened, so it is rejected before any use).
MAX_ID = 300  # push_channels.channel_id is VARCHAR(300); ours are UUIDs, Graph's GUIDs
MAX_SECRET = 256  # Google allows channel tokens of 256 characters; Graph's clientState ≤ 128
MAX_WORD = 64  # X-Goog-Resource-State, lifecycleEvent: short enumeration words
# A rejected id goes into the log line only if it looks like ours or Graph's (a UUID):
# nothing a sender writes can pass for another field of a key=value line.
_LOGGABLE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# A Graph batch is `{"value": [{…, "resourceData": {…}}]}`: 4 levels. Deeper is not Graph.
MAX_DEPTH = 16
# JSON values a batch may hold per notification it may hold: a basic event notification
# has about 26 (12 keys and their values, 2 objects). This bounds the parser's work
# whatever the bytes are (1 MiB of empty arrays would be 350,000 values).
VALUES_PER_ITEM = 64


class Outcome(str, enum.Enum):
    accepted = "accepted"
    ignored = "ignored"  # a valid secret for a stopped channel, or a `sync` handshake
    orphaned = "orphaned"  # a Graph subscription we do not know: acknowledged, recorded for deletion
    rejected = "rejected"  # wrong secret, an unknown Google channel, or a malformed notification


class Reason(str, enum.Enum):
    """Why a delivery or one of its notifications was refused (the log's `reason`)."""

    forbidden = "forbidden"  # well-formed, but an unknown channel or a wrong secret
    malformed = "malformed"  # an item or header of the wrong type, length or characters
    too_large = "too_large"  # the body, its notifications or its JSON values over the caps
    invalid = "invalid"  # not UTF-8 JSON, nested too deep, a huge number, not a batch


class BatchRefused(Exception):
    """The whole delivery is refused (the API answers 400, or 413 if `too_large`)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class GraphNote:
    """One well-formed Graph notification: the only fields we read (the tenant and the
    mailbox its resource names only matter for a subscription we do not know)."""

    subscription_id: str
    client_state: str
    lifecycle_event: str = ""
    tenant_id: str | None = None
    user: str | None = None  # lower-cased


class RejectionLog:
    """At most one `webhook_rejected` warning per (provider, reason) per `interval`:
    a flood of forged notifications costs a dictionary look-up each, not a line each.
    A line carries the rejections it reports (`count`) and those left unlogged since
    the previous line for its key (`suppressed`); `oneonone_webhook_rejections_total`
    counts each of them. Keys are a closed set, so the
    memory is bounded; time is the injected clock's."""

    def __init__(self, clock: Clock, interval: timedelta = timedelta(seconds=10)) -> None:
        self.clock = clock
        self.interval = interval
        self._last: dict[tuple[str, Reason], datetime] = {}
        self._suppressed: dict[tuple[str, Reason], int] = {}

    def note(self, provider: str, reason: Reason, count: int = 1, *, sample_id: str | None = None) -> None:
        """`count` rejections; `sample_id`: one of the ids they named, logged if harmless."""
        if count <= 0:
            return
        WEBHOOK_REJECTIONS.labels(provider, reason.value).inc(count)  # every one, whatever is logged
        key, now = (provider, reason), self.clock.now()
        last = self._last.get(key)
        if last is not None and last <= now < last + self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + count
            return
        self._last[key] = now
        suppressed = self._suppressed.pop(key, 0)
        extra = {"sample_id": sample_id} if sample_id and _LOGGABLE_ID.fullmatch(sample_id) else {}
        log.warning(
            "webhook_rejected", provider=provider, reason=reason.value, count=count, suppressed=suppressed, **extra
        )


MAX_TENANT = 64  # a GUID (36 characters)
MAX_USER = 320  # an object id, or an address (a subscription made by name)
# `Users/{id}/Events/{id}` (change notifications), `/users/{id or address}/events` (lifecycle).
_RESOURCE_USER = re.compile(r"/?users/([^/]+)/", re.IGNORECASE)

# Built once, as Core over the columns a notification needs: it runs for every delivery.
_channels = PushChannel.__table__
_CHANNELS = select(
    _channels.c.id, _channels.c.channel_id, _channels.c.calendar_id, _channels.c.secret_hash, _channels.c.stopped_at
).where(
    _channels.c.channel_id.in_(bindparam("channel_ids", expanding=True)), _channels.c.provider == bindparam("provider")
)
_REAUTHORIZE = (
    update(_channels)
    .where(_channels.c.id.in_(bindparam("ids", expanding=True)))
    .values(reauthorize_requested_at=bindparam("now"))
)
_STOP = (
    update(_channels).where(_channels.c.id.in_(bindparam("ids", expanding=True))).values(stopped_at=bindparam("now"))
)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _printable(value: Any, limit: int) -> str | None:
    """`value` if it is a str of 1..limit printable ASCII characters (no NUL, no
    control character, no surrogate: safe for the database, a hash and a log line)."""
    if isinstance(value, str) and 0 < len(value) <= limit and value.isascii() and value.isprintable():
        return value
    return None


def _secret_matches(channel: Row, secret: str) -> bool:
    # Digests compared as bytes: compare_digest raises TypeError on non-ASCII str.
    return hmac.compare_digest(channel.secret_hash.encode(), secret_hash(secret).encode())


async def _channels_by_id(session: AsyncSession, provider: str, channel_ids: set[str]) -> dict[str, Row]:
    """One SELECT for every channel a delivery names."""
    if not channel_ids:
        return {}
    rows = await session.execute(_CHANNELS, {"channel_ids": sorted(channel_ids), "provider": provider})
    return {row.channel_id: row for row in rows}


async def google(session: AsyncSession, headers: Mapping[str, str], now: datetime, rejections: RejectionLog) -> Outcome:
    channel_id = _printable(headers.get("x-goog-channel-id"), MAX_ID)
    token = _printable(headers.get("x-goog-channel-token"), MAX_SECRET)
    state = headers.get("x-goog-resource-state")
    if channel_id is None or token is None or (state is not None and _printable(state, MAX_WORD) is None):
        outcome, reason = Outcome.rejected, Reason.malformed
    else:
        channel = (await _channels_by_id(session, "google", {channel_id})).get(channel_id)
        if channel is None and state == "sync":
            outcome = Outcome.ignored  # sent while events.watch is answered: our row may not be committed yet
        elif channel is None or not _secret_matches(channel, token):
            outcome, reason = Outcome.rejected, Reason.forbidden
        elif channel.stopped_at is not None or state == "sync":
            outcome = Outcome.ignored
        else:
            await queue.request_sync(session, [channel.calendar_id], now)
            outcome = Outcome.accepted
    WEBHOOKS.labels("google", outcome.value).inc()
    if outcome is Outcome.rejected:
        rejections.note("google", reason, sample_id=channel_id)
    return outcome


_CONTAINERS = (dict, list)
# Every byte but the four that can precede a JSON value or key: deleting them counts those.
_NOT_BEFORE_A_VALUE = bytes(sorted(set(range(256)) - set(b",:[{")))


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest more than `limit` levels (level by level, no recursion)."""
    level = [value]
    for _ in range(limit):
        level = [
            child
            for node in level
            for child in (node.values() if type(node) is dict else node)
            if type(child) in _CONTAINERS
        ]
        if not level:
            return False
    return True


def parse_graph_batch(raw: bytes, *, max_items: int) -> list[GraphNote | None]:
    """A Graph delivery's notifications, each a `GraphNote` or None when the item is
    malformed (not an object; `subscriptionId`, `clientState` or `lifecycleEvent` not
    a short printable ASCII string): such an item is rejected on its own, like a
    forged one. Raises `BatchRefused` when the body as a whole is not a batch: not
    UTF-8 JSON (orjson also refuses lone surrogates and numbers beyond a double),
    over the value budget, nested deeper than MAX_DEPTH, not `{"value": [...]}` with
    1..max_items notifications."""
    # Every JSON value or key follows `[`, `{`, `,` or `:` (or starts the text): counting
    # those bounds the parser's work before it starts (strings and numbers parse at C speed).
    budget = VALUES_PER_ITEM * max_items
    if len(raw.translate(None, _NOT_BEFORE_A_VALUE)) > budget:
        raise BatchRefused(Reason.too_large, f"more than {budget} JSON values")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:  # also past 1,024 levels: orjson never recurses deeper
        deep = "recursion" in str(exc)
        raise BatchRefused(
            Reason.invalid, f"JSON nested deeper than {MAX_DEPTH} levels" if deep else "body is not UTF-8 JSON"
        ) from None
    items = body.get("value") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise BatchRefused(Reason.invalid, 'expected {"value": [notification, …]}')
    if len(items) > max_items:
        raise BatchRefused(Reason.too_large, f"more than {max_items} notifications in one delivery")
    if _deeper_than(body, MAX_DEPTH):
        raise BatchRefused(Reason.invalid, f"JSON nested deeper than {MAX_DEPTH} levels")
    return [_graph_note(item) for item in items]


def _graph_note(item: Any) -> GraphNote | None:
    if not isinstance(item, dict):
        return None
    subscription_id = _printable(item.get("subscriptionId"), MAX_ID)
    client_state = _printable(item.get("clientState"), MAX_SECRET)
    event = item.get("lifecycleEvent", "")
    if subscription_id is None or client_state is None or (event != "" and _printable(event, MAX_WORD) is None):
        return None
    resource = _printable(item.get("resource"), MAX_ID + MAX_USER)
    named = _RESOURCE_USER.match(resource) if resource else None
    user = _printable(named.group(1), MAX_USER) if named else None
    tenant = _printable(item.get("tenantId"), MAX_TENANT)
    return GraphNote(subscription_id, client_state, event, tenant, user.lower() if user else None)


async def microsoft(
    session: AsyncSession,
    notes: list[GraphNote | None],
    now: datetime,
    rejections: RejectionLog,
    *,
    lifecycle: bool = False,
) -> list[Outcome]:
    """Each notification of a Graph batch, verified on its own clientState, in a
    constant number of statements: one SELECT for all the batch's subscriptions, at
    most one UPDATE per lifecycle change, one INSERT requesting the calendars' syncs (once each),
    and for subscriptions we do not know, up to four to record them (orphans.record).
    Items are taken in order, as if one by one: after a `subscriptionRemoved`, the
    subscription's later items are acknowledged and ignored."""
    channels = await _channels_by_id(session, "microsoft", {n.subscription_id for n in notes if n is not None})
    outcomes: list[Outcome] = []
    forbidden = malformed = 0
    sample = ""
    reauthorize: set[int] = set()
    stop: set[int] = set()
    wanted: dict[int, None] = {}  # calendar ids in order of first acceptance
    unknown: dict[str, orphans.Orphan] = {}
    for note in notes:
        channel = channels.get(note.subscription_id) if note is not None else None
        if note is None:
            outcome = Outcome.rejected
            malformed += 1
        elif channel is None:
            outcome = Outcome.orphaned
            unknown.setdefault(note.subscription_id, orphans.Orphan(note.subscription_id, note.tenant_id, note.user))
        elif not _secret_matches(channel, note.client_state):
            outcome = Outcome.rejected
            forbidden += 1
            sample = sample or note.subscription_id
        elif channel.stopped_at is not None or channel.id in stop:
            outcome = Outcome.ignored
        else:
            if lifecycle:
                log.info("graph_lifecycle", subscription_id=channel.channel_id, lifecycle_event=note.lifecycle_event)
                # `missed` (and anything else): notifications were lost; the requested sync catches up.
                if note.lifecycle_event == "reauthorizationRequired":
                    # The upkeep answers it (POST …/reauthorize); this request never calls Graph.
                    reauthorize.add(channel.id)
                elif note.lifecycle_event == "subscriptionRemoved":
                    stop.add(channel.id)  # recreate
            wanted[channel.calendar_id] = None
            outcome = Outcome.accepted
        outcomes.append(outcome)
    if reauthorize:
        await session.execute(_REAUTHORIZE, {"ids": sorted(reauthorize), "now": now})
    if stop:
        await session.execute(_STOP, {"ids": sorted(stop), "now": now})
    await queue.request_sync(session, list(wanted), now)
    if unknown:
        await orphans.record(session, list(unknown.values()), now)
    for outcome in Outcome:
        if n := outcomes.count(outcome):
            WEBHOOKS.labels("microsoft", outcome.value).inc(n)
    rejections.note("microsoft", Reason.malformed, malformed)
    rejections.note("microsoft", Reason.forbidden, forbidden, sample_id=sample)
    return outcomes
