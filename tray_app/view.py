"""What the tray shows, as plain functions of the engine's status: the title, the menu, the notifications.

Nothing here touches pystray, a display or a clock; the tray module turns these values into widgets.

Menu labels and the tooltip are in the user's language (``_()``: only a person reads them); a
:class:`Notice`'s title and body are :class:`~tray_app.i18n.Text` (``tr()``), because a notification that
no backend could show is logged, and logs stay English. Durations and dates are Text too, hence the
``local()`` where they go into a ``_()`` template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from tray_app.config import Settings
from tray_app.engine import EngineEvent, Status
from tray_app.i18n import Text, _, local, ngettext, tr
from tray_app.policy import DAY, TokenState
from tray_app.timefmt import format_duration, format_left, format_local


def app_title() -> str:
    """The name the tooltip starts with, in the user's language."""
    return _("Qwen token")


def how_to_get_a_token() -> Text:
    """What to do in the browser to get a token (a notification's body)."""
    return tr(
        "Sign in at chat.qwen.ai, press F12, and in the Console run copy(localStorage.getItem('token')). "
        "Then choose Paste new token in this menu."
    )


def account_label(status: Status) -> str:
    record = status.record
    if record.email:
        return record.email
    if record.name:
        return record.name
    if status.claims is not None and status.claims.user_id:
        return tr("account {id}", id=status.claims.user_id[:8])
    if status.account_id:
        return tr("account {id}", id=status.account_id[:8])
    return tr("unknown account")


def _time_left(status: Status) -> Text:
    """``6 d 0 h left (until 1 Dec 14:00)``."""
    assert status.claims is not None  # noqa: S101 - callers check the state first
    # TRANSLATORS: {left} is the time left ("6 d 0 h left"), {date} a date and time ("1 Dec 14:00").
    return tr(
        "{left} (until {date})",
        left=format_left(status.claims.expires_at - status.now),
        date=format_local(status.claims.expires_at),
    )


#: Accounts listed one a line in the tooltip at most; more are counted (a tooltip is not a report).
TOOLTIP_ACCOUNTS = 8


def several(statuses: Sequence[Status]) -> bool:
    """Whether the tray shows several accounts (one, or none yet, looks exactly as before accounts)."""
    return len(statuses) > 1


def default_of(statuses: Sequence[Status]) -> Status:
    """The default account's status (the first, as the engine chooses, while a removed default's
    successor is not known yet)."""
    return next((s for s in statuses if s.is_default), statuses[0])


def account_line(status: Status) -> str:
    """``alice@example.com (default): 6 d 0 h left``: one account in a few words, for lists."""
    label = local(account_label(status))
    # TRANSLATORS: an account marked as the default one, "alice@example.com (default)".
    who = _("{account} (default)").format(account=label) if status.is_default else label
    state = status.state
    if state is TokenState.INVALID:
        return _("{account}: rejected").format(account=who)
    if state is TokenState.EXPIRED:
        return _("{account}: expired").format(account=who)
    if state is TokenState.MISSING or status.claims is None:
        return _("{account}: no token").format(account=who)
    left = local(format_left(status.claims.expires_at - status.now))
    if state is TokenState.BLOCKED:
        return _("{account}: {left}, refresh blocked").format(account=who, left=left)
    return _("{account}: {left}").format(account=who, left=left)


def tray_title(status: Status, statuses: Sequence[Status] = ()) -> str:
    """The tooltip: account and time left in words, or what went wrong and what to do. With several
    accounts, ``status`` is the most urgent one: named first as such, then every account a line."""
    if not several(statuses):
        return _one_title(status)
    count = len(statuses)
    lines = [
        ngettext("{title} · the most urgent of {n} account", "{title} · the most urgent of {n} accounts", count).format(
            title=_one_title(status), n=count
        )
    ]
    lines += [account_line(s) for s in statuses[:TOOLTIP_ACCOUNTS]]
    if count > TOOLTIP_ACCOUNTS:
        more = count - TOOLTIP_ACCOUNTS
        lines.append(ngettext("… and {n} more (see the menu)", "… and {n} more (see the menu)", more).format(n=more))
    return "\n".join(lines)


