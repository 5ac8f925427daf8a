"""The clipboard, through pyperclip, with an error that names what is really missing.

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

from tray_app.errors import ClipboardError


def clipboard_help(
    env: Mapping[str, str], have: Callable[[str], bool] = lambda name: shutil.which(name) is not None
) -> str:
    """Why the clipboard cannot be reached here, and what to do about it (Linux and BSD)."""
    wayland, x11 = bool(env.get("WAYLAND_DISPLAY")), bool(env.get("DISPLAY"))
    if not wayland and not x11:
        return (
            "there is no desktop session here ($DISPLAY and $WAYLAND_DISPLAY are not set), so there is no "
            "clipboard; pass the token on stdin instead"
        )
    wl_clipboard = have("wl-copy") and have("wl-paste")
    x_tool = have("xclip") or have("xsel")
    if wayland and not wl_clipboard and not (x11 and x_tool):
        return "install wl-clipboard (it provides wl-copy and wl-paste)"
    if x11 and not x_tool and not (wayland and wl_clipboard):
        return "install xclip (or xsel)"
    return "the clipboard tool failed"


def _problem(action: str, exc: Exception) -> ClipboardError:
    reason = clipboard_help(os.environ) if sys.platform not in ("win32", "darwin") else "the clipboard is busy"
    if reason == "the clipboard tool failed":
        reason += f" ({' '.join(str(exc).split()) or type(exc).__name__})"
    return ClipboardError(f"Cannot {action} the clipboard: {reason}.")


def read_clipboard() -> str:
    import pyperclip

    try:
        text: str = pyperclip.paste()
    except (pyperclip.PyperclipException, OSError, subprocess.SubprocessError) as exc:
        raise _problem("read", exc) from exc
    return text


def write_clipboard(text: str) -> None:
    import pyperclip

    try:
        pyperclip.copy(text)
    except (pyperclip.PyperclipException, OSError, subprocess.SubprocessError) as exc:
        raise _problem("write", exc) from exc
