# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# This module_util is private to the rcl.ssl collection: it may change without notice.

"""The API's timestamps (``2023-08-29T04:53:07.4476228``: seven fractional digits, no zone).

``datetime.fromisoformat`` does not take seven digits before Python 3.11, so the
format is parsed explicitly. Everything returned here is an aware UTC datetime.
A time that lies beyond what ``datetime`` holds once converted to UTC (year 9999 with
a negative offset, year 1 with a positive one) is clamped to ``datetime.max`` /
``datetime.min`` (aware UTC) instead of raising ``OverflowError``.
"""

from __future__ import annotations

import re
import typing as t
from datetime import MAXYEAR, datetime, timedelta, timezone

from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclResponseError

__all__ = [
    "days_remaining",
    "format_api_datetime",
    "parse_api_datetime",
    "to_iso8601",
    "utcnow",
]

_API_DATETIME = re.compile(
    r"""
    ^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})
    (?:
        [Tt\x20](?P<hour>\d{2}):(?P<minute>\d{2})
        (?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?
        (?P<zone>[Zz]|[+-]\d{2}:?\d{2})?
    )?$
    """,
    re.VERBOSE,
)


def parse_api_datetime(value: t.Any) -> datetime:
    """Parse an API timestamp into an aware UTC datetime.

    Accepts 0-9 fractional digits, no zone (UTC), ``Z`` or ``+hh:mm``, and date only.
    Raises ``RclResponseError`` on anything else.
    """
    text = value.strip() if isinstance(value, str) else None
    match = _API_DATETIME.match(text) if text else None
    if match is None:
        raise RclResponseError("Cannot parse the API timestamp %r" % (str(value)[:64],), value=str(value)[:64])
    parts = match.groupdict()
    fraction = (parts["fraction"] or "").ljust(6, "0")[:6]
    tz = timezone.utc
    zone = parts["zone"]
    if zone and zone not in ("Z", "z"):
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        try:
            tz = timezone(-offset if zone[0] == "-" else offset)
        except ValueError:
            raise RclResponseError("Cannot parse the API timestamp %r: bad offset" % (text,), value=text) from None
    try:
        parsed = datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            int(fraction),
            tzinfo=tz,
        )
    except ValueError as exc:
        raise RclResponseError("Cannot parse the API timestamp %r: %s" % (text, exc), value=text) from None
    return _as_utc(parsed)


def _as_utc(dt: datetime) -> datetime:
    """Naive datetimes are taken to be UTC (as the API's are); clamped to the range of ``datetime``."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    try:
        return dt.astimezone(timezone.utc)
    except OverflowError:
        # Only the first and the last day can overflow: the offset is under 24 hours.
        return (datetime.max if dt.year == MAXYEAR else datetime.min).replace(tzinfo=timezone.utc)


def format_api_datetime(dt: datetime) -> str:
    """The API's own format: UTC, seven fractional digits, no zone."""
    dt = _as_utc(dt)
    return _seconds_text(dt) + ".%06d0" % dt.microsecond


def _seconds_text(dt: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` with a four-digit year (``strftime("%Y")`` does not pad before 1000 on glibc)."""
    return "%04d-%02d-%02dT%02d:%02d:%02d" % (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)


def to_iso8601(dt: datetime) -> str:
    """ISO 8601 UTC to the second, for module results (``2023-08-29T04:53:07Z``)."""
    return _seconds_text(_as_utc(dt)) + "Z"


def utcnow() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(timezone.utc)


def days_remaining(expiry: datetime, now: datetime) -> int:
    """Whole days from ``now`` to ``expiry``, rounded down (negative once expired)."""
    return (_as_utc(expiry) - _as_utc(now)) // timedelta(days=1)
