"""What the clipboard error says: the real cause (no desktop session, or which package is missing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tray_app.clipboard import clipboard_help

X11 = {"DISPLAY": ":0"}
WAYLAND = {"WAYLAND_DISPLAY": "wayland-0"}
BOTH = {**X11, **WAYLAND}


def tools(*names: str) -> object:
    return lambda name: name in names


@pytest.mark.parametrize(
    ("env", "installed", "words"),
    [
        ({}, ("xclip", "wl-copy", "wl-paste"), "no desktop session"),
        (X11, (), "install xclip"),
        (WAYLAND, (), "install wl-clipboard"),
        (WAYLAND, ("xclip",), "install wl-clipboard"),
        (BOTH, (), "install wl-clipboard"),
        (X11, ("xclip",), "the clipboard tool failed"),
        (X11, ("xsel",), "the clipboard tool failed"),
        (WAYLAND, ("wl-copy", "wl-paste"), "the clipboard tool failed"),
        (BOTH, ("xclip",), "the clipboard tool failed"),  # XWayland: pyperclip falls back to xclip
    ],
    ids=[
        "no-session",
        "x11-nothing",
        "wayland-nothing",
        "wayland-only-xclip",
        "xwayland-nothing",
        "x11-xclip",
        "x11-xsel",
        "wayland-wl-clipboard",
        "xwayland-xclip",
    ],
)
def test_the_help_names_the_real_cause(env: dict[str, str], installed: tuple[str, ...], words: str) -> None:
    assert words in clipboard_help(env, tools(*installed))  # type: ignore[arg-type]


def test_from_clipboard_without_a_display_says_so(tmp_path: Path) -> None:
    """xclip is installed here; the real problem is that there is no display to own a clipboard."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
           "XDG_STATE_HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path),
           "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring"}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "tray_app", "set-token", "--from-clipboard"],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "no desktop session" in result.stderr
    assert "xclip" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
