"""Desktop notifications behind one small interface, with a fallback chain that says why it fell back.

    Notifier (Protocol)       ``name`` + ``notify(title, body, urgent=)``; raises NotifyError on failure
    ├── DbusNotifier          Linux/BSD: org.freedesktop.Notifications.Notify on the session bus (jeepney)
    ├── NotifySendNotifier    Linux/BSD fallback: the ``notify-send`` command, exit code checked
    ├── PlyerNotifier         Windows/macOS: ``plyer.notification`` (imported only when used)
    ├── OsascriptNotifier     macOS fallback: AppleScript ``display notification``, text passed as argv
    └── LogNotifier           last resort: one INFO log line; never fails

    FallbackNotifier          tries each in order, warns once per failing backend, never raises

Why not plyer on Linux: without dbus-python it silently shells out to ``notify-send … -t 0``, so the
notification never expires and a missing notification server passes for success. DbusNotifier sends
the call itself, with a timeout, an expiry and ``replaces_id`` (a new notification replaces our last
one instead of stacking up); NotifySendNotifier at least checks the exit code.

Every title and body leaves the process as one redacted paragraph of bounded length (:func:`clean_text`):
no notification backend ever sees anything token-shaped.

NotifyError stays inside this module's fallback chain: FallbackNotifier turns it into a log line, so it
is not part of :mod:`tray_app.errors`' tree.
"""

from __future__ import annotations

import html
import logging
import re
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from tray_app.dbus import NO_SESSION_BUS, BusConversation, session_bus_address
from tray_app.token import redact

log = logging.getLogger(__name__)

APP_NAME = "qwen-tray"
#: Longest title and body shown (characters, after redaction); longer text ends with "…".
TITLE_MAX = 100
BODY_MAX = 300
#: How long a notification stays on screen unless the server overrides it (0 would mean "forever").
DEFAULT_EXPIRE_MS = 10_000
#: Bound on one whole exchange with a backend (D-Bus conversation or helper process), in seconds.
CALL_TIMEOUT = 3.0

NOTIFICATIONS_NAME = "org.freedesktop.Notifications"
NOTIFICATIONS_PATH = "/org/freedesktop/Notifications"
URGENCY_NORMAL = 1
URGENCY_CRITICAL = 2
# A Windows balloon holds 63 UTF-16 units of title and 255 of text (plus NUL); plyer's ctypes
# structure raises on anything longer, in a thread of its own, so the balloon silently never shows.
_WIN_TITLE_UNITS = 63
_WIN_BODY_UNITS = 255

# Whitespace and control characters (a D-Bus string cannot hold NUL, argv cannot either).
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")
_NO_SERVER_ERRORS = frozenset(
    {"org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner"}
)


class NotifyError(Exception):
    """One backend could not show a notification; ``str()`` says why, in one line."""


class Notifier(Protocol):
    """Shows one notification, or raises NotifyError."""

    name: str

    def notify(self, title: str, body: str, *, urgent: bool = False) -> None: ...


def clean_text(text: str, limit: int) -> str:
    """``text`` as one redacted line of at most ``limit`` characters."""
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be encoded anywhere
    text = redact(_SPACE_OR_CONTROL.sub(" ", text).strip())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _prepare(title: str, body: str) -> tuple[str, str]:
    return clean_text(title, TITLE_MAX) or APP_NAME, clean_text(body, BODY_MAX)


def _fit_utf16(text: str, units: int) -> str:
    """Cut ``text`` (ending it with "…") so it takes at most ``units`` UTF-16 code units."""
    if len(text.encode("utf-16-le")) // 2 <= units:
        return text
    while len(text.encode("utf-16-le")) // 2 > units - 1:
        text = text[:-1]
    return text + "…"


def _check_expire_ms(expire_timeout_ms: int) -> int:
    if isinstance(expire_timeout_ms, bool) or not isinstance(expire_timeout_ms, int) or expire_timeout_ms < 1:
        raise ValueError(f"expire_timeout_ms must be a positive number of milliseconds, not {expire_timeout_ms!r}")
    return expire_timeout_ms


