"""The tray on real StatusNotifierItem hosts, driven as a person would (or, where a headless seat has no
pointer, with the very D-Bus calls the host makes for a click).

X11: xfce4-panel (systray plugin) and lxqt-panel (statusnotifier plugin) on Xvfb, each with its own D-Bus,
gnome-keyring and dunst; xdotool clicks the icon the panel drew, xclip reads the clipboard, a screenshot
reads the badge. Wayland: waybar on headless sway, no $DISPLAY at all; grim for the screenshot, wl-paste
for the clipboard. The loopback chat.qwen.ai and the installed ``qwen-tray`` in a subprocess throughout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests import desktop
from tests.helpers import wait_for
from tests.test_tray_e2e import SCREENSHOTS, Desktop, TrayDriver, _close, days, fresh_driver
from tray_app import icon
from tray_app.simulator import QwenSimulator

PANEL_STRIP = (0, 0, 1024, 40)
BADGES = (icon.GREEN, icon.AMBER, icon.RED, icon.GREY, icon.VIOLET)


def is_badge(pixel: tuple[int, int, int]) -> bool:
    return any(_close(pixel, colour, 40) for colour in BADGES)


@dataclass
class PanelDesktop(Desktop):
    bus: desktop.SessionBus
    host: desktop.SniHost


@contextlib.contextmanager
def panel_session(panel_class: Any, workdir: Path) -> Iterator[PanelDesktop]:
    """A virtual desktop whose tray is an SNI host (xfce4-panel, lxqt-panel), with a keyring, a
    notification server and the tools the tests drive it with."""
    desktop.require(
        desktop.Xvfb, desktop.SessionBus, desktop.GnomeKeyring, desktop.Dunst, panel_class, "xdotool", "xclip"
    )
    with (
        desktop.Xvfb(workdir=workdir, screen="1024x600x24") as screen,
        desktop.SessionBus(workdir) as bus,
        desktop.GnomeKeyring(bus, workdir),
        desktop.Dunst(bus, screen),
        panel_class(bus, screen, workdir) as host,
    ):
        env = desktop.env_for(bus, screen)
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.SecretService.Keyring"
        env["TMPDIR"] = str(workdir)
        yield PanelDesktop(display=screen.display, env=env, workdir=workdir, bus=bus, host=host)


@pytest.fixture(scope="module", params=[desktop.XfcePanel, desktop.LxqtPanel], ids=["xfce4-panel", "lxqt-panel"])
def panel_desktop(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PanelDesktop]:
    with panel_session(request.param, tmp_path_factory.mktemp("sni-desktop")) as session:
        yield session


class SniDriver(TrayDriver):
    """The trayer driver's person, for an icon the panel draws itself (no window of ours to find)."""

    def __init__(self, screen: PanelDesktop, server: QwenSimulator, home: Path) -> None:
        super().__init__(screen, server, home)
        self.bus = screen.bus
        self.host = screen.host

    def icon_window(self) -> tuple[int, int, int, int]:
        """(x, y, width, height) of the badge the panel drew, once it stops moving."""

        def box() -> tuple[int, int, int, int] | None:
            found = desktop.find_on_screen(self.screen.display, PANEL_STRIP, is_badge)
            if found is None or found[2] - found[0] < 8:
                return None
            left, top, right, bottom = found
            return left, top, right - left, bottom - top

        wait_for(box, "the icon in the panel", detail=self.diagnosis)
        readings = [box()]

        def settled() -> tuple[int, int, int, int] | None:
            time.sleep(0.1)
            readings.append(box())
            return readings[-1] if readings[-1] == readings[-2] else None

        return wait_for(settled, "the icon to settle", detail=lambda: f"boxes seen: {readings[-5:]}")

    def item(self) -> str:
        assert self.process is not None
        mine = f"org.kde.StatusNotifierItem-{self.process.pid}-1"
        return wait_for(
            lambda: next((i for i in desktop.registered_items(self.bus) if i.startswith(mine)), None),
            "our item among the watcher's",
        )

    def screenshot(self, name: str) -> None:
        if self.shots is None:
            return
        self.shots.mkdir(parents=True, exist_ok=True)
        desktop.grab(self.screen.display, (0, 0, 240, 40)).save(self.shots / f"{name}.png")  # the panel's left end


@pytest.fixture
def sni_tray(panel_desktop: PanelDesktop, tmp_path: Path) -> Iterator[SniDriver]:
    with fresh_driver(SniDriver, panel_desktop, tmp_path) as driver:
        yield driver


