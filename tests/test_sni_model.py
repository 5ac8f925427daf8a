"""The SNI backend's pure parts: pixmaps in the byte order hosts read, and pystray menus as dbusmenu trees."""

from __future__ import annotations

import pytest
from PIL import Image

from tray_app.sni.menu import MenuChange, build_menu, escape_label, layout, menu_change
from tray_app.sni.pixmaps import PIXMAP_SIZES, argb32_pixmap, argb32_pixmaps
from tray_app.tray_backend import SNI, BackendChoice, load_pystray

# pystray's menu classes as the app gets them on the SNI path (no GTK, no display, nothing left in os.environ).
pystray = load_pystray(BackendChoice(SNI))
Menu, MenuItem = pystray.Menu, pystray.MenuItem


def test_pixmaps_are_argb_in_network_order() -> None:
    image = Image.new("RGBA", (4, 4), (0x11, 0x22, 0x33, 0x80))
    width, height, data = argb32_pixmap(image, 4)
    assert (width, height) == (4, 4)
    assert data[:4] == bytes([0x80, 0x11, 0x22, 0x33])
    assert len(data) == 4 * 4 * 4


def test_pixmaps_come_in_every_size_from_16_to_64() -> None:
    image = Image.new("RGBA", (64, 64), (0, 200, 0, 255))
    pixmaps = argb32_pixmaps(image)
    assert [(w, h) for w, h, _ in pixmaps] == [(s, s) for s in sorted(PIXMAP_SIZES)]
    assert min(PIXMAP_SIZES) == 16
    assert max(PIXMAP_SIZES) == 64
    for size, _, data in pixmaps:
        assert len(data) == size * size * 4
        assert data[:4] == bytes([255, 0, 200, 0])


def test_a_transparent_corner_stays_transparent() -> None:
    image = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    image.paste((255, 0, 0, 255), (16, 16, 48, 48))
    _, _, data = argb32_pixmap(image, 16)
    assert data[0] == 0, "alpha of the top-left pixel"
    middle = (8 * 16 + 8) * 4
    assert data[middle : middle + 4] == bytes([255, 255, 0, 0])


def app_menu(checked: bool = False, enabled: bool = True, label: str = "Copy token") -> object:
    return Menu(
        MenuItem("header_with_underscore", None, enabled=False),
        Menu.SEPARATOR,
        MenuItem(label, lambda: None, default=True, enabled=enabled),
        MenuItem("Notify after each refresh", lambda: None, checked=lambda _item: checked),
        Menu.SEPARATOR,
        Menu.SEPARATOR,
        MenuItem("More", Menu(MenuItem("Inner", lambda: None))),
        MenuItem("Hidden", lambda: None, visible=False),
        MenuItem("Quit", lambda: None),
        Menu.SEPARATOR,
    )


def test_the_tree_keeps_the_menu_order_and_ids_in_reading_order() -> None:
    model = build_menu(app_menu())
    _, root_properties, children = layout(model.root, -1)
    assert root_properties == {"children-display": "submenu"}
    summary = [(item_id, props.get("label", props.get("type"))) for item_id, props, _ in children]
    assert summary == [
        (1, "header__with__underscore"),
        (2, "separator"),
        (3, "Copy token"),
        (4, "Notify after each refresh"),
        (5, "separator"),
        (6, "More"),
        (8, "Quit"),
    ], "one separator where two stood, none at the end, hidden items left out"
    more = children[5]
    assert more[1]["children-display"] == "submenu"
    assert [(child_id, props["label"]) for child_id, props, _ in more[2]] == [(7, "Inner")]


def test_items_carry_enabled_and_checkmarks() -> None:
    model = build_menu(app_menu(checked=True, enabled=False))
    header, copy, notify = (model.node(i) for i in (1, 3, 4))
    assert header is not None and header.properties["enabled"] is False
    assert copy is not None and copy.properties["enabled"] is False
    assert "toggle-type" not in copy.properties
    assert notify is not None
    assert (notify.properties["toggle-type"], notify.properties["toggle-state"]) == ("checkmark", 1)
    assert model.items[3].text == "Copy token"
    assert 2 not in model.items, "separators are not clickable"


def test_layout_depth_and_property_names_limit_the_answer() -> None:
    model = build_menu(app_menu())
    assert layout(model.root, 0)[2] == []
    one_level = layout(model.root, 1, ["label"])
    assert all(children == [] for _, _, children in one_level[2])
    assert all(set(props) <= {"label"} for _, props, _ in one_level[2])
    assert layout(model.root, 1, ["label"])[1] == {}


def test_a_changed_label_or_check_is_a_properties_update() -> None:
    change = menu_change(build_menu(app_menu()), build_menu(app_menu(checked=True, label="Copy token now")))
    assert change == MenuChange(updated=((3, {"label": "Copy token now"}), (4, {"toggle-state": 1})))
    assert change.anything


def test_an_unchanged_menu_is_no_change() -> None:
    assert not menu_change(build_menu(app_menu()), build_menu(app_menu())).anything


@pytest.mark.parametrize(
    "other",
    [
        Menu(MenuItem("Copy token", lambda: None)),
        Menu(MenuItem("Copy token", lambda: None, checked=lambda _item: False)),
        Menu(MenuItem("Copy token", Menu(MenuItem("x", lambda: None)))),
    ],
    ids=["fewer-items", "became-checkable", "became-submenu"],
)
def test_a_moved_or_reshaped_item_is_a_new_layout(other: object) -> None:
    assert menu_change(build_menu(app_menu()), build_menu(other)) == MenuChange(layout=True)


def test_no_menu_is_an_empty_root() -> None:
    model = build_menu(None)
    assert model.root.children == ()
    assert list(model.nodes()) == []


def test_loading_the_sni_backend_leaves_no_pystray_variable_behind() -> None:
    import os

    assert "PYSTRAY_BACKEND" not in os.environ
    assert pystray.Icon.__name__ == "SniIcon"


def test_labels_escape_underscores_for_mnemonics() -> None:
    assert escape_label("a_b__c") == "a__b____c"