def fit_title(title: str, limit: int) -> str:
    """``title`` in at most ``limit`` characters: whole lines while they fit, else the first line cut with
    "…" (Windows takes 127 characters of a tooltip, and pystray fails on more)."""
    if len(title) <= limit:
        return title
    kept: list[str] = []
    for line in title.split("\n"):
        if len("\n".join([*kept, line])) > limit:
            break
        kept.append(line)
    return "\n".join(kept) if kept else title[: limit - 1] + "…"


def _one_title(status: Status) -> str:
    """One account's tooltip, as it was before there were several."""
    state = status.state
    app = app_title()
    if state is TokenState.UNKNOWN:
        if status.problem is None:
            return _("{app} · reading the keyring…").format(app=app)
        return _("{app} · cannot read the token · {problem}").format(app=app, problem=local(status.problem))
    if state is TokenState.MISSING:
        return _("{app} · none stored · choose Paste new token").format(app=app)
    who = local(account_label(status))
    if state is TokenState.INVALID:
        return _("{app} · {account} · rejected by chat.qwen.ai · paste a new token").format(app=app, account=who)
    if state is TokenState.EXPIRED:
        return _("{app} · {account} · expired · paste a new token").format(app=app, account=who)
    left = local(_time_left(status))
    if state is TokenState.BLOCKED:
        return _("{app} · {account} · {left} · refresh blocked: open chat.qwen.ai in a browser").format(
            app=app, account=who, left=left
        )
    return _("{app} · {account} · {left}").format(app=app, account=who, left=left)


@dataclass(frozen=True)
class MenuEntry:
    """One menu line; ``action`` names what a click does (None: a header, a separator or a submenu),
    ``account`` the account it acts on (None: the default); ``children`` make it a submenu."""

    label: str
    action: str | None = None
    enabled: bool = True
    default: bool = False
    checked: bool | None = None
    account: str | None = None
    children: tuple[MenuEntry, ...] = ()

    @property
    def is_separator(self) -> bool:
        return self.label == SEPARATOR.label


SEPARATOR = MenuEntry("----")


def menu_header(status: Status) -> str:
    return _menu_header(status, account_label(status))


def _menu_header(status: Status, account: str) -> str:
    """The header, naming the account as ``account`` (with several accounts: "… (default)")."""
    state = status.state
    if state is TokenState.UNKNOWN:
        return _("Reading the keyring…") if status.problem is None else _("Cannot read the token from the keyring")
    if state is TokenState.MISSING:
        return _("No token stored")
    who = local(account)
    if state is TokenState.INVALID:
        return _("{account}: rejected, paste a new token").format(account=who)
    if state is TokenState.EXPIRED:
        return _("{account}: expired, paste a new token").format(account=who)
    return _("{account}: {left}").format(account=who, left=local(_time_left(status)))


def _retry_headline(kind: str) -> str:
    """How the header's second line names a failed refresh that will be retried."""
    if kind == "rate_limited":
        return _("Refresh postponed (rate limited)")
    if kind == "blocked":
        return _("Refresh blocked by the site's firewall")
    # TRANSLATORS: {kind} is what went wrong, in English words such as "network" or "server".
    return _("Last refresh failed ({kind})").format(kind=kind.replace("_", " "))


def retry_header(status: Status) -> str | None:
    """``Last refresh failed (network): retry at 15 Jan 20:00 (in 12 h 0 min)``: when a failed refresh will be
    tried again (the amber or violet states after a failure), or None when no retry is scheduled."""
    error = status.record.last_error
    due = status.due_at
    if status.state not in (TokenState.EXPIRING, TokenState.BLOCKED) or error is None or due is None:
        return None
    if status.record.retry_at is None:  # not a failure's backoff: the refresh was never tried
        return None
    what = _retry_headline(error.kind)
    if due <= status.now:
        return _("{what}: retrying now").format(what=what)
    # TRANSLATORS: {what} says what failed ("Refresh postponed (rate limited)"), {date} is a date and
    # time ("15 Jan 20:00"), {duration} a duration ("12 h 0 min").
    return _("{what}: retry at {date} (in {duration})").format(
        what=what, date=local(format_local(due)), duration=local(format_duration(due - status.now))
    )


