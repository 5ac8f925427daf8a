"""The SNI icon on a real private D-Bus, with the host's side played by the test (watcher, calls, signals).

The panels themselves (xfce4-panel, lxqt-panel, waybar) are in test_tray_sni_e2e.py; here each protocol
point is checked exactly, and failures (a watcher restart, a bus that dies) are forced at will.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from dbus_fast.annotations import DBusStr
from dbus_fast.service import ServiceInterface, dbus_method
from PIL import Image

from tests import desktop
from tests.helpers import wait_for
from tray_app.sni.icon import SniError
from tray_app.tray_backend import SNI, BackendChoice, load_pystray

pystray = load_pystray(BackendChoice(SNI))
WATCHER = "org.kde.StatusNotifierWatcher"
ITEM = "org.kde.StatusNotifierItem"
MENU = "com.canonical.dbusmenu"


class Watcher(ServiceInterface):
    """The host's ``org.kde.StatusNotifierWatcher``: it records who registered which service."""

    def __init__(self, registrations: list[tuple[str, str]]) -> None:
        super().__init__(WATCHER)
        self.registrations = registrations

    @dbus_method()
    def RegisterStatusNotifierItem(self, service: DBusStr):  # type: ignore[no-untyped-def]
        self.registrations.append(("?", service))


