"""Times as people read them in messages, titles and notifications (pure, stdlib only).

The one place durations become words: ``2 d 23 h``, ``12 h 0 min``, ``5 min``, ``30 s``; nothing a person
reads shows a raw number of seconds (a setting such as ``keyring_timeout`` is quoted in its own unit).
"""

from __future__ import annotations

from datetime import datetime, timezone


def format_utc(unix_seconds: float) -> str:
    """``2026-12-01 14:00 UTC``: for logs and the CLI, which may be read on another machine."""
    return datetime.fromtimestamp(unix_seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def format_local(unix_seconds: float) -> str:
    """``1 Dec 14:00`` in the local time zone: for the tray, read on this machine."""
    moment = datetime.fromtimestamp(unix_seconds).astimezone()
    return f"{moment.day} {moment:%b %H:%M}"


def format_duration(seconds: float) -> str:
    """``4 d 3 h``, ``9 h 5 min``, ``12 min`` or ``30 s`` (whole units, rounded down)."""
    if seconds < 60:
        return f"{int(max(seconds, 0))} s"
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def format_left(seconds: float) -> str:
    """``4 d 3 h left``, or ``expired 2 d 0 h ago``."""
    if seconds <= 0:
        return f"expired {format_duration(-seconds)} ago"
    return f"{format_duration(seconds)} left"
