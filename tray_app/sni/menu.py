"""pystray's menu as a ``com.canonical.dbusmenu`` tree: plain data, no D-Bus.

Hosts (KDE, XFCE, LXQt, waybar, GNOME's extension) draw the menu themselves from this tree and send
back ``Event(id, "clicked")``. Ids are given in reading order from 1 (0 is the root), so the same menu
gets the same ids; a change that keeps every item in place is sent as new properties, anything else
as a new layout revision.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: A property's value as dbusmenu carries it (its D-Bus type is fixed by its name: PROPERTY_TYPES).
PropertyValue = str | bool | int

PROPERTY_TYPES: Mapping[str, str] = {
    "type": "s",
    "label": "s",
    "enabled": "b",
    "visible": "b",
    "toggle-type": "s",
    "toggle-state": "i",
    "children-display": "s",
}
#: Properties whose change moves or reshapes an item: such a change is a new layout, not an update.
SHAPE_PROPERTIES = frozenset({"type", "toggle-type", "children-display"})
ROOT_ID = 0


@dataclass(frozen=True)
class MenuNode:
    id: int
    properties: Mapping[str, PropertyValue]
    children: tuple[MenuNode, ...] = ()


@dataclass(frozen=True)
class MenuModel:
    """The tree hosts see, and which pystray item each id stands for."""

    root: MenuNode
    items: Mapping[int, Any] = field(default_factory=dict)

    def node(self, item_id: int) -> MenuNode | None:
        return _find(self.root, item_id)

    def nodes(self) -> Iterable[MenuNode]:
        """Every node below the root, in reading order."""
        return _walk(self.root.children)


@dataclass(frozen=True)
class MenuChange:
    """What hosts must be told after the menu changed: nothing, new properties, or a new layout."""

    layout: bool = False
    updated: tuple[tuple[int, Mapping[str, PropertyValue]], ...] = ()

    @property
    def anything(self) -> bool:
        return self.layout or bool(self.updated)


def escape_label(text: str) -> str:
    """dbusmenu reads ``_`` as a mnemonic mark; a literal one is written ``__``."""
    return text.replace("_", "__")


def build_menu(menu: Any) -> MenuModel:
    """The tree for a pystray ``Menu`` (or None: an empty menu)."""
    items: dict[int, Any] = {}
    children = _build_children(menu, items, itertools.count(1)) if menu is not None else ()
    root = MenuNode(ROOT_ID, {"children-display": "submenu"}, children)
    return MenuModel(root, items)


def _build_children(menu: Any, items: dict[int, Any], ids: Iterator[int]) -> tuple[MenuNode, ...]:
    separator = type(menu).SEPARATOR  # pystray's one separator item, without importing pystray here
    nodes = []
    for item in shown_items(menu.items, separator=separator):
        item_id = next(ids)
        if item is separator:
            nodes.append(MenuNode(item_id, {"type": "separator", "visible": True}))
            continue
        items[item_id] = item
        properties: dict[str, PropertyValue] = {
            "label": escape_label(str(item.text)),
            "enabled": bool(item.enabled),
            "visible": True,
        }
        checked = item.checked
        if checked is not None:
            properties["toggle-type"] = "radio" if item.radio else "checkmark"
            properties["toggle-state"] = 1 if checked else 0
        children: tuple[MenuNode, ...] = ()
        if item.submenu is not None:
            properties["children-display"] = "submenu"
            children = _build_children(item.submenu, items, ids)
        nodes.append(MenuNode(item_id, properties, children))
    return tuple(nodes)


def shown_items(items: Sequence[Any], *, separator: Any) -> list[Any]:
    """Visible items, without separators at either end or two in a row (as every pystray backend shows them)."""
    shown: list[Any] = []
    for item in items:
        if item is separator:
            if shown and shown[-1] is not separator:
                shown.append(item)
        elif item.visible:
            shown.append(item)
    while shown and shown[-1] is separator:
        shown.pop()
    return shown


def layout(node: MenuNode, depth: int, names: Sequence[str] = ()) -> tuple[int, dict[str, PropertyValue], list[Any]]:
    """``GetLayout``'s answer for ``node`` as plain data: (id, properties, children); ``depth`` -1 is all
    levels, 0 the node alone; ``names`` limits the properties (empty: all)."""
    properties = {name: value for name, value in node.properties.items() if not names or name in names}
    children = [] if depth == 0 else [layout(child, depth - 1, names) for child in node.children]
    return node.id, properties, children


def menu_change(old: MenuModel, new: MenuModel) -> MenuChange:
    """How to tell hosts about ``new`` when they know ``old``."""
    if _shape(old.root) != _shape(new.root):
        return MenuChange(layout=True)
    updated = []
    for before, after in zip(old.nodes(), new.nodes(), strict=True):
        changed = {name: value for name, value in after.properties.items() if before.properties.get(name) != value}
        if changed:
            updated.append((after.id, changed))
    return MenuChange(updated=tuple(updated))


def _shape(node: MenuNode) -> tuple[Any, ...]:
    marks = tuple(sorted((name, node.properties.get(name)) for name in SHAPE_PROPERTIES if name in node.properties))
    return node.id, marks, frozenset(node.properties), tuple(_shape(child) for child in node.children)


def _find(node: MenuNode, item_id: int) -> MenuNode | None:
    if node.id == item_id:
        return node
    for child in node.children:
        found = _find(child, item_id)
        if found is not None:
            return found
    return None


def _walk(nodes: Iterable[MenuNode]) -> Iterable[MenuNode]:
    for node in nodes:
        yield node
        yield from _walk(node.children)
