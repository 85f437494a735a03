"""IANA time zones and the default zone of a country."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo, available_timezones

from django.utils.translation import gettext_lazy


@functools.cache
def timezone_names() -> tuple[str, ...]:
    return tuple(
        sorted(
            name for name in available_timezones() if "/" in name and not name.startswith("Etc/")
        )
    )


# Every zone is less than a day from UTC: an instant a day or more from the ends of Python's
# calendar (the years 1 and 9999) can be shown on anyone's clock. A date entered by a staff
# member on one clock is read by others on theirs.
_EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
_LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)
DATE_OUT_OF_RANGE = gettext_lazy("Choose a date after the year 1 and before the year 9999.")


def shown_on_every_clock(instant: datetime) -> bool:
    return _EARLIEST <= instant <= _LATEST


def is_valid_timezone(name: str) -> bool:
    return name in set(timezone_names()) or name == "UTC"


@functools.cache
def _zones_by_country() -> dict[str, list[str]]:
    table = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    zones: dict[str, list[str]] = {}
    for line in table.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        code, _coordinates, zone, *_comment = line.split("\t")
        zones.setdefault(code, []).append(zone)
    return zones


def _same_clock(zones: list[str]) -> bool:
    """True when every zone shows the same local time all year round (now and next year)."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    instants = [
        start + timedelta(days=day, hours=hour) for day in range(0, 730, 3) for hour in (0, 12)
    ]
    infos = [ZoneInfo(zone) for zone in zones]
    return all(
        len({instant.astimezone(info).utcoffset() for info in infos}) == 1 for instant in instants
    )


@functools.cache
def default_timezone(country: str) -> str | None:
    """The zone a contact in `country` is in when the country has one (ISO alpha-2 code).

    Germany lists Europe/Busingen beside Europe/Berlin, but both keep the same clock, so it still
    has one zone in the sense that matters for sending at 9:00 local time. Spain, Portugal, the
    United States and Canada have several clocks: no default, the zone must be chosen.
    """
    zones = _zones_by_country().get(country.upper(), [])
    if len(zones) == 1 or (len(zones) > 1 and _same_clock(zones)):
        return zones[0]
    return None
