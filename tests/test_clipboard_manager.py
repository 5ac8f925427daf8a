"""A real clipboard manager (CopyQ, from Debian) keeps the token out of its history, on X11.

Debian 12's CopyQ 6.4 predates its built-in check (8.0), so it is configured as CopyQ documents for
older versions: an automatic command that ignores clipboard content carrying `x-kde-passwordManagerHint`.
This is what Klipper does by itself: both read the hint through Qt, as any Qt-based manager would. The
control copies the same text without the mark, which CopyQ does keep.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import desktop
from tests.helpers import wait_for


def wait_until(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6ImNsaXBib2FyZCJ9.c2VjcmV0LW1hbmFnZXI"
IGNORE_SECRETS = (
    "[Commands]\n1\\Automatic=true\n1\\Command=copyq ignore\n1\\Input=x-kde-passwordManagerHint\n"
    "1\\Name=Ignore secrets\nsize=1\n"
)


class CopyQ(desktop.Service):
    """``copyq`` on ``screen`` with a config of its own (the ignore-secrets command)."""

    executables = ("copyq", "xclip")

    def __init__(self, bus: desktop.SessionBus, screen: desktop.Xvfb, workdir: Path) -> None:
        super().__init__()
        self.workdir = workdir
        self.env = {**desktop.env_for(bus, screen), "XDG_CONFIG_HOME": str(workdir / "copyq-config"),
                    "QT_QPA_PLATFORM": "xcb"}  # fmt: skip

    def _start(self) -> None:
        config = self.workdir / "copyq-config" / "copyq"
        config.mkdir(parents=True, exist_ok=True)
        (config / "copyq-commands.ini").write_text(IGNORE_SECRETS)
        self._spawn(["copyq"], env=self.env, log=self.workdir / "copyq.log", cwd=self.workdir)
        self._wait_until(lambda: self.ask("monitoring").stdout.strip() == "true", "CopyQ watching the clipboard", 20)

    def stop(self) -> None:
        if self.running:
            self.ask("exit")
        super().stop()

    def ask(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["copyq", *argv], env=self.env, capture_output=True, text=True, timeout=10, check=False)

    def history(self) -> list[str]:
        count = int(self.ask("count").stdout.strip() or 0)
        return [self.ask("read", str(row)).stdout for row in range(count)]

    def copy_plain(self, text: str) -> None:
        subprocess.run(["xclip", "-selection", "clipboard"], input=text.encode(), env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10, check=True)  # fmt: skip
        wait_for(lambda: self.history()[:1] == [text], f"CopyQ to keep {text[:12]!r}", detail=self._log_tail)

    def wait_until_watching(self) -> None:
        """CopyQ's clipboard monitor is a process of its own that starts after the server answers: copy
        until a copy shows up in the history."""

        attempts = itertools.count(1)

        def seen() -> bool:
            probe = f"probe {next(attempts)}"
            subprocess.run(["xclip", "-selection", "clipboard"], input=probe.encode(), env=self.env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10, check=True)  # fmt: skip
            return bool(wait_until(lambda: probe in self.history()[:1], 1.0))

        wait_for(seen, "CopyQ's clipboard monitor", timeout=30, detail=self._log_tail)
        self.ask("remove", *(str(row) for row in range(len(self.history()))))


@pytest.fixture
def copyq(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CopyQ]:
    desktop.require(desktop.Xvfb, desktop.SessionBus, CopyQ)
    with desktop.Xvfb(workdir=tmp_path) as screen, desktop.SessionBus(tmp_path) as bus:
        desktop.apply_env(monkeypatch, bus, screen)
        with CopyQ(bus, screen, tmp_path) as manager:
            manager.wait_until_watching()
            yield manager


def test_copyq_never_stores_the_token_copied_as_a_secret(copyq: CopyQ) -> None:
    from tray_app.clipboard import copy_secret

    copyq.copy_plain("before")
    copy = copy_secret(TOKEN)
    try:
        assert os.environ["DISPLAY"] == copyq.env["DISPLAY"]
        wait_for(lambda: subprocess.run(["xclip", "-o", "-selection", "clipboard"], env=copyq.env,
                                        capture_output=True, text=True, check=False).stdout == TOKEN,
                 "the token on the clipboard")  # fmt: skip
        copyq.copy_plain("after")  # CopyQ handles copies in order: it has seen the secret one by now
        assert TOKEN not in copyq.history()
        assert copyq.history()[:2] == ["after", "before"]
    finally:
        copy.clear()
    copyq.copy_plain(TOKEN)  # the control: the same text, unmarked, is kept
    assert copyq.history()[0] == TOKEN
