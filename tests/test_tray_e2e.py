"""The tray end to end, driven as a person would, on a real virtual desktop.

Xvfb as the screen, a private D-Bus, gnome-keyring unlocked as the keyring, dunst as the notification
server, trayer as the XEmbed tray, the loopback chat.qwen.ai, and the installed ``qwen-tray`` in a
subprocess. xdotool clicks, xclip reads the clipboard, a screenshot reads the icon's colour.

Set QWEN_TRAY_SCREENSHOTS=<folder> to keep a screenshot of each state (the README's come from here).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageGrab

from tests import desktop
from tests.helpers import wait_for
from tray_app import icon
from tray_app.simulator import Account, QwenSimulator

QWEN_TRAY = Path(sys.executable).parent / "qwen-tray"
#: Read at import: the autouse fixture clears QWEN_TRAY_* variables before each test.
SCREENSHOTS = os.environ.get("QWEN_TRAY_SCREENSHOTS")
DEADLINE = 15.0


@dataclass
class Desktop:
    display: str
    env: dict[str, str]
    workdir: Path


@contextlib.contextmanager
def trayer_desktop(workdir: Path) -> Iterator[Desktop]:
    """A virtual desktop whose tray is trayer (XEmbed: the gtk backend), with a keyring, a notification
    server and the tools the tests drive it with."""
    desktop.require(
        desktop.Xvfb, desktop.SessionBus, desktop.GnomeKeyring, desktop.Dunst, desktop.Trayer, "xdotool", "xclip"
    )
    with (
        desktop.Xvfb(workdir=workdir) as screen,
        desktop.SessionBus(workdir) as bus,
        desktop.GnomeKeyring(bus, workdir),
        desktop.Dunst(bus, screen),
        desktop.Trayer(screen, workdir),
    ):
        env = desktop.env_for(bus, screen)
        env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.SecretService.Keyring"
        env["TMPDIR"] = str(workdir)  # pystray's gtk backend leaves its icon PNGs in TMPDIR
        yield Desktop(display=screen.display, env=env, workdir=workdir)


@pytest.fixture(scope="module")
def virtual_desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desktop]:
    with trayer_desktop(tmp_path_factory.mktemp("desktop")) as session:
        yield session


class TrayDriver:
    """A person at the virtual desktop: runs commands, clicks the icon, reads the clipboard and screen."""

    def __init__(self, screen: Desktop, server: QwenSimulator, home: Path) -> None:
        self.screen = screen
        self.server = server
        self.env = dict(screen.env)
        self.env["QWEN_TRAY_BASE_URL"] = server.base_url
        for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
            self.env[name] = str(home / name.lower())
        self.home = home
        self.process: subprocess.Popen[bytes] | None = None
        self.seen_before: set[int] = set()
        #: pystray's xorg windows carry no _NET_WM_PID: find them by their class (the icon's name).
        self.find_by_class = False
        self.shots = Path(SCREENSHOTS) if SCREENSHOTS else None
        self.icon_box = (0, 0, 0, 0)  # where the icon was last seen (a menu open hides which window it is)

    # -- commands -------------------------------------------------------------------------------------
    def run(self, *argv: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(QWEN_TRAY), *argv],
            input=input_text or "",
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def tool(self, *argv: str, input_text: str | None = None) -> str:
        result = subprocess.run(
            list(argv), input=input_text, env=self.env, capture_output=True, text=True, timeout=20, check=False
        )
        return result.stdout.strip()

    def stored_token(self) -> str:
        return self.run("token").stdout.strip()

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.run("status", "--json").stdout)
        return data

    # -- the tray process -----------------------------------------------------------------------------
    def start(self, *command: str) -> None:
        log = (self.home / "tray.log").open("wb")
        self.process = subprocess.Popen(
            [str(QWEN_TRAY), "-v", *command],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,  # a file, never a pipe: xclip's daemon would hold a pipe open
            stderr=log,
            start_new_session=True,
        )
        log.close()
        self.icon_window()

    def diagnosis(self) -> str:
        assert self.process is not None
        windows = self.tool("xdotool", "search", "--pid", str(self.process.pid))
        return f"exit code: {self.process.poll()}; windows: {windows!r}; output:\n{self.output()}"

    def output(self) -> str:
        return (self.home / "tray.log").read_text(errors="replace")

    def icon_window(self) -> tuple[int, int, int, int]:
        """(x, y, width, height) of the docked icon, once trayer has given it its final size."""
        assert self.process is not None
        pid = str(self.process.pid)

        def geometry() -> tuple[int, int, int, int] | None:
            how = ["--classname", "qwen-tray"] if self.find_by_class else ["--pid", pid]
            windows = self.tool("xdotool", "search", "--onlyvisible", *how).split()
            if not windows:
                return None
            fields = dict(
                line.split("=", 1) for line in self.tool("xdotool", "getwindowgeometry", "--shell", windows[0]).split()
            )
            box = (int(fields["X"]), int(fields["Y"]), int(fields["WIDTH"]), int(fields["HEIGHT"]))
            return box if box[2] >= 16 and box[3] >= 16 else None

        wait_for(geometry, "the icon to dock in the tray", detail=self.diagnosis)
        readings = [geometry()]

        def settled() -> tuple[int, int, int, int] | None:
            time.sleep(0.1)
            readings.append(geometry())
            return readings[-1] if readings[-1] == readings[-2] else None

        self.icon_box = wait_for(settled, "the icon's size to settle", detail=lambda: f"sizes seen: {readings[-5:]}")
        return self.icon_box

    def click(self, button: int) -> None:
        x, y, width, height = self.icon_window()
        self.tool("xdotool", "mousemove", str(x + width // 2), str(y + height // 2), "click", str(button))

    def menu(self, *keys: str) -> None:
        """Open the menu (right click) and move through it with the keyboard, as a person might."""
        self.click(3)
        time.sleep(0.5)  # the menu maps; keys sent before that go nowhere
        if keys:
            self.tool("xdotool", "key", "--delay", "60", *keys)

    # -- what a person sees ----------------------------------------------------------------------------
    def icon_image(self) -> Image.Image:
        x, y, width, height = self.icon_window()
        return ImageGrab.grab(bbox=(x, y, x + width, y + height), xdisplay=self.screen.display)

    def badge_colour(self) -> tuple[int, int, int]:
        """The commonest colour of the icon that is neither the panel (seen in the badge's rounded corner),
        nor white, nor the label's ink."""
        image = self.icon_image().convert("RGB")
        panel = image.getpixel((0, 0))
        counts = image.getcolors(maxcolors=1 << 20) or []
        for _count, colour in sorted(counts, reverse=True):
            if _close(colour, panel, 12):
                continue
            if not _close(colour, icon.WHITE, 40) and not _close(colour, icon.INK, 60):
                return colour
        pytest.fail("the icon shows no badge colour")

    def shows(self, colour: tuple[int, int, int]) -> None:
        """Wait until the badge has ``colour`` and a label drawn in ink (the tray shows a plain grey badge
        for the moment it takes to read the keyring)."""

        def ready() -> bool:
            if not _close(self.badge_colour(), colour, 30):
                return False
            image = self.icon_image().convert("RGB")  # a label puts other colours in the badge's middle
            width, height = image.size
            middle = image.crop((width * 3 // 10, height * 3 // 10, width * 7 // 10, height * 7 // 10))
            counts = middle.getcolors(maxcolors=1 << 20) or []
            return sum(count for count, found in counts if not _close(found, colour, 40)) >= 3

        wait_for(ready, f"the badge in {colour} with its label", detail=self.output)

    def screenshot(self, name: str) -> None:
        """What matters, cropped: the panel strip with the icon, and the menu when one is open (the root
        window is black; the panel and the menu are what is drawn on it)."""
        if self.shots is None:
            return
        self.shots.mkdir(parents=True, exist_ok=True)
        _x, y, _width, height = self.icon_box
        shot = ImageGrab.grab(xdisplay=self.screen.display).convert("RGB")
        panel = shot.crop((0, 0, shot.width, y + height + 2))
        _left, _top, right, bottom = shot.getbbox() or (0, 0, shot.width, shot.height)  # the panel, and a menu
        right = max(right, (panel.getbbox() or (0, 0, right, 0))[2])
        shot.crop((0, 0, right, max(bottom, y + height + 2))).save(self.shots / f"{name}.png")

    def clipboard(self) -> str:
        return self.tool("xclip", "-o", "-selection", "clipboard")

    def put_on_clipboard(self, text: str) -> None:
        subprocess.run(
            ["xclip", "-selection", "clipboard"],
            input=text.encode(),
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=True,
        )

    def _history(self) -> list[dict[str, Any]]:
        self.tool("dunstctl", "close-all")
        history: list[dict[str, Any]] = json.loads(self.tool("dunstctl", "history") or '{"data": [[]]}')["data"][0]
        return history

    def forget_earlier_notifications(self) -> None:
        """dunst 1.9 cannot clear its history: remember what is there, and look only past it."""
        self.seen_before = {entry["id"]["data"] for entry in self._history()}

    def notifications(self) -> list[str]:
        """Summaries and bodies of the notifications dunst has shown since this test began."""
        return [
            f"{entry['summary']['data']}: {entry['body']['data']}"
            for entry in self._history()
            if entry["id"]["data"] not in self.seen_before
        ]

    def notified(self, words: str, timeout: float = 15.0) -> str:
        return wait_for(
            lambda: next((text for text in self.notifications() if words in text), None),
            f"a notification saying {words!r}",
            timeout=timeout,
            detail=self.output,
        )


@contextlib.contextmanager
def ended(driver: TrayDriver) -> Iterator[TrayDriver]:
    """The driver's tray process is killed at the end, whatever happened (for tests without the fixture)."""
    try:
        yield driver
    finally:
        if driver.process is not None and driver.process.poll() is None:
            driver.process.kill()
            driver.process.wait(10)


def _close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


@contextlib.contextmanager
def fresh_driver(driver_class: type[TrayDriver], screen: Desktop, tmp_path: Path) -> Iterator[Any]:
    """A driver on ``screen`` with its own simulator, no token, no old notifications; its tray ended after."""
    with QwenSimulator() as server:
        driver = driver_class(screen, server, tmp_path)
        driver.forget_earlier_notifications()
        driver.run("forget")  # the keyring is shared by the module's tests
        with ended(driver):
            yield driver


@pytest.fixture
def tray(virtual_desktop: Desktop, tmp_path: Path) -> Iterator[TrayDriver]:
    with fresh_driver(TrayDriver, virtual_desktop, tmp_path) as driver:
        yield driver


def days(n: float) -> int:
    return int(time.time() + n * 86400)


def test_the_whole_flow_a_person_goes_through(tray: TrayDriver) -> None:
    server = tray.server
    account: Account = server.add_account(email="alice@example.com", name="Alice")
    first = server.issue_token(account, expires_at=days(5))
    assert tray.run("set-token", input_text=first).returncode == 0
    tray.start()

    # The icon docks, green, the days left drawn in it.
    tray.shows(icon.GREEN)
    green_5 = tray.icon_image()
    tray.screenshot("state-ok")

    # A left click copies the token, and says so.
    tray.click(1)
    wait_for(lambda: tray.clipboard() == first, "the token on the clipboard")
    assert first not in tray.notified("copied")

    # Right click → Paste new token, with a fresh token on the clipboard: stored as pasted, announced.
    second = server.issue_token(account, expires_at=days(2))
    tray.put_on_clipboard(f"Bearer {second}\n")
    tray.menu("Down", "Down", "Return")  # Copy token, Paste new token
    wait_for(lambda: tray.stored_token() == second, "the pasted token to be stored")
    tray.notified("New Qwen token accepted")
    wait_for(lambda: _close(tray.badge_colour(), icon.AMBER, 30), "the icon to turn amber (2 days left)")
    tray.screenshot("state-expiring")

    # Refresh now replaces the token; the icon follows (green again, a new number).
    tray.menu("Down", "Down", "Down", "Down", "Return")  # Copy, Paste, Import from browser, Refresh now
    wait_for(lambda: tray.stored_token() not in (first, second), "the refreshed token")
    assert tray.status()["days_left"] > 6.9
    wait_for(lambda: _close(tray.badge_colour(), icon.GREEN, 30), "the icon to turn green")
    assert tray.icon_image().tobytes() != green_5.tobytes(), "the label changed from 5 to 6/7 days"
    tray.notified("Qwen token refreshed")

    # The server now rejects the token: grey with "!", and a notification saying to paste a new one.
    server.queue("unauthorized")
    tray.menu("Down", "Down", "Down", "Down", "Return")
    wait_for(lambda: tray.status()["state"] == "invalid", "the token to be marked invalid")
    wait_for(lambda: _close(tray.badge_colour(), icon.GREY, 30), "the icon to turn grey")
    assert "Import from browser, or paste a new one" in tray.notified("no longer works")
    tray.screenshot("state-invalid")

    # Quit: exit 0, the clipboard no longer holds the token we copied, no process of ours left behind.
    current = tray.stored_token()
    tray.click(1)
    wait_for(lambda: tray.clipboard() == current, "the current token on the clipboard")
    tray.menu("Up", "Return")  # the last item: Quit
    assert tray.process is not None
    assert tray.process.wait(15) == 0, tray.output()
    assert "Traceback" not in tray.output()
    assert tray.clipboard() != current
    children = subprocess.run(
        ["pgrep", "-P", str(tray.process.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert children == []


def test_the_menu_opens_on_a_missing_token_and_says_what_to_do(tray: TrayDriver) -> None:
    tray.start()
    tray.shows(icon.GREY)
    tray.screenshot("state-missing")
    tray.menu()
    tray.screenshot("menu-missing")
    tray.tool("xdotool", "key", "Escape")
    tray.menu("Down", "Down", "Down", "Down", "Return")  # Copy and Refresh now are disabled here:
    # Paste new token, Import from browser, Open chat.qwen.ai, How to get a token.
    text = tray.notified("How to get a token")
    assert "copy(localStorage.getItem('token'))" in text
    assert tray.process is not None
    tray.process.send_signal(signal.SIGTERM)
    assert tray.process.wait(15) in (0, -signal.SIGTERM)


def test_no_tray_says_why_within_seconds_and_exits_1(virtual_desktop: Desktop, tmp_path: Path) -> None:
    """A display with no tray host (trayer is not running on this one)."""
    with desktop.Xvfb(workdir=tmp_path) as bare_screen, QwenSimulator() as server:
        driver = TrayDriver(virtual_desktop, server, tmp_path)
        driver.env["DISPLAY"] = bare_screen.display
        started = time.monotonic()
        result = driver.run("tray", "--wait-for-tray", "1")
        elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "No system tray was found" in result.stderr
    assert "qwen-tray daemon" in result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < 10


def test_no_display_at_all_says_use_the_daemon(virtual_desktop: Desktop, tmp_path: Path) -> None:
    with QwenSimulator() as server:
        driver = TrayDriver(virtual_desktop, server, tmp_path)
        del driver.env["DISPLAY"]
        result = driver.run("tray", "--wait-for-tray", "0")
    assert result.returncode == 1
    assert "No graphical display" in result.stderr
    assert "qwen-tray daemon" in result.stderr


def test_a_second_tray_says_one_is_running(tray: TrayDriver) -> None:
    tray.start()
    second = tray.run("tray")
    assert second.returncode == 1
    assert "already running" in second.stderr
    assert tray.process is not None
    assert tray.process.poll() is None


def test_the_xorg_backend_docks_and_takes_a_left_click(tray: TrayDriver) -> None:
    """pystray's xorg backend (no menu) with our two fixes: clicks arrive, and it docks."""
    account = tray.server.add_account()
    token = tray.server.issue_token(account, expires_at=days(5))
    assert tray.run("set-token", input_text=token).returncode == 0
    tray.env["PYSTRAY_BACKEND"] = "xorg"
    tray.find_by_class = True
    tray.start()
    tray.shows(icon.GREEN)
    # Drawn square and centred whatever size trayer gives the window, over the panel's colour, not black.
    x, y, width, height = tray.icon_window()
    assert y >= 1, "trayer draws a row of panel above the icon"
    strip = ImageGrab.grab(bbox=(x, y - 1, x + width, y + height), xdisplay=tray.screen.display).convert("RGB")
    panel = strip.getpixel((width // 2, 0))
    image = strip.crop((0, 1, width, height + 1))
    corners = [image.getpixel((cx, cy)) for cx in (0, width - 1) for cy in (0, height - 1)]
    assert all(_close(corner, panel, 12) for corner in corners), (image.size, panel, corners)
    left, top, right, bottom = desktop.pixel_box(image, lambda pixel: _close(pixel, icon.GREEN, 40)) or (0, 0, 0, 0)
    assert abs((right - left) - (bottom - top)) <= 2, ("a square badge", image.size, (left, top, right, bottom))
    tray.click(1)
    wait_for(lambda: tray.clipboard() == token, "the token on the clipboard after a left click")
    assert tray.process is not None
    tray.process.send_signal(signal.SIGINT)
    assert tray.process.wait(15) == 130
    assert "Traceback" not in tray.output()
    assert "KeyboardInterrupt" not in tray.output()


def test_the_fallback_says_what_it_costs_without_verbose(tray: TrayDriver) -> None:
    """Forced to the plain X11 icon because GTK cannot be loaded: say so at start, on stderr and on screen."""
    tray.env["PYSTRAY_BACKEND"] = ""
    tray.env["GI_TYPELIB_PATH"] = str(tray.home / "no-typelibs")  # GTK's typelib cannot be found...
    tray.env["PYTHONPATH"] = str(tray.home / "no-gi")  # ...and PyGObject is shadowed by an empty package
    (tray.home / "no-gi" / "gi").mkdir(parents=True)
    (tray.home / "no-gi" / "gi" / "__init__.py").write_text("raise ImportError('no PyGObject here')\n")
    tray.find_by_class = True
    log = (tray.home / "tray.log").open("wb")
    tray.process = subprocess.Popen([str(QWEN_TRAY), "tray"], env=tray.env, stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, start_new_session=True)  # fmt: skip
    log.close()
    tray.icon_window()
    first_line = wait_for(lambda: tray.output().splitlines()[:1], "the warning", detail=tray.output)[0]
    assert first_line.startswith("qwen-tray: No tray menu: this Python ("), first_line
    assert "left click still copies" in first_line.lower()
    tray.notified("no tray menu")
    tray.process.send_signal(signal.SIGINT)
    assert tray.process.wait(15) == 130


DOCK_COUNTER = """
import os

from PIL import Image
from tray_app.tray import fixed_xorg_icon_class

requests = []


class Counting(fixed_xorg_icon_class()):
    def _send_message(self, window, client_type, l0=0, l1=0, l2=0, l3=0):
        if client_type == self._net_system_tray_opcode and l0 == self._SYSTEM_TRAY_REQUEST_DOCK:
            requests.append(l1)
        super()._send_message(window, client_type, l0, l1, l2, l3)


def setup(icon):
    icon.visible = True
    icon.icon = Image.new("RGBA", (64, 64), (255, 0, 0, 255))  # an update, as the tray app makes
    print("docked" if icon._systray_manager else "not docked", len(requests), flush=True)
    os._exit(0)  # only docking is under test here


Counting("dock-test", icon=Image.new("RGBA", (64, 64), (0, 255, 0, 255))).run(setup=setup)
"""


@pytest.mark.parametrize("attempt", range(5))
def test_the_fixed_xorg_icon_asks_to_dock_once(virtual_desktop: Desktop, attempt: int) -> None:
    """pystray 0.19.5 sends the dock request from show and again from each icon update; about 2 % of
    icons then never dock. Ours asks once per icon, and docks."""
    env = {**virtual_desktop.env, "PYSTRAY_BACKEND": "xorg"}
    result = subprocess.run(
        [sys.executable, "-c", DOCK_COUNTER], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["docked", "1"], result.stdout + result.stderr


def test_the_clipboard_is_cleared_after_n_seconds_only_if_it_still_holds_the_token(tray: TrayDriver) -> None:
    account = tray.server.add_account()
    token = tray.server.issue_token(account, expires_at=days(5))
    assert tray.run("set-token", input_text=token).returncode == 0
    config = Path(tray.env["XDG_CONFIG_HOME"]) / "qwen-tray" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("clear_clipboard_after = 1\n")
    tray.start()
    tray.click(1)
    wait_for(lambda: tray.clipboard() == token, "the token on the clipboard")
    assert "cleared from the clipboard in 1 s" in tray.notified("copied")
    wait_for(lambda: tray.clipboard() == "", "the clipboard to be cleared", timeout=10)
    # Copied again, then the person copies something else: that is left alone.
    tray.click(1)
    wait_for(lambda: tray.clipboard() == token, "the token on the clipboard again")
    tray.put_on_clipboard("my own text")
    time.sleep(2)  # past the 1 s timer: it must not touch what the person copied
    assert tray.clipboard() == "my own text"
    assert tray.process is not None
    tray.process.send_signal(signal.SIGTERM)
    tray.process.wait(15)


def test_the_notify_toggle_is_saved_and_obeyed(tray: TrayDriver) -> None:
    account = tray.server.add_account()
    first = tray.server.issue_token(account, expires_at=days(5))
    assert tray.run("set-token", input_text=first).returncode == 0
    tray.start()
    # Copy, Paste, Import, Refresh, Open chat.qwen.ai, How to get a token, Notify after each refresh.
    tray.menu("Down", "Down", "Down", "Down", "Down", "Down", "Down", "Return")
    config = Path(tray.env["XDG_CONFIG_HOME"]) / "qwen-tray" / "config.toml"
    wait_for(lambda: config.exists() and "notify_after_refresh = false" in config.read_text(), "the toggle saved")
    tray.menu("Down", "Down", "Down", "Down", "Return")  # Refresh now
    wait_for(lambda: tray.stored_token() != first, "the refreshed token")
    time.sleep(1)  # a notification, if one were (wrongly) sent, is on its way by now
    assert not [text for text in tray.notifications() if "refreshed" in text]
    assert tray.process is not None
    tray.process.send_signal(signal.SIGTERM)
    tray.process.wait(15)


def test_the_demo_plays_the_whole_cycle_without_an_account(tray: TrayDriver) -> None:
    """`qwen-tray demo`, ten hours a second: green, amber while the server says wait, green again."""
    tray.start("demo", "--time-scale", "36000")
    tray.shows(icon.GREEN)
    wait_for(lambda: _close(tray.badge_colour(), icon.AMBER, 30), "amber: the refresh due and refused", timeout=20)
    tray.notified("rate limiting")
    wait_for(lambda: _close(tray.badge_colour(), icon.GREEN, 30), "green again after the refresh", timeout=20)
    tray.notified("Qwen token refreshed")
    # The next refresh is rejected; recovery finds the demo's simulated browser profile and heals it.
    assert "Firefox / demo" in tray.notified("Qwen token recovered", timeout=60)
    tray.shows(icon.GREEN)
    assert tray.run("token").returncode == 1, "the demo never touches the real profile's token"
    tray.menu("Up", "Return")  # Quit
    assert tray.process is not None
    assert tray.process.wait(15) == 0


def test_the_icon_docks_again_when_the_xembed_tray_comes_back(tmp_path: Path) -> None:
    """trayer killed and started again: GTK's status icon embeds itself in the new tray, no restart."""
    desktop.require(desktop.Xvfb, desktop.SessionBus, desktop.Trayer, "xdotool", "xclip")
    with (
        desktop.Xvfb(workdir=tmp_path) as screen,
        desktop.SessionBus(tmp_path) as bus,
        QwenSimulator() as server,
        contextlib.ExitStack() as stack,
    ):
        env = desktop.env_for(bus, screen)
        env.update(PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring", TMPDIR=str(tmp_path))
        driver = stack.enter_context(
            ended(TrayDriver(Desktop(display=screen.display, env=env, workdir=tmp_path), server, tmp_path))
        )
        account = server.add_account()
        token = server.issue_token(account, expires_at=days(5))
        assert driver.run("set-token", input_text=token).returncode == 0
        with desktop.Trayer(screen, tmp_path):
            driver.start()
            assert "Tray icon shown (gtk backend)" in driver.output()
        assert driver.process is not None
        time.sleep(1)
        assert driver.process.poll() is None, "the tray waits for its panel to come back"
        with desktop.Trayer(screen, tmp_path):
            driver.click(1)
            wait_for(lambda: driver.clipboard() == token, "the token on the clipboard from the re-docked icon")
            driver.process.send_signal(signal.SIGINT)
            assert driver.process.wait(15) == 130, driver.output()
            assert "Traceback" not in driver.output()


def test_a_keyring_that_cannot_be_read_shows_trouble_and_retry_works(tmp_path: Path) -> None:
    """No Secret Service on the bus (the desktop keyring not started yet): the tray stays, grey with "!",
    says why in a notification, and "Retry reading the keyring" picks the keyring up once it is there."""
    desktop.require(desktop.Xvfb, desktop.SessionBus, desktop.GnomeKeyring, desktop.Dunst, desktop.Trayer)
    with (
        desktop.Xvfb(workdir=tmp_path) as screen,
        desktop.SessionBus(tmp_path) as bus,
        desktop.Dunst(bus, screen),
        desktop.Trayer(screen, tmp_path),
        QwenSimulator() as server,
        contextlib.ExitStack() as stack,
    ):
        env = desktop.env_for(bus, screen)
        env.update(PYTHON_KEYRING_BACKEND="keyring.backends.SecretService.Keyring", TMPDIR=str(tmp_path))
        driver = stack.enter_context(
            ended(TrayDriver(Desktop(display=screen.display, env=env, workdir=tmp_path), server, tmp_path))
        )
        token = server.issue_token(server.add_account(), expires_at=days(5))
        with desktop.GnomeKeyring(bus, tmp_path):  # store the token, then the keyring goes away
            assert driver.run("set-token", input_text=token).returncode == 0
        driver.forget_earlier_notifications()
        driver.start()
        driver.shows(icon.GREY)
        trouble = driver.icon_image().tobytes()
        assert "cannot read the keyring" in driver.notified("cannot read the keyring").lower()
        assert driver.process is not None
        assert driver.process.poll() is None, "the tray stays, in its trouble state"
        with desktop.GnomeKeyring(bus, tmp_path):  # the same keyring files, unlocked again
            driver.menu("Down", "Down", "Down", "Return")  # Paste new token, Import from browser, Retry
            wait_for(lambda: _close(driver.badge_colour(), icon.GREEN, 30), "green once the keyring is back",
                     detail=driver.output)  # fmt: skip
            assert driver.icon_image().tobytes() != trouble
            driver.click(1)
            wait_for(lambda: driver.clipboard() == token, "the token on the clipboard")
            driver.process.send_signal(signal.SIGTERM)
            assert driver.process.wait(15) == 0


def test_the_copied_token_is_marked_secret_and_dies_with_the_tray(tray: TrayDriver) -> None:
    """A clipboard manager sees x-kde-passwordManagerHint = secret; after kill -9 nothing serves the token."""
    token = tray.server.issue_token(tray.server.add_account(), expires_at=days(5))
    assert tray.run("set-token", input_text=token).returncode == 0
    tray.start()
    tray.shows(icon.GREEN)
    tray.click(1)
    wait_for(lambda: tray.clipboard() == token, "the token on the clipboard")
    targets = tray.tool("xclip", "-o", "-selection", "clipboard", "-t", "TARGETS").split()
    assert {"UTF8_STRING", "text/plain;charset=utf-8", "x-kde-passwordManagerHint"} <= set(targets), targets
    assert tray.tool("xclip", "-o", "-selection", "clipboard", "-t", "x-kde-passwordManagerHint") == "secret"
    assert tray.process is not None
    tray.process.kill()
    tray.process.wait(10)
    wait_for(lambda: tray.clipboard() != token, "the token gone with the tray")


def test_import_from_browser_in_the_menu(tray: TrayDriver) -> None:
    """No token yet; a browser profile signed in at chat.qwen.ai: one menu click imports it."""
    from tray_app.browsers.simulated import write_simulated_firefox

    home = tray.home / "person"
    tray.env["HOME"] = str(home)
    token = tray.server.issue_token(tray.server.add_account(email="carol@example.com"), expires_at=days(6))
    write_simulated_firefox(home, token)
    tray.start()
    tray.shows(icon.GREY)
    tray.menu("Down", "Down", "Return")  # Paste new token, Import from browser (Copy is disabled)
    wait_for(lambda: tray.stored_token() == token, "the browser's token stored", detail=tray.output)
    tray.shows(icon.GREEN)
    assert "From Firefox / demo: carol@example.com" in tray.notified("Qwen token imported")
    assert tray.process is not None
    tray.process.send_signal(signal.SIGTERM)
    assert tray.process.wait(15) == 0
