"""Times as people read them in messages, titles and notifications (pure, stdlib only).

The one place durations become words: ``2 d 23 h``, ``12 h 0 min``, ``5 min``, ``30 s``; nothing a person
reads shows a raw number of seconds (a setting such as ``keyring_timeout`` is quoted in its own unit).

Durations and local dates are :class:`~tray_app.i18n.Text`: English as a ``str`` (what logs get), the
user's language in ``.local`` (what a person is shown; :func:`~tray_app.i18n.tr` fills them in that
language by itself). ``format_utc`` is the same everywhere: logs and the CLI's ISO-like dates.
"""

from __future__ import annotations

from datetime import datetime, timezone

from tray_app.i18n import Text, tr


def format_utc(unix_seconds: float) -> str:
    """``2026-12-01 14:00 UTC``: for logs and the CLI, which may be read on another machine."""
    return datetime.fromtimestamp(unix_seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _month(number: int) -> Text:
    """The month's abbreviation (1 is January), in English and in the user's language."""
    # TRANSLATORS: the months' abbreviations, as in the tray's dates ("1 Dec 14:00").
    months = (
        tr("Jan"),
        tr("Feb"),
        tr("Mar"),
        tr("Apr"),
        tr("May"),
        tr("Jun"),
        tr("Jul"),
        tr("Aug"),
        tr("Sep"),
        tr("Oct"),
        tr("Nov"),
        tr("Dec"),
    )
    return months[number - 1]


def format_local(unix_seconds: float) -> Text:
    """``1 Dec 14:00`` in the local time zone: for the tray, read on this machine."""
    moment = datetime.fromtimestamp(unix_seconds).astimezone()
    # TRANSLATORS: a date and time in the tray, "1 Dec 14:00": {day} is the day of the month (1-31),
    # {month} the month's abbreviation (translated on its own), {time} hours:minutes on a 24-hour clock.
    # {month_number} (1-12) may be used instead of {month}; order them as your language writes dates.
    return tr(
        "{day} {month} {time}",
        day=moment.day,
        month=_month(moment.month),
        month_number=moment.month,
        time=moment.strftime("%H:%M"),
    )


def format_duration(seconds: float) -> Text:
    """``4 d 3 h``, ``9 h 5 min``, ``12 min`` or ``30 s`` (whole units, rounded down)."""
    if seconds < 60:
        # TRANSLATORS: a duration in seconds, abbreviated ("30 s").
        return tr("{seconds} s", seconds=int(max(seconds, 0)))
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        # TRANSLATORS: a duration in days and hours, abbreviated ("2 d 3 h").
        return tr("{days} d {hours} h", days=days, hours=hours)
    if hours:
        # TRANSLATORS: a duration in hours and minutes, abbreviated ("9 h 5 min").
        return tr("{hours} h {minutes} min", hours=hours, minutes=minutes)
    # TRANSLATORS: a duration in minutes, abbreviated ("12 min").
    return tr("{minutes} min", minutes=minutes)


def format_left(seconds: float) -> Text:
    """``4 d 3 h left``, or ``expired 2 d 0 h ago``."""
    if seconds <= 0:
        # TRANSLATORS: {duration} is a duration such as "2 d 3 h".
        return tr("expired {duration} ago", duration=format_duration(-seconds))
    # TRANSLATORS: the time a token has left; {duration} is a duration such as "2 d 3 h".
    return tr("{duration} left", duration=format_duration(seconds))
