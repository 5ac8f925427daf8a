"""A pystray ``Icon`` that is a StatusNotifierItem of our own, on an asyncio loop with dbus-fast.

Why not pystray's appindicator backend: libappindicator exports no ``Activate``, so a left click can
never copy the token on KDE, XFCE, LXQt or waybar, and it needs GTK and an X display. This backend
needs neither: it works on pure Wayland, and only the session bus.

Threads: :meth:`run` turns the calling (main) thread into the icon's event loop; every D-Bus call and
every change of what hosts see happens there. Changes made from other threads (pystray's setters,
``attention``) are computed where they are made and handed to the loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from tray_app.errors import QwenTrayError
from tray_app.i18n import tr
from tray_app.sni.interfaces import ITEM_PATH, MENU_PATH, DbusMenu, StatusNotifierItem
from tray_app.sni.menu import MenuModel, build_menu, menu_change
from tray_app.sni.pixmaps import Pixmap, argb32_pixmaps
from tray_app.tray_backend import import_pystray

#: pystray's backend-neutral Icon (its dummy backend loads no toolkit and opens no display).
_PystrayIcon: Any = import_pystray("dummy")._base.Icon

log = logging.getLogger(__name__)

WATCHER_NAME = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
#: Bound on connecting to the bus and on each call we wait for (the watcher, the bus daemon).
BUS_TIMEOUT = 5.0


class SniError(QwenTrayError):
    """The icon cannot be served on the session bus (it broke, or never answered)."""

    kind = "tray"


class SniIcon(_PystrayIcon):  # type: ignore[misc]  # pystray has no type hints
    """pystray's Icon surface (icon, title, menu, visible, run, stop, default action) as an SNI item."""

    HAS_DEFAULT_ACTION = True
    HAS_MENU = True
    HAS_MENU_RADIO = True
    HAS_NOTIFICATION = False  # the app has its own notifier
    #: Ours, in pystray's style: the icon can ask the host for attention (``attention = True``).
    HAS_ATTENTION = True

    def __init__(self, name: str, icon: Any = None, title: str | None = None, menu: Any = None, **kwargs: Any):
        super().__init__(name, icon=icon, title=title, menu=menu, **kwargs)
        self.item_id = name
        self.bus_name = f"org.kde.StatusNotifierItem-{os.getpid()}-1"
        self.pixmaps: list[Pixmap] = []
        self.menu_model: MenuModel = build_menu(None)
        self.menu_revision = 1
        self._attention = False
        self._shown = False
        #: Set while a tray host (the watcher) has our item; cleared when the watcher goes away.
        self.registered = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._bus: Any = None
        self._stopping: asyncio.Event | None = None
        self._item = StatusNotifierItem(self)
        self._menu_interface = DbusMenu(self)

    # -- what the interfaces read ---------------------------------------------------------------------------

    @property
    def status(self) -> str:
        if not self._shown:
            return "Passive"
        return "NeedsAttention" if self._attention else "Active"

    def tooltip(self) -> tuple[str, str]:
        """(heading, text): the title's first part is the heading, the rest the text below it."""
        heading, _, text = self.title.partition(" · ")
        return heading, text

    def activate(self) -> None:
        """A primary click: pystray's default action (the menu's default item)."""
        self()

    def menu_clicked(self, item_id: int) -> bool:
        item = self.menu_model.items.get(item_id)
        if item is None:
            return False
        if item.enabled and item.submenu is None:
            item(self)
            self.update_menu()
        return True

    # -- attention: ours, beside pystray's surface -----------------------------------------------------------

    @property
    def attention(self) -> bool:
        return self._attention

    @attention.setter
    def attention(self, value: bool) -> None:
        def apply() -> None:
            if value != self._attention:
                self._attention = value
                self._emit(self._item.NewStatus)

        self.call_soon(apply)

    # -- pystray's backend contract (any thread) -------------------------------------------------------------

    def _update_icon(self) -> None:
        pixmaps = argb32_pixmaps(self.icon)
        self._icon_valid = True

        def apply() -> None:
            self.pixmaps = pixmaps
            self._emit(self._item.NewIcon)

        self.call_soon(apply)

    def _update_title(self) -> None:
        def apply() -> None:
            self._emit(self._item.NewTitle)
            self._emit(self._item.NewToolTip)

        self.call_soon(apply)

    def _update_menu(self) -> None:
        model = build_menu(self.menu)

        def apply() -> None:
            change = menu_change(self.menu_model, model)
            self.menu_model = model
            if change.layout:
                self.menu_revision += 1
                self._emit(self._menu_interface.LayoutUpdated)
            elif change.updated:
                self._emit(lambda: self._menu_interface.ItemsPropertiesUpdated(change.updated))

        self.call_soon(apply)

    def _show(self) -> None:
        def apply() -> None:
            self._shown = True
            self._emit(self._item.NewStatus)
            self._spawn(self._register())

        self.call_soon(apply)

    def _hide(self) -> None:
        def apply() -> None:
            self._shown = False
            self._emit(self._item.NewStatus)  # a Passive item is hidden by hosts (SNI has no "unregister")

        self.call_soon(apply)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            self._loop = None
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    def _run_detached(self) -> None:
        raise NotImplementedError("the SNI icon runs its own loop: use run()")

    def _stop(self) -> None:
        def apply() -> None:
            if self._stopping is not None:
                self._stopping.set()

        self.call_soon(apply)

    def _notify(self, message: str, title: str | None = None) -> None:
        raise NotImplementedError("qwen-tray shows notifications with tray_app.notify")

    def _remove_notification(self) -> None:
        raise NotImplementedError("qwen-tray shows notifications with tray_app.notify")

    # -- the loop --------------------------------------------------------------------------------------------

    def call_soon(self, call: Callable[[], None]) -> None:
        """Run ``call`` on the icon's loop (at once when already there, or before the loop exists)."""
        loop = self._loop
        if loop is None or threading.current_thread() is self._loop_thread:
            call()
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing is shown any more
            loop.call_soon_threadsafe(call)

    async def _serve(self) -> None:
        from dbus_fast import BusType, Message
        from dbus_fast.aio import MessageBus
        from dbus_fast.constants import NameFlag, RequestNameReply

        from tray_app.dbus import session_bus_address

        self._loop_thread = threading.current_thread()
        self._stopping = asyncio.Event()
        address = session_bus_address()
        if address is None:
            raise SniError(tr("no session bus: DBUS_SESSION_BUS_ADDRESS is not set."))
        try:
            bus = await asyncio.wait_for(
                MessageBus(bus_address=address, bus_type=BusType.SESSION).connect(), BUS_TIMEOUT
            )
        except Exception as exc:  # dbus-fast's connect raises plain Exception besides OSError
            raise SniError(tr("the session bus does not answer ({reason}).", reason=_reason(exc))) from exc
        self._bus = bus
        try:
            bus.export(ITEM_PATH, self._item)
            bus.export(MENU_PATH, self._menu_interface)
            reply = await asyncio.wait_for(bus.request_name(self.bus_name, NameFlag.DO_NOT_QUEUE), BUS_TIMEOUT)
            if reply not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
                raise SniError(tr("the bus name {name} is taken.", name=self.bus_name))
            bus.add_message_handler(self._on_bus_message)
            rule = (
                "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                f"member='NameOwnerChanged',arg0='{WATCHER_NAME}'"
            )
            await asyncio.wait_for(
                bus.call(
                    Message(
                        destination="org.freedesktop.DBus",
                        path="/org/freedesktop/DBus",
                        interface="org.freedesktop.DBus",
                        member="AddMatch",
                        signature="s",
                        body=[rule],
                    )
                ),
                BUS_TIMEOUT,
            )
            self._mark_ready()
            stopping = asyncio.ensure_future(self._stopping.wait())
            disconnected = asyncio.ensure_future(bus.wait_for_disconnect())  # type: ignore[no-untyped-call]
            done, _pending = await asyncio.wait({stopping, disconnected}, return_when=asyncio.FIRST_COMPLETED)
            if stopping not in done:
                error = disconnected.exception()
                if error is None:
                    raise SniError(tr("the session bus closed the connection."))
                raise SniError(tr("the session bus closed the connection ({reason}).", reason=_reason(error)))
        except TimeoutError as exc:
            raise SniError(tr("the session bus did not answer within {seconds:g} s.", seconds=BUS_TIMEOUT)) from exc
        finally:
            self._bus = None
            bus.disconnect()

    def _on_bus_message(self, message: Any) -> None:
        if message.member != "NameOwnerChanged" or not message.body or message.body[0] != WATCHER_NAME:
            return
        _name, _old_owner, new_owner = message.body
        if new_owner:
            log.info("A tray host (StatusNotifierWatcher) appeared; showing the icon there.")
            if self._shown:
                self._spawn(self._register())
        else:
            log.warning("The tray host (StatusNotifierWatcher) went away; waiting for it to come back.")
            self.registered.clear()

    async def _register(self) -> None:
        from dbus_fast import Message, MessageType

        bus = self._bus
        if bus is None:
            return
        call = Message(
            destination=WATCHER_NAME,
            path=WATCHER_PATH,
            interface=WATCHER_NAME,
            member="RegisterStatusNotifierItem",
            signature="s",
            body=[self.bus_name],
        )
        try:
            reply = await asyncio.wait_for(bus.call(call), BUS_TIMEOUT)
        except TimeoutError:
            log.warning("The tray host did not answer within %g s; waiting for it.", BUS_TIMEOUT)
            return
        if reply.message_type == MessageType.ERROR:
            # No watcher (yet): it registers us when it appears (NameOwnerChanged).
            log.info("No tray host to show the icon in yet (%s).", reply.error_name)
            self.registered.clear()
            return
        log.info("Registered with the tray host as %s.", self.bus_name)
        self.registered.set()

    def _spawn(self, coroutine: Any) -> None:
        if self._bus is None:  # not on the bus yet: _serve registers once it is
            coroutine.close()
            return
        task = asyncio.ensure_future(coroutine)
        task.add_done_callback(_log_failure)

    def _emit(self, signal: Callable[[], Any]) -> None:
        """Send a signal if we are on the bus (before that, hosts read the state when they first look)."""
        if self._bus is not None:
            signal()


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("A tray task failed: %s", _reason(task.exception()))


def _reason(exc: BaseException | None) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
