"""Which pystray backend to use, chosen on purpose instead of by pystray's import-time guess.

Left to itself, ``import pystray`` on Linux raises ValueError when PyGObject lacks the AppIndicator
typelib, raises Xlib's DisplayNameError without a display, and its gtk/appindicator backends hang for
ever without a session D-Bus. So we look first (:func:`probe_desktop`), decide with a pure function
(:func:`choose_backend`), and only then import pystray with ``PYSTRAY_BACKEND`` set to the choice.
"""

from __future__ import annotations

import logging
import os
import struct
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tray_app.errors import QwenTrayError

log = logging.getLogger(__name__)

SNI_WATCHER = "org.kde.StatusNotifierWatcher"
NO_TRAY_HELP = (
    "On GNOME, install and enable the 'AppIndicator and KStatusNotifierItem Support' extension; "
    "on a machine without a desktop, use `qwen-tray daemon`."
)


class TrayUnavailableError(QwenTrayError):
    """No tray icon can be shown here; the message says what is missing."""

    kind = "tray"


@dataclass(frozen=True)
class DesktopProbe:
    """What this desktop offers a tray icon."""

    platform: str
    requested: str | None = None  # PYSTRAY_BACKEND, the user's override
    display: bool = False  # an X11 display (or XWayland) to draw on
    gtk: bool = False  # PyGObject with GTK 3
    appindicator: bool = False  # the (Ayatana)AppIndicator3 typelib
    session_bus: bool = False  # a session D-Bus that answers (gtk/appindicator hang without one)
    sni_watcher: bool = False  # a StatusNotifierItem host (KDE, GNOME with the extension, ...)
    xembed_tray: bool = False  # an X11 system tray (XEmbed: XFCE, MATE, LXQt, trayer, ...)


@dataclass(frozen=True)
class BackendChoice:
    name: str | None
    #: Why nothing can be shown (when ``name`` is None), in words a person can act on.
    problem: str | None = None
    #: What the choice gives up, worth a line in the log.
    note: str | None = None
    #: The problem may go away by itself (at login the panel can start after us).
    may_appear: bool = False


def choose_backend(probe: DesktopProbe) -> BackendChoice:
    """Pick the pystray backend for this desktop, or say why there is none."""
    if probe.requested:
        return BackendChoice(probe.requested, note=f"PYSTRAY_BACKEND={probe.requested} chosen by the user")
    if probe.platform == "darwin":
        return BackendChoice("darwin")
    if probe.platform == "win32":
        return BackendChoice("win32")
    if not probe.display:
        return BackendChoice(
            None,
            problem="No graphical display ($DISPLAY is not set): the tray needs a desktop session "
            "(X11, or XWayland under Wayland). On a machine without a desktop, use `qwen-tray daemon`.",
        )
    gtk_usable = probe.gtk and probe.session_bus
    if probe.sni_watcher and gtk_usable and probe.appindicator:
        return BackendChoice("appindicator")
    if probe.xembed_tray and gtk_usable:
        return BackendChoice("gtk")
    if probe.xembed_tray:
        return BackendChoice(
            "xorg",
            note="no menu: PyGObject (python3-gi) or a session D-Bus is missing; left click copies the token",
        )
    if probe.sni_watcher and gtk_usable:
        return BackendChoice(
            None,
            problem="The tray here needs AppIndicator support: install gir1.2-ayatanaappindicator3-0.1.",
        )
    return BackendChoice(None, problem=f"No system tray was found. {NO_TRAY_HELP}", may_appear=True)


def probe_desktop(env: Mapping[str, str] | None = None, platform: str = sys.platform) -> DesktopProbe:
    """Look at this desktop without importing pystray (and without hanging: every check is bounded)."""
    env = os.environ if env is None else env
    if platform in ("darwin", "win32") or env.get("PYSTRAY_BACKEND"):
        return DesktopProbe(platform=platform, requested=env.get("PYSTRAY_BACKEND") or None)
    display = bool(env.get("DISPLAY"))
    gtk = display and _gi_has("Gtk", "3.0")
    appindicator = gtk and (_gi_has("AyatanaAppIndicator3", "0.1") or _gi_has("AppIndicator3", "0.1"))
    session_bus, sni_watcher = _session_bus_state()
    return DesktopProbe(
        platform=platform,
        display=display,
        gtk=gtk,
        appindicator=appindicator,
        session_bus=session_bus,
        sni_watcher=sni_watcher,
        xembed_tray=display and _xembed_tray_owned(),
    )


def _gi_has(namespace: str, version: str) -> bool:
    try:
        import gi

        gi.require_version(namespace, version)
        __import__("gi.repository", fromlist=[namespace])
    except (ImportError, ValueError):
        return False
    return True


def _session_bus_state() -> tuple[bool, bool]:
    """(the session bus answers, a StatusNotifierItem watcher is on it), within two seconds."""
    from tray_app.dbus import BusConversation, session_bus_address

    address = session_bus_address()
    if address is None:
        return False, False
    try:
        with BusConversation(address, timeout=2.0) as bus:
            return True, bus.name_has_owner(SNI_WATCHER)
    except (ImportError, OSError, ValueError, RuntimeError, struct.error) as exc:
        log.debug("No usable session D-Bus: %s", exc)
        return False, False


def _xembed_tray_owned() -> bool:
    try:
        import Xlib.display
        import Xlib.error
        import Xlib.X
    except ImportError:
        return False
    try:
        display = Xlib.display.Display()
    except (Xlib.error.DisplayError, OSError) as exc:
        log.debug("Cannot open the X display: %s", exc)
        return False
    try:
        atom = display.intern_atom(f"_NET_SYSTEM_TRAY_S{display.get_default_screen()}")
        return bool(display.get_selection_owner(atom) != Xlib.X.NONE)
    finally:
        display.close()


def wait_for_tray(probe: Callable[[], DesktopProbe], wait: Callable[[float], bool], seconds: float) -> BackendChoice:
    """Choose a backend, looking again every second for up to ``seconds`` while no tray is there yet
    (at login the panel may start after us)."""
    choice = choose_backend(probe())
    waited = 0.0
    while choice.name is None and choice.may_appear and waited < seconds:
        if wait(1.0):
            break
        waited += 1.0
        choice = choose_backend(probe())
    return choice


def load_pystray(choice: BackendChoice) -> Any:
    """Import pystray with the chosen backend; a failure is a TrayUnavailableError, never a crash or hang."""
    assert choice.name is not None  # noqa: S101 - callers check choice.problem first
    os.environ["PYSTRAY_BACKEND"] = choice.name
    try:
        import pystray
    except Exception as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise TrayUnavailableError(f"The {choice.name} tray backend cannot start ({reason}). {NO_TRAY_HELP}") from exc
    return pystray
