# -*- coding: utf-8 -*-
# Copyright (c) rcl.ssl contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ansible_collections.rcl.ssl.plugins.module_utils._errors import RclResponseError
from ansible_collections.rcl.ssl.plugins.module_utils._time import (
    days_remaining,
    format_api_datetime,
    parse_api_datetime,
    to_iso8601,
    utcnow,
)

UTC = timezone.utc


@pytest.mark.parametrize(
    "text, expected",
    [
        # The API's own format: seven digits, no zone -> UTC, truncated to microseconds.
        ("2023-08-29T04:53:07.4476228", datetime(2023, 8, 29, 4, 53, 7, 447622, tzinfo=UTC)),
        ("2023-11-27T04:53:07.4476827", datetime(2023, 11, 27, 4, 53, 7, 447682, tzinfo=UTC)),
        ("2023-08-29T04:53:07", datetime(2023, 8, 29, 4, 53, 7, tzinfo=UTC)),
        ("2023-08-29T04:53:07.4", datetime(2023, 8, 29, 4, 53, 7, 400000, tzinfo=UTC)),
        ("2023-08-29T04:53:07.123456789", datetime(2023, 8, 29, 4, 53, 7, 123456, tzinfo=UTC)),
        ("2023-08-29T04:53:07.4476228Z", datetime(2023, 8, 29, 4, 53, 7, 447622, tzinfo=UTC)),
        ("2023-08-29T06:53:07+02:00", datetime(2023, 8, 29, 4, 53, 7, tzinfo=UTC)),
        ("2023-08-28T23:23:07.5-05:30", datetime(2023, 8, 29, 4, 53, 7, 500000, tzinfo=UTC)),
        ("2023-08-29 04:53", datetime(2023, 8, 29, 4, 53, tzinfo=UTC)),
        ("2023-08-29", datetime(2023, 8, 29, tzinfo=UTC)),
        ("  2023-08-29T04:53:07.4476228 ", datetime(2023, 8, 29, 4, 53, 7, 447622, tzinfo=UTC)),
    ],
)
def test_parse_api_datetime(text, expected):
    parsed = parse_api_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo == UTC
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "yesterday",
        "2023-13-01T00:00:00",
        "2023-02-30",
        "2023-08-29T25:00:00",
        "2023-08-29T04:53:07.1234567890",  # ten digits
        "2023-08-29T04:53:07 +02:00 trailing",
        "29/08/2023",
        "2023-08-29T04:53:07+25:00",
        None,
        12345,
    ],
)
def test_parse_api_datetime_rejects_garbage(garbage):
    with pytest.raises(RclResponseError) as exc:
        parse_api_datetime(garbage)
    assert "timestamp" in exc.value.msg


def test_format_api_datetime_has_seven_digits_and_no_zone():
    dt = datetime(2023, 8, 29, 4, 53, 7, 447622, tzinfo=UTC)
    assert format_api_datetime(dt) == "2023-08-29T04:53:07.4476220"
    assert parse_api_datetime(format_api_datetime(dt)) == dt


def test_format_api_datetime_converts_to_utc():
    dt = datetime(2023, 8, 29, 6, 53, 7, tzinfo=timezone(timedelta(hours=2)))
    assert format_api_datetime(dt) == "2023-08-29T04:53:07.0000000"
    # naive means UTC
    assert format_api_datetime(datetime(2023, 1, 2, 3, 4, 5)) == "2023-01-02T03:04:05.0000000"


def test_to_iso8601():
    assert to_iso8601(parse_api_datetime("2023-08-29T04:53:07.4476228")) == "2023-08-29T04:53:07Z"
    assert to_iso8601(datetime(2023, 8, 29, 6, 0, tzinfo=timezone(timedelta(hours=2)))) == "2023-08-29T04:00:00Z"


def test_utcnow_is_aware_utc():
    now = utcnow()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert abs((datetime.now(UTC) - now).total_seconds()) < 5


@pytest.mark.parametrize(
    "delta, expected",
    [
        (timedelta(days=30), 30),
        (timedelta(days=29, hours=23, minutes=59), 29),
        (timedelta(hours=1), 0),
        (timedelta(0), 0),
        (timedelta(hours=-1), -1),
        (timedelta(days=-3, hours=-2), -4),
    ],
)
def test_days_remaining_floors(delta, expected):
    now = datetime(2023, 9, 1, 12, 0, tzinfo=UTC)
    assert days_remaining(now + delta, now) == expected


def test_days_remaining_naive_is_utc():
    now = datetime(2023, 9, 1, 12, 0, tzinfo=UTC)
    assert days_remaining(datetime(2023, 9, 11, 12, 0), now) == 10


MAX_UTC = datetime.max.replace(tzinfo=UTC)
MIN_UTC = datetime.min.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("9999-12-31T23:59:59-01:00", MAX_UTC),
        ("9999-12-31T23:30:00.5-00:31", MAX_UTC),
        ("0001-01-01T00:00:00+01:00", MIN_UTC),
        ("0001-01-01T00:59:59.999+01:00", MIN_UTC),
    ],
)
def test_parse_api_datetime_clamps_when_utc_overflows(text, expected):
    parsed = parse_api_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo == UTC and parsed.utcoffset() == timedelta(0)
    # what the modules do next must not overflow either
    to_iso8601(parsed)
    format_api_datetime(parsed)
    days_remaining(parsed, utcnow())


def test_edges_that_fit_are_not_clamped():
    assert parse_api_datetime("9999-12-31T22:59:59-01:00") == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert parse_api_datetime("0001-01-01T01:00:00+01:00") == datetime(1, 1, 1, tzinfo=UTC)
    assert parse_api_datetime("9999-12-31T23:59:59") == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_helpers_clamp_aware_datetimes_that_overflow_in_utc():
    late = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-2)))
    early = datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    assert to_iso8601(late) == "9999-12-31T23:59:59Z"
    assert to_iso8601(early) == "0001-01-01T00:00:00Z"
    assert format_api_datetime(late) == "9999-12-31T23:59:59.9999990"
    now = datetime(2023, 9, 1, tzinfo=UTC)
    assert days_remaining(late, now) > 2_900_000
    assert days_remaining(early, now) < -700_000
