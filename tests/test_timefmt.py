"""Durations and moments in words: the one formatter for everything a person reads."""

from __future__ import annotations

import pytest

from tray_app.timefmt import format_duration, format_left, format_utc

MINUTE, HOUR, DAY = 60, 3600, 86400


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "0 s"),
        (-5, "0 s"),
        (30.9, "30 s"),
        (59.99, "59 s"),
        (MINUTE, "1 min"),
        (5 * MINUTE + 59, "5 min"),
        (HOUR, "1 h 0 min"),
        (12 * HOUR, "12 h 0 min"),  # a 43200 s Retry-After
        (DAY - 1, "23 h 59 min"),
        (DAY, "1 d 0 h"),
        (2 * DAY + 23 * HOUR + 59 * MINUTE, "2 d 23 h"),
        (7 * DAY, "7 d 0 h"),
    ],
)
def test_format_duration(seconds: float, words: str) -> None:
    assert format_duration(seconds) == words


def test_format_left_and_utc() -> None:
    assert format_left(2 * DAY + 3 * HOUR) == "2 d 3 h left"
    assert format_left(-90) == "expired 1 min ago"
    assert format_left(0) == "expired 0 s ago"
    assert format_utc(1_800_000_000) == "2027-01-15 08:00 UTC"
