"""The sandbox's own zone table (service/sandbox/zones.py), and the check that
makes keeping two tables worth it: the fakes' table (CLDR, via tzlocal) and the
production Graph adapter's hand-kept one must put every Windows zone at the
same UTC offsets. Where they disagree one of them is wrong; CLDR decides which."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from service.sandbox import zones
from service.sandbox.zones import UnknownTimeZone, to_iana, zone
from service.sync.providers.microsoft import windows_zones as adapter

SANDBOX = Path(zones.__file__).resolve().parent

# The 1st and 15th of every month, 2024–2027, at noon UTC: both sides of every
# DST rule in force, in both hemispheres.
INSTANTS = [
    datetime(year, month, day, 12, tzinfo=UTC)
    for year in range(2024, 2028)
    for month in range(1, 13)
    for day in (1, 15)
]


def _offsets(tz: ZoneInfo) -> list[timedelta | None]:
    return [instant.astimezone(tz).utcoffset() for instant in INSTANTS]


def _imported_modules(source: str, package: str) -> set[str]:
    """Every module `source` (a module of `package`) imports: relative imports
    resolved, and `from a import b` giving both a and a.b (b may be a module)."""
    parts = package.split(".")
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _is_sync(module: str) -> bool:
    return module == "service.sync" or module.startswith("service.sync.")


def test_no_sandbox_module_imports_the_sync_package() -> None:
    files = sorted(SANDBOX.rglob("*.py"))
    assert len(files) > 20  # the walk found the package
    offenders = {}
    for path in files:
        package = ".".join(path.relative_to(SANDBOX.parent.parent).parts[:-1])
        modules = sorted(filter(_is_sync, _imported_modules(path.read_text(encoding="utf-8"), package)))
        if modules:
            offenders[str(path.relative_to(SANDBOX))] = modules
    assert offenders == {}


@pytest.mark.parametrize(
    "line",
    [
        "from ..sync import windows_zones",
        "from service import sync",
        "import service.sync.graph",
        "from service.sync.windows_zones import zone",
        "def f():\n    from ..sync.windows_zones import to_iana",
    ],
)
def test_the_import_walk_would_see_it(line: str) -> None:
    assert any(map(_is_sync, _imported_modules(line, "service.sandbox")))
    assert not any(map(_is_sync, _imported_modules(line.replace("sync", "sandbox"), "service.sandbox")))


@pytest.mark.parametrize(
    ("name", "iana"),
    [
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("w. europe standard time", "Europe/Berlin"),
        ("tokyo standard time", "Asia/Tokyo"),
        ("TOKYO STANDARD TIME", "Asia/Tokyo"),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("AUS Eastern Standard Time", "Australia/Sydney"),
        ("India Standard Time", "Asia/Kolkata"),
        ("FLE Standard Time", "Europe/Kyiv"),
        ("UTC+12", "Etc/GMT-12"),
        ("UTC-02", "Etc/GMT+2"),
        ("  Romance Standard Time ", "Europe/Paris"),
        ("Europe/London", "Europe/London"),  # IANA names pass through
        ("Asia/Kolkata", "Asia/Kolkata"),
    ],
)
def test_windows_and_iana_names_resolve_to_the_right_zone(name: str, iana: str) -> None:
    assert _offsets(zone(name)) == _offsets(ZoneInfo(iana))


def test_offsets_are_the_expected_ones() -> None:
    jan, jul = datetime(2026, 1, 15, 12, tzinfo=UTC), datetime(2026, 7, 15, 12, tzinfo=UTC)
    berlin, tokyo, india = zone("W. Europe Standard Time"), zone("tokyo standard time"), zone("India Standard Time")
    assert jan.astimezone(berlin).utcoffset() == timedelta(hours=1)
    assert jul.astimezone(berlin).utcoffset() == timedelta(hours=2)
    assert jan.astimezone(tokyo).utcoffset() == jul.astimezone(tokyo).utcoffset() == timedelta(hours=9)
    assert jan.astimezone(india).utcoffset() == timedelta(hours=5, minutes=30)
    # Windows' UTC±N names and the POSIX-signed Etc/GMT∓N zones they map to.
    assert jan.astimezone(zone("UTC+12")).utcoffset() == timedelta(hours=12)
    assert jan.astimezone(zone("UTC-02")).utcoffset() == timedelta(hours=-2)


@pytest.mark.parametrize(
    "name",
    [
        "UTC",
        "utc",
        "Etc/UTC",
        "etc/utc",
        "Etc/GMT",
        "GMT",
        "Z",
        "Coordinated Universal Time",
        "tzone://Microsoft/Utc",
        "TZONE://MICROSOFT/UTC",
    ],
)
def test_utc_spellings(name: str) -> None:
    assert to_iana(name) == "UTC"
    assert set(_offsets(zone(name))) == {timedelta(0)}


@pytest.mark.parametrize(
    "name",
    [
        "Mars Standard Time",
        "tzone://Microsoft/Custom",
        "Not/A_Zone",
        "",
        "   ",
        "../../etc/passwd",
        "W. Europe Standard",
    ],
)
def test_unknown_names_raise(name: str) -> None:
    with pytest.raises(UnknownTimeZone):
        to_iana(name)
    with pytest.raises(ValueError):  # UnknownTimeZone is a ValueError
        zone(name)


def test_sandbox_and_adapter_tables_agree_on_every_adapter_zone() -> None:
    """For each Windows name the adapter knows, both tables give the same UTC
    offsets (names may differ: CLDR keeps Asia/Calcutta where the adapter has
    Asia/Kolkata, and tzdata links them)."""
    disagreements = {}
    for name, adapter_iana in adapter.WINDOWS_TO_IANA.items():
        ours, theirs = _offsets(zone(name)), _offsets(adapter.zone(name))
        if ours != theirs:
            first = next(i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b)
            disagreements[name] = (
                f"sandbox {to_iana(name)} {ours[first]}",
                f"adapter {adapter_iana} {theirs[first]}",
                INSTANTS[first].isoformat(),
            )
    assert disagreements == {}


def test_both_tables_know_the_same_windows_names() -> None:
    """A Windows name CLDR has and the adapter lacks is a zone Graph can send that
    production would reject (and the fakes would accept)."""
    from tzlocal.windows_tz import win_tz

    assert sorted(set(win_tz) - set(adapter.WINDOWS_TO_IANA)) == []
    assert sorted(set(adapter.WINDOWS_TO_IANA) - set(win_tz)) == []
