"""TrayApp's wiring on pystray's dummy backend (no display): the view it builds and how it follows events."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from tests.helpers import FakeClock, make_service
from tray_app.engine import TokenService
from tray_app.icon import AMBER, GREEN, GREY, RED, IconFace, icon_face
from tray_app.paths import AppPaths
from tray_app.policy import DAY, TokenState
from tray_app.refresher import Refresher
from tray_app.simulator import QwenSimulator
from tray_app.store import current_slot
from tray_app.tray import TrayApp
from tray_app.tray_backend import BackendChoice, load_pystray


class RecordingNotifier:
    def __init__(self) -> None:
        self.shown: list[tuple[str, str]] = []

    def notify(self, title: str, body: str, *, urgent: bool = False) -> str:
        self.shown.append((title, body))
        return "recorded"


@pytest.fixture
def dummy_pystray(monkeypatch: pytest.MonkeyPatch) -> Any:
    """pystray's own display-less backend, which lacks only a menu update (the real ones are in the e2e)."""
    monkeypatch.setenv("PYSTRAY_BACKEND", "dummy")
    pystray = load_pystray(BackendChoice("dummy"))

    class Icon(pystray.Icon):  # type: ignore[misc, name-defined]
        def _update_menu(self) -> None:
            pass

    return SimpleNamespace(Icon=Icon, Menu=pystray.Menu, MenuItem=pystray.MenuItem)


def make_tray(service: TokenService, paths: AppPaths, pystray: Any, notifier: RecordingNotifier, **kw: Any) -> TrayApp:
    return TrayApp(
        service=service,
        refresher=Refresher(service),
        notifier=notifier,  # type: ignore[arg-type]
        paths=paths,
        pystray=pystray,
        backend=BackendChoice("dummy"),
        **kw,
    )


def test_the_demo_banner_leads_the_title(
    server: QwenSimulator, clock: FakeClock, app_paths: AppPaths, dummy_pystray: Any
) -> None:
    service = make_service(server, clock, app_paths)
    service.set_token(server.issue_token(server.add_account()), verify=False)
    tray = make_tray(service, app_paths, dummy_pystray, RecordingNotifier(), title_prefix="DEMO · ")
    tray.refresher.step()  # the first look reads the token and publishes its state
    assert tray.icon.title.startswith("DEMO · Qwen token · account ")  # no email: the token was not verified
    header = next(iter(tray.icon.menu.items))
    assert header.text.startswith("DEMO · "), "seen where a tray shows no tooltips: the menu's header"


def test_events_redraw_the_icon_and_notify(
    server: QwenSimulator, clock: FakeClock, app_paths: AppPaths, dummy_pystray: Any
) -> None:
    service = make_service(server, clock, app_paths)
    account = server.add_account()
    service.set_token(server.issue_token(account, expires_at=int(clock.now + 2 * DAY)))
    notifier = RecordingNotifier()
    tray = make_tray(service, app_paths, dummy_pystray, notifier, initial_status=service.status())
    amber = tray.icon.icon.tobytes()
    assert tray._shown is not None
    assert tray._shown[0] == icon_face(TokenState.EXPIRING, 2 * DAY)
    assert tray._shown[0].background == AMBER
    service.refresh()  # publishes "refreshed": the tray redraws and notifies (on its worker)
    tray._shut_down()  # the worker finishes its work; no timer outlives the test
    assert tray._shown[0].background == GREEN
    assert tray.icon.icon.tobytes() != amber
    assert [title for title, _ in notifier.shown] == ["Qwen token refreshed"]
    assert "Copy token" in [item.text for item in tray.icon.menu.items]


def test_the_icon_shows_before_the_keyring_is_read_then_follows_the_first_look(
    server: QwenSimulator, clock: FakeClock, app_paths: AppPaths, dummy_pystray: Any
) -> None:
    service = make_service(server, clock, app_paths)
    service.set_token(server.issue_token(server.add_account(), expires_at=int(clock.now + 5 * DAY)), verify=False)
    notifier = RecordingNotifier()
    tray = make_tray(service, app_paths, dummy_pystray, notifier)
    assert tray.icon.title == "Qwen token · reading the keyring…", "the icon does not wait for the keyring"
    assert tray._shown is not None
    assert tray._shown[0] == IconFace(GREY, "")
    assert not tray._needs_attention()
    tray.refresher.step()  # the refresher's first look reads the token and publishes its state
    assert tray._shown[0] == icon_face(TokenState.OK, 5 * DAY)
    assert "5 d 0 h left" in tray.icon.title
    tray._shut_down()  # the worker finishes its work; no timer outlives the test
    assert notifier.shown == [], "reading the token is not news"


# -- several accounts ------------------------------------------------------------------------------------


class FakeCopy:
    """What copy_secret returns, without a clipboard: the text it was given."""

    marks = True

    def __init__(self, text: str) -> None:
        self.text = text

    def clear(self) -> bool:
        return True


