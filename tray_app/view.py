"""What the tray shows, as plain functions of the engine's status: the title, the menu, the notifications.

Nothing here touches pystray, a display or a clock; the tray module turns these values into widgets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tray_app.config import Settings
from tray_app.engine import EngineEvent, Status
from tray_app.policy import DAY, TokenState
from tray_app.timefmt import format_duration, format_left, format_local

APP_TITLE = "Qwen token"
HOW_TO_GET_A_TOKEN = (
    "Sign in at chat.qwen.ai, press F12, and in the Console run copy(localStorage.getItem('token')). "  # noqa: S105
    "Then choose Paste new token in this menu."
)


def account_label(status: Status) -> str:
    record = status.record
    if record.email:
        return record.email
    if record.name:
        return record.name
    if status.claims is not None and status.claims.user_id:
        return f"account {status.claims.user_id[:8]}"
    return "unknown account"


def _time_left(status: Status) -> str:
    assert status.claims is not None  # noqa: S101 - callers check the state first
    return f"{format_left(status.claims.expires_at - status.now)} (until {format_local(status.claims.expires_at)})"


def tray_title(status: Status) -> str:
    """The tooltip: account and time left in words, or what went wrong and what to do."""
    state = status.state
    if state is TokenState.UNKNOWN:
        if status.problem is None:
            return f"{APP_TITLE} · reading the keyring…"
        return f"{APP_TITLE} · cannot read the token · {status.problem}"
    if state is TokenState.MISSING:
        return f"{APP_TITLE} · none stored · choose Paste new token"
    who = account_label(status)
    if state is TokenState.INVALID:
        return f"{APP_TITLE} · {who} · rejected by chat.qwen.ai · paste a new token"
    if state is TokenState.EXPIRED:
        return f"{APP_TITLE} · {who} · expired · paste a new token"
    title = f"{APP_TITLE} · {who} · {_time_left(status)}"
    if state is TokenState.BLOCKED:
        title += " · refresh blocked: open chat.qwen.ai in a browser"
    return title


@dataclass(frozen=True)
class MenuEntry:
    """One menu line; ``action`` names what a click does (None: a header or a separator)."""

    label: str
    action: str | None = None
    enabled: bool = True
    default: bool = False
    checked: bool | None = None

    @property
    def is_separator(self) -> bool:
        return self.label == SEPARATOR.label


SEPARATOR = MenuEntry("----")


def menu_header(status: Status) -> str:
    state = status.state
    if state is TokenState.UNKNOWN:
        return "Reading the keyring…" if status.problem is None else "Cannot read the token from the keyring"
    if state is TokenState.MISSING:
        return "No token stored"
    who = account_label(status)
    if state is TokenState.INVALID:
        return f"{who}: rejected, paste a new token"
    if state is TokenState.EXPIRED:
        return f"{who}: expired, paste a new token"
    return f"{who}: {_time_left(status)}"


#: How the header's second line names a failed refresh that will be retried.
_RETRY_HEADLINES = {
    "rate_limited": "Refresh postponed (rate limited)",
    "blocked": "Refresh blocked by the site's firewall",
}


def retry_header(status: Status) -> str | None:
    """``Last refresh failed (network): retry at 15 Jan 20:00 (in 12 h 0 min)``: when a failed refresh will be
    tried again (the amber or violet states after a failure), or None when no retry is scheduled."""
    error = status.record.last_error
    due = status.due_at
    if status.state not in (TokenState.EXPIRING, TokenState.BLOCKED) or error is None or due is None:
        return None
    if status.record.retry_at is None:  # not a failure's backoff: the refresh was never tried
        return None
    what = _RETRY_HEADLINES.get(error.kind, f"Last refresh failed ({error.kind.replace('_', ' ')})")
    if due <= status.now:
        return f"{what}: retrying now"
    return f"{what}: retry {_at_and_in(due, status.now)}"


def _at_and_in(moment: float, now: float) -> str:
    """``at 15 Jan 20:00 (in 12 h 0 min)``."""
    return f"at {format_local(moment)} (in {format_duration(moment - now)})"


def menu_entries(
    status: Status, settings: Settings, *, start_at_login: bool = False, banner: str = ""
) -> tuple[MenuEntry, ...]:
    """The whole menu for this status. Copy token is the default item (what a left click does where the
    tray has a default action); AppIndicator and macOS have none, hence the explicit item. ``banner``
    ("DEMO · ") leads the header, for trays that show no tooltip."""
    has_token = status.claims is not None
    can_refresh = status.state in (TokenState.OK, TokenState.EXPIRING, TokenState.BLOCKED)
    clear_after = settings.clear_clipboard_after
    retry = retry_header(status)
    return (
        MenuEntry(banner + menu_header(status), enabled=False),
        *((MenuEntry(retry, enabled=False),) if retry else ()),
        SEPARATOR,
        MenuEntry("Copy token", "copy", enabled=has_token, default=True),
        MenuEntry("Paste new token", "paste"),
        MenuEntry("Import from browser", "import"),
        MenuEntry("Refresh now", "refresh", enabled=can_refresh),
        *((MenuEntry("Retry reading the keyring", "retry"),) if status.problem is not None else ()),
        SEPARATOR,
        MenuEntry("Open chat.qwen.ai", "open_site"),
        MenuEntry("How to get a token", "how_to"),
        SEPARATOR,
        MenuEntry("Notify after each refresh", "toggle_notify", checked=settings.notify_after_refresh),
        MenuEntry(
            f"Clear clipboard after {clear_after or 30} s",
            "toggle_clear_clipboard",
            checked=clear_after > 0,
        ),
        MenuEntry("Recover from the browser", "toggle_recover", checked=settings.recover_from_browser),
        MenuEntry("Start at login", "toggle_autostart", checked=start_at_login),
        MenuEntry("Open log folder", "open_logs"),
        SEPARATOR,
        MenuEntry("Quit", "quit"),
    )


@dataclass(frozen=True)
class Notice:
    """A notification to show; ``key`` groups notices that must not repeat within the quiet period."""

    title: str
    body: str
    key: str
    urgent: bool = False


#: Short enough to follow the server's own words in one notification (bodies are cut at 300 characters).
PASTE_NEW_TOKEN = (
    "Choose Import from browser, or paste a new one (sign in at chat.qwen.ai, press F12, "  # noqa: S105 - words
    "run copy(localStorage.getItem('token')) in the Console)."
)


def describe(event: EngineEvent, *, notify_after_refresh: bool) -> Notice | None:
    """The notice an engine event deserves, before the quiet period is applied."""
    status = event.status
    if event.kind == "refreshed":
        if not notify_after_refresh or status.claims is None:
            return None
        return Notice("Qwen token refreshed", f"{account_label(status)}: {_time_left(status)}.", key="refreshed")
    if event.kind == "token_set" and status.claims is not None:
        return Notice("New Qwen token accepted", f"{account_label(status)}: {_time_left(status)}.", key="token_set")
    if event.kind in ("imported", "recovered") and status.claims is not None:
        title = "Qwen token imported" if event.kind == "imported" else "Qwen token recovered"
        body = f"From {event.source}: {account_label(status)}, {_time_left(status)}."
        return Notice(title, body, key="token_set")
    if event.kind == "refresh_failed" and event.error is not None:
        error = event.error
        if error.kind in ("invalid", "expired"):
            return Notice("Qwen token no longer works", f"{error.message} {PASTE_NEW_TOKEN}", key="dead", urgent=True)
        left = f" The token has {format_left(status.claims.expires_at - status.now)}." if status.claims else ""
        body = f"{error.message}{_retry_words(status)}{left}"
        if error.kind == "blocked":
            return Notice("Qwen token refresh blocked", body, key="blocked")
        if error.kind == "rate_limited":  # a wait the server asked for, not trouble
            return Notice("Qwen token refresh postponed", body, key="failed:rate_limited")
        return Notice("Qwen token refresh failed", body, key=f"failed:{error.kind}")
    if event.kind == "state_changed" and status.state is TokenState.UNKNOWN:
        return Notice(
            "Qwen token: cannot read the keyring",
            f"{status.problem} qwen-tray looks again every minute (or choose Retry in its menu).",
            key="storage",
            urgent=True,
        )
    if event.kind == "state_changed" and status.state is TokenState.EXPIRED:
        return Notice("Qwen token expired", PASTE_NEW_TOKEN, key="dead", urgent=True)
    if event.kind == "checked" and _expiring_and_stuck(status):
        assert status.claims is not None  # noqa: S101 - checked by _expiring_and_stuck
        return Notice(
            "Qwen token expires soon",
            f"{format_left(status.claims.expires_at - status.now)} and the last refresh failed "
            f"({status.record.last_error.kind if status.record.last_error else 'unknown'}). "
            "If it keeps failing, paste a new token.",
            key="expiring_soon",
            urgent=True,
        )
    return None


def _retry_words(status: Status) -> str:
    """`` Will retry at 15 Jan 20:00 (in 12 h 0 min).``: the refresher's own next try, or "" if none."""
    return "" if status.due_at is None else f" Will retry {_at_and_in(status.due_at, status.now)}."


def _expiring_and_stuck(status: Status) -> bool:
    return (
        status.claims is not None
        and status.state in (TokenState.EXPIRING, TokenState.BLOCKED)
        and status.claims.expires_at - status.now < DAY
        and status.record.last_error is not None
    )


@dataclass
class NoticePolicy:
    """One notification per transition: the same kind of trouble is not notified again within
    ``quiet_period`` seconds; good news (refreshed, a new token) always shows and ends the quiet."""

    quiet_period: float = 6 * 3600
    _sent_at: dict[str, float] = field(default_factory=dict)

    def notice_for(self, event: EngineEvent, *, now: float, notify_after_refresh: bool) -> Notice | None:
        if event.kind in ("refreshed", "token_set", "imported", "recovered", "forgotten"):
            self._sent_at.clear()
        notice = describe(event, notify_after_refresh=notify_after_refresh)
        if notice is None:
            return None
        if notice.key not in ("refreshed", "token_set"):
            sent = self._sent_at.get(notice.key)
            if sent is not None and now - sent < self.quiet_period:
                return None
            self._sent_at[notice.key] = now
        return notice
