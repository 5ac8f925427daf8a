"""The two D-Bus interfaces a StatusNotifierItem host talks to, served with dbus-fast.

``org.kde.StatusNotifierItem`` (the icon: pixmaps, tooltip, status, clicks) and ``com.canonical.dbusmenu``
(its menu). Both only read the state of the :class:`ItemState` they are given and hand clicks back to it;
they run on the icon's event loop, like everything that touches the bus.
"""

# No ``from __future__ import annotations``: dbus-fast reads the D-Bus types from these annotations.

import logging
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Protocol

from dbus_fast import DBusError, ErrorType, PropertyAccess, Variant
from dbus_fast.annotations import (
    DBusBool,
    DBusInt32,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
    DBusUInt32,
)
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property, dbus_signal

from tray_app.sni.menu import PROPERTY_TYPES, MenuModel, MenuNode, PropertyValue, layout
from tray_app.sni.pixmaps import Pixmap

log = logging.getLogger(__name__)

ITEM_INTERFACE = "org.kde.StatusNotifierItem"
MENU_INTERFACE = "com.canonical.dbusmenu"
ITEM_PATH = "/StatusNotifierItem"
MENU_PATH = "/MenuBar"
#: The dbusmenu protocol version we speak (the one every current host reads).
DBUSMENU_VERSION = 3

Pixmaps = Annotated[list[Any], DBusSignature("a(iiay)")]
ToolTip = Annotated[list[Any], DBusSignature("(sa(iiay)ss)")]
Layout = Annotated[list[Any], DBusSignature("u(ia{sv}av)")]
GroupProperties = Annotated[list[Any], DBusSignature("a(ia{sv})")]


class ItemState(Protocol):
    """What the interfaces read and where clicks go (the SNI icon)."""

    item_id: str
    title: str
    status: str  # "Passive", "Active" or "NeedsAttention"
    pixmaps: list[Pixmap]
    menu_model: MenuModel
    menu_revision: int

    def tooltip(self) -> tuple[str, str]: ...
    def activate(self) -> None: ...
    def menu_clicked(self, item_id: int) -> bool: ...


class StatusNotifierItem(ServiceInterface):
    """``org.kde.StatusNotifierItem``: hosts read these properties after each New* signal."""

    def __init__(self, state: ItemState) -> None:
        super().__init__(ITEM_INTERFACE)
        self._state = state

    @dbus_property(access=PropertyAccess.READ)
    def Category(self) -> DBusStr:
        return "ApplicationStatus"

    @dbus_property(access=PropertyAccess.READ)
    def Id(self) -> DBusStr:
        return self._state.item_id

    @dbus_property(access=PropertyAccess.READ)
    def Title(self) -> DBusStr:
        return self._state.title

    @dbus_property(access=PropertyAccess.READ)
    def Status(self) -> DBusStr:
        return self._state.status

    @dbus_property(access=PropertyAccess.READ)
    def WindowId(self) -> DBusInt32:
        return 0

    @dbus_property(access=PropertyAccess.READ)
    def IconThemePath(self) -> DBusStr:
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def IconName(self) -> DBusStr:
        return ""  # hosts then draw IconPixmap

    @dbus_property(access=PropertyAccess.READ)
    def IconPixmap(self) -> Pixmaps:
        return [[width, height, data] for width, height, data in self._state.pixmaps]

    @dbus_property(access=PropertyAccess.READ)
    def OverlayIconName(self) -> DBusStr:
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def OverlayIconPixmap(self) -> Pixmaps:
        return []

    @dbus_property(access=PropertyAccess.READ)
    def AttentionIconName(self) -> DBusStr:
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def AttentionIconPixmap(self) -> Pixmaps:
        return []  # the badge itself already says what needs attention

    @dbus_property(access=PropertyAccess.READ)
    def AttentionMovieName(self) -> DBusStr:
        return ""

    @dbus_property(access=PropertyAccess.READ)
    def ToolTip(self) -> ToolTip:
        title, text = self._state.tooltip()
        return ["", [], title, text]

    @dbus_property(access=PropertyAccess.READ)
    def ItemIsMenu(self) -> DBusBool:
        return False  # a primary click is Activate (copy the token), not "open the menu"

    @dbus_property(access=PropertyAccess.READ)
    def Menu(self) -> DBusObjectPath:
        return MENU_PATH

    @dbus_method()
    def Activate(self, x: DBusInt32, y: DBusInt32) -> None:
        log.debug("Activate(%d, %d) from the tray host.", x, y)
        self._state.activate()

    @dbus_method()
    def SecondaryActivate(self, x: DBusInt32, y: DBusInt32) -> None:
        # A middle click. Nothing else deserves a shortcut of its own, and copying on a click the
        # person did not mean as "copy" would put the token somewhere unexpected.
        log.debug("SecondaryActivate(%d, %d) from the tray host: no action.", x, y)

    @dbus_method()
    def ContextMenu(self, x: DBusInt32, y: DBusInt32) -> None:
        # Hosts that can draw our dbusmenu (all we know of) never call this; we have no toolkit to draw one.
        log.debug("ContextMenu(%d, %d) from the tray host: the menu is at %s.", x, y, MENU_PATH)

    @dbus_method()
    def Scroll(self, delta: DBusInt32, orientation: DBusStr) -> None:
        log.debug("Scroll(%d, %s) from the tray host: no action.", delta, orientation)

    @dbus_signal()
    def NewTitle(self) -> None:
        return None

    @dbus_signal()
    def NewIcon(self) -> None:
        return None

    @dbus_signal()
    def NewToolTip(self) -> None:
        return None

    @dbus_signal()
    def NewStatus(self) -> DBusStr:
        return self._state.status