def _stderr_reason(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return clean_text(lines[-1], 200) if lines else "no message"


# -- freedesktop: D-Bus ----------------------------------------------------------------------------------


def _notifications_call(method: str, signature: str | None = None, body: tuple[Any, ...] = ()) -> Any:
    from jeepney import DBusAddress, new_method_call

    address = DBusAddress(NOTIFICATIONS_PATH, bus_name=NOTIFICATIONS_NAME, interface=NOTIFICATIONS_NAME)
    return new_method_call(address, method, signature, body)


def _unwrap(reply: Any) -> tuple[Any, ...]:
    from jeepney import DBusErrorResponse, HeaderFields, MessageType

    if reply.header.message_type == MessageType.error:
        name = reply.header.fields.get(HeaderFields.error_name, "")
        if name in _NO_SERVER_ERRORS:
            raise NotifyError(f"no notification server on the session bus ({name})")
        raise NotifyError(clean_text(str(DBusErrorResponse(reply)), 200))
    body: tuple[Any, ...] = reply.body
    return body


class DbusNotifier:
    """``org.freedesktop.Notifications.Notify`` over a fresh session-bus connection per notification.

    Our previous notification's id goes as ``replaces_id`` (so a new notification replaces the last one
    instead of stacking up), but only while the same server instance answers: ids restart with the
    server, and an old id could then replace another application's notification.
    """

    name = "dbus"

    def __init__(
        self,
        icon_path: str | None = None,
        *,
        expire_timeout_ms: int = DEFAULT_EXPIRE_MS,
        call_timeout: float = CALL_TIMEOUT,
        bus_address: str | None = None,
    ) -> None:
        self.icon_path = icon_path
        self.expire_timeout_ms = _check_expire_ms(expire_timeout_ms)
        self.call_timeout = call_timeout
        self.bus_address = bus_address  # None: the session bus from the environment, looked up per call
        self.last_id = 0
        self._last_server: str | None = None
        self._lock = threading.Lock()

    def notify(self, title: str, body: str, *, urgent: bool = False) -> None:
        title, body = _prepare(title, body)
        try:
            import jeepney  # noqa: F401 - only to say plainly that it is missing
        except ImportError as exc:
            raise NotifyError("the jeepney package is not installed") from exc
        address = self.bus_address or session_bus_address()
        if address is None:
            raise NotifyError(NO_SESSION_BUS)
        with self._lock:
            try:
                with BusConversation(address, self.call_timeout) as bus:
                    self._send(bus, title, body, urgent=urgent)
            except NotifyError:
                raise
            except (OSError, ValueError, RuntimeError, struct.error) as exc:
                # OSError: refused, missing socket, reset, timeout; ValueError and struct.error: jeepney's
                # AuthenticationError and malformed messages; RuntimeError: an address jeepney cannot connect to.
                raise NotifyError(clean_text(f"{type(exc).__name__}: {exc}", 200)) from exc

    def _send(self, bus: BusConversation, title: str, body: str, *, urgent: bool) -> None:
        from jeepney import HeaderFields

        capabilities_reply = bus.call(_notifications_call("GetCapabilities"))
        (capabilities,) = _unwrap(capabilities_reply)
        # The bus stamps every reply with the unique name of the connection that sent it.
        server = capabilities_reply.header.fields.get(HeaderFields.sender)
        replaces_id = self.last_id if server is not None and server == self._last_server else 0
        if "body-markup" in capabilities:
            body = html.escape(body, quote=False)
        hints = {
            "urgency": ("y", URGENCY_CRITICAL if urgent else URGENCY_NORMAL),
            "desktop-entry": ("s", APP_NAME),
        }
        reply = bus.call(
            _notifications_call(
                "Notify",
                "susssasa{sv}i",
                (APP_NAME, replaces_id, self.icon_path or "", title, body, [], hints, self.expire_timeout_ms),
            )
        )
        (notification_id,) = _unwrap(reply)
        self.last_id, self._last_server = int(notification_id), server


class NotifySendNotifier:
    """``notify-send -a qwen-tray -t MS -u normal|critical -- TITLE BODY``, exit code checked, time bounded."""

    name = "notify-send"

    def __init__(
        self,
        icon_path: str | None = None,
        *,
        expire_timeout_ms: int = DEFAULT_EXPIRE_MS,
        call_timeout: float = CALL_TIMEOUT,
        executable: str = "notify-send",
    ) -> None:
        self.icon_path = icon_path
        self.expire_timeout_ms = _check_expire_ms(expire_timeout_ms)
        self.call_timeout = call_timeout
        self.executable = executable

    def argv(self, title: str, body: str, *, urgent: bool = False) -> list[str]:
        title, body = _prepare(title, body)
        argv = [self.executable, "-a", APP_NAME, "-t", str(self.expire_timeout_ms)]
        argv += ["-u", "critical" if urgent else "normal", "-h", f"string:desktop-entry:{APP_NAME}"]
        if self.icon_path:
            argv += ["-i", self.icon_path]
        return [*argv, "--", title, body]

    def notify(self, title: str, body: str, *, urgent: bool = False) -> None:
        _run_helper(self.name, self.argv(title, body, urgent=urgent), self.call_timeout)


def _run_helper(name: str, argv: list[str], timeout: float, stdin_text: str | None = None) -> None:
    try:
        result = subprocess.run(
            argv,
            input=stdin_text,
            stdin=subprocess.DEVNULL if stdin_text is None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise NotifyError(f"{name} is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise NotifyError(f"{name} did not finish within {timeout:g} s") from exc
    except OSError as exc:
        raise NotifyError(f"{name} could not be started: {exc.strerror or exc}") from exc
    if result.returncode != 0:
        raise NotifyError(f"{name} exited with status {result.returncode}: {_stderr_reason(result.stderr)}")


# -- Windows and macOS -----------------------------------------------------------------------------------


class PlyerNotifier:
    """``plyer.notification.notify`` (plyer is imported on first use, never at module import).

    On Windows plyer shows the balloon from a thread of its own: success here means only that it was
    handed over. On macOS plyer needs pyobjus; without it plyer would print a traceback and fail, so we
    say so instead and let the chain move on.
    """

    name = "plyer"

    def __init__(self, icon_path: str | None = None, *, timeout_s: int = 10, platform: str = sys.platform) -> None:
        self.icon_path = icon_path
        self.timeout_s = timeout_s
        self.platform = platform

    def notify(self, title: str, body: str, *, urgent: bool = False) -> None:
        import importlib.util

        title, body = _prepare(title, body)
        if self.platform == "win32":
            title, body = _fit_utf16(title, _WIN_TITLE_UNITS), _fit_utf16(body, _WIN_BODY_UNITS)
        if self.platform == "darwin" and importlib.util.find_spec("pyobjus") is None:
            raise NotifyError("plyer needs the pyobjus package on macOS, and it is not installed")
        try:
            from plyer import notification

            notification.notify(
                title=title, message=body, app_name=APP_NAME, app_icon=self.icon_path or "", timeout=self.timeout_s
            )
        except Exception as exc:
            raise NotifyError(clean_text(f"plyer failed: {type(exc).__name__}: {exc}", 200)) from exc


OSASCRIPT_SCRIPT = """on run argv
    display notification (item 2 of argv) with title (item 1 of argv)
end run
"""


class OsascriptNotifier:
    """``osascript - TITLE BODY`` with the script on stdin: the text travels as argv, never as script.

    ``-`` (read the script from stdin) is an operand, so option parsing stops there and a title that
    starts with a dash is still just an argument.
    """

    name = "osascript"

    def __init__(self, *, call_timeout: float = CALL_TIMEOUT, executable: str = "osascript") -> None:
        self.call_timeout = call_timeout
        self.executable = executable

    def notify(self, title: str, body: str, *, urgent: bool = False) -> None:
        title, body = _prepare(title, body)
        _run_helper(self.name, [self.executable, "-", title, body], self.call_timeout, stdin_text=OSASCRIPT_SCRIPT)


class LogNotifier:
    """The last resort: ``Notification: title: body`` in the log at INFO. Never fails."""

    name = "log"

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or log

    def notify(self, title: str, body: str, *, urgent: bool = False) -> None:
        title, body = _prepare(title, body)
        self.logger.info("Notification: %s: %s", title, body)


# -- the chain -------------------------------------------------------------------------------------------


class FallbackNotifier:
    """Tries each notifier in order and returns the name of the one that delivered. Never raises.

    A failing backend is reported with one WARNING per outage (later failures go to DEBUG, and a
    recovery is logged at INFO), so a desktop without a notification server does not flood the log.
    """

    name = "fallback"

    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        if not notifiers:
            raise ValueError("FallbackNotifier needs at least one notifier")
        self.notifiers = tuple(notifiers)
        self._failing: set[str] = set()
        self._lock = threading.Lock()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(notifier.name for notifier in self.notifiers)

    def notify(self, title: str, body: str, *, urgent: bool = False) -> str:
        """Show ``title`` and ``body``: a :class:`~tray_app.i18n.Text` is shown in the user's language on
        the desktop, and logged in English (the log notifier, and the warning when nothing showed it)."""
        from tray_app.i18n import local

        shown = (str(local(title)), str(local(body)))
        with self._lock:
            for index, notifier in enumerate(self.notifiers):
                try:
                    if notifier.name == LogNotifier.name:  # logs stay English
                        notifier.notify(title, body, urgent=urgent)
                    else:
                        notifier.notify(*shown, urgent=urgent)
                except NotifyError as exc:
                    reason = str(exc)
                except Exception as exc:  # noqa: BLE001 - a notification must never kill the thread that sent it
                    reason = f"unexpected {type(exc).__name__}: {exc}"
                else:
                    if notifier.name in self._failing:
                        self._failing.discard(notifier.name)
                        log.info("Notifications via %s work again", notifier.name)
                    return notifier.name
                following = self.notifiers[index + 1].name if index + 1 < len(self.notifiers) else "nothing else"
                level = logging.DEBUG if notifier.name in self._failing else logging.WARNING
                self._failing.add(notifier.name)
                log.log(level, "Notifications via %s failed (%s); trying %s", notifier.name, redact(reason), following)
            title, body = _prepare(title, body)
            log.warning("Notification not shown (every backend failed): %s: %s", title, body)
            return ""


def default_notifier(platform: str = sys.platform, *, icon_path: str | None = None) -> FallbackNotifier:
    """The chain for ``platform``; building it imports and starts nothing.

    darwin: plyer, osascript, log. win32: plyer, log. Anything else (Linux, the BSDs, other Unix
    desktops): dbus, notify-send, log — never plyer, whose silent notify-send fallback hides failures.
    """
    chain: list[Notifier]
    if platform == "darwin":
        chain = [PlyerNotifier(icon_path, platform=platform), OsascriptNotifier(), LogNotifier()]
    elif platform == "win32":
        chain = [PlyerNotifier(icon_path, platform=platform), LogNotifier()]
    else:
        chain = [DbusNotifier(icon_path), NotifySendNotifier(icon_path), LogNotifier()]
    return FallbackNotifier(chain)


__all__ = [
    "APP_NAME",
    "BODY_MAX",
    "DEFAULT_EXPIRE_MS",
    "TITLE_MAX",
    "DbusNotifier",
    "FallbackNotifier",
    "LogNotifier",
    "Notifier",
    "NotifyError",
    "NotifySendNotifier",
    "OsascriptNotifier",
    "PlyerNotifier",
    "clean_text",
    "default_notifier",
]
