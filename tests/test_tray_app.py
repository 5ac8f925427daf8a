"""TrayApp's wiring on pystray's dummy backend (no display): the view it builds and how it follows events."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tests.helpers import FakeClock, make_service
from tray_app.engine import TokenService
from tray_app.icon import AMBER, GREEN, GREY, IconFace, icon_face
from tray_app.paths import AppPaths
from tray_app.policy import DAY, TokenState
from tray_app.refresher import Refresher
from tray_app.simulator import QwenSimulator
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
    tray._worker.shutdown(wait=True)
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
    tray._worker.shutdown(wait=True)
    assert notifier.shown == [], "reading the token is not news"