class DbusMenu(ServiceInterface):
    """``com.canonical.dbusmenu``: the menu as a tree of ids; hosts send back ``Event(id, "clicked")``."""

    def __init__(self, state: ItemState) -> None:
        super().__init__(MENU_INTERFACE)
        self._state = state

    @dbus_property(access=PropertyAccess.READ)
    def Version(self) -> DBusUInt32:
        return DBUSMENU_VERSION

    @dbus_property(access=PropertyAccess.READ)
    def TextDirection(self) -> DBusStr:
        return "ltr"

    @dbus_property(access=PropertyAccess.READ)
    def Status(self) -> DBusStr:
        return "normal"

    @dbus_property(access=PropertyAccess.READ)
    def IconThemePath(self) -> Annotated[list[str], DBusSignature("as")]:
        return []

    @dbus_method()
    def GetLayout(
        self,
        parent_id: DBusInt32,
        recursion_depth: DBusInt32,
        property_names: Annotated[list[str], DBusSignature("as")],
    ) -> Layout:
        node = self._node(parent_id)
        return [self._state.menu_revision, _layout_struct(layout(node, recursion_depth, property_names))]

    @dbus_method()
    def GetGroupProperties(
        self,
        ids: Annotated[list[int], DBusSignature("ai")],
        property_names: Annotated[list[str], DBusSignature("as")],
    ) -> GroupProperties:
        model = self._state.menu_model
        nodes = [model.root, *model.nodes()] if not ids else [node for i in ids if (node := model.node(i))]
        return [[node.id, _variants(node.properties, property_names)] for node in nodes]

    @dbus_method()
    def GetProperty(self, item_id: DBusInt32, name: DBusStr) -> Annotated[Variant, DBusSignature("v")]:
        node = self._node(item_id)
        if name not in node.properties:
            raise DBusError(ErrorType.INVALID_ARGS, f"menu item {item_id} has no property {name!r}")
        return _variant(name, node.properties[name])

    @dbus_method()
    def Event(
        self,
        item_id: DBusInt32,
        event_id: DBusStr,
        data: Annotated[Variant, DBusSignature("v")],
        timestamp: DBusUInt32,
    ) -> None:
        self._event(item_id, event_id)

    @dbus_method()
    def EventGroup(
        self, events: Annotated[list[Any], DBusSignature("a(isvu)")]
    ) -> Annotated[list[int], DBusSignature("ai")]:
        unknown = []
        for item_id, event_id, _data, _timestamp in events:
            try:
                self._event(item_id, event_id)
            except DBusError:
                unknown.append(item_id)
        return unknown

    @dbus_method()
    def AboutToShow(self, item_id: DBusInt32) -> DBusBool:
        return False  # the menu is always up to date: it changes only with the state, and we say so

    @dbus_method()
    def AboutToShowGroup(
        self, ids: Annotated[list[int], DBusSignature("ai")]
    ) -> Annotated[list[Any], DBusSignature("aiai")]:
        return [[], []]

    @dbus_signal()
    def LayoutUpdated(self) -> Annotated[list[int], DBusSignature("ui")]:
        return [self._state.menu_revision, 0]

    @dbus_signal()
    def ItemsPropertiesUpdated(
        self, updates: Sequence[tuple[int, Mapping[str, PropertyValue]]]
    ) -> Annotated[list[Any], DBusSignature("a(ia{sv})a(ias)")]:
        """Emitted with the properties that changed; every item always carries all of its properties,
        so nothing is ever removed."""
        return [[[item_id, _variants(properties)] for item_id, properties in updates], []]

    def _node(self, item_id: int) -> MenuNode:
        node = self._state.menu_model.node(item_id)
        if node is None:
            raise DBusError(ErrorType.INVALID_ARGS, f"no menu item {item_id}")
        return node

    def _event(self, item_id: int, event_id: str) -> None:
        if event_id != "clicked":
            return  # "hovered", "opened", "closed": nothing to do
        if not self._state.menu_clicked(item_id):
            raise DBusError(ErrorType.INVALID_ARGS, f"no menu item {item_id} to click")


def _variant(name: str, value: PropertyValue) -> Variant:
    return Variant(PROPERTY_TYPES[name], value)


def _variants(properties: Mapping[str, PropertyValue], names: Sequence[str] = ()) -> dict[str, Variant]:
    return {name: _variant(name, value) for name, value in properties.items() if not names or name in names}


def _layout_struct(node: tuple[int, dict[str, PropertyValue], list[Any]]) -> list[Any]:
    item_id, properties, children = node
    return [item_id, _variants(properties), [Variant("(ia{sv}av)", _layout_struct(child)) for child in children]]
