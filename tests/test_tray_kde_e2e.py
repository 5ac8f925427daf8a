"""The tray on KDE Plasma 5 (Debian's plasmashell on Xvfb): a left click on the icon Plasma draws copies the
token (Plasma calls the item's Activate), and Klipper, Plasma's clipboard history, does not keep it."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import desktop
from tests.helpers import wait_for
from tests.test_tray_e2e import QWEN_TRAY, SCREENSHOTS, days
from tests.test_tray_sni_e2e import app_env
from tray_app import icon
from tray_app.simulator import QwenSimulator

WIDTH, HEIGHT = 1280, 800
PANEL = (WIDTH // 2, HEIGHT - 60, WIDTH, HEIGHT)  # the bottom panel's right half: the tray and the clock


@pytest.fixture
def plasma(tmp_path: Path) -> Iterator[tuple[desktop.Xvfb, desktop.SessionBus, desktop.PlasmaShell]]:
    desktop.require(desktop.Xvfb, desktop.SessionBus, desktop.PlasmaShell, "xdotool", "xclip")
    with (
        desktop.Xvfb(workdir=tmp_path, screen=f"{WIDTH}x{HEIGHT}x24") as screen,
        desktop.SessionBus(tmp_path) as bus,
        desktop.PlasmaShell(bus, screen, tmp_path) as shell,
    ):
        yield screen, bus, shell


def test_a_left_click_in_plasma_copies_and_klipper_keeps_no_token(
    plasma: tuple[desktop.Xvfb, desktop.SessionBus, desktop.PlasmaShell], tmp_path: Path
) -> None:
    screen, bus, shell = plasma
    with QwenSimulator() as server:
        env = app_env((bus, screen), server, tmp_path)
        token = server.issue_token(server.add_account(email="kde@example.com"), expires_at=days(5))
        stored = subprocess.run([str(QWEN_TRAY), "set-token"], input=token, env=env, capture_output=True,
                                text=True, timeout=30, check=False)  # fmt: skip
        assert stored.returncode == 0, stored.stderr

        def clipboard() -> str:
            return subprocess.run(["xclip", "-o", "-selection", "clipboard"], env=env, capture_output=True,
                                  text=True, timeout=10, check=False).stdout  # fmt: skip

        def copy_plain(text: str) -> None:
            subprocess.run(["xclip", "-selection", "clipboard"], input=text.encode(), env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10, check=True)  # fmt: skip
            wait_for(lambda: text in shell.klipper_history()[:1], f"Klipper to keep {text!r}", timeout=20)

        # Klipper shows its own tray icon once it holds something: copy first, so nothing moves later.
        copy_plain("before")
        log_path = tmp_path / "tray.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([str(QWEN_TRAY), "-v", "tray"], env=env, stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=log, start_new_session=True)  # fmt: skip
        try:
            mine = f"org.kde.StatusNotifierItem-{process.pid}-1"
            wait_for(lambda: any(i.startswith(mine) for i in desktop.registered_items(bus)), "the item registered",
                     timeout=20, detail=log_path.read_text)  # fmt: skip
            readings: list[desktop.Box | None] = []

            def badge() -> desktop.Box | None:  # green, and in the same place twice in a row
                readings.append(desktop.find_on_screen(screen, PANEL, desktop.near(icon.GREEN, 35)))
                return readings[-1] if len(readings) > 1 and readings[-1] == readings[-2] else None

            box = wait_for(badge, "the green icon in Plasma's panel", timeout=30, detail=lambda: repr(readings[-3:]))
            if SCREENSHOTS:
                Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
                desktop.grab(screen, (WIDTH - 400, HEIGHT - 40, WIDTH, HEIGHT)).save(
                    Path(SCREENSHOTS) / "sni-plasma-ok.png"
                )
            desktop.click(screen, *desktop.centre(box), 1)
            wait_for(lambda: clipboard() == token, "the token on the clipboard after a left click",
                     detail=log_path.read_text)  # fmt: skip
            assert "Activate(" in log_path.read_text(), "Plasma called the item's Activate"
            copy_plain("after")  # Klipper handles copies in order: it has seen the token's copy by now
            history = shell.klipper_history()
            assert token not in history, "Klipper honours x-kde-passwordManagerHint"
            assert history[:2] == ["after", "before"]
            process.send_signal(signal.SIGTERM)
            assert process.wait(15) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
