"""Times as the reader reads them: in the reader's own time zone, named.

The browser knows its zone; ``portal.js`` keeps its IANA name (such as
``Europe/Stockholm``) in the ``tz`` cookie, and every page renders times in
it, followed by the zone's abbreviation. Until the browser has said (the
first page, a browser without scripts) or when the cookie names no known
zone, times are UTC and say so.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import g, request
from flask_babel import format_date, format_time

COOKIE = "tz"
# IANA names: "UTC", "Europe/Stockholm", "America/Argentina/Buenos_Aires", "Etc/GMT+3".
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]{0,30}(/[A-Za-z0-9_+-]{1,30}){0,2}$")


def reader_zone() -> tuple[str, tzinfo]:
    """(name, zone) of the current reader; ("UTC", UTC) when unknown."""
    if "reader_zone" not in g:
        g.reader_zone = _zone(request.cookies.get(COOKIE, ""))
    return g.reader_zone


def _zone(name: str) -> tuple[str, tzinfo]:
    if name and name != "UTC" and _ZONE_NAME.match(name):
        try:
            return name, ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return "UTC", UTC


def reader_time(value: datetime) -> dict:
    """How a page shows a moment: ``text`` in the reader's zone and language
    with the zone named (``1 Mar 2025, 14:05 CET``, ``1 mars 2025 14:05 CET``),
    ``iso`` for ``<time datetime>``, and ``zone``, the zone's full name."""
    name, zone = reader_zone()
    local = value.astimezone(zone)
    # Already in the reader's zone: Babel formats it as it is (no rebase).
    day = format_date(local, "medium", rebase=False)
    return {
        "text": f"{day} {format_time(local, 'HH:mm', rebase=False)} {local.tzname()}",
        "iso": value.isoformat(),
        "zone": name,
    }
