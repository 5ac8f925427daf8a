"""Small test helpers shared by several test files."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from tray_app.config import Settings
from tray_app.engine import TokenService
from tray_app.paths import AppPaths
from tray_app.simulator import QwenSimulator
from tray_app.state import StateFile
from tray_app.store import KeyringStore, TokenStore

_T = TypeVar("_T")

#: A fixed "now" for pure tests (2027-01-15 08:00 UTC): never the wall clock.
NOW = 1_800_000_000.0


class FakeClock:
    """A clock tests move by hand; ``wait`` jumps time forward instead of sleeping."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def wait(self, seconds: float) -> bool:
        """Like ``Event.wait`` that times out at once: time moves, nothing stops us."""
        self.waits.append(seconds)
        self.now += seconds
        return False


def wait_for(check: Callable[[], _T], what: str, timeout: float = 15.0, detail: Callable[[], str] = str) -> _T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds (never a blind sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}\n{detail()}")
        time.sleep(0.02)


def run(argv: list[str], env: dict[str, str], timeout: float = 5.0) -> subprocess.CompletedProcess[str]:
    """Run a helper program with ``env``; it must succeed."""
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, check=True, stdin=subprocess.DEVNULL
    )


def make_service(
    server: QwenSimulator, clock: FakeClock, paths: AppPaths, *, store: TokenStore | None = None, **settings: Any
) -> TokenService:
    """The engine on the fake clock, against the simulator and the test's keyring backend (or ``store``),
    with these settings besides."""
    return TokenService(
        settings=Settings(base_url=server.base_url, **settings),
        store=KeyringStore() if store is None else store,
        state_file=StateFile(paths.state_file),
        refresh_lock_path=paths.refresh_lock,
        clock=clock,
        wait=clock.wait,
        jitter=lambda: 0.5,
    )