def _can_refresh(status: Status) -> bool:
    return status.state in (TokenState.OK, TokenState.EXPIRING, TokenState.BLOCKED)


def menu_entries(
    status: Status,
    settings: Settings,
    *,
    start_at_login: bool = False,
    banner: str = "",
    statuses: Sequence[Status] = (),
    armed: frozenset[str] = frozenset(),
) -> tuple[MenuEntry, ...]:
    """The whole menu. Copy token is the first enabled item and the default one (what a left click does
    where the tray has a default action); AppIndicator and macOS have none, hence the explicit item.
    ``banner`` ("DEMO · ") leads the header, for trays that show no tooltip.

    With one account (or none) ``status`` is all there is, and the menu is as it always was. With
    several, ``status`` is the most urgent, the items at the top act on the default account (named in
    the header), and an Accounts section gives each account its own submenu; ``armed`` holds the
    accounts whose Remove was clicked once (the next click removes)."""
    top = default_of(statuses) if several(statuses) else status
    if several(statuses):
        header = _menu_header(top, _("{account} (default)").format(account=local(account_label(top))))
    else:
        header = menu_header(top)
    clear_after = settings.clear_clipboard_after
    retry = retry_header(top)
    return (
        MenuEntry(banner + header, enabled=False),
        *((MenuEntry(retry, enabled=False),) if retry else ()),
        SEPARATOR,
        MenuEntry(_("Copy token"), "copy", enabled=top.claims is not None, default=True),
        MenuEntry(_("Paste new token"), "paste"),
        MenuEntry(_("Import from browser"), "import"),
        MenuEntry(_("Refresh now"), "refresh", enabled=_can_refresh(top)),
        *((MenuEntry(_("Retry reading the keyring"), "retry"),) if status.problem is not None else ()),
        *((SEPARATOR, *account_entries(statuses, armed=armed)) if several(statuses) else ()),
        SEPARATOR,
        MenuEntry(_("Open chat.qwen.ai"), "open_site"),
        MenuEntry(_("How to get a token"), "how_to"),
        SEPARATOR,
        MenuEntry(_("Notify after each refresh"), "toggle_notify", checked=settings.notify_after_refresh),
        MenuEntry(
            _("Clear clipboard after {seconds} s").format(seconds=clear_after or 30),
            "toggle_clear_clipboard",
            checked=clear_after > 0,
        ),
        MenuEntry(_("Recover from the browser"), "toggle_recover", checked=settings.recover_from_browser),
        MenuEntry(_("Start at login"), "toggle_autostart", checked=start_at_login),
        MenuEntry(_("Open log folder"), "open_logs"),
        SEPARATOR,
        MenuEntry(_("Quit"), "quit"),
    )


def account_entries(statuses: Sequence[Status], *, armed: frozenset[str] = frozenset()) -> tuple[MenuEntry, ...]:
    """One submenu per account, in the book's order: its name and time left, then what can be done to it."""
    return tuple(
        MenuEntry(
            account_line(s),
            children=(
                MenuEntry(_("Copy token"), "copy", enabled=s.claims is not None, account=s.account_id),
                MenuEntry(_("Refresh now"), "refresh", enabled=_can_refresh(s), account=s.account_id),
                MenuEntry(
                    _("Make default"), "use", enabled=not s.is_default, checked=s.is_default, account=s.account_id
                ),
                MenuEntry(
                    _("Remove: click again to confirm") if s.account_id in armed else _("Remove"),
                    "remove",
                    account=s.account_id,
                ),
            ),
        )
        for s in statuses
        if s.account_id
    )


