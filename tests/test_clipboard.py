"""What the clipboard error says (the real cause: no desktop session, or which package is missing), which
clipboard a secret goes to, and what each platform is offered for it (pure: Windows and macOS are checked here).
The real X11 and Wayland clipboards: test_clipboard_x11.py, test_clipboard_wayland.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tray_app.clipboard import clipboard_help, copy_secret, secret_backend
from tray_app.clipboard.formats import (
    PASSWORD_HINT,
    macos_types,
    windows_formats,
    wl_copy_argv,
    x11_target_names,
    x11_targets,
)
from tray_app.errors import ClipboardError

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


# -- secrets: which clipboard, and what each platform is offered --------------------------------------------
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6IjEyMyJ9.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("platform", "env", "installed", "backend"),
    [
        ("win32", {}, (), "windows"),
        ("darwin", {}, (), "macos"),
        ("linux", X11, (), "x11"),  # no xclip needed: we own the selection ourselves
        ("linux", WAYLAND, ("wl-copy",), "wayland"),
        ("linux", BOTH, ("wl-copy",), "wayland"),  # the compositor's clipboard is the real one
        ("linux", BOTH, ("xclip",), "x11"),  # XWayland without wl-clipboard
        ("linux", WAYLAND, ("xclip",), None),
        ("linux", {}, ("wl-copy", "xclip"), None),
        ("freebsd14", X11, (), "x11"),
    ],
    ids=["windows", "macos", "x11", "wayland", "xwayland", "xwayland-no-wl-copy", "wayland-nothing", "no-session",
         "bsd-x11"],
)  # fmt: skip
def test_secrets_go_to_the_session_s_own_clipboard(
    platform: str, env: dict[str, str], installed: tuple[str, ...], backend: str | None
) -> None:
    assert secret_backend(platform, env, tools(*installed)) == backend  # type: ignore[arg-type]


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the desktop-session rules are Linux and BSD's")
@pytest.mark.parametrize(
    ("env", "words"),
    [({}, "no desktop session"), (WAYLAND, "install wl-clipboard")],
    ids=["no-session", "wayland-without-wl-copy"],
)
def test_a_secret_without_a_clipboard_says_why(
    env: dict[str, str], words: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATH", str(tmp_path))  # no wl-copy, no xclip
    with pytest.raises(ClipboardError, match=words) as caught:
        copy_secret(TOKEN)
    assert "xclip" not in str(caught.value)


def test_x11_offers_every_text_target_with_the_token_and_the_hint_secret() -> None:
    targets = x11_targets(TOKEN)
    texts = {name: data for name, (_kind, data) in targets.items() if name != PASSWORD_HINT}
    assert set(texts) == {"UTF8_STRING", "text/plain;charset=utf-8", "TEXT", "STRING"}
    assert set(texts.values()) == {TOKEN.encode()}
    assert targets[PASSWORD_HINT] == ("x-kde-passwordManagerHint", b"secret")
    assert targets["STRING"][0] == "STRING"
    assert x11_target_names(TOKEN) == ["TARGETS", "MULTIPLE", "TIMESTAMP", *targets]


def test_x11_offers_no_latin1_string_for_text_outside_latin1() -> None:
    targets = x11_targets("token \u20ac")
    assert "STRING" not in targets
    assert targets["TEXT"] == ("UTF8_STRING", "token \u20ac".encode())
    assert targets[PASSWORD_HINT] == ("x-kde-passwordManagerHint", b"secret")


def test_wayland_runs_one_foreground_wl_copy_offering_text() -> None:
    argv = wl_copy_argv()
    assert argv[:2] == ["wl-copy", "--foreground"]  # a child that dies with us, never a forked daemon
    assert argv.count("--type") == 1
    assert argv[argv.index("--type") + 1].startswith("text/plain")


def test_windows_sets_unicode_text_and_the_three_marks() -> None:
    formats = windows_formats("tok\u00e9n")
    assert formats[0] == (13, "tok\u00e9n\0".encode("utf-16-le"))  # CF_UNICODETEXT, NUL-terminated
    assert formats[1:] == [
        ("ExcludeClipboardContentFromMonitorProcessing", b"\0\0\0\0"),
        ("CanIncludeInClipboardHistory", b"\0\0\0\0"),  # DWORD 0: not in Win+V history
        ("CanUploadToCloudClipboard", b"\0\0\0\0"),  # DWORD 0: not synced to other devices
    ]


def test_macos_sets_the_string_and_the_nspasteboard_markers() -> None:
    assert macos_types(TOKEN) == [
        ("public.utf8-plain-text", TOKEN),
        ("org.nspasteboard.ConcealedType", b""),
        ("org.nspasteboard.TransientType", b""),
    ]


def test_each_backend_says_which_marks_it_offers() -> None:
    from tray_app.clipboard.wayland import WaylandCopy
    from tray_app.clipboard.x11 import X11SelectionOwner

    assert (X11SelectionOwner.backend, X11SelectionOwner.marks) == ("x11", (PASSWORD_HINT,))
    assert (WaylandCopy.backend, WaylandCopy.marks) == ("wayland", ())  # wl-copy: one type per process