class HostSide:
    """What a tray host does, on its own thread and connections: a watcher (which can be restarted to get
    a new owner), method calls to the item, and a log of every signal the item sends."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.registrations: list[tuple[str, str]] = []  # (sender, service)
        self.signals: list[tuple[str, str, list[Any]]] = []  # (path, member, body)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-host", daemon=True)
        self._thread.start()
        self._client: Any = self.run(self._connect(watch=True))
        self._watcher_bus: Any = None

    def run(self, coroutine: Any, timeout: float = 5.0) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    async def _connect(self, watch: bool = False) -> Any:
        from dbus_fast.aio import MessageBus

        bus = await MessageBus(bus_address=self.address).connect()
        if watch:
            bus.add_message_handler(self._record_signal)
            await self._call(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch",
                             "s", [f"type='signal',interface='{ITEM}'"])  # fmt: skip
            await self._call(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch",
                             "s", [f"type='signal',interface='{MENU}'"])  # fmt: skip
        return bus

    def _record_signal(self, message: Any) -> None:
        from dbus_fast import MessageType

        if message.message_type == MessageType.SIGNAL and message.interface in (ITEM, MENU):
            self.signals.append((message.path, message.member, message.body))

    @staticmethod
    async def _call(bus: Any, destination: str, path: str, interface: str, member: str, signature: str = "",
                    body: list[Any] | None = None) -> list[Any]:  # fmt: skip
        from dbus_fast import Message, MessageType

        reply = await bus.call(Message(destination=destination, path=path, interface=interface, member=member,
                                       signature=signature, body=body or []))  # fmt: skip
        if reply.message_type == MessageType.ERROR:
            raise RuntimeError(f"{reply.error_name}: {reply.body}")
        return list(reply.body)

    def call(self, destination: str, path: str, interface: str, member: str, signature: str = "",
             body: list[Any] | None = None) -> list[Any]:  # fmt: skip
        return self.run(self._call(self._client, destination, path, interface, member, signature, body))  # type: ignore[no-any-return]

    def item_property(self, service: str, name: str) -> Any:
        (variant,) = self.call(service, "/StatusNotifierItem", "org.freedesktop.DBus.Properties", "Get", "ss",
                               [ITEM, name])  # fmt: skip
        return variant.value

    # -- the watcher ---------------------------------------------------------------------------------------
    def start_watcher(self) -> None:
        self.run(self._start_watcher())

    async def _start_watcher(self) -> None:
        bus = await self._connect()
        bus.export("/StatusNotifierWatcher", Watcher(self.registrations))
        await bus.request_name(WATCHER)
        self._watcher_bus = bus

    def stop_watcher(self) -> None:
        async def stop() -> None:
            self._watcher_bus.disconnect()
            await self._watcher_bus.wait_for_disconnect()

        self.run(stop())
        self._watcher_bus = None

    def close(self) -> None:
        async def close_all() -> None:
            for bus in (self._client, self._watcher_bus):
                if bus is not None:
                    bus.disconnect()

        self.run(close_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


@pytest.fixture
def bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[desktop.SessionBus]:
    desktop.require(desktop.SessionBus)
    with desktop.SessionBus(tmp_path) as session_bus:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", session_bus.address)
        yield session_bus


@pytest.fixture
def host(bus: desktop.SessionBus) -> Iterator[HostSide]:
    side = HostSide(bus.address)
    side.start_watcher()
    yield side
    side.close()


class RunningIcon:
    """An SniIcon run on a thread as the app runs it (run() with a setup that shows it)."""

    def __init__(self, menu: Any = None, title: str = "Qwen token · a@example.com · 6 days left") -> None:
        self.clicks: list[str] = []
        self.error: BaseException | None = None
        image = Image.new("RGBA", (64, 64), (30, 160, 90, 255))
        self.icon = pystray.Icon("qwen-tray", icon=image, title=title, menu=menu or self.menu())
        self.thread = threading.Thread(target=self._run, name="test-icon", daemon=True)
        self.thread.start()

    def menu(self, copy_enabled: bool = True, copy_label: str = "Copy token") -> Any:
        def clicked(name: str) -> Callable[[], None]:
            return lambda: self.clicks.append(name)

        return pystray.Menu(
            pystray.MenuItem("a@example.com · 6 days left", None, enabled=False),
            pystray.Menu.SEPARATOR,
            pystray.MenuItem(copy_label, clicked("copy"), default=True, enabled=copy_enabled),
            pystray.MenuItem("Refresh now", clicked("refresh")),
            pystray.MenuItem("Quit", clicked("quit")),
        )

    def _run(self) -> None:
        try:
            self.icon.run(setup=lambda icon: setattr(icon, "visible", True))
        except BaseException as exc:  # noqa: BLE001 - recorded for the test to look at
            self.error = exc

    def stop(self) -> None:
        self.icon.stop()
        self.thread.join(5)
        assert not self.thread.is_alive()


@pytest.fixture
def running(host: HostSide) -> Iterator[RunningIcon]:
    item = RunningIcon()
    wait_for(item.icon.registered.is_set, "the icon to register with the watcher")
    yield item
    if item.thread.is_alive():
        item.stop()


def test_the_item_registers_and_shows_what_hosts_read(host: HostSide, running: RunningIcon) -> None:
    service = f"org.kde.StatusNotifierItem-{os.getpid()}-1"
    assert host.registrations == [("?", service)]
    assert host.item_property(service, "ItemIsMenu") is False
    assert host.item_property(service, "Menu") == "/MenuBar"
    assert host.item_property(service, "Status") == "Active"
    assert host.item_property(service, "Id") == "qwen-tray"
    assert host.item_property(service, "Category") == "ApplicationStatus"
    pixmaps = host.item_property(service, "IconPixmap")
    assert [(w, h) for w, h, _ in pixmaps] == [(16, 16), (22, 22), (24, 24), (32, 32), (48, 48), (64, 64)]
    assert bytes(pixmaps[0][2][:4]) == bytes([255, 30, 160, 90]), "ARGB, network byte order"
    assert list(host.item_property(service, "ToolTip")) == ["", [], "Qwen token", "a@example.com · 6 days left"]


def test_activate_runs_the_default_action(host: HostSide, running: RunningIcon) -> None:
    service = f"org.kde.StatusNotifierItem-{os.getpid()}-1"
    host.call(service, "/StatusNotifierItem", ITEM, "Activate", "ii", [10, 5])
    wait_for(lambda: running.clicks == ["copy"], "the default action")
    host.call(service, "/StatusNotifierItem", ITEM, "SecondaryActivate", "ii", [10, 5])
    host.call(service, "/StatusNotifierItem", ITEM, "ContextMenu", "ii", [10, 5])
    time.sleep(0.2)
    assert running.clicks == ["copy"], "a middle click and ContextMenu do not copy"


def test_the_menu_is_served_and_its_clicks_run_actions(host: HostSide, running: RunningIcon) -> None:
    service = f"org.kde.StatusNotifierItem-{os.getpid()}-1"
    revision, (root_id, _props, children) = host.call(service, "/MenuBar", MENU, "GetLayout", "iias", [0, -1, []])
    assert root_id == 0
    labels = {child.value[0]: child.value[1].get("label") for child in children}
    by_label = {label.value: item_id for item_id, label in labels.items() if label is not None}
    assert list(by_label) == ["a@example.com · 6 days left", "Copy token", "Refresh now", "Quit"]
    host.call(service, "/MenuBar", MENU, "Event", "isvu", [by_label["Refresh now"], "clicked", _int_variant(), 0])
    host.call(service, "/MenuBar", MENU, "Event", "isvu", [by_label["Quit"], "hovered", _int_variant(), 0])
    wait_for(lambda: running.clicks == ["refresh"], "the Refresh now action")
    with pytest.raises(RuntimeError, match="InvalidArgs"):
        host.call(service, "/MenuBar", MENU, "Event", "isvu", [999, "clicked", _int_variant(), 0])
    assert revision >= 1


def test_changes_are_signalled(host: HostSide, running: RunningIcon) -> None:
    service = f"org.kde.StatusNotifierItem-{os.getpid()}-1"
    running.icon.title = "Qwen token · a@example.com · 5 days left"
    running.icon.icon = Image.new("RGBA", (64, 64), (200, 40, 40, 255))
    running.icon.attention = True
    running.icon.menu = running.menu(copy_enabled=False)
    wanted = [
        ("/StatusNotifierItem", "NewTitle"),
        ("/StatusNotifierItem", "NewToolTip"),
        ("/StatusNotifierItem", "NewIcon"),
        ("/StatusNotifierItem", "NewStatus"),
        ("/MenuBar", "ItemsPropertiesUpdated"),
    ]
    wait_for(lambda: all(w in [(p, m) for p, m, _ in host.signals] for w in wanted), "the change signals",
             detail=lambda: repr(host.signals))  # fmt: skip
    statuses = [body for _, member, body in host.signals if member == "NewStatus"]
    assert statuses[-1] == ["NeedsAttention"]
    assert host.item_property(service, "Status") == "NeedsAttention"
    updated = next(body for _, member, body in host.signals if member == "ItemsPropertiesUpdated")
    assert [(item_id, {k: v.value for k, v in props.items()}) for item_id, props in updated[0]] == [
        (3, {"enabled": False})
    ]
    assert host.item_property(service, "ToolTip")[3] == "a@example.com · 5 days left"
    running.icon.menu = pystray.Menu(pystray.MenuItem("Quit", lambda: None))
    wait_for(lambda: ("/MenuBar", "LayoutUpdated") in [(p, m) for p, m, _ in host.signals], "LayoutUpdated")


def test_a_new_watcher_gets_the_item_again(host: HostSide, running: RunningIcon) -> None:
    host.stop_watcher()
    wait_for(lambda: not running.icon.registered.is_set(), "the icon to notice the host went away")
    host.start_watcher()
    wait_for(lambda: len(host.registrations) == 2, "the icon to register with the new watcher")
    wait_for(running.icon.registered.is_set, "the icon to count itself shown again")


def test_stop_ends_the_loop_and_leaves_the_bus(bus: desktop.SessionBus, host: HostSide, running: RunningIcon) -> None:
    service = f"org.kde.StatusNotifierItem-{os.getpid()}-1"
    running.stop()
    assert running.error is None
    assert not bus.name_has_owner(service)


def test_a_dead_bus_ends_the_loop_with_one_reason(
    bus: desktop.SessionBus, host: HostSide, running: RunningIcon
) -> None:
    bus.stop()
    running.thread.join(5)
    assert not running.thread.is_alive(), "the loop must end within 5 s"
    assert isinstance(running.error, SniError)
    assert "session bus closed the connection" in str(running.error)


def test_no_bus_at_all_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    started = time.monotonic()
    item = RunningIcon()
    item.thread.join(6)
    assert not item.thread.is_alive()
    assert time.monotonic() - started < 5.5
    assert isinstance(item.error, SniError)
    assert "session bus does not answer" in str(item.error)


def _int_variant() -> Any:
    from dbus_fast import Variant

    return Variant("i", 0)
