"""The demo's world without a display: the badge and the menu header of its fresh token."""

from __future__ import annotations

from tray_app.config import Settings
from tray_app.demo import DEMO_BANNER, Demo
from tray_app.engine import TokenService
from tray_app.icon import icon_face
from tray_app.paths import AppPaths
from tray_app.policy import TokenState
from tray_app.state import StateFile
from tray_app.store import KeyringStore
from tray_app.view import menu_entries


def test_the_demo_starts_at_7_days_and_says_demo_in_the_menu() -> None:
    """The story begins with a fresh 7-day token: its badge reads "7" (a moment old, it is not 6 days)."""
    paths = AppPaths.for_profile("qwen-tray-demo")
    with Demo() as demo:
        settings = demo.settings(Settings())
        service = TokenService(
            settings=settings,
            store=KeyringStore(service="qwen-tray-demo"),
            state_file=StateFile(paths.state_file),
            refresh_lock_path=paths.refresh_lock,
            clock=demo.clock,
        )
        demo.seed(service)
        status = service.status()
        assert status.claims is not None
        assert status.state is TokenState.OK
        assert icon_face(status.state, status.claims.expires_at - status.now).label == "7"
        header = menu_entries(status, settings, banner=DEMO_BANNER)[0].label
        assert header.startswith("DEMO · demo@example.com: 6 d ")  # an hour a second: the minutes vary
