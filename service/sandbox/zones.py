"""Time-zone names as the fake Google and Graph servers understand them.

The sandbox keeps its own Windows → IANA table instead of importing the one
the production Graph adapter keeps by hand (`windows_zones` in the sync
package): the fakes stand in for Microsoft and Google, so if both sides read
one table a wrong row would be wrong on both and no test could see it. This one is CLDR's
windowsZones mapping ("001" territory) as generated into `tzlocal.windows_tz`,
and `tests/sandbox/test_zones.py` checks the two tables against each other.

CLDR keeps some renamed zones under their old names (Asia/Calcutta,
Europe/Kiev, …). The sandbox only builds ZoneInfo objects from the result or
uses it to validate a name, never echoes it to a client, and tzdata keeps the
old names as links, so they are used as CLDR gives them."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

# Graph does not promise the casing of a Windows name, so look them up folded.
_WINDOWS = {name.casefold(): iana for name, iana in win_tz.items()}

# Spellings Graph/Exchange use for UTC that are neither a Windows name nor an
# IANA key ("UTC" and "Etc/UTC" are both, but are listed so any casing works).
_UTC = frozenset({"utc", "etc/utc", "etc/gmt", "gmt", "z", "coordinated universal time", "tzone://microsoft/utc"})


class UnknownTimeZone(ValueError):
    """A zone name that is neither a Windows zone name, an IANA name, nor a UTC spelling."""


@lru_cache(maxsize=512)
def to_iana(name: str) -> str:
    """The IANA name for a Windows zone name, an IANA name, or a UTC spelling.

    Raises UnknownTimeZone for anything else, e.g. "tzone://Microsoft/Custom"."""
    key = name.strip()
    folded = key.casefold()
    if folded in _UTC:
        return "UTC"
    if folded in _WINDOWS:
        return _WINDOWS[folded]
    try:
        ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(name) from None
    return key


def zone(name: str) -> ZoneInfo:
    """A ZoneInfo for any name `to_iana` accepts."""
    return ZoneInfo(to_iana(name))
