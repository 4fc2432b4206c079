"""The API against its own OpenAPI document, by schemathesis: no input gets a 5xx, and
every answer keeps the contract (a documented status code, content type and headers, a
body matching the documented schema, every error as application/problem+json), and
data that violates the document is refused.

The document is loaded in-process from the app (schemathesis' ASGI loader), and each
case is sent in-process to an app of its own (schemathesis' ASGI transport; no server),
whose lifespan opens its engine on schemathesis' event loop, against the test database
seeded with an org, its pairs, meetings and their content. The run is made once per
operation as an admin and once as an ordinary employee (the report of a pair), with
positive and negative (schema-violating) data and schemathesis' coverage cases
(boundaries, missing and wrong-typed values, unexpected methods), derandomized: a fixed
seed and at most `MAX_EXAMPLES` generated examples per operation and mode. Half of the
cases are steered towards the seeded rows (ids in the path and body; a meeting lasting
30 minutes), and timestamps and dates mostly fall in the years the API accepts, so
deep paths (a meeting's agenda, notes, feedback) are reached, not only their 404s and
422s.

Both databases: PostgreSQL refuses what SQLite stores (NUL in text, integers past
BIGINT) and keeps extreme timestamps as infinity. The module runs in about 65 s of
`pytest -n 2` on this 2-core machine for both (225 items; 100 s with 30 examples, 63 s
with 8: the coverage cases are most of the rest), inside the 2 minutes it may take, so
it is not limited to SQLite.

Left out: the webhooks (their shape is the providers'; they are hardened on their own)
and `/calendars/{provider}/connect`, which needs the provider's sign-in (Microsoft's
metadata comes over the network; tests/api/test_calendars.py runs that flow against
the fakes). The callback stays in: whatever `state` it gets is a 400, never a 500."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.python import asgi

from service.api.app import create_app
from service.db.models import Calendar, CalendarConnection
from service.security.crypto import generate_key
from service.settings import GoogleSettings, Settings
from tests.api.routes import v1_operations
from tests.conftest import T0

PROBLEM = "application/problem+json"
SEED = 20260302
MAX_EXAMPLES = 12  # generated per operation, mode and caller (coverage cases come on top)
EXCLUDED = r"^/webhooks/|/connect$"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
            "allow-x00": True,
            # The callers' tokens are sent as they are: mangling them only tests the 401s.
            "with-security-parameters": False,
            # Unknown query parameters are ignored, as HTTP APIs do (the unknown body fields
            # that strict bodies refuse are in test_input_hardening's fuzz table).
            "allow-extra-parameters": False,
        },
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "phases": {"stateful": {"enabled": False}},
    }
)

# The ids of the rows `contract` seeded, read when a case is drawn.
KNOWN: dict[str, list[int]] = {}


@pytest.fixture(params=["admin", "report"])
async def contract(request, factory, sessions, settings, clock):
    """A seeded org and an app serving it, as `request.param` calls it."""
    o = await factory.org()
    past = await factory.meeting(o.pair, start=T0 - timedelta(days=7))
    upcoming = await factory.meeting(o.pair, start=T0 + timedelta(days=1))
    other = await factory.meeting(o.other_pair, start=T0 - timedelta(days=1))
    items = [
        await factory.agenda_item(past, o.report, body="shared point"),
        await factory.agenda_item(upcoming, o.manager, body="private point", private=True),
        await factory.action_item(o.pair, o.report, meeting_id=past.id),
    ]
    await factory.shared_note(past, o.report)
    await factory.private_note(past, o.manager)
    await factory.feedback(past, o.report)
    findings = [await factory.finding(o.pair), await factory.finding(o.other_pair)]
    template = await factory.template(name="Weekly")
    created = {"created_at": T0, "updated_at": T0}
    async with sessions() as s:
        connection = CalendarConnection(provider="google", kind="org", scopes="", status="active", **created)
        s.add(connection)
        await s.flush()
        calendars = [
            Calendar(
                person_id=person.id,
                connection_id=connection.id,
                provider="google",
                external_id=person.email,
                status="active",
                next_poll_at=T0,
                failures=0,
                **created,
            )
            for person in (o.report, o.manager)
        ]
        s.add_all(calendars)
        await s.commit()
    people = [o.boss, o.manager, o.report, o.other_manager, o.other_report, o.member, o.hr, o.admin]
    admin = request.param == "admin"
    KNOWN.clear()
    KNOWN.update(  # the report's own pair and meetings (steering elsewhere only finds 404s)
        person_id=[p.id for p in people],
        manager_id=[o.boss.id, o.manager.id, o.other_manager.id],
        report_id=[o.manager.id, o.report.id, o.other_report.id],
        owner_id=[o.manager.id, o.report.id],
        pair_id=[o.boss_pair.id, o.pair.id, o.other_pair.id] if admin else [o.pair.id],
        meeting_id=[past.id, upcoming.id, other.id] if admin else [past.id, upcoming.id],
        item_id=[i.id for i in items],
        finding_id=[f.id for f in findings] if admin else [findings[0].id],
        template_id=[template.id],
        calendar_id=[c.id for c in calendars],
    )
    app = create_app(
        settings.model_copy(
            update={
                "secret_key": SecretStr(generate_key()),  # the callback verifies states
                "google": GoogleSettings(client_id="contract-test", client_secret=SecretStr("x")),
            }
        ),
        clock=clock,
    )
    yield SimpleNamespace(app=app, headers=o.h[request.param])
    asgi.shutdown_lifespans()  # closes the app's engine before the rows are deleted


def _load_schema():
    """The document the app serves, fetched in-process (the loader's app is asked for
    nothing else: it never opens its database)."""
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", _env_file=None))
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG).exclude(path_regex=EXCLUDED)


schema = _load_schema()


def _instants(lo: datetime, hi: datetime) -> st.SearchStrategy[datetime]:
    offsets = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))])
    return st.datetimes(min_value=lo, max_value=hi, timezones=offsets)


# Timestamps and dates mostly near the seeded meetings, some anywhere the API accepts
# (1900-2200), some anywhere RFC 3339 can write (their 422s). schemathesis' own would
# rarely land in the accepted years. Registered for this process (this module's runs).
_NEAR = (datetime(2026, 1, 1), datetime(2026, 6, 1))
schemathesis.openapi.format(
    "date-time",
    st.one_of(
        _instants(*_NEAR),
        _instants(datetime(1900, 1, 2), datetime(2200, 12, 30)),
        _instants(datetime.min, datetime.max),
    ).map(lambda t: t.isoformat()),
)
schemathesis.openapi.format(
    "date", st.one_of(st.dates(*(d.date() for d in _NEAR)), st.dates()).map(lambda d: d.isoformat())
)


def _steer(case, ids: dict[str, int], short: bool, etag: str):
    """`case` with its valid path and body naming seeded rows, if `short` its meeting
    lasting 30 minutes, and `etag` for If-Match. Negative parts are left as they are."""
    if not case.meta.is_negative_at(ParameterLocation.PATH):
        case.path_parameters = {**case.path_parameters, **{k: v for k, v in ids.items() if k in case.path_parameters}}
    body = case.body
    if isinstance(body, dict) and not case.meta.is_negative_at(ParameterLocation.BODY):
        body = {**body, **{k: v for k, v in ids.items() if k in body}}
        if short and isinstance(body.get("start"), str):
            with contextlib.suppress(ValueError, OverflowError):
                body["end"] = (datetime.fromisoformat(body["start"]) + timedelta(minutes=30)).isoformat()
        case.body = body
    takes_if_match = any(parameter.name.lower() == "if-match" for parameter in case.operation.headers)
    if takes_if_match and not case.meta.is_negative_at(ParameterLocation.HEADER):
        case.headers = {**(case.headers or {}), "if-match": etag}
    return case


@schema.hook
def flatmap_case(context, case):
    """Half of the cases are steered towards the seeded rows (`_steer`)."""
    if case.meta is None:
        return st.just(case)
    fields = set(case.path_parameters or {}) | set(case.body if isinstance(case.body, dict) else {})
    ids = st.fixed_dictionaries({name: st.sampled_from(KNOWN[name]) for name in sorted(fields & set(KNOWN))})
    etags = st.sampled_from(['"1"', '"2"', "*"])  # the seeded shared note's version, then the next
    return st.one_of(st.just(case), st.builds(_steer, st.just(case), ids, st.booleans(), etags))


@schema.parametrize()
@hypothesis.settings(deadline=None, suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
def test_the_api_keeps_its_contract(case, contract):
    response = case.call_and_validate(app=contract.app, headers=contract.headers)
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith(PROBLEM), (case.method, case.formatted_path)


def test_the_run_covers_every_operation_but_the_webhooks_and_connect():
    served = {(op.method, op.path) for op in v1_operations()} | {
        ("GET", p) for p in ("/healthz", "/readyz", "/metrics")
    }
    tested = {(result.ok().method.upper(), result.ok().path) for result in schema.get_all_operations()}
    assert tested == {(method, path) for method, path in served if not path.endswith("/connect")}
    assert ("GET", "/v1/calendars/{provider}/callback") in tested