@dataclass
class RemovalGuard:
    """Remove takes two clicks on the same account within ``window`` seconds: a tray menu cannot ask
    "are you sure?" on every backend, so the first click only arms it (and the tray says so). Times are
    a monotonic clock's (the demo's service clock runs fast)."""

    window: float = 30.0
    _armed: dict[str, float] = field(default_factory=dict)

    def click(self, account_id: str, now: float) -> bool:
        """Whether this click removes the account (True) or only arms its removal (False)."""
        armed_at = self._armed.pop(account_id, None)
        if armed_at is not None and 0 <= now - armed_at <= self.window:
            return True
        self._armed[account_id] = now
        return False

    def armed(self, now: float) -> frozenset[str]:
        """The accounts whose next Remove click removes them."""
        return frozenset(a for a, at in self._armed.items() if 0 <= now - at <= self.window)

    def next_expiry(self, now: float) -> float | None:
        """Seconds until the next armed removal lapses (when the menu should stop saying "click again")."""
        left = [at + self.window - now for at in self._armed.values() if 0 <= now - at <= self.window]
        return min(left) if left else None


@dataclass(frozen=True)
class Notice:
    """A notification to show; ``key`` groups notices that must not repeat within the quiet period.
    ``title`` and ``body`` are :class:`~tray_app.i18n.Text` when made here (English for the log, the
    user's language for the notification)."""

    title: str
    body: str
    key: str
    urgent: bool = False


def paste_new_token() -> Text:
    """What to do about a dead token: short enough to follow the server's own words in one notification
    (bodies are cut at 300 characters)."""
    return tr(
        "Choose Import from browser, or paste a new one (sign in at chat.qwen.ai, press F12, "
        "run copy(localStorage.getItem('token')) in the Console)."
    )


def describe(event: EngineEvent, *, notify_after_refresh: bool, name_account: bool = False) -> Notice | None:
    """The notice an engine event deserves, before the quiet period is applied. ``name_account`` (with
    several accounts) leads a trouble notice's body with the account it is about."""
    notice = _describe(event, notify_after_refresh=notify_after_refresh)
    if notice is None or not name_account or notice.key in ("refreshed", "token_set", "storage"):
        return notice  # good news names its account already; the keyring is everyone's
    # TRANSLATORS: a notification's body led by the account it is about.
    return replace(notice, body=tr("{account}: {message}", account=account_label(event.status), message=notice.body))


def _describe(event: EngineEvent, *, notify_after_refresh: bool) -> Notice | None:
    status = event.status
    if event.kind == "refreshed":
        if not notify_after_refresh or status.claims is None:
            return None
        body = tr("{account}: {left}.", account=account_label(status), left=_time_left(status))
        return Notice(tr("Qwen token refreshed"), body, key="refreshed")
    if event.kind == "token_set" and status.claims is not None:
        body = tr("{account}: {left}.", account=account_label(status), left=_time_left(status))
        return Notice(tr("New Qwen token accepted"), body, key="token_set")
    if event.kind in ("imported", "recovered") and status.claims is not None:
        title = tr("Qwen token imported") if event.kind == "imported" else tr("Qwen token recovered")
        # TRANSLATORS: {source} names a browser profile ("Firefox / default"), {left} the time left.
        body = tr(
            "From {source}: {account}, {left}.",
            source=event.source,
            account=account_label(status),
            left=_time_left(status),
        )
        return Notice(title, body, key="token_set")
    if event.kind == "refresh_failed" and event.error is not None:
        error = event.error
        if error.kind in ("invalid", "expired"):
            body = tr("{message} {remedy}", message=error.message, remedy=paste_new_token())
            return Notice(tr("Qwen token no longer works"), body, key="dead", urgent=True)
        body = _failure_body(status, error.message)
        if error.kind == "blocked":
            return Notice(tr("Qwen token refresh blocked"), body, key="blocked")
        if error.kind == "rate_limited":  # a wait the server asked for, not trouble
            return Notice(tr("Qwen token refresh postponed"), body, key="failed:rate_limited")
        return Notice(tr("Qwen token refresh failed"), body, key=f"failed:{error.kind}")
    if event.kind == "state_changed" and status.state is TokenState.UNKNOWN:
        return Notice(
            tr("Qwen token: cannot read the keyring"),
            tr(
                "{problem} qwen-tray looks again every minute (or choose Retry in its menu).",
                problem=status.problem,
            ),
            key="storage",
            urgent=True,
        )
    if event.kind == "state_changed" and status.state is TokenState.EXPIRED:
        return Notice(tr("Qwen token expired"), paste_new_token(), key="dead", urgent=True)
    if event.kind == "checked" and _expiring_and_stuck(status):
        assert status.claims is not None  # noqa: S101 - checked by _expiring_and_stuck
        # TRANSLATORS: {left} is the time left ("20 h 0 min left"); {kind} what went wrong, in English
        # words ("network").
        body = tr(
            "{left} and the last refresh failed ({kind}). If it keeps failing, paste a new token.",
            left=format_left(status.claims.expires_at - status.now),
            kind=status.record.last_error.kind if status.record.last_error else "unknown",
        )
        return Notice(tr("Qwen token expires soon"), body, key="expiring_soon", urgent=True)
    return None


