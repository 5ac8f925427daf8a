"""The desktop harness (tests/desktop.py) against the real services: bus, keyring, Xvfb, dunst, tray hosts."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from dbus_fast import Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import (
    DBusBool,
    DBusInt32,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
    DBusUInt32,
    DBusVariant,
)
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method
from PIL import Image

from tests import desktop
from tests.desktop import (
    Dunst,
    GnomeKeyring,
    LxqtPanel,
    SessionBus,
    SharedSessionBus,
    SwayWaybar,
    XfcePanel,
    Xvfb,
)
from tests.helpers import run, wait_for

DEADLINE = 5.0


def bounded(fn: Callable[[], Any], timeout: float = DEADLINE) -> Any:
    """Run ``fn`` in a thread: keyring calls can block forever on a locked or missing keyring."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"{fn!r} did not return within {timeout} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def assert_all_gone(services: list[desktop.Service]) -> None:
    pids = [pid for service in services for pid in service.pids]
    assert pids
    alive = [pid for pid in pids if desktop.pid_alive(pid)]
    assert alive == [], f"still alive after stop(): {alive}"
    assert desktop.stray_processes(*services) == []


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[SessionBus]:
    desktop.require(SessionBus)
    with SessionBus(tmp_path) as service:
        yield service
    assert_all_gone([service])


@pytest.fixture
def keyring_daemon(bus: SessionBus, tmp_path: Path) -> Iterator[GnomeKeyring]:
    desktop.require(GnomeKeyring)
    with GnomeKeyring(bus, tmp_path) as service:
        yield service
    assert_all_gone([service])


@pytest.fixture
def xvfb(tmp_path: Path) -> Iterator[Xvfb]:
    desktop.require(Xvfb)
    with Xvfb(workdir=tmp_path) as service:
        yield service
    assert_all_gone([service])


@pytest.fixture
def dunst(bus: SessionBus, xvfb: Xvfb) -> Iterator[Dunst]:
    desktop.require(Dunst)
    with Dunst(bus, xvfb) as service:
        yield service
    assert_all_gone([service])


def test_require_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    absent = "no-such-executable-for-desktop-harness"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=absent):
        desktop.require(SessionBus, absent)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=absent):
        desktop.require(absent)
    desktop.require("sh")  # present: neither skips nor fails


def test_missing_lists_dependencies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(desktop.shutil, "which", lambda name: None if name == "dbus-daemon" else f"/x/{name}")
    assert SessionBus.missing() == ["dbus-daemon"]
    assert GnomeKeyring.missing() == ["dbus-daemon"]
    assert Dunst.missing() == ["dbus-daemon"]
    assert Xvfb.missing() == []


def test_env_points_at_our_services_only(tmp_path: Path) -> None:
    bus, xvfb = SessionBus(tmp_path), Xvfb(7)  # not started: the environment is known up front
    base = {"PATH": "/bin", "WAYLAND_DISPLAY": "wayland-0", "GNOME_KEYRING_CONTROL": "/run/user/0/keyring"}
    env = desktop.env_for(bus, xvfb, base=base)
    assert env["PATH"] == "/bin"
    assert env["DISPLAY"] == ":7"
    assert env["DBUS_SESSION_BUS_ADDRESS"] == f"unix:path={tmp_path / 'bus'}"
    assert env["HOME"] == str(tmp_path / "home")
    assert "WAYLAND_DISPLAY" not in env
    assert "GNOME_KEYRING_CONTROL" not in env
    assert (tmp_path / "xdg-runtime").stat().st_mode & 0o777 == 0o700


class _IgnoresTerm(desktop.Service):
    executables = ("sh", "sleep")

    def _start(self) -> None:
        self._spawn(["sh", "-c", "trap '' TERM; exec sleep 30"], env={"PATH": "/usr/bin:/bin"}, log=None)
        # Once sh has exec'd sleep, the ignored SIGTERM is in place.
        self._wait_until(lambda: Path(f"/proc/{self.pid}/comm").read_text().strip() == "sleep", "exec", 5)