def test_a_left_click_copies_and_the_menu_works(sni_tray: SniDriver, request: pytest.FixtureRequest) -> None:
    tray, server = sni_tray, sni_tray.server
    account = server.add_account(email="alice@example.com", name="Alice")
    first = server.issue_token(account, expires_at=days(5))
    assert tray.run("set-token", input_text=first).returncode == 0
    tray.start()
    assert "Tray icon shown (sni backend)" in tray.output()
    tray.shows(icon.GREEN)
    tray.screenshot(f"sni-{request.node.callspec.id}-ok")
    item = tray.item()
    assert "alice@example.com" in desktop.item_property(tray.bus, item, "ToolTip")[3]

    # The signature move: a left click puts the token on the clipboard.
    tray.click(1)
    wait_for(lambda: tray.clipboard() == first, "the token on the clipboard after a left click")
    assert first not in tray.notified("copied")

    # Right click opens the host's menu; Paste new token stores what the clipboard holds.
    second = server.issue_token(account, expires_at=days(2))
    tray.put_on_clipboard(f"Bearer {second}\n")
    tray.menu("Down", "Down", "Return")  # Copy token, Paste new token
    wait_for(lambda: tray.stored_token() == second, "the pasted token to be stored", detail=tray.output)
    wait_for(lambda: _close(tray.badge_colour(), icon.AMBER, 30), "the icon to turn amber (2 days left)")

    # Refresh now: a new token, green again, a new tooltip.
    tray.menu("Down", "Down", "Down", "Down", "Return")  # Copy, Paste, Import from browser, Refresh now
    wait_for(lambda: tray.stored_token() not in (first, second), "the refreshed token", detail=tray.output)
    wait_for(lambda: _close(tray.badge_colour(), icon.GREEN, 30), "the icon to turn green")
    wait_for(lambda: "6 d" in desktop.item_property(tray.bus, item, "ToolTip")[3], "the tooltip's new time left")

    # A 401: grey, the tooltip says to paste a new token, and the host is asked for attention.
    server.queue("unauthorized")
    tray.menu("Down", "Down", "Down", "Down", "Return")
    wait_for(lambda: _close(tray.badge_colour(), icon.GREY, 30), "the icon to turn grey")
    assert "paste a new token" in desktop.item_property(tray.bus, item, "ToolTip")[3]
    assert desktop.item_property(tray.bus, item, "Status") == "NeedsAttention"
    tray.notified("no longer works")

    # Quit, the last item: exit 0, and the clipboard no longer holds our token.
    current = tray.stored_token()
    tray.click(1)
    wait_for(lambda: tray.clipboard() == current, "the current token on the clipboard")
    tray.menu("Up", "Return")
    assert tray.process is not None
    assert tray.process.wait(15) == 0, tray.output()
    assert "Traceback" not in tray.output()
    assert tray.clipboard() != current
    wait_for(lambda: not any(i.startswith(f"org.kde.StatusNotifierItem-{tray.process.pid}-") for i in
                             desktop.registered_items(tray.bus)), "our item to leave the watcher")  # type: ignore[union-attr]  # fmt: skip


def test_the_icon_comes_back_after_the_panel_restarts(sni_tray: SniDriver) -> None:
    tray = sni_tray
    account = tray.server.add_account()
    token = tray.server.issue_token(account, expires_at=days(5))
    assert tray.run("set-token", input_text=token).returncode == 0
    tray.start()
    tray.host.restart()
    tray.item()
    tray.shows(icon.GREEN)
    tray.click(1)
    wait_for(lambda: tray.clipboard() == token, "the token on the clipboard after the restart")
    assert tray.process is not None
    assert tray.process.poll() is None
    tray.process.send_signal(signal.SIGINT)
    assert tray.process.wait(15) == 130, tray.output()
    assert "Traceback" not in tray.output()


# -- pure Wayland: waybar on headless sway ---------------------------------------------------------------------


@pytest.fixture
def wayland(tmp_path: Path) -> Iterator[desktop.SwayWaybar]:
    desktop.require(desktop.SwayWaybar)
    with desktop.SwayWaybar(tmp_path) as session:
        yield session


def app_env(services: tuple[desktop.Service, ...], server: QwenSimulator, workdir: Path) -> dict[str, str]:
    """The app's environment on ``services``' desktop: the simulator, a file keyring, folders of its own."""
    env = {
        **desktop.env_for(*services),
        "QWEN_TRAY_BASE_URL": server.base_url,
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "TMPDIR": str(workdir),
    }
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        env[name] = str(workdir / "app" / name.lower())
    return env