def _failure_body(status: Status, message: str) -> Text:
    """A failed refresh's notice: the error's words, when the refresher tries again (if it does), and
    how long the token has (if one is known). Each combination is one whole sentence for translators."""
    left = format_left(status.claims.expires_at - status.now) if status.claims else None
    if status.due_at is None:
        if left is None:
            return message if isinstance(message, Text) else Text(message, message)
        # TRANSLATORS: {message} says why a refresh failed; {left} is the time left ("2 d 3 h left").
        return tr("{message} The token has {left}.", message=message, left=left)
    date = format_local(status.due_at)
    duration = format_duration(status.due_at - status.now)
    if left is None:
        # TRANSLATORS: {message} says why a refresh failed; {date} is a date and time ("15 Jan 20:00"),
        # {duration} a duration ("12 h 0 min").
        return tr("{message} Will retry at {date} (in {duration}).", message=message, date=date, duration=duration)
    return tr(
        "{message} Will retry at {date} (in {duration}). The token has {left}.",
        message=message,
        date=date,
        duration=duration,
        left=left,
    )


def _expiring_and_stuck(status: Status) -> bool:
    return (
        status.claims is not None
        and status.state in (TokenState.EXPIRING, TokenState.BLOCKED)
        and status.claims.expires_at - status.now < DAY
        and status.record.last_error is not None
    )


@dataclass
class NoticePolicy:
    """One notification per transition and account: the same kind of trouble of the same account is not
    notified again within ``quiet_period`` seconds; good news (refreshed, a new token) always shows and
    ends that account's quiet. A keyring in trouble is everyone's, told once."""

    quiet_period: float = 6 * 3600
    _sent_at: dict[tuple[str, str], float] = field(default_factory=dict)

    def notice_for(
        self, event: EngineEvent, *, now: float, notify_after_refresh: bool, name_account: bool = False
    ) -> Notice | None:
        account = event.status.account_id or ""
        if event.kind in ("refreshed", "token_set", "imported", "recovered", "forgotten"):
            kept = {} if not account else {key: at for key, at in self._sent_at.items() if key[0] not in (account, "")}
            self._sent_at = kept
        notice = describe(event, notify_after_refresh=notify_after_refresh, name_account=name_account)
        if notice is None:
            return None
        if notice.key not in ("refreshed", "token_set"):
            key = ("" if notice.key == "storage" else account, notice.key)
            sent = self._sent_at.get(key)
            if sent is not None and now - sent < self.quiet_period:
                return None
            self._sent_at[key] = now
        return notice