def test_stop_kills_what_ignores_sigterm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(desktop, "STOP_TIMEOUT", 0.2)
    with _IgnoresTerm() as service:
        proc = service._procs[0]
    assert proc.returncode == -9
    assert_all_gone([service])


def test_session_bus_answers_and_activates_nothing(bus: SessionBus) -> None:
    desktop.require("dbus-send")
    env = desktop.env_for(bus)
    assert env["DBUS_SESSION_BUS_ADDRESS"] == f"unix:path={bus.workdir / 'bus'}"
    assert env["NO_AT_BRIDGE"] == "1"
    assert all(env[name].startswith(str(bus.workdir)) for name in ("HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME"))

    listed = run(
        ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus", "/",
         "org.freedesktop.DBus.ListNames"],
        env,
    )  # fmt: skip
    assert '"org.freedesktop.DBus"' in listed.stdout
    activatable = run(
        ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus", "/",
         "org.freedesktop.DBus.ListActivatableNames"],
        env,
    )  # fmt: skip
    # No service directories: nothing but the bus itself can be activated.
    assert activatable.stdout.count("string ") == 1
    assert bus.name_has_owner("org.freedesktop.DBus")
    assert not bus.name_has_owner(desktop.NOTIFICATIONS_NAME)


def test_gnome_keyring_round_trip(
    keyring_daemon: GnomeKeyring, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from keyring.backends import SecretService

    assert keyring_daemon.collection_path == "/org/freedesktop/secrets/collection/login"
    desktop.apply_env(monkeypatch, keyring_daemon)  # secretstorage reads the address when it connects
    backend = SecretService.Keyring()

    bounded(lambda: backend.set_password("qwen-tray-test", "alice", "s3cr\u00e9t"))
    assert bounded(lambda: backend.get_password("qwen-tray-test", "alice")) == "s3cr\u00e9t"
    bounded(lambda: backend.delete_password("qwen-tray-test", "alice"))
    assert bounded(lambda: backend.get_password("qwen-tray-test", "alice")) is None

    # The keyring lives in the test's directory, not in the real HOME.
    assert (tmp_path / "xdg-data" / "keyrings" / "login.keyring").is_file()


def test_xvfb_display_answers(xvfb: Xvfb) -> None:
    desktop.require("xdotool")
    geometry = run(["xdotool", "getdisplaygeometry"], desktop.env_for(xvfb))
    assert geometry.stdout.split() == ["1024", "768"]
    assert xvfb.socket_path.exists()


def test_two_xvfbs_pick_different_displays(tmp_path: Path) -> None:
    desktop.require(Xvfb)
    with Xvfb(workdir=tmp_path) as first, Xvfb(workdir=tmp_path) as second:
        assert first.display != second.display
        with pytest.raises(desktop.ServiceError), Xvfb(first.display_number, workdir=tmp_path):
            pass  # that display is taken: a fixed number is not silently replaced
    assert_all_gone([first, second])
    # Xvfb removed its lock files (another run may already have reused a number, with its own PID).
    for server in (first, second):
        lock = desktop.X11_LOCK_DIR / f".X{server.display_number}-lock"
        with contextlib.suppress(FileNotFoundError):
            assert int(lock.read_text()) not in server.pids


def test_dunst_receives_notify_send(dunst: Dunst, bus: SessionBus) -> None:
    desktop.require("notify-send", "dunstctl")
    assert bus.name_has_owner(desktop.NOTIFICATIONS_NAME)
    env = desktop.env_for(dunst)
    run(["notify-send", "--expire-time=60000", "desktop harness", "hello from the test"], env)

    def in_history() -> list[str]:
        # history lists only closed notifications; the one just sent may still be queued, so close again.
        run(["dunstctl", "close-all"], env)
        history = json.loads(run(["dunstctl", "history"], env).stdout)
        return [entry["summary"]["data"] for entry in history["data"][0]]

    assert "desktop harness" in wait_for(in_history, "the notification in dunst's history")


def test_stop_ends_exactly_the_started_processes(tmp_path: Path) -> None:
    desktop.require(SessionBus, GnomeKeyring, Xvfb, Dunst)
    bus = SessionBus(tmp_path).start()
    services: list[desktop.Service] = [bus]
    try:
        services.append(GnomeKeyring(bus, tmp_path).start())
        xvfb = Xvfb(workdir=tmp_path).start()
        services.append(xvfb)
        services.append(Dunst(bus, xvfb).start())
        assert all(service.running for service in services)
        # Each daemon is a session leader, and nothing else runs in those sessions.
        assert desktop.stray_processes(*services) == sorted(s.pid for s in services)
    finally:
        for service in reversed(services):
            service.stop()
    assert not any(service.running for service in services)
    assert_all_gone(services)
    for service in services:
        service.stop()  # idempotent


# -- StatusNotifierItem hosts ---------------------------------------------------------------------------------
PROBE_COLOUR = (255, 0, 170)  # in no theme: a pixel this colour is the probe's icon
STRIP = (0, 0, 1024, 40)  # the panels' 32 px along the top, and a little below
_probe_serial = itertools.count(1)


def _square(size: int) -> list[Any]:
    return [size, size, bytes((255, *PROBE_COLOUR)) * (size * size)]  # ARGB32, network byte order


# dbus-fast reads the D-Bus signatures from these annotations, evaluated in this module's namespace (this
# module has ``from __future__ import annotations``). Methods that return nothing have no return annotation:
# with postponed annotations dbus-fast would read the string "None" as no signature at all, and fail.
class _ProbeItemInterface(ServiceInterface):
    """org.kde.StatusNotifierItem: a solid square, not a menu; every call appended to ``calls``."""

    def __init__(self, calls: list[tuple[Any, ...]]) -> None:
        super().__init__(desktop.ITEM_INTERFACE)
        self.calls = calls

    @dbus_property(access=PropertyAccess.READ)
    def Id(self) -> DBusStr:
        return "qwen-tray-probe"

    @dbus_property(access=PropertyAccess.READ)
    def Category(self) -> DBusStr:
        return "ApplicationStatus"

    @dbus_property(access=PropertyAccess.READ)
    def Status(self) -> DBusStr:
        return "Active"

    @dbus_property(access=PropertyAccess.READ)
    def Title(self) -> DBusStr:
        return "Probe"

    @dbus_property(access=PropertyAccess.READ)
    def ItemIsMenu(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def IconPixmap(self) -> Annotated[list[Any], DBusSignature("a(iiay)")]:
        return [_square(22), _square(32)]

    @dbus_property(access=PropertyAccess.READ)
    def Menu(self) -> DBusObjectPath:
        return "/MenuBar"

    @method()
    def Activate(self, x: DBusInt32, y: DBusInt32):  # type: ignore[no-untyped-def]
        self.calls.append(("Activate", x, y))

    @method()
    def SecondaryActivate(self, x: DBusInt32, y: DBusInt32):  # type: ignore[no-untyped-def]
        self.calls.append(("SecondaryActivate", x, y))

    @method()
    def ContextMenu(self, x: DBusInt32, y: DBusInt32):  # type: ignore[no-untyped-def]
        self.calls.append(("ContextMenu", x, y))


class _ProbeMenuInterface(ServiceInterface):
    """com.canonical.dbusmenu with one entry, "Copy token" (id 1); events appended to ``calls``."""

    def __init__(self, calls: list[tuple[Any, ...]]) -> None:
        super().__init__(desktop.MENU_INTERFACE)
        self.calls = calls

    @dbus_property(access=PropertyAccess.READ)
    def Version(self) -> DBusUInt32:
        return 3

    @method()
    def GetLayout(
        self, parent: DBusInt32, depth: DBusInt32, names: Annotated[list[str], DBusSignature("as")]
    ) -> Annotated[list[Any], DBusSignature("u(ia{sv}av)")]:
        entry = Variant("(ia{sv}av)", [1, {"label": Variant("s", "Copy token")}, []])
        return [1, [0, {"children-display": Variant("s", "submenu")}, [entry]]]

    @method()
    def AboutToShow(self, item_id: DBusInt32) -> DBusBool:
        return False

    @method()
    def Event(self, item_id: DBusInt32, event: DBusStr, data: DBusVariant, timestamp: DBusUInt32):  # type: ignore[no-untyped-def]
        self.calls.append(("Event", item_id, event, data.value))


class ProbeItem:
    """A minimal StatusNotifierItem (dbus-fast, its own event loop in a thread): a solid square, calls recorded.

    It registers with the watcher once, at start, and again only when told (``register()``).
    """

    def __init__(self, address: str) -> None:
        self.address = address
        self.name = f"org.kde.StatusNotifierItem-{os.getpid()}-{next(_probe_serial)}"
        self.entry = f"{self.name}/StatusNotifierItem"  # as the watcher lists it
        self.calls: list[tuple[Any, ...]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._bus: Any = None

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(DEADLINE)

    async def _connect(self) -> None:
        self._bus = await MessageBus(bus_address=self.address).connect()
        self._bus.export("/StatusNotifierItem", _ProbeItemInterface(self.calls))
        self._bus.export("/MenuBar", _ProbeMenuInterface(self.calls))
        await self._bus.request_name(self.name)

    async def _register(self) -> None:
        call = Message(
            destination=desktop.WATCHER_NAME, path=desktop.WATCHER_PATH, interface=desktop.WATCHER_NAME,
            member="RegisterStatusNotifierItem", signature="s", body=[self.name],
        )  # fmt: skip
        reply = await self._bus.call(call)
        if reply.message_type == MessageType.ERROR:
            raise RuntimeError(f"RegisterStatusNotifierItem failed: {reply.error_name} {reply.body}")

    async def _disconnect(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            with contextlib.suppress(Exception):
                await self._bus.wait_for_disconnect()

    def register(self) -> None:
        self._run(self._register())

    def called(self, name: str) -> list[tuple[Any, ...]]:
        return [call for call in list(self.calls) if call[0] == name]

    def __enter__(self) -> ProbeItem:
        self._thread.start()
        try:
            self._run(self._connect())
            self.register()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._run(self._disconnect())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(DEADLINE)
            self._loop.close()


def _visible_window_names(screen: Xvfb) -> list[str]:
    env = desktop.env_for(screen)
    windows = run(["xdotool", "search", "--onlyvisible", "--name", ""], env).stdout.split()
    return [run(["xdotool", "getwindowname", window], env).stdout.strip() for window in windows]


@pytest.mark.parametrize(
    ("entry", "service", "path"),
    [
        (":1.23/StatusNotifierItem", ":1.23", "/StatusNotifierItem"),
        ("org.kde.StatusNotifierItem-7-1/StatusNotifierItem", "org.kde.StatusNotifierItem-7-1", "/StatusNotifierItem"),
        (":1.5/org/ayatana/NotificationItem/qwen", ":1.5", "/org/ayatana/NotificationItem/qwen"),
        ("org.kde.StatusNotifierItem-7-1", "org.kde.StatusNotifierItem-7-1", "/StatusNotifierItem"),
    ],
)
def test_split_item_names_service_and_path(entry: str, service: str, path: str) -> None:
    assert desktop.split_item(entry) == (service, path)


def test_pixel_box_finds_a_colour() -> None:
    image = Image.new("RGB", (60, 40), (255, 255, 255))
    image.paste((250, 5, 165), (10, 4, 32, 26))  # 22 x 22, a little off the exact colour
    box = desktop.pixel_box(image, desktop.near(PROBE_COLOUR, 10), origin=(100, 0))
    assert box == (110, 4, 132, 26)
    assert desktop.centre(box) == (121, 15)
    assert desktop.pixel_box(image, desktop.near((0, 0, 0))) is None


def test_env_for_a_wayland_session_drops_display() -> None:
    class Wayland(desktop.Service):
        @property
        def environment(self) -> dict[str, str]:
            return {"WAYLAND_DISPLAY": "/tmp/x/wayland-1"}  # noqa: S108

    base = {"PATH": "/bin", "DISPLAY": ":0", "XAUTHORITY": "/root/.Xauthority"}
    env = desktop.env_for(Wayland(), base=base)
    assert env == {"PATH": "/bin", "WAYLAND_DISPLAY": "/tmp/x/wayland-1"}  # noqa: S108
    both = desktop.env_for(Xvfb(7), Wayland(), base=base)  # asked for both: both kept
    assert both["DISPLAY"] == ":7"
    assert both["WAYLAND_DISPLAY"] == "/tmp/x/wayland-1"  # noqa: S108


def test_hosts_list_what_they_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(desktop, "xfconfd_path", lambda: None)
    monkeypatch.setattr(desktop.shutil, "which", lambda name: None if name in ("waybar", "lxqt-panel") else name)
    assert XfcePanel.missing() == ["xfconfd"]
    assert LxqtPanel.missing() == ["lxqt-panel"]
    assert SwayWaybar.missing() == ["waybar"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as nobody")
def test_shared_bus_lets_other_users_in() -> None:
    desktop.require(SharedSessionBus, "setpriv", "dbus-send")
    workdir = Path(tempfile.mkdtemp(prefix="qwen-tray-bus-", dir=desktop.SHARED_TMP))
    try:
        workdir.chmod(0o711)
        outcomes = {}
        for bus_class in (SessionBus, SharedSessionBus):
            with bus_class(workdir / bus_class.__name__) as bus:
                as_nobody = subprocess.run(
                    ["setpriv", f"--reuid={desktop.NOBODY}", f"--regid={desktop.NOBODY}", "--clear-groups",
                     "dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus", "/",
                     "org.freedesktop.DBus.GetId"],
                    env={"PATH": os.environ["PATH"], "DBUS_SESSION_BUS_ADDRESS": bus.address},
                    capture_output=True, text=True, timeout=30, check=False,
                )  # fmt: skip
                outcomes[bus_class] = as_nobody.returncode
            assert_all_gone([bus])
    finally:
        shutil.rmtree(workdir)
    assert outcomes == {SessionBus: 1, SharedSessionBus: 0}


@pytest.mark.parametrize(
    ("panel_class", "own_windows"),
    [(XfcePanel, {"", "xfce4-panel", "wrapper-2.0"}), (LxqtPanel, {"", "LXQt Panel"})],
    ids=["xfce4-panel", "lxqt-panel"],
)
def test_x_panel_shows_the_item_clicks_reach_it_and_restart(
    panel_class: type[XfcePanel | LxqtPanel], own_windows: set[str], tmp_path: Path
) -> None:
    desktop.require(Xvfb, SessionBus, panel_class, "xdotool")
    with Xvfb(workdir=tmp_path, screen="1024x600x24") as screen, SessionBus(tmp_path) as bus:
        started = time.monotonic()
        with panel_class(bus, screen, tmp_path) as panel:
            print(f"{panel_class.__name__} ready in {time.monotonic() - started:.2f} s")
            assert desktop.owns_selection(screen.display, desktop.TRAY_SELECTION)
            assert panel.watcher_owner == bus.name_owner(desktop.WATCHER_NAME)
            # Nothing but the panel's own windows: no first-run dialog, no error box.
            assert set(_visible_window_names(screen)) <= own_windows

            with ProbeItem(bus.address) as item:
                assert item.entry in desktop.registered_items(bus)
                assert desktop.item_property(bus, item.entry, "Title") == "Probe"

                def icon() -> desktop.Box | None:
                    return desktop.find_on_screen(screen, STRIP, desktop.near(PROBE_COLOUR, 30))

                box = wait_for(icon, "the probe's colour in the panel")
                assert 16 <= box[2] - box[0] <= 32, box
                x, y = desktop.centre(box)
                desktop.click(screen, x, y, 1)
                wait_for(lambda: item.called("Activate"), "Activate after a left click", detail=lambda: str(item.calls))
                assert item.called("Activate") == [("Activate", x, y)]
                desktop.click(screen, x, y, 2)
                wait_for(lambda: item.called("SecondaryActivate"), "SecondaryActivate after a middle click")
                assert item.called("SecondaryActivate") == [("SecondaryActivate", x, y)]

                # A panel restart: a new watcher that knows no item, until the item registers again.
                old_watcher, old_host, started = panel.watcher_owner, panel.pids[-1], time.monotonic()
                panel.restart()
                print(f"{panel_class.__name__} restarted in {time.monotonic() - started:.2f} s")
                assert panel.watcher_owner not in (None, old_watcher)
                assert desktop._session_members([old_host]) == []  # the old panel and its plugin wrapper
                assert desktop.registered_items(bus) == []
                wait_for(lambda: icon() is None, "the icon to go with the old panel")
                item.register()
                assert item.entry in desktop.registered_items(bus)
                x, y = desktop.centre(wait_for(icon, "the probe's colour in the restarted panel"))
                desktop.click(screen, x, y, 1)
                wait_for(lambda: len(item.called("Activate")) == 2, "Activate on the restarted panel")

                # A crash (SIGKILL) instead of a clean exit: the same, and nothing of the old panel is left.
                old_host = panel.pids[-1]
                panel.restart(crash=True)
                assert desktop._session_members([old_host]) == []
                assert desktop.registered_items(bus) == []
                item.register()
                wait_for(icon, "the probe's colour after a panel crash")
        assert_all_gone([panel])


def test_sway_waybar_shows_the_item_activates_it_and_shares_the_clipboard(tmp_path: Path) -> None:
    desktop.require(SwayWaybar)
    started = time.monotonic()
    with SwayWaybar(tmp_path) as session:
        print(f"SwayWaybar ready in {time.monotonic() - started:.2f} s")
        bus = session.bus
        env = desktop.env_for(session, base={"PATH": os.environ["PATH"], "DISPLAY": ":0"})
        assert "DISPLAY" not in env
        assert Path(env["WAYLAND_DISPLAY"]).is_absolute()
        assert Path(env["WAYLAND_DISPLAY"]).is_socket()
        assert env["DBUS_SESSION_BUS_ADDRESS"] == bus.address
        if os.geteuid() == 0:  # sway will not run as root: it and waybar run as nobody
            for pid in session.pids[1:]:  # the bus (first) is root's
                uid = Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0]
                assert int(uid) == desktop.NOBODY, pid

        with ProbeItem(bus.address) as item:  # root's item on the bus waybar (nobody) uses
            assert item.entry in desktop.registered_items(bus)

            def icon() -> desktop.Box | None:
                shot = session.screenshot(tmp_path / "bar.png", STRIP)
                return desktop.pixel_box(shot, desktop.near(PROBE_COLOUR, 30))

            box = wait_for(icon, "the probe's colour in waybar's tray")
            assert 16 <= box[2] - box[0] <= 32, box

            # A headless seat has no pointer: drive the item as waybar does on a click.
            x, y = desktop.centre(box)
            desktop.activate(bus, item.entry, x, y)
            assert item.called("Activate") == [("Activate", x, y)]
            layout = desktop.menu_layout(bus, item.entry)
            assert [child["properties"]["label"] for child in layout["children"]] == ["Copy token"]
            desktop.menu_click(bus, item.entry, layout["children"][0]["id"])
            assert item.called("Event") == [("Event", 1, "clicked", 0)]

            started = time.monotonic()
            session.restart()
            print(f"waybar restarted in {time.monotonic() - started:.2f} s")
            assert desktop.registered_items(bus) == []
            item.register()
            wait_for(icon, "the probe's colour in the restarted waybar")

        # The clipboard: root's wl-copy into nobody's sway, read back by root's wl-paste.
        assert session.clipboard() == ""
        copier = subprocess.Popen(
            ["wl-copy", "--foreground"], env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            assert copier.stdin is not None
            copier.stdin.write("token \u00e9 1".encode())
            copier.stdin.close()
            wait_for(lambda: session.clipboard() == "token \u00e9 1", "wl-copy's text via clipboard()")
        finally:
            copier.terminate()
            copier.wait(DEADLINE)
        session.copy("second")  # the harness's own wl-copy replaces it
        assert session.clipboard() == "second"
        root = session.root
        assert root is not None
    assert_all_gone([session])
    assert not root.exists()
