"""Shared fixtures: every test runs with its own config/state/keyring folders and no app variables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import keyring.core
import pytest

from tests import desktop
from tests.helpers import FakeClock
from tray_app.i18n import set_language
from tray_app.paths import AppPaths
from tray_app.simulator import QwenSimulator


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every platform folder at a fresh temp dir and drop variables that would leak in."""
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith("QWEN_TRAY_") or name in (
            "HTTPS_PROXY",
            "HTTP_PROXY",
            "ALL_PROXY",
            "https_proxy",
            "http_proxy",
            "all_proxy",
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    # English unless a test asks for another language (the host's own locale must not leak in).
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    set_language(None)
    monkeypatch.setenv("HOME", str(home))
    for variable, folder in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_STATE_HOME", "state"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        (home / folder).mkdir()
        monkeypatch.setenv(variable, str(home / folder))
    # keyring's plain-file backend from keyrings.alt: a real backend, kept under XDG_DATA_HOME.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    # keyring picks its backend once per process; let each test pick afresh from its environment.
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    return home


@pytest.fixture
def app_paths(isolated_environment: Path) -> AppPaths:
    return AppPaths.for_profile()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[QwenSimulator]:
    """The loopback chat.qwen.ai on the test's fake clock."""
    with QwenSimulator(clock=clock) as simulator:
        yield simulator


@pytest.fixture
def live_server() -> Iterator[QwenSimulator]:
    """The loopback chat.qwen.ai on the real clock, for tests that run the CLI in subprocesses."""
    with QwenSimulator() as simulator:
        yield simulator


@pytest.fixture(scope="session")
def secret_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[desktop.SessionBus]:
    """A private session bus with gnome-keyring unlocked on it: a real Secret Service."""
    desktop.require(desktop.SessionBus, desktop.GnomeKeyring)
    workdir = tmp_path_factory.mktemp("secret-service")
    with desktop.SessionBus(workdir) as bus, desktop.GnomeKeyring(bus, workdir):
        yield bus


@pytest.fixture
def use_secret_service(secret_service: desktop.SessionBus, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Route keyring (in this process and in children given os.environ) to the real Secret Service."""
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", secret_service.address)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyring")
    return dict(os.environ)
