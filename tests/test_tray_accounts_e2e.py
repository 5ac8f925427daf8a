"""Several accounts in the tray, end to end: xfce4-panel as the StatusNotifierItem host on Xvfb, its own D-Bus,
gnome-keyring and dunst, the loopback chat.qwen.ai, and the installed ``qwen-tray`` in subprocesses.

Two accounts are stored with ``qwen-tray set-token``: alice (the default, 6 days left) and bob (under a day,
not yet due: refreshes start at half a day here, so the refresher leaves him alone). The icon must show bob;
each account's submenu copies its own token; Remove takes two clicks and deletes bob's token; a left click
copies the default's. Menu clicks are the host's own D-Bus calls (``Event(id, "clicked")``), as in
test_tray_sni_e2e's waybar test: a headless panel's menus are drawn, but where is not ours to guess.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import desktop
from tests.helpers import wait_for
from tests.test_tray_e2e import _close, days, fresh_driver
from tests.test_tray_sni_e2e import PanelDesktop, SniDriver, panel_session
from tray_app import icon


@pytest.fixture(scope="module")
def xfce_desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PanelDesktop]:
    with panel_session(desktop.XfcePanel, tmp_path_factory.mktemp("accounts-desktop")) as session:
        yield session


@pytest.fixture
def tray(xfce_desktop: PanelDesktop, tmp_path: Path) -> Iterator[SniDriver]:
    with fresh_driver(SniDriver, xfce_desktop, tmp_path) as driver:
        config = Path(driver.env["XDG_CONFIG_HOME"]) / "qwen-tray" / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text("refresh_before_days = 0.5\n")  # bob's 0.8 days are red, but not due
        yield driver


def submenus(layout: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Each account's submenu, keyed by the account's email: its items' labels and ids."""
    return {
        child["properties"]["label"].split(" ")[0].rstrip(":"): {
            grandchild["properties"]["label"]: grandchild["id"] for grandchild in child["children"]
        }
        for child in layout["children"]
        if child["properties"].get("children-display") == "submenu"
    }


def test_two_accounts_the_icon_follows_the_urgent_one_and_remove_takes_two_clicks(tray: SniDriver) -> None:
    server = tray.server
    alice, bob = server.add_account(email="alice@example.com"), server.add_account(email="bob@example.com")
    alice_token = server.issue_token(alice, expires_at=days(6) + 600)  # "6 d 0 h left" for a while
    bob_token = server.issue_token(bob, expires_at=days(0.8))
    assert tray.run("set-token", input_text=alice_token).returncode == 0
    added = tray.run("set-token", input_text=bob_token)
    assert added.returncode == 0, added.stderr
    tray.start()

    # The icon shows bob, the more urgent (red: under a day), and the tooltip says so, then lists both.
    tray.shows(icon.RED)
    tray.screenshot("accounts-urgent")
    item = tray.item()
    tooltip = desktop.item_property(tray.bus, item, "ToolTip")[3]
    assert "bob@example.com" in tooltip.split("\n")[0] and "most urgent of 2 accounts" in tooltip, tooltip
    assert "alice@example.com (default): 6 d" in tooltip, tooltip

    # The menu: the top acts on the default (Copy token first), then a submenu per account.
    layout = desktop.menu_layout(tray.bus, item)
    labels = [child["properties"].get("label") for child in layout["children"]]
    assert labels[0].startswith("alice@example.com (default)"), labels
    assert labels[2:6] == ["Copy token", "Paste new token", "Import from browser", "Refresh now"], labels
    assert labels[-1] == "Quit", labels
    accounts = submenus(layout)
    assert set(accounts) == {"alice@example.com", "bob@example.com"}
    assert list(accounts["bob@example.com"]) == ["Copy token", "Refresh now", "Make default", "Remove"]

    # Each submenu's Copy token copies that account's token; a left click (Activate) the default's.
    desktop.menu_click(tray.bus, item, accounts["alice@example.com"]["Copy token"])
    wait_for(lambda: tray.clipboard() == alice_token, "alice's token on the clipboard", detail=tray.output)
    desktop.menu_click(tray.bus, item, accounts["bob@example.com"]["Copy token"])
    wait_for(lambda: tray.clipboard() == bob_token, "bob's token on the clipboard", detail=tray.output)
    x, y, width, height = tray.icon_window()
    desktop.activate(tray.bus, item, x + width // 2, y + height // 2)
    wait_for(lambda: tray.clipboard() == alice_token, "the default's token after a left click", detail=tray.output)

    # Remove bob: the first click only asks for a second one.
    desktop.menu_click(tray.bus, item, accounts["bob@example.com"]["Remove"])
    asked = tray.notified("Click Remove again within 30 s to remove bob@example.com")
    assert bob_token not in asked
    assert len(json.loads(tray.run("accounts", "--json").stdout)) == 2, "nothing removed on one click"
    armed = wait_for(
        lambda: submenus(desktop.menu_layout(tray.bus, item))["bob@example.com"].get("Remove: click again to confirm"),
        "the Remove item to say a second click removes",
    )
    desktop.menu_click(tray.bus, item, armed)
    tray.notified("Removed bob@example.com")
    rows = json.loads(tray.run("accounts", "--json").stdout)
    assert [(row["email"], row["default"]) for row in rows] == [("alice@example.com", True)]
    gone = tray.run("token", "--account", bob.user_id)
    assert gone.returncode != 0 and bob_token not in gone.stdout, gone
    assert tray.run("token").stdout.strip() == alice_token

    # One account left: the icon shows alice (green), and the menu is as it always was.
    wait_for(lambda: _close(tray.badge_colour(), icon.GREEN, 30), "the icon to turn green (alice)")
    tray.screenshot("accounts-one-left")
    layout = wait_for(
        lambda: (found := desktop.menu_layout(tray.bus, item)) and not submenus(found) and found,
        "the accounts section to go",
    )
    assert "\n" not in desktop.item_property(tray.bus, item, "ToolTip")[3]

    # Quit, the last item.
    desktop.menu_click(tray.bus, item, layout["children"][-1]["id"])
    assert tray.process is not None
    assert tray.process.wait(15) == 0, tray.output()
    assert "Traceback" not in tray.output()
    assert bob_token not in tray.output() and alice_token not in tray.output(), "no token in the log"
