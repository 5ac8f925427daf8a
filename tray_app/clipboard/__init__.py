"""The clipboard: plain text through pyperclip, and secrets through :func:`copy_secret`, marked and short-lived.

This package's one door (import from here, not from its modules)::

    read_clipboard() -> str                      the text on the clipboard (pyperclip)
    write_clipboard(text) -> None                plain text, for what is not secret (pyperclip)
    clipboard_help(env, have) -> str             why the clipboard cannot be reached, in words to act on
    copy_secret(text) -> SecretCopy              a secret, with the platform's "do not keep" marks
    SecretCopy.holds() -> bool                   still on the clipboard (nothing copied since)?
    SecretCopy.clear() -> bool                   take it off if still ours and stop serving; True if it was
    SecretCopy.backend, SecretCopy.marks         "x11"/"wayland"/"windows"/"macos"; the marks offered
    secret_backend(platform, env, have)          which of those copy_secret uses here (pure), or None

Why a second path for secrets: pyperclip offers one plain-text format through tools (xclip, wl-copy) that
fork into the background and outlive us. A secret copy offers the marks clipboard managers honour
(:mod:`tray_app.clipboard.formats` says which, where) and nothing of ours serves it once the tray is gone:

- X11: an in-process selection owner (:mod:`~tray_app.clipboard.x11`): gone with the process, even ``kill -9``.
- Wayland: a ``wl-copy --foreground`` child that the kernel kills with us (:mod:`~tray_app.clipboard.wayland`);
  text only, because wl-copy serves one MIME type per process.
- Windows (:mod:`~tray_app.clipboard.windows`) and macOS (:mod:`~tray_app.clipboard.macos`): the system keeps
  the data, marked; it stays after the tray ends until something else is copied or we clear it.

pyperclip uses wl-clipboard on Wayland (``$WAYLAND_DISPLAY``), xclip or xsel on X11 (``$DISPLAY``), and
the platform's own clipboard on Windows and macOS. When it cannot, :func:`clipboard_help` says why in
words a person can act on: no desktop session at all, or which package to install for this one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Protocol

from tray_app.errors import ClipboardError
from tray_app.i18n import N_, Text, tr

#: What :func:`clipboard_help` says when nothing is missing (English).
TOOL_FAILED = N_("the clipboard tool failed")


class SecretCopy(Protocol):
    """One secret on the clipboard, from :func:`copy_secret`. Methods are safe from any thread."""

    #: Which clipboard serves it: "x11", "wayland", "windows" or "macos".
    backend: str
    #: The "do not keep" marks offered beside the text (empty where the platform's tool cannot offer any).
    marks: tuple[str, ...]

    def holds(self) -> bool:
        """Whether the clipboard still holds this copy (no one has copied anything since)."""
        ...

    def clear(self) -> bool:
        """Take the copy off the clipboard if it is still there, and stop serving it; True if it was there.

        Runs once: later calls return the first answer. Never touches what someone copied since.
        """
        ...


def _which(name: str) -> bool:
    return shutil.which(name) is not None


def clipboard_help(env: Mapping[str, str], have: Callable[[str], bool] = _which) -> Text:
    """Why the clipboard cannot be reached here, and what to do about it (Linux and BSD)."""
    wayland, x11 = bool(env.get("WAYLAND_DISPLAY")), bool(env.get("DISPLAY"))
    if not wayland and not x11:
        return tr(
            "there is no desktop session here ($DISPLAY and $WAYLAND_DISPLAY are not set), so there is no "
            "clipboard; pass the token on stdin instead"
        )
    wl_clipboard = have("wl-copy") and have("wl-paste")
    x_tool = have("xclip") or have("xsel")
    if wayland and not wl_clipboard and not (x11 and x_tool):
        return tr("install wl-clipboard (it provides wl-copy and wl-paste)")
    if x11 and not x_tool and not (wayland and wl_clipboard):
        return tr("install xclip (or xsel)")
    return tr(TOOL_FAILED)


def secret_backend(platform: str, env: Mapping[str, str], have: Callable[[str], bool] = _which) -> str | None:
    """Which clipboard :func:`copy_secret` uses: "windows", "macos", "wayland", "x11", or None (none here).

    A Wayland session goes through wl-copy (the compositor's clipboard is the real one; XWayland's is a
    bridge); X11 needs no tool, only python-xlib, which pystray already brings on Linux.
    """
    if platform == "win32":
        return "windows"
    if platform == "darwin":
        return "macos"
    if env.get("WAYLAND_DISPLAY") and have("wl-copy"):
        return "wayland"
    if env.get("DISPLAY"):
        return "x11"
    return None


def copy_secret(text: str) -> SecretCopy:
    """Put ``text`` on the clipboard with the platform's secret marks; clear it with ``.clear()``.

    Raises :class:`~tray_app.errors.ClipboardError` when there is no clipboard or it refuses.
    """
    backend = secret_backend(sys.platform, os.environ)
    if backend == "x11":
        from tray_app.clipboard.x11 import X11SelectionOwner

        return X11SelectionOwner(text)
    if backend == "wayland":
        from tray_app.clipboard.wayland import WaylandCopy

        return WaylandCopy(text)
    if backend == "windows" and sys.platform == "win32":
        from tray_app.clipboard.windows import WindowsCopy

        return WindowsCopy(text)
    if backend == "macos" and sys.platform == "darwin":
        from tray_app.clipboard.macos import MacCopy

        return MacCopy(text)
    # No X11 tool is needed for a secret (we own the selection ourselves): only a session, or wl-clipboard.
    reason = clipboard_help(os.environ, lambda name: name in ("xclip", "xsel") or _which(name))
    raise ClipboardError(tr("Cannot write the clipboard: {reason}.", reason=reason))


def _problem(action: str, exc: Exception) -> ClipboardError:
    if sys.platform in ("win32", "darwin"):
        reason = tr("the clipboard is busy")
    else:
        reason = clipboard_help(os.environ)
        if reason == TOOL_FAILED:
            detail = " ".join(str(exc).split()) or type(exc).__name__
            reason = tr("the clipboard tool failed ({detail})", detail=detail)
    if action == "read":
        return ClipboardError(tr("Cannot read the clipboard: {reason}.", reason=reason))
    return ClipboardError(tr("Cannot write the clipboard: {reason}.", reason=reason))


def read_clipboard() -> str:
    import pyperclip

    try:
        text: str = pyperclip.paste()
    except (pyperclip.PyperclipException, OSError, subprocess.SubprocessError) as exc:
        raise _problem("read", exc) from exc
    return text


def write_clipboard(text: str) -> None:
    """Plain text, unmarked, served by whatever pyperclip uses (which may outlive us): not for secrets."""
    import pyperclip

    try:
        pyperclip.copy(text)
    except (pyperclip.PyperclipException, OSError, subprocess.SubprocessError) as exc:
        raise _problem("write", exc) from exc


__all__ = ["SecretCopy", "clipboard_help", "copy_secret", "read_clipboard", "secret_backend", "write_clipboard"]
