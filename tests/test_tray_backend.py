"""Choosing the pystray backend on purpose: a pure table, the bounded wait at login, and real probes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import desktop
from tray_app.tray_backend import (
    BackendChoice,
    DesktopProbe,
    choose_backend,
    probe_desktop,
    wait_for_tray,
)

LINUX = DesktopProbe(platform="linux", display=True, gtk=True, session_bus=True)
WAYLAND = DesktopProbe(platform="linux", wayland=True, session_bus=True)
BROKEN_BUS = "the session bus (unix:path=/run/bus) does not answer: Connection refused"


def probe(base: DesktopProbe = LINUX, **changes: object) -> DesktopProbe:
    return DesktopProbe(**{**base.__dict__, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("desktop_probe", "backend"),
    [
        (probe(requested="xorg"), "xorg"),
        (probe(requested="sni", sni_watcher=True), "sni"),
        (probe(requested="gtk", xembed_tray=True), "gtk"),
        (probe(requested="appindicator", appindicator=True), "appindicator"),
        (DesktopProbe(platform="darwin"), "darwin"),
        (DesktopProbe(platform="win32"), "win32"),
        (probe(sni_watcher=True), "sni"),
        (probe(sni_watcher=True, xembed_tray=True), "sni"),
        (probe(sni_watcher=True, gtk=False), "sni"),
        (probe(WAYLAND, sni_watcher=True), "sni"),
        (probe(xembed_tray=True), "gtk"),
        # Without a session bus gtk and appindicator hang for ever: the xorg backend instead.
        (probe(xembed_tray=True, session_bus=False), "xorg"),
        (probe(xembed_tray=True, session_bus=False, bus_problem=BROKEN_BUS), "xorg"),
        (probe(xembed_tray=True, gtk=False), "xorg"),
    ],
    ids=[
        "user-override",
        "user-asks-sni",
        "user-asks-gtk",
        "user-asks-appindicator",
        "macos",
        "windows",
        "sni-host",
        "sni-preferred-over-xembed",
        "sni-needs-no-gtk",
        "pure-wayland",
        "xembed-tray",
        "no-session-bus",
        "broken-session-bus",
        "no-pygobject",
    ],
)
def test_the_backend_for_each_desktop(desktop_probe: DesktopProbe, backend: str) -> None:
    choice = choose_backend(desktop_probe)
    assert (choice.name, choice.problem) == (backend, None)


def test_xorg_says_what_it_gives_up_and_why() -> None:
    why = "this Python (/opt/python) cannot load PyGObject: run `bash scripts/install.sh`"
    choice = choose_backend(probe(xembed_tray=True, gtk=False, gtk_problem=why))
    assert choice.warning is not None
    assert choice.warning.startswith("No tray menu: " + why)
    assert "left click still copies" in choice.warning.lower()
    assert choose_backend(probe(requested="xorg")).warning is None, "the user chose it: nothing to warn of"


def test_a_python_without_pygobject_is_told_apart_from_a_missing_package(tmp_path: Path) -> None:
    """A venv without system site packages (like pyenv's Python) cannot see Debian's python3-gi."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    python = tmp_path / "venv" / "bin" / "python"
    code = (
        "import sys; sys.path.append(sys.argv[1]); "
        "from tray_app.tray_backend import _gtk_problem; print(_gtk_problem())"
    )
    root = str(Path(__file__).resolve().parent.parent)
    result = subprocess.run([str(python), "-c", code, root], capture_output=True, text=True, timeout=30, check=True)
    assert "cannot load PyGObject" in result.stdout or "has no PyGObject" in result.stdout, result.stdout
    assert str(python) in result.stdout
    mine = subprocess.run([sys.executable, "-c", code, root], capture_output=True, text=True, timeout=30, check=True)
    assert mine.stdout.strip() == "None", "the test venv has PyGObject with GTK 3"


@pytest.mark.parametrize(
    ("desktop_probe", "words", "may_appear"),
    [
        (DesktopProbe(platform="linux"), ["No graphical display", "qwen-tray daemon"], False),
        (LINUX, ["No system tray", "AppIndicator", "qwen-tray daemon"], True),
        (WAYLAND, ["No system tray"], True),
        (probe(WAYLAND, session_bus=False), ["session D-Bus"], False),
        (probe(session_bus=False, bus_problem=BROKEN_BUS), ["does not answer", "Connection refused"], False),
        (probe(requested="gtk", session_bus=False, bus_problem=BROKEN_BUS), ["PYSTRAY_BACKEND=gtk", "refused"], False),
        (probe(requested="gtk", session_bus=False), ["PYSTRAY_BACKEND=gtk", "no session D-Bus"], False),
        (probe(requested="gtk", gtk=False), ["PYSTRAY_BACKEND=gtk", "python3-gi"], False),
        (probe(requested="xorg", display=False), ["PYSTRAY_BACKEND=xorg", "DISPLAY"], False),
        (probe(requested="appindicator"), ["ayatana"], False),
        (probe(requested="qt"), ["PYSTRAY_BACKEND=qt", "sni"], False),
        (probe(requested="sni"), ["PYSTRAY_BACKEND=sni", "StatusNotifierWatcher"], True),
    ],
    ids=[
        "no-display",
        "no-tray-host",
        "wayland-no-tray-host-yet",
        "wayland-without-bus",
        "broken-bus-fails-at-once",
        "forced-gtk-broken-bus",
        "forced-gtk-no-bus",
        "forced-gtk-no-pygobject",
        "forced-xorg-no-display",
        "forced-appindicator-without-typelib",
        "unknown-backend",
        "forced-sni-waits-for-a-host",
    ],
)
def test_no_backend_says_why(desktop_probe: DesktopProbe, words: list[str], may_appear: bool) -> None:
    choice = choose_backend(desktop_probe)
    assert choice.name is None
    assert choice.problem is not None
    for word in words:
        assert word.lower() in choice.problem.lower()
    assert choice.may_appear is may_appear


def test_wait_for_tray_looks_again_until_the_panel_appears() -> None:
    probes = iter([LINUX, LINUX, probe(xembed_tray=True)])
    waits: list[float] = []
    told: list[BackendChoice] = []
    choice = wait_for_tray(lambda: next(probes), lambda s: waits.append(s) or False, seconds=30, on_wait=told.append)
    assert choice == BackendChoice("gtk")
    assert waits == [1.0, 1.0]
    assert [c.problem for c in told] == [choose_backend(LINUX).problem], "said once, at once, before waiting"


def test_wait_for_tray_gives_up_after_its_time() -> None:
    waits: list[float] = []
    choice = wait_for_tray(lambda: LINUX, lambda s: waits.append(s) or False, seconds=3)
    assert choice.name is None
    assert len(waits) == 3


def test_wait_for_tray_does_not_wait_for_what_cannot_appear() -> None:
    waits: list[float] = []
    told: list[BackendChoice] = []
    choice = wait_for_tray(
        lambda: DesktopProbe(platform="linux"), lambda s: waits.append(s) or False, seconds=30, on_wait=told.append
    )
    assert choice.name is None
    assert waits == []
    assert told == []


def test_the_probe_sees_a_real_desktop(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Xvfb with trayer, on a private D-Bus: an X11 tray, a bus, and GTK from PyGObject."""
    desktop.require(desktop.Xvfb, desktop.SessionBus, desktop.Trayer)
    with desktop.Xvfb(workdir=tmp_path) as screen, desktop.SessionBus(tmp_path) as bus:  # type: ignore[arg-type]
        desktop.apply_env(monkeypatch, bus, screen)
        monkeypatch.delenv("PYSTRAY_BACKEND", raising=False)
        before = probe_desktop()
        with desktop.Trayer(screen, tmp_path):  # type: ignore[arg-type]
            after = probe_desktop()
    assert (before.display, before.session_bus, before.xembed_tray, before.sni_watcher) == (True, True, False, False)
    assert after.xembed_tray is True
    assert after.gtk is True, "PyGObject with GTK 3 is part of the test install"
    assert choose_backend(after).name == "gtk"


def test_pystray_is_never_imported_blind(tmp_path: object) -> None:
    """`import pystray` with no display raises Xlib's DisplayNameError; our CLI must say it in one line."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "tray_app", "tray", "--wait-for-tray", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert "No graphical display" in result.stderr
