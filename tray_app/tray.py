"""The tray icon: a thin view over the engine.

Threads: pystray's ``run()`` owns the main thread (macOS requires it); the refresher has its own; menu
actions go to one worker thread so the UI never waits on the network, the keyring or the clipboard.
Every change to the icon, title and menu goes through :meth:`TrayApp._apply`, run on the icon's thread.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import webbrowser
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from tray_app.autostart import autostart_for
from tray_app.clipboard import SecretCopy, copy_secret, read_clipboard
from tray_app.config import Settings, save_setting
from tray_app.engine import EngineEvent, Status, TokenService, most_urgent
from tray_app.errors import NoTokenError, QwenTrayError
from tray_app.i18n import Text, _, local, tr
from tray_app.icon import GREY, IconFace, icon_face, render_icon
from tray_app.notify import FallbackNotifier
from tray_app.paths import AppPaths
from tray_app.policy import DAY, TokenState
from tray_app.refresher import Refresher
from tray_app.state import State
from tray_app.tray_backend import NO_TRAY_HELP, SNI, BackendChoice
from tray_app.view import (
    MenuEntry,
    NoticePolicy,
    RemovalGuard,
    account_label,
    default_of,
    fit_title,
    how_to_get_a_token,
    menu_entries,
    several,
    tray_title,
)

log = logging.getLogger(__name__)

ICON_SIZE = 64
#: How long the icon may take to appear in the tray before we say why not and exit.
DOCK_TIMEOUT = 10.0
DEFAULT_CLEAR_AFTER = 30
#: pystray's win32 tooltip is a WCHAR[128]: a longer title raises (several accounts make one).
WIN32_TITLE_LIMIT = 127


class TrayApp:
    """Owns the pystray icon; subscribes to the engine; hands slow work to a worker."""

    def __init__(
        self,
        *,
        service: TokenService,
        refresher: Refresher,
        notifier: FallbackNotifier,
        paths: AppPaths,
        pystray: Any,
        backend: BackendChoice,
        dock_timeout: float = DOCK_TIMEOUT,
        title_prefix: str = "",
        initial_status: Status | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.refresher = refresher
        self.notifier = notifier
        self.paths = paths
        self._pystray = pystray
        self._backend = backend
        self._dock_timeout = dock_timeout
        self._title_prefix = title_prefix
        self._lock = threading.Lock()  # guards _status(es), _settings, _start_at_login, _notices, _removals, _closing
        self._apply_lock = threading.Lock()  # one _apply at a time, whichever thread calls it
        # The keyring is first read by the refresher once the icon shows (reading it costs 0.1-0.3 s, and
        # the icon should not wait): until then the status says so, and a keyring in trouble is shown, not fatal.
        self._status: Status = initial_status or not_read_yet(service)
        #: Every account's status (book order); the icon shows the most urgent, kept in ``_status``.
        self._statuses: tuple[Status, ...] = (initial_status,) if initial_status and initial_status.account_id else ()
        self._removals = RemovalGuard()
        self._monotonic = monotonic
        self._disarm_timer: threading.Timer | None = None
        self._settings: Settings = service.settings
        self._notices = NoticePolicy()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qwen-tray-action")
        self._copy: SecretCopy | None = None  # the token we put on the clipboard, cleared only while still there
        self._clear_timer: threading.Timer | None = None
        self._shown: tuple[IconFace, str, tuple[MenuEntry, ...]] | None = None
        self._closing = False
        self._loop_ended = threading.Event()  # set when the icon's loop has ended, however it ended
        self._autostart = autostart_for()
        self._start_at_login = self._autostart.is_enabled()
        self.exit_code = 0
        self.icon = self._make_icon()
        service.subscribe(self._on_event)

    # -- the view ------------------------------------------------------------------------------------

    def _make_icon(self) -> Any:
        face, title, entries = self._view()
        icon_class = self._pystray.Icon
        if self._backend.name == "xorg":
            icon_class = fixed_xorg_icon_class()
        elif self._backend.name in ("gtk", "appindicator"):
            icon_class = fixed_gtk_icon_class(icon_class)
        icon = icon_class("qwen-tray", icon=render_icon(face, ICON_SIZE), title=title, menu=self._menu(entries))
        self._shown = (face, title, entries)
        return icon

    def _view(self) -> tuple[IconFace, str, tuple[MenuEntry, ...]]:
        with self._lock:
            status, statuses, settings = self._status, self._statuses, self._settings
            start_at_login = self._start_at_login
            armed = self._removals.armed(self._monotonic())
        entries = menu_entries(
            status, settings, start_at_login=start_at_login, banner=self._title_prefix, statuses=statuses, armed=armed
        )
        title = self._title_prefix + tray_title(status, statuses)
        if self._backend.name == "win32":
            title = fit_title(title, WIN32_TITLE_LIMIT)
        return _face(status), title, entries

    def _needs_attention(self) -> bool:
        with self._lock:
            return needs_attention(self._status)

    def _apply(self) -> None:
        """The one place the icon, its title and its menu change. Runs on the icon's thread (or, where
        the backend forwards changes itself, one caller at a time); redraws only what changed."""
        with self._apply_lock:
            face, title, entries = self._view()
            shown_face, shown_title, shown_entries = self._shown or (None, None, None)
            if face != shown_face:
                self.icon.icon = render_icon(face, ICON_SIZE)
            if title != shown_title:
                self.icon.title = title
            if entries != shown_entries:
                self.icon.menu = self._menu(entries)
            if getattr(self.icon, "HAS_ATTENTION", False):  # our SNI icon: the host may highlight it
                self.icon.attention = self._needs_attention()
            self._shown = (face, title, entries)

    def _request_apply(self) -> None:
        self._on_ui_thread(self._apply)

    def _on_ui_thread(self, call: Callable[[], None]) -> None:
        """Run ``call`` on the thread that owns the icon (pystray issue #60: touching the icon from
        another thread crashes on macOS and Windows)."""
        name = self._backend.name
        if name in ("gtk", "appindicator"):
            from gi.repository import GLib

            def once() -> bool:
                call()
                return False

            GLib.idle_add(once)
        elif name == SNI:
            self.icon.call_soon(call)
        elif name == "darwin":
            from PyObjCTools import AppHelper

            AppHelper.callAfter(call)
        else:
            # xorg: pystray forwards each change to its event thread (see fixed_xorg_icon_class).
            # win32: pystray's changes are Shell_NotifyIcon calls, which Windows takes from any thread
            # (not verified here: no Windows machine in CI).
            call()

    def _menu(self, entries: tuple[MenuEntry, ...]) -> Any:
        pystray = self._pystray
        items = []
        for entry in entries:
            if entry.is_separator:
                items.append(pystray.Menu.SEPARATOR)
                continue
            if entry.children:  # an account's submenu
                items.append(pystray.MenuItem(entry.label, self._menu(entry.children), enabled=entry.enabled))
                continue
            items.append(
                pystray.MenuItem(
                    entry.label,
                    self._action(entry.action, entry.account) if entry.action else None,
                    enabled=entry.enabled,
                    default=entry.default,
                    checked=(lambda _item, value=entry.checked: value) if entry.checked is not None else None,
                )
            )
        return pystray.Menu(*items)

    # -- events from the engine (refresher or worker thread) -----------------------------------------

    def _on_event(self, event: EngineEvent) -> None:
        with self._lock:
            known = {s.account_id for s in self._statuses}
            self._statuses = followed(self._statuses, event)
            self._status = most_urgent(self._statuses) or event.status
            name_account = several(self._statuses)
            now = self.service.clock()
            # After a look, each account may need a warning of its own (not only the most urgent one).
            looked_at = [replace(event, status=s) for s in event.statuses] if event.kind == "checked" else [event]
            for each in looked_at or [event]:
                notice = self._notices.notice_for(
                    each, now=now, notify_after_refresh=self._settings.notify_after_refresh, name_account=name_account
                )
                if notice is not None and not self._closing:
                    self._worker.submit(self.notifier.notify, notice.title, notice.body, urgent=notice.urgent)
        if event.kind in ("forgotten", "default_changed") or (
            event.kind in NEW_TOKEN_EVENTS and event.status.account_id not in known
        ):
            # The list of accounts or the default changed: every account's status, promptly. (A new token
            # of an account we show is in place already; waking the refresher would refresh it at once.)
            self.refresher.look_again()
        self._request_apply()

    # -- menu actions: each returns at once; the work runs on the worker -----------------------------

    def _action(self, name: str, account: str | None = None) -> Callable[..., None]:
        """The click handler for menu action ``name`` on ``account`` (None: the default account)."""
        handlers: dict[str, Callable[[], None]] = {
            "copy": lambda: self.copy_token(account),
            "paste": self.paste_token,
            "import": self.import_from_browser,
            "toggle_recover": self.toggle_recover,
            "refresh": lambda: self.refresher.refresh_now(account),
            "use": lambda: self.make_default(account or ""),
            "remove": lambda: self.remove_account(account or ""),
            "retry": self.refresher.look_again,
            "open_site": self.open_site,
            "how_to": lambda: self._tell(tr("How to get a token"), how_to_get_a_token()),
            "toggle_notify": self.toggle_notify,
            "toggle_clear_clipboard": self.toggle_clear_clipboard,
            "toggle_autostart": self.toggle_autostart,
            "open_logs": self.open_logs,
            "quit": self.quit,
        }
        handler = handlers[name]

        def on_click(*_args: object) -> None:
            if name in ("refresh", "retry", "quit"):
                handler()  # each returns at once by itself
            else:
                self._worker.submit(self._guarded, name, handler)

        return on_click

    def _guarded(self, name: str, handler: Callable[[], None]) -> None:
        """Run a menu action on the worker; our errors become a notification, nothing is lost silently."""
        try:
            handler()
        except QwenTrayError as exc:
            log.warning("%s failed: %s", name, exc)
            self._tell(_action_failed(name), exc.message)
        except Exception:
            log.exception("The %s action failed unexpectedly.", name)
            self._tell(
                tr("Qwen token"),
                tr("Something went wrong ({action}); see the log: {path}", action=name, path=self.paths.log_file),
            )

    def _tell(self, title: str, body: str, *, urgent: bool = False) -> None:
        """Notify: ``title`` and ``body`` are best :class:`~tray_app.i18n.Text` (the notification is in the
        user's language, a notification no backend could show is logged in English)."""
        self.notifier.notify(title, body, urgent=urgent)

    def _named(self, account: str | None) -> str:
        """How the tray names ``account`` (None: the default) in a notification; never a token."""
        with self._lock:
            statuses = self._statuses
        if not statuses:
            return tr("the account")
        if account is None:
            return account_label(default_of(statuses))
        return next((account_label(s) for s in statuses if s.account_id == account), tr("account {id}", id=account[:8]))

    def copy_token(self, account: str | None = None) -> None:
        """Put ``account``'s token (None: the default's) on the clipboard, to be cleared after a while."""
        try:
            token = self.service.token(account)
        except NoTokenError:
            self._tell(tr("No token to copy"), tr("Paste a token first. {how_to}", how_to=how_to_get_a_token()))
            return
        with self._lock:
            many = several(self._statuses)
        previous, self._copy = self._copy, copy_secret(token)
        if previous is not None:
            previous.clear()  # lets go of what it held; the new copy is not its to clear
        with self._lock:
            clear_after = self._settings.clear_clipboard_after
        self._schedule_clear(clear_after)
        self._tell(
            tr("Qwen token copied"),
            _copied_words(self._named(account) if many else None, clear_after, bool(self._copy.marks)),
        )

    def make_default(self, account: str) -> None:
        """Make ``account`` the default (what a left click copies); shows through ``default_changed``."""
        status = self.service.use(account)
        who = account_label(status)
        self._tell(
            tr("Default account changed"),
            tr("{account} is now the default: a left click copies its token.", account=who),
        )

    def remove_account(self, account: str) -> None:
        """Remove ``account`` on the second click within the guard's window; the first only arms it and
        says so (a tray menu cannot ask for confirmation on every backend)."""
        label = self._named(account)
        with self._lock:
            removes = self._removals.click(account, self._monotonic())
            window = self._removals.window
        if not removes:
            self._tell(
                tr("Remove this account?"),
                tr(
                    "Click Remove again within {seconds} s to remove {account} and delete its token from the keyring.",
                    seconds=format(window, "g"),
                    account=label,
                ),
            )
            self._schedule_disarm(window)
            self._request_apply()
            return
        self.service.forget(account)
        self._tell(
            tr("Account removed"), tr("Removed {account}: its token was deleted from the keyring.", account=label)
        )
        self._request_apply()

    def _schedule_disarm(self, seconds: float) -> None:
        """Redraw the menu when an armed Remove lapses, so it stops saying "click again"."""
        if self._disarm_timer is not None:
            self._disarm_timer.cancel()
        timer = threading.Timer(seconds + 0.1, self._request_apply)
        timer.name = "qwen-tray-disarm"
        timer.daemon = True
        timer.start()
        self._disarm_timer = timer

    def paste_token(self) -> None:
        """Take a token from the clipboard. Success shows through the engine's token_set event."""
        self.service.set_token(read_clipboard())

    def import_from_browser(self) -> None:
        """The best token in the browsers; success shows through the engine's ``imported`` event."""
        outcome = self.service.import_from_browser()
        if not outcome.stored:
            self._tell(
                tr("Qwen token up to date"),
                tr("The token in {source} is not newer than the stored one.", source=outcome.source),
            )

    def open_site(self) -> None:
        webbrowser.open(self.service.settings.base_url)

    def open_logs(self) -> None:
        folder = self.paths.log_dir
        folder.mkdir(parents=True, exist_ok=True)
        if sys.platform == "win32":
            os.startfile(folder)  # type: ignore[attr-defined]  # noqa: S606 - a folder we own
        else:
            opener = "open" if sys.platform == "darwin" else "xdg-open"
            try:
                subprocess.Popen([opener, str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            except OSError as exc:
                raise QwenTrayError(
                    tr("Cannot open {folder} ({opener}: {reason}).", folder=folder, opener=opener, reason=exc.strerror)
                ) from exc

    def toggle_notify(self) -> None:
        with self._lock:
            value = not self._settings.notify_after_refresh
        save_setting(self.paths.config_file, "notify_after_refresh", value)
        with self._lock:
            self._settings = replace(self._settings, notify_after_refresh=value)
        self._request_apply()

    def toggle_recover(self) -> None:
        with self._lock:
            value = not self._settings.recover_from_browser
        save_setting(self.paths.config_file, "recover_from_browser", value)
        with self._lock:
            self._settings = replace(self._settings, recover_from_browser=value)
        self.service.settings = replace(self.service.settings, recover_from_browser=value)  # the refresher's
        self.refresher.look_again()
        self._request_apply()

    def toggle_clear_clipboard(self) -> None:
        with self._lock:
            value = 0 if self._settings.clear_clipboard_after else DEFAULT_CLEAR_AFTER
        save_setting(self.paths.config_file, "clear_clipboard_after", value)
        with self._lock:
            self._settings = replace(self._settings, clear_clipboard_after=value)
        if value == 0 and self._clear_timer is not None:
            self._clear_timer.cancel()
        self._request_apply()

    def toggle_autostart(self) -> None:
        if self._autostart.is_enabled():
            self._autostart.disable()
        else:
            self._autostart.enable()
        with self._lock:
            self._start_at_login = self._autostart.is_enabled()
        self._request_apply()

    # -- the clipboard -------------------------------------------------------------------------------

    def _schedule_clear(self, seconds: int) -> None:
        if self._clear_timer is not None:
            self._clear_timer.cancel()
        if seconds <= 0:
            return
        timer = threading.Timer(seconds, self._clear_when_due)
        timer.name = "qwen-tray-clipboard"
        timer.daemon = True
        timer.start()
        self._clear_timer = timer

    def _clear_when_due(self) -> None:
        """The clear timer's end: the worker clears, unless the tray is closing (Quit clears by itself,
        and its worker takes no more work)."""
        with self._lock:
            if not self._closing:
                self._worker.submit(self._clear_clipboard_if_ours)

    def _clear_clipboard_if_ours(self) -> None:
        """Clear the clipboard only if it still holds the token we copied (not something copied since)."""
        copy, self._copy = self._copy, None
        if copy is None:
            return
        try:
            if copy.clear():
                log.info("Cleared the token from the clipboard.")
        except QwenTrayError as exc:
            log.warning("Could not clear the clipboard: %s", exc)

    # -- life cycle ----------------------------------------------------------------------------------

    def run(self) -> int:
        """Show the icon and run until Quit; returns the exit code. A failure of the icon's loop (a
        backend that raises, a bus that breaks) is one line and exit 1, never a traceback or a hang."""
        try:
            self.icon.run(setup=self._setup)
        except Exception as exc:  # whatever ends the icon's loop ends the app, said in one line
            self._loop_ended.set()
            reason = exc.message if isinstance(exc, QwenTrayError) else " ".join(f"{type(exc).__name__}: {exc}".split())
            log.error("The tray stopped: %s", reason)  # one line on stderr too
            log.debug("Where the tray's loop failed:", exc_info=True)
            self.exit_code = 1
            self._shut_down()
        finally:
            self._loop_ended.set()
        return self.exit_code

    def _setup(self, icon: Any) -> None:
        """Runs on pystray's setup thread once the icon exists."""
        icon.visible = True
        docked = self._wait_until_docked()
        if self._loop_ended.is_set():
            return
        if not docked:
            message = tr(
                "The icon did not appear in a system tray within {seconds} s. {help}",
                seconds=format(self._dock_timeout, "g"),
                help=tr(NO_TRAY_HELP),
            )
            log.error("%s", message)
            print(f"qwen-tray: {message.local}", file=sys.stderr)  # noqa: T201 - the user started us from a shell
            self.exit_code = 1
            self._on_ui_thread(icon.stop)
            return
        log.info("Tray icon shown (%s backend).", self._backend.name)
        if self._backend.warning:  # said on stderr too, by run_tray
            self._worker.submit(self._tell, tr("Qwen token: no tray menu"), self._backend.warning)
        if self._backend.name in ("gtk", "appindicator"):
            # A GLib loop runs Python's signal handlers only when it wakes up: let GLib take the signals.
            self._on_ui_thread(self._quit_on_signals_in_glib)
        self.refresher.start()

    def on_signal(self, signum: int) -> None:
        """Ctrl+C and SIGTERM quit like the menu's Quit (clipboard cleared, lock released), quietly: this
        only starts the quit, which ends the icon's loop from outside it."""
        log.info("Signal %d: quitting.", signum)
        code = SIGNAL_EXIT_CODES.get(signal.Signals(signum), 1)
        threading.Thread(target=self.quit, args=(code,), name="qwen-tray-quit").start()

    def _quit_on_signals_in_glib(self) -> None:
        from gi.repository import GLib

        for signum in SIGNAL_EXIT_CODES:
            GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, self._glib_signal_handler(signum))

    def _glib_signal_handler(self, signum: int) -> Callable[[], bool]:
        def handle() -> bool:
            self.on_signal(signum)
            return True  # keep the source: a second Ctrl+C while quitting is harmless

        return handle

    def _wait_until_docked(self) -> bool:
        """Poll until the icon is in a tray, for up to the dock timeout; stop at once if the loop ended."""
        for _attempt in range(int(self._dock_timeout * 10)):
            if self._docked() is not False:
                return True
            if self._loop_ended.wait(0.1):
                return False
        return False

    def _docked(self) -> bool | None:
        """Whether the icon is in a tray now; None where the backend cannot tell (then we trust it)."""
        name = self._backend.name
        if name == "gtk":
            answer: list[bool] = []
            ready = threading.Event()

            def ask() -> None:
                answer.append(bool(self.icon._status_icon.is_embedded()))
                ready.set()

            self._on_ui_thread(ask)
            return ready.wait(1.0) and answer[0]
        if name == "xorg":
            return self.icon._systray_manager is not None
        if name == SNI:
            return bool(self.icon.registered.is_set())
        return None

    def quit(self, exit_code: int = 0) -> None:
        """Stop the refresher, clear the clipboard if it still holds our token, and end the icon's loop."""
        log.info("Quitting.")
        self.exit_code = exit_code
        self._shut_down()
        self.icon.stop()

    def _shut_down(self) -> None:
        self.refresher.stop(timeout=5)
        if self._clear_timer is not None:
            self._clear_timer.cancel()
        if self._disarm_timer is not None:
            self._disarm_timer.cancel()
        with self._lock:
            clearing = self._settings.clear_clipboard_after > 0 and not self._closing
            self._closing = True
        if clearing:
            self._worker.submit(self._clear_clipboard_if_ours)
        self._worker.shutdown(wait=True)


def run_tray(
    service_factory: Callable[[Callable[[float], bool]], TokenService],
    paths: AppPaths,
    *,
    wait_for_tray_seconds: float,
    time_scale: float = 1.0,
    title_prefix: str = "",
) -> int:
    """Everything ``qwen-tray tray`` does: one instance per profile, a backend chosen on purpose, the
    refresher on its thread, the icon on this one. Returns the exit code; never leaves the process
    behind when the icon's loop has ended (see :func:`_end_lingering_threads`)."""
    from tray_app.locks import hold_instance_lock
    from tray_app.notify import default_notifier
    from tray_app.tray_backend import TrayUnavailableError, load_pystray, probe_desktop, wait_for_tray

    def say_waiting(choice: BackendChoice) -> None:
        # TRANSLATORS: {problem} says why no tray is there yet; {seconds} is a number of seconds.
        words = _("{problem} Waiting up to {seconds} s for a tray to appear…").format(
            problem=local(choice.problem), seconds=f"{wait_for_tray_seconds:g}"
        )
        print(f"qwen-tray: {words}", file=sys.stderr, flush=True)  # noqa: T201 - the person who started us should know why nothing shows yet

    lock = hold_instance_lock(paths.instance_lock)
    try:
        choice = wait_for_tray(probe_desktop, threading.Event().wait, wait_for_tray_seconds, on_wait=say_waiting)
        if choice.name is None:
            raise TrayUnavailableError(choice.problem or tr("No system tray is available."))
        if choice.warning:  # what the choice costs: said at start, without -v
            log.warning("%s", choice.warning)
            print(f"qwen-tray: {local(choice.warning)}", file=sys.stderr, flush=True)  # noqa: T201 - see say_waiting
        if choice.note:
            log.info("Tray backend %s: %s.", choice.name, choice.note)
        pystray = load_pystray(choice)
        stop = threading.Event()
        service = service_factory(lambda seconds: stop.wait(seconds / time_scale))
        refresher = Refresher(service, stop_event=stop, time_scale=time_scale)
        tray = TrayApp(
            service=service,
            refresher=refresher,
            notifier=default_notifier(),
            paths=paths,
            pystray=pystray,
            backend=choice,
            title_prefix=title_prefix,
        )
        for signum in SIGNAL_EXIT_CODES:
            signal.signal(signum, lambda signum, _frame: tray.on_signal(signum))
        try:
            code = tray.run()
        finally:
            refresher.stop()
    finally:
        lock.release()
    _end_lingering_threads(code)
    return code


#: Exit codes for a tray ended by a signal: Ctrl+C as shells report it; SIGTERM is an ordinary stop.
SIGNAL_EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 0}
#: How long threads may take to end after the icon's loop has ended, before the process ends anyway.
LINGER_GRACE = 3.0


def _end_lingering_threads(code: int, grace: float = LINGER_GRACE) -> None:
    """End the process now if a thread outlives the icon's loop by more than ``grace`` seconds.

    pystray's setup thread (not a daemon) waits for ever for a loop that failed before it was ready,
    and a toolkit may leave threads of its own: a tray whose icon is gone must not stay behind."""
    deadline = time.monotonic() + grace
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    lingering = [t.name for t in threading.enumerate() if t is not current and not t.daemon and t.is_alive()]
    if lingering:
        log.warning("Ending the process: threads still running after the tray stopped: %s", ", ".join(lingering))
        frames = sys._current_frames()
        for thread in threading.enumerate():
            if thread.name in lingering and thread.ident in frames:
                log.debug("%s is at:\n%s", thread.name, "".join(traceback.format_stack(frames[thread.ident])))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _action_failed(name: str) -> Text:
    """The title of the notification saying that menu action ``name`` failed."""
    titles = {
        "copy": tr("Could not copy the token"),
        "paste": tr("Token not accepted; nothing changed"),
        "import": tr("Nothing imported from the browser"),
        "toggle_recover": tr("Could not save the setting"),
        "open_site": tr("Could not open chat.qwen.ai"),
        "open_logs": tr("Could not open the log folder"),
        "toggle_notify": tr("Could not save the setting"),
        "toggle_clear_clipboard": tr("Could not save the setting"),
        "toggle_autostart": tr("Could not change starting at login"),
        "use": tr("Could not change the default account"),
        "remove": tr("Could not remove the account"),
    }
    return titles.get(name) or tr("Qwen token")


def _copied_words(account: str | None, clear_after: int, marked: bool) -> Text:
    """The body of "Qwen token copied": whose token (with several accounts), when it is cleared, and
    whether clipboard managers may keep it; each combination one whole text for translators."""
    whose = (
        tr("The token is on the clipboard.")
        if account is None
        else tr("The token of {account} is on the clipboard.", account=account)
    )
    if clear_after and marked:
        then = tr("It will be cleared from the clipboard in {seconds} s.", seconds=clear_after)
        return tr("{copied} {cleared}", copied=whose, cleared=then)
    if clear_after:
        then = tr("It will be cleared from the clipboard in {seconds} s.", seconds=clear_after)
        unmarked = tr("Clipboard managers may keep it: it cannot be marked secret here.")
        return tr("{copied} {cleared} {unmarked}", copied=whose, cleared=then, unmarked=unmarked)
    if marked:
        return whose
    unmarked = tr("Clipboard managers may keep it: it cannot be marked secret here.")
    return tr("{copied} {unmarked}", copied=whose, unmarked=unmarked)


#: Engine events bringing an account a new token (perhaps a new account).
NEW_TOKEN_EVENTS = frozenset({"token_set", "imported", "recovered"})


def followed(statuses: tuple[Status, ...], event: EngineEvent) -> tuple[Status, ...]:
    """Every account's status after ``event``: a look (``checked``, ``state_changed``) brings them all;
    an event about one account changes that one in place (added at the end if new, dropped if
    forgotten), so the icon never shows a less urgent account than the worst one."""
    if event.kind in ("checked", "state_changed"):
        return event.statuses
    account = event.status.account_id
    if event.kind == "forgotten":
        return tuple(s for s in statuses if account is not None and s.account_id != account)
    if account is None:
        return statuses
    if event.kind == "default_changed":
        statuses = tuple(replace(s, is_default=False) for s in statuses)
    if all(s.account_id != account for s in statuses):
        return (*statuses, event.status)
    return tuple(event.status if s.account_id == account else s for s in statuses)


def not_read_yet(service: TokenService) -> Status:
    """The status before the token has been read: UNKNOWN with no problem (yet)."""
    return Status(TokenState.UNKNOWN, None, State(), service.clock(), None)


def needs_attention(status: Status) -> bool:
    """Whether the tray should draw the eye to the icon: the token is gone or will be soon, and
    refreshing is not taking care of it (a healthy token close to its refresh is not news)."""
    if status.state is TokenState.UNKNOWN:
        return status.problem is not None
    if status.state in (TokenState.MISSING, TokenState.INVALID, TokenState.EXPIRED):
        return True
    left = None if status.claims is None else status.claims.expires_at - status.now
    return status.state is not TokenState.OK and left is not None and left < DAY


def _face(status: Status) -> IconFace:
    if status.state is TokenState.UNKNOWN and status.problem is None:
        return IconFace(GREY, "")  # not read yet: a plain badge for the moment it takes
    left = None if status.claims is None else status.claims.expires_at - status.now
    return icon_face(status.state, left)


def fixed_gtk_icon_class(base: type) -> type:
    """pystray 0.19.5's gtk/appindicator Icon without its notification plumbing, which we never use
    (tray_app.notify shows ours) and which breaks starting and quitting:

    - it asks the session bus for a notification server as the loop starts, so a server that fails to
      start (D-Bus activation) ends the tray before it shows;
    - it closes "its" notification as the loop ends, so with no notification server every Quit ends in
      an error;
    - it sets Ctrl+C back to "kill the process at once", skipping our quit (clipboard, lock).
    """

    class FixedGtkIcon(base):  # type: ignore[misc]
        def _initialize(self) -> None:
            self._notifier = None
            self._mark_ready()

        def _finalize(self) -> None:
            self._remove_fs_icon()

    return FixedGtkIcon


def fixed_xorg_icon_class() -> type:
    """pystray 0.19.5's xorg Icon with its bugs fixed.

    - Its window never selects ButtonPressMask, so clicks never arrive (upstream issue #151).
    - It sends the dock request twice (from show and from the first icon update), and about 2 % of
      icons then never dock. We dock once, and again only if the tray goes away.
    - It stretches the icon to whatever the tray gives it (24 x 32 in trayer) and pastes it on black,
      ignoring its transparency. We draw it square, centred, blended over the tray's own background.
    - It writes the title as Latin-1 into WM_NAME and fails on any other character ("…", an email in
      another script, a translated title). We write it to _NET_WM_NAME in UTF-8, and to WM_NAME as Latin-1.
    - It marks itself ready before it records its event thread, so a change made at once from the setup
      thread can find no thread to compare with. We record the thread first.
    - A change from another thread (``visible``, ``icon``, ``title``, ``stop``) wakes the event thread
      with a message sent on the event thread's own X connection; python-xlib then sometimes leaves
      both threads waiting for each other (about 1 start in 30 here). We send the wake-up message on a
      connection of its own, one caller at a time.
    """
    import Xlib.display
    import Xlib.error
    import Xlib.protocol.event
    import Xlib.X
    from PIL import Image
    from pystray import _xorg

    class FixedXorgIcon(_xorg.Icon):  # type: ignore[misc]
        _icon_data: Any  # pystray's cached drawing of the icon at the window's size
        _title: str

        def _run(self) -> None:
            self._thread = threading.current_thread()
            self._mark_ready()
            self._mainloop()

        def _create_window(self) -> Any:
            title, self._title = self._title, self._title.encode("latin-1", "replace").decode("latin-1")
            try:
                window = super()._create_window()
            finally:
                self._title = title
            window.change_attributes(
                event_mask=Xlib.X.ExposureMask | Xlib.X.StructureNotifyMask | Xlib.X.ButtonPressMask
            )
            self._name_window(window)
            return window

        def _update_title(self) -> None:
            self._name_window(self._window)

        def _name_window(self, window: Any) -> None:
            """WM_NAME is Latin-1 only (pystray writes the title there and fails on anything else): the
            full title goes to _NET_WM_NAME in UTF-8, and a Latin-1 rendering of it to WM_NAME."""
            window.set_wm_name(self.title.encode("latin-1", "replace").decode("latin-1"))
            atom = self._display.intern_atom
            window.change_property(atom("_NET_WM_NAME"), atom("UTF8_STRING"), 8, self.title.encode())

        def _assert_icon_data(self, width: int, height: int) -> None:
            if self._icon_data and self._icon_data.size == (width, height):
                return
            size = min(width, height)
            badge = self.icon.convert("RGBA").resize((size, size), Image.Resampling.LANCZOS)
            canvas = self._tray_background(width, height)
            canvas.paste(badge, ((width - size) // 2, (height - size) // 2), badge)
            canvas.tostring = canvas.tobytes  # what pystray's put_pil_image expects
            self._icon_data = canvas

        def _tray_background(self, width: int, height: int) -> Any:
            """What the tray shows behind our window (XEmbed windows inherit their parent's background):
            the badge's rounded corners are blended over it, not over black."""
            try:
                self._window.change_attributes(background_pixmap=Xlib.X.ParentRelative)
                self._window.clear_area(0, 0, width, height)
                raw = self._window.get_image(0, 0, width, height, Xlib.X.ZPixmap, 0xFFFFFFFF)
                if len(raw.data) == width * height * 4:
                    return Image.frombytes("RGB", (width, height), raw.data, "raw", "BGRX")
            except Xlib.error.XError as exc:
                log.debug("Cannot read the tray's background: %s", exc)
            return Image.new("RGB", (width, height), (255, 255, 255))

        def _assert_docked(self) -> None:
            if self._systray_manager is None:
                self._dock_window()
            if not self._systray_manager:
                raise AssertionError("no system tray to dock in")

        def _rewrite_implementation(self, *originals: Callable[[], None]) -> None:
            super()._rewrite_implementation(*originals)  # the event-thread side: atoms and handlers
            self._wake_lock = threading.Lock()
            self._wake_display: Any = None
            for original in originals:
                atom = self._display.intern_atom(f"_PYSTRAY_{original.__name__.upper()}")
                setattr(self, original.__name__, self._dispatcher(original, atom))

        def _dispatcher(self, original: Callable[[], None], atom: int) -> Callable[[], None]:
            def dispatch() -> None:
                if threading.current_thread() is getattr(self, "_thread", None):
                    original()
                    return
                with self._wake_lock:
                    if self._wake_display is None:
                        self._wake_display = Xlib.display.Display()
                    display = self._wake_display
                    window = display.create_resource_object("window", self._window.id)
                    message = Xlib.protocol.event.ClientMessage(
                        window=window, client_type=atom, data=(32, (Xlib.X.CurrentTime, 0, 0, 0, 0))
                    )
                    window.send_event(message, event_mask=Xlib.X.NoEventMask)
                    display.flush()
                    result = self._queue.get()  # the event thread's answer: True, or exc_info
                if result is not True:
                    raise result[1].with_traceback(result[2])

            return dispatch

    return FixedXorgIcon
