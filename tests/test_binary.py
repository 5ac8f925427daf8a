"""The one-file binary from pyinstaller.spec, built here and used as a person would use it.

Slow (PyInstaller takes a minute or two): `pytest -m "not binary"` leaves it out while iterating.
The binary gets no PYTHON_KEYRING_BACKEND: it must find the Secret Service by itself (a frozen build
has no entry points for keyring to discover its backends with).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import desktop
from tests.helpers import wait_for
from tray_app import __version__
from tray_app.simulator import QwenSimulator

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.binary


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("pyinstaller")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--log-level",
            "WARN",
            "--distpath",
            str(work / "dist"),
            "--workpath",
            str(work / "build"),
            str(ROOT / "pyinstaller.spec"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    path = work / "dist" / ("qwen-tray.exe" if sys.platform == "win32" else "qwen-tray")
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A desktop with gnome-keyring and trayer, and an environment that names no keyring backend."""
    desktop.require(desktop.Xvfb, desktop.SessionBus, desktop.GnomeKeyring, desktop.Trayer, "xdotool")
    work = tmp_path_factory.mktemp("binary-desktop")
    with (
        desktop.Xvfb(workdir=work) as screen,
        desktop.SessionBus(work) as bus,
        desktop.GnomeKeyring(bus, work),
        desktop.Trayer(screen, work),
    ):
        env = desktop.env_for(bus, screen)
        env.pop("PYTHON_KEYRING_BACKEND", None)
        env["TMPDIR"] = str(work)
        yield env


def icon_windows(pid: int, env: dict[str, str]) -> list[str]:
    """Visible windows of ``pid`` or its children (a one-file build runs the app in a child process)."""
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout.split()
    windows: list[str] = []
    for process in [str(pid), *children]:
        found = subprocess.run(
            ["xdotool", "search", "--onlyvisible", "--pid", process],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        windows += found.stdout.split()
    return windows


def test_the_binary_does_the_job(binary: Path, session: dict[str, str], tmp_path: Path) -> None:
    env = dict(session)
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[name] = str(tmp_path / name.lower())

    def run(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binary), *argv], input=stdin, env=env, capture_output=True, text=True, timeout=60, check=False
        )

    started = time.monotonic()
    version = run("--version")
    start_up = time.monotonic() - started
    assert (version.returncode, version.stdout.strip()) == (0, f"qwen-tray {__version__}")
    print(f"binary: {binary.stat().st_size / 1e6:.1f} MB; `--version` in {start_up:.2f} s")

    with QwenSimulator() as server:
        env["QWEN_TRAY_BASE_URL"] = server.base_url
        run("forget")
        assert json.loads(run("status", "--json").stdout)["state"] == "missing"
        account = server.add_account(email="bin@example.com")
        token = server.issue_token(account, expires_at=int(time.time() + 86400))
        stored = run("set-token", stdin=token)
        assert stored.returncode == 0, stored.stderr
        assert "bin@example.com" in stored.stdout
        assert run("token").stdout.strip() == token
        status = json.loads(run("status", "--json").stdout)
        assert status["state"] == "expiring"
        assert "Secret Service" in run("status").stdout  # found the Secret Service by itself
        refreshed = run("refresh")
        assert refreshed.returncode == 0, refreshed.stderr
        assert run("token").stdout.strip() != token
        assert json.loads(run("status", "--json").stdout)["days_left"] > 6.9

        with (tmp_path / "tray.log").open("wb") as log:
            tray = subprocess.Popen(
                [str(binary), "tray"], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True,
            )  # fmt: skip
        try:
            wait_for(lambda: icon_windows(tray.pid, env), "the binary's tray icon to dock", timeout=30,
                     detail=lambda: (tmp_path / "tray.log").read_text(errors="replace"))  # fmt: skip
        finally:
            tray.terminate()
            tray.wait(15)
        run("forget")
    # The catalogs travel inside the binary: it speaks Vietnamese and Chinese without the source tree.
    env["QWEN_TRAY_LANGUAGE"] = "vi"
    assert "Dán token" in run("status").stdout
    env["QWEN_TRAY_LANGUAGE"] = "zh_CN"
    assert "令牌" in run("status").stdout
    assert os.access(binary, os.X_OK)
