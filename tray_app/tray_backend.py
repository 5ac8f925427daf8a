"""Which tray backend to use, chosen on purpose instead of by pystray's import-time guess.

Left to itself, ``import pystray`` on Linux raises ValueError when PyGObject lacks the AppIndicator
typelib, raises Xlib's DisplayNameError without a display, and its gtk/appindicator backends hang for
ever without a session D-Bus. So we look first (:func:`probe_desktop`), decide with a pure function
(:func:`choose_backend`), and only then import pystray with ``PYSTRAY_BACKEND`` set to the choice.

Where a StatusNotifierItem host is on the session bus (KDE, GNOME's AppIndicator extension, XFCE,
LXQt, waybar) our own ``sni`` backend (:mod:`tray_app.sni`) is the choice: it answers a left click,
which pystray's appindicator cannot, and needs neither GTK nor an X display.
"""

from __future__ import annotations

import logging
import os
import struct
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tray_app.errors import QwenTrayError
from tray_app.i18n import N_, tr

log = logging.getLogger(__name__)

SNI_WATCHER = "org.kde.StatusNotifierWatcher"
SNI = "sni"
#: What PYSTRAY_BACKEND may name: ours, and pystray's own.
KNOWN_BACKENDS = (SNI, "gtk", "appindicator", "xorg", "darwin", "win32", "dummy")
#: What to do when no tray shows the icon (English; ``tr(NO_TRAY_HELP)`` for a person).
NO_TRAY_HELP = N_(
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
    wayland: bool = False  # a Wayland session ($WAYLAND_DISPLAY)
    gtk: bool = False  # PyGObject with GTK 3 (only looked for when the choice may need it)
    gtk_problem: str | None = None  # why not, and what to do, when it was looked for and is missing
    appindicator: bool = False  # the (Ayatana)AppIndicator3 typelib (only looked for when asked for)
    session_bus: bool = False  # a session D-Bus that answers (gtk/appindicator hang without one)
    bus_problem: str | None = None  # a session bus is set but does not answer: why
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
    #: What this choice costs the person, to be told at start without -v (the menu-less fallback).
    warning: str | None = None


def choose_backend(probe: DesktopProbe) -> BackendChoice:
    """Pick the tray backend for this desktop, or say why there is none."""
    if probe.requested:
        return _requested_backend(probe, probe.requested)
    if probe.platform == "darwin":
        return BackendChoice("darwin")
    if probe.platform == "win32":
        return BackendChoice("win32")
    if probe.sni_watcher:
        return BackendChoice(SNI)
    if not probe.display and not probe.wayland:
        return BackendChoice(
            None,
            problem=tr(
                "No graphical display ($DISPLAY and $WAYLAND_DISPLAY are not set): the tray needs a desktop "
                "session. On a machine without a desktop, use `qwen-tray daemon`."
            ),
        )
    if probe.xembed_tray and probe.gtk and probe.session_bus:
        return BackendChoice("gtk")
    if probe.xembed_tray:
        missing = probe.gtk_problem or tr("GTK needs a session D-Bus, and there is none")
        return BackendChoice(
            "xorg",
            warning=tr(
                "No tray menu: {reason}. A left click still copies the token; use the CLI for the rest.",
                reason=missing,
            ),
        )
    if probe.bus_problem:
        return BackendChoice(None, problem=tr("The tray cannot start: {reason}.", reason=probe.bus_problem))
    if not probe.session_bus and not probe.display:
        return BackendChoice(
            None, problem=tr("The tray cannot start: Wayland trays live on the session D-Bus, and there is none.")
        )
    return BackendChoice(None, problem=tr("No system tray was found. {help}", help=tr(NO_TRAY_HELP)), may_appear=True)


def _requested_backend(probe: DesktopProbe, name: str) -> BackendChoice:
    """The backend PYSTRAY_BACKEND names, if it can start here; else why not, at once (no waiting)."""
    chosen = f"PYSTRAY_BACKEND={name}"
    if name not in KNOWN_BACKENDS:
        return BackendChoice(
            None,
            problem=tr("{chosen} is not a tray backend ({known}).", chosen=chosen, known=", ".join(KNOWN_BACKENDS)),
        )
    needs_bus = name in (SNI, "gtk", "appindicator")
    if needs_bus and probe.bus_problem:
        return BackendChoice(
            None, problem=tr("{chosen} cannot start: {reason}.", chosen=chosen, reason=probe.bus_problem)
        )
    if needs_bus and not probe.session_bus and probe.platform not in ("darwin", "win32"):
        return BackendChoice(None, problem=tr("{chosen} cannot start: there is no session D-Bus.", chosen=chosen))
    if name in ("gtk", "appindicator", "xorg") and not probe.display:
        return BackendChoice(None, problem=tr("{chosen} cannot start: $DISPLAY is not set.", chosen=chosen))
    if name in ("gtk", "appindicator") and not probe.gtk:
        return BackendChoice(
            None,
            problem=tr("{chosen} cannot start: PyGObject with GTK 3 (python3-gi) is missing.", chosen=chosen),
        )
    if name == "appindicator" and not probe.appindicator:
        return BackendChoice(
            None,
            problem=tr(
                "{chosen} cannot start: install gir1.2-ayatanaappindicator3-0.1 (AppIndicator support).",
                chosen=chosen,
            ),
        )
    if name == SNI and not probe.sni_watcher:
        return BackendChoice(
            None,
            problem=tr("{chosen}: no tray host (StatusNotifierWatcher) is on the session bus.", chosen=chosen),
            may_appear=True,
        )
    return BackendChoice(name, note=f"{chosen} chosen by the user")


def probe_desktop(env: Mapping[str, str] | None = None, platform: str = sys.platform) -> DesktopProbe:
    """Look at this desktop without importing pystray (and without hanging: every check is bounded).

    GTK is looked for only when the choice may need it: loading it costs time and memory that the
    ``sni`` backend does not need."""
    env = os.environ if env is None else env
    requested = env.get("PYSTRAY_BACKEND") or None
    if platform in ("darwin", "win32"):
        return DesktopProbe(platform=platform, requested=requested)
    display = bool(env.get("DISPLAY"))
    session_bus, sni_watcher, bus_problem = _session_bus_state()
    wants_gtk = requested in ("gtk", "appindicator") or (requested is None and not sni_watcher)
    gtk_problem = _gtk_problem() if display and wants_gtk else None
    gtk = display and wants_gtk and gtk_problem is None
    appindicator = (
        requested == "appindicator"
        and gtk
        and (_gi_has("AyatanaAppIndicator3", "0.1") or _gi_has("AppIndicator3", "0.1"))
    )
    return DesktopProbe(
        platform=platform,
        requested=requested,
        display=display,
        wayland=bool(env.get("WAYLAND_DISPLAY")),
        gtk=gtk,
        gtk_problem=gtk_problem,
        appindicator=appindicator,
        session_bus=session_bus,
        bus_problem=bus_problem,
        sni_watcher=sni_watcher,
        xembed_tray=display and not sni_watcher and _xembed_tray_owned(),
    )


#: Where Debian and Ubuntu put python3-gi: for the distribution's Python only.
SYSTEM_GI = Path("/usr/lib/python3/dist-packages/gi")


def _gtk_problem() -> str | None:
    """None if PyGObject with GTK 3 loads in this Python; else why not and what to do, in one sentence."""
    try:
        import gi  # noqa: F401 - only: can this Python load it?
    except ImportError:
        python = sys.executable
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        if SYSTEM_GI.is_dir():
            return tr(
                "this Python ({python}, {version}) cannot load PyGObject: python3-gi is installed for the system's "
                "Python only. Install qwen-tray with `bash scripts/install.sh` (a venv of /usr/bin/python3), or "
                "`pip install 'qwen-tray[gtk]'`",
                python=python,
                version=version,
            )
        return tr(
            "this Python ({python}, {version}) has no PyGObject: install python3-gi, or `pip install 'qwen-tray[gtk]'`",
            python=python,
            version=version,
        )
    with _gtk_without_gl():
        loads = _gi_has("Gtk", "3.0")
    if not loads:
        return tr("GTK 3 cannot be loaded through PyGObject: install gir1.2-gtk-3.0")
    return None


def _gi_has(namespace: str, version: str) -> bool:
    try:
        import gi

        gi.require_version(namespace, version)
        __import__("gi.repository", fromlist=[namespace])
    except (ImportError, ValueError):
        return False
    return True


def _session_bus_state() -> tuple[bool, bool, str | None]:
    """(the session bus answers, a StatusNotifierItem watcher is on it, why a bus that is set does not
    answer), within two seconds."""
    from tray_app.dbus import BusConversation, session_bus_address

    address = session_bus_address()
    if address is None:
        return False, False, None
    try:
        with BusConversation(address, timeout=2.0) as bus:
            return True, bus.name_has_owner(SNI_WATCHER), None
    except (ImportError, OSError, ValueError, RuntimeError, struct.error) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        log.debug("No usable session D-Bus: %s", reason)
        return False, False, tr("the session bus ({address}) does not answer: {reason}", address=address, reason=reason)


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


def wait_for_tray(
    probe: Callable[[], DesktopProbe],
    wait: Callable[[float], bool],
    seconds: float,
    on_wait: Callable[[BackendChoice], None] = lambda _choice: None,
) -> BackendChoice:
    """Choose a backend, looking again every second for up to ``seconds`` while no tray is there yet
    (at login the panel may start after us); ``on_wait`` hears once that we are waiting, and why."""
    choice = choose_backend(probe())
    waited = 0.0
    if choice.name is None and choice.may_appear and seconds > 0:
        on_wait(choice)
    while choice.name is None and choice.may_appear and waited < seconds:
        if wait(1.0):
            break
        waited += 1.0
        choice = choose_backend(probe())
    return choice


def load_pystray(choice: BackendChoice) -> Any:
    """pystray with the chosen backend (``Icon``, ``Menu``, ``MenuItem``); a failure is a
    TrayUnavailableError, never a crash or a hang. For ``sni``, pystray's inert dummy backend gives the
    menu classes and :mod:`tray_app.sni` the Icon."""
    assert choice.name is not None  # noqa: S101 - callers check choice.problem first
    try:
        if choice.name != SNI:
            return import_pystray(choice.name)
        from tray_app.sni import icon_class

        pystray = import_pystray("dummy")
        return types.SimpleNamespace(Icon=icon_class(), Menu=pystray.Menu, MenuItem=pystray.MenuItem)
    except Exception as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise TrayUnavailableError(
            tr(
                "The {backend} tray backend cannot start ({reason}). {help}",
                backend=choice.name,
                reason=reason,
                help=tr(NO_TRAY_HELP),
            )
        ) from exc


def import_pystray(backend: str) -> Any:
    """``import pystray`` with PYSTRAY_BACKEND set to ``backend`` for that import only: pystray reads it
    once, and our children (the hook, xdg-open) must not inherit it."""
    with _environment(PYSTRAY_BACKEND=backend), _gtk_without_gl():
        import pystray
    return pystray


@contextmanager
def _gtk_without_gl() -> Iterator[None]:
    """GTK starts (on its first import: the probe's or pystray's) with GL off, unless the user set GDK_GL.

    The first GTK program on an X server otherwise probes GLX to choose its visuals, which loads Mesa's
    LLVM: about 55 MB more RSS, for the life of the tray, to draw an icon that uses no GL."""
    if "GDK_GL" in os.environ:
        yield
        return
    with _environment(GDK_GL="disable"):
        yield


@contextmanager
def _environment(**overrides: str) -> Iterator[None]:
    """Variables set for what runs inside only (our children must not inherit them)."""
    before = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