def test_pure_wayland_shows_the_icon_and_copies_on_activate(wayland: desktop.SwayWaybar, tmp_path: Path) -> None:
    with QwenSimulator() as server:
        env = app_env((wayland,), server, tmp_path)
        assert "DISPLAY" not in env
        account = server.add_account(email="wayland@example.com")
        token = server.issue_token(account, expires_at=days(5))
        driver = TrayDriver(Desktop(display="", env=env, workdir=tmp_path), server, tmp_path)
        driver.env = env
        assert driver.run("set-token", input_text=token).returncode == 0
        log = (tmp_path / "tray.log").open("wb")
        process = _start_tray(env, log)
        try:
            mine = f"org.kde.StatusNotifierItem-{process.pid}-1"
            item = wait_for(
                lambda: next((i for i in desktop.registered_items(wayland.bus) if i.startswith(mine)), None),
                "our item registered with waybar's watcher",
                detail=lambda: (tmp_path / "tray.log").read_text(errors="replace"),
            )
            shot = tmp_path / "waybar.png"
            badge = wait_for(  # green once the keyring is read (a plain grey badge until then)
                lambda: desktop.pixel_box(wayland.screenshot(shot, PANEL_STRIP), desktop.near(icon.GREEN, 30)),
                "the green icon in waybar",
            )
            if SCREENSHOTS:
                Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
                Image.open(shot).crop((784, 0, 1024, 40)).save(Path(SCREENSHOTS) / "sni-waybar-ok.png")

            # waybar's left click: Activate(x, y) on the item.
            x, y = desktop.centre(badge)
            desktop.activate(wayland.bus, item, x, y)
            wait_for(lambda: wayland.clipboard() == token, "the token on the Wayland clipboard")

            # waybar's menu click: GetLayout, then Event(id, "clicked") on Quit, the last item.
            layout = desktop.menu_layout(wayland.bus, item)
            labels = [child["properties"].get("label") for child in layout["children"]]
            assert labels[2] == "Copy token", labels
            assert labels[-1] == "Quit", labels
            desktop.menu_click(wayland.bus, item, layout["children"][-1]["id"])
            assert process.wait(15) == 0
            assert wayland.clipboard() != token, "the token is cleared from the clipboard on Quit"
            assert "Tray icon shown (sni backend)" in (tmp_path / "tray.log").read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
            log.close()


def _start_tray(env: dict[str, str], log: Any, *, verbose: bool = True) -> Any:
    import subprocess

    from tests.test_tray_e2e import QWEN_TRAY

    argv = [str(QWEN_TRAY), *(["-v"] if verbose else []), "tray"]
    return subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
    )  # fmt: skip


def test_no_tray_process_is_left_behind_on_a_broken_bus(tmp_path: Path) -> None:
    """A session bus that is set but does not answer: one line at once, exit 1, the lock released."""
    import subprocess
    import sys

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "WAYLAND_DISPLAY": "wayland-9",
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/nothing-listens-here",
    }
    for backend in ("", "gtk", "sni"):
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "tray_app", "tray"],
            env={**env, "PYSTRAY_BACKEND": backend} if backend else env,
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert result.returncode == 1, (backend, result.stderr)
        assert time.monotonic() - started < 5, "no waiting for a tray when the bus itself is broken"
        assert result.stderr.count("\n") == 1, result.stderr
        assert "does not answer" in result.stderr


def test_a_slow_panel_is_waited_for_and_said_so(tmp_path: Path) -> None:
    """No tray yet (tint2 took ~15 s here): say at once that we wait, then show the icon when it comes."""
    desktop.require(desktop.Xvfb, desktop.SessionBus, desktop.LxqtPanel)
    with (
        desktop.Xvfb(workdir=tmp_path, screen="1024x600x24") as screen,
        desktop.SessionBus(tmp_path) as bus,
        QwenSimulator() as server,
    ):
        env = {
            **desktop.env_for(bus, screen),
            "QWEN_TRAY_BASE_URL": server.base_url,
            "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
            "TMPDIR": str(tmp_path),
        }
        log_path = tmp_path / "tray.log"
        with log_path.open("wb") as log:
            process = _start_tray(env, log)
        try:
            wait_for(lambda: "Waiting up to 30 s" in log_path.read_text(), "the tray to say it is waiting", timeout=5)
            time.sleep(2)
            assert process.poll() is None
            with desktop.LxqtPanel(bus, screen, tmp_path):
                mine = f"org.kde.StatusNotifierItem-{process.pid}-1"
                wait_for(lambda: any(i.startswith(mine) for i in desktop.registered_items(bus)), "the icon, late")
                process.send_signal(signal.SIGTERM)
                assert process.wait(15) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def test_a_bus_that_dies_under_the_tray_ends_it_and_frees_the_lock(
    wayland: desktop.SwayWaybar, tmp_path: Path
) -> None:
    env = {
        **desktop.env_for(wayland),
        "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    log_path = tmp_path / "tray.log"
    with log_path.open("wb") as log:
        process = _start_tray(env, log, verbose=False)
    try:
        mine = f"org.kde.StatusNotifierItem-{process.pid}-1"
        wait_for(lambda: any(i.startswith(mine) for i in desktop.registered_items(wayland.bus)), "the icon")
        wayland.bus.stop()
        started = time.monotonic()
        assert process.wait(10) == 1
        assert time.monotonic() - started < 5
        stderr = [line for line in log_path.read_text().splitlines() if line.startswith("ERROR")]
        assert len(stderr) == 1, stderr  # what dbus-fast and asyncio logged on the way goes to the log file
        assert stderr[0].startswith("ERROR: The tray stopped: the session bus closed the connection"), stderr
        import subprocess

        from tests.test_tray_e2e import QWEN_TRAY

        again = subprocess.run([str(QWEN_TRAY), "tray", "--wait-for-tray", "0"], env=env, capture_output=True,
                               text=True, timeout=30, check=False)  # fmt: skip
        assert "already running" not in again.stderr, "the single-instance lock was released"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