@pytest.fixture
def copied(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    texts: list[str] = []

    def fake_copy(text: str) -> FakeCopy:
        texts.append(text)
        return FakeCopy(text)

    monkeypatch.setattr("tray_app.tray.copy_secret", fake_copy)
    return texts


def two_accounts(server: QwenSimulator, clock: FakeClock, service: TokenService) -> tuple[str, str, str, str]:
    """alice (the default, 6 days left) and bob (under a day, not yet due: refreshes start at half a day)."""
    service.settings = replace(service.settings, refresh_before_days=0.5)
    alice, bob = server.add_account(email="alice@example.com"), server.add_account(email="bob@example.com")
    alice_token = server.issue_token(alice, expires_at=int(clock.now + 6 * DAY))
    bob_token = server.issue_token(bob, expires_at=int(clock.now + 0.8 * DAY))
    service.set_token(alice_token)
    service.set_token(bob_token)
    return alice.user_id, alice_token, bob.user_id, bob_token


def submenus(tray: TrayApp) -> dict[str, Any]:
    """Each account's submenu items by their text, keyed by the account's email."""
    return {
        item.text.split(" ")[0].rstrip(":"): {child.text: child for child in item.submenu.items}
        for item in tray.icon.menu.items
        if item.submenu is not None
    }


def test_the_icon_shows_the_most_urgent_account_and_the_menu_lists_all(
    server: QwenSimulator, clock: FakeClock, app_paths: AppPaths, dummy_pystray: Any, copied: list[str]
) -> None:
    service = make_service(server, clock, app_paths)
    alice_id, alice_token, _bob_id, bob_token = two_accounts(server, clock, service)
    notifier = RecordingNotifier()
    tray = make_tray(service, app_paths, dummy_pystray, notifier)
    tray.refresher.step()
    assert tray._shown is not None
    assert tray._shown[0] == icon_face(TokenState.OK, 0.8 * DAY), "bob's red badge, not alice's green one"
    assert tray._shown[0].background == RED
    lines = tray.icon.title.split("\n")
    assert lines[0].startswith("Qwen token · bob@example.com · 19 h 12 min left")
    assert lines[1:] == ["alice@example.com (default): 6 d 0 h left", "bob@example.com: 19 h 12 min left"]
    items = list(tray.icon.menu.items)
    assert items[0].text.startswith("alice@example.com (default): 6 d 0 h left")
    assert [item.text for item in items[2:6]] == ["Copy token", "Paste new token", "Import from browser", "Refresh now"]
    assert set(submenus(tray)) == {"alice@example.com", "bob@example.com"}

    # A refresh of the healthy default does not make the icon show it.
    service.refresh(alice_id, force=True)
    assert tray._shown[0].background == RED

    # Copy token at the top and in alice's submenu copy hers, bob's submenu his; a left click the default's.
    tray.icon.menu.items[2](tray.icon)
    submenus(tray)["bob@example.com"]["Copy token"](tray.icon)
    tray.icon()  # pystray's default action: what a left click does
    tray._shut_down()  # the worker finishes its work; no timer outlives the test
    assert copied == [service.token(alice_id), bob_token, service.token(alice_id)]
    assert copied[0] != alice_token, "alice's refreshed token"
    assert ("Qwen token copied", "The token of bob@example.com is on the clipboard. It will be cleared from "
            "the clipboard in 30 s.") in notifier.shown  # fmt: skip


def test_make_default_and_remove_with_a_second_click(
    server: QwenSimulator, clock: FakeClock, app_paths: AppPaths, dummy_pystray: Any, copied: list[str]
) -> None:
    service = make_service(server, clock, app_paths)
    alice_id, _alice_token, bob_id, bob_token = two_accounts(server, clock, service)
    notifier = RecordingNotifier()
    ticks = [0.0]  # the monotonic clock Remove's clicks are timed on
    tray = make_tray(service, app_paths, dummy_pystray, notifier, monotonic=lambda: ticks[0])
    tray.refresher.step()
    tray.make_default(bob_id)
    assert service.book().default == bob_id
    tray.refresher.step()  # the tray asked the refresher to look again
    assert tray.icon.menu.items[0].text.startswith("bob@example.com (default)")
    assert submenus(tray)["bob@example.com"]["Make default"].checked
    assert not submenus(tray)["bob@example.com"]["Make default"].enabled

    tray.remove_account(alice_id)  # first click: armed, said so, nothing removed
    assert [a.id for a in service.book().accounts] == [alice_id, bob_id]
    assert notifier.shown[-1][0] == "Remove this account?"
    assert "Click Remove again within 30 s to remove alice@example.com" in notifier.shown[-1][1]
    assert "Remove: click again to confirm" in submenus(tray)["alice@example.com"]
    ticks[0] += 29
    tray.remove_account(alice_id)  # the second, in time: gone, and its tokens with it
    assert [a.id for a in service.book().accounts] == [bob_id]
    assert service.store.get(current_slot(alice_id)) is None
    assert notifier.shown[-1] == (
        "Account removed",
        "Removed alice@example.com: its token was deleted from the keyring.",
    )
    tray.refresher.step()
    assert not submenus(tray), "one account left: the menu as it always was"
    assert "\n" not in tray.icon.title

    # Too slow a second click arms again instead of removing.
    service.set_token(
        server.issue_token(server.add_account(email="carol@example.com"), expires_at=int(clock.now + 5 * DAY))
    )
    tray.refresher.step()
    carol_id = service.resolve("carol")
    tray.remove_account(carol_id)
    ticks[0] += 31
    tray.remove_account(carol_id)
    assert carol_id in service.book().ids
    tray._shut_down()  # the worker finishes its work; no timer outlives the test
    assert bob_token not in "".join(title + body for title, body in notifier.shown)
