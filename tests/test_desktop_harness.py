"""The desktop harness (tests/desktop.py) against the real services: bus, keyring, Xvfb, dunst."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import desktop
from tests.desktop import Dunst, GnomeKeyring, SessionBus, Xvfb
from tests.helpers import run, wait_for

DEADLINE = 5.0


def bounded(fn: Callable[[], Any], timeout: float = DEADLINE) -> Any:
    """Run ``fn`` in a thread: keyring calls can block forever on a locked or missing keyring."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"{fn!r} did not return within {timeout} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def assert_all_gone(services: list[desktop.Service]) -> None:
    pids = [pid for service in services for pid in service.pids]
    assert pids
    alive = [pid for pid in pids if desktop.pid_alive(pid)]
    assert alive == [], f"still alive after stop(): {alive}"
    assert desktop.stray_processes(*services) == []


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[SessionBus]:
    desktop.require(SessionBus)
    with SessionBus(tmp_path) as service:
        yield service
    assert_all_gone([service])


@pytest.fixture
def keyring_daemon(bus: SessionBus, tmp_path: Path) -> Iterator[GnomeKeyring]:
    desktop.require(GnomeKeyring)
    with GnomeKeyring(bus, tmp_path) as service:
        yield service
    assert_all_gone([service])


@pytest.fixture
def xvfb(tmp_path: Path) -> Iterator[Xvfb]:
    desktop.require(Xvfb)
    with Xvfb(workdir=tmp_path) as service:
        yield service
    assert_all_gone([service])


@pytest.fixture
def dunst(bus: SessionBus, xvfb: Xvfb) -> Iterator[Dunst]:
    desktop.require(Dunst)
    with Dunst(bus, xvfb) as service:
        yield service
    assert_all_gone([service])


def test_require_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    absent = "no-such-executable-for-desktop-harness"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=absent):
        desktop.require(SessionBus, absent)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=absent):
        desktop.require(absent)
    desktop.require("sh")  # present: neither skips nor fails


def test_missing_lists_dependencies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(desktop.shutil, "which", lambda name: None if name == "dbus-daemon" else f"/x/{name}")
    assert SessionBus.missing() == ["dbus-daemon"]
    assert GnomeKeyring.missing() == ["dbus-daemon"]
    assert Dunst.missing() == ["dbus-daemon"]
    assert Xvfb.missing() == []


def test_env_points_at_our_services_only(tmp_path: Path) -> None:
    bus, xvfb = SessionBus(tmp_path), Xvfb(7)  # not started: the environment is known up front
    base = {"PATH": "/bin", "WAYLAND_DISPLAY": "wayland-0", "GNOME_KEYRING_CONTROL": "/run/user/0/keyring"}
    env = desktop.env_for(bus, xvfb, base=base)
    assert env["PATH"] == "/bin"
    assert env["DISPLAY"] == ":7"
    assert env["DBUS_SESSION_BUS_ADDRESS"] == f"unix:path={tmp_path / 'bus'}"
    assert env["HOME"] == str(tmp_path / "home")
    assert "WAYLAND_DISPLAY" not in env
    assert "GNOME_KEYRING_CONTROL" not in env
    assert (tmp_path / "xdg-runtime").stat().st_mode & 0o777 == 0o700


class _IgnoresTerm(desktop.Service):
    executables = ("sh", "sleep")

    def _start(self) -> None:
        self._spawn(["sh", "-c", "trap '' TERM; exec sleep 30"], env={"PATH": "/usr/bin:/bin"}, log=None)
        # Once sh has exec'd sleep, the ignored SIGTERM is in place.
        self._wait_until(lambda: Path(f"/proc/{self.pid}/comm").read_text().strip() == "sleep", "exec", 5)


def test_stop_kills_what_ignores_sigterm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(desktop, "STOP_TIMEOUT", 0.2)
    with _IgnoresTerm() as service:
        proc = service._procs[0]
    assert proc.returncode == -9
    assert_all_gone([service])


def test_session_bus_answers_and_activates_nothing(bus: SessionBus) -> None:
    desktop.require("dbus-send")
    env = desktop.env_for(bus)
    assert env["DBUS_SESSION_BUS_ADDRESS"] == f"unix:path={bus.workdir / 'bus'}"
    assert env["NO_AT_BRIDGE"] == "1"
    assert all(env[name].startswith(str(bus.workdir)) for name in ("HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME"))

    listed = run(
        ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus", "/",
         "org.freedesktop.DBus.ListNames"],
        env,
    )  # fmt: skip
    assert '"org.freedesktop.DBus"' in listed.stdout
    activatable = run(
        ["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus", "/",
         "org.freedesktop.DBus.ListActivatableNames"],
        env,
    )  # fmt: skip
    # No service directories: nothing but the bus itself can be activated.
    assert activatable.stdout.count("string ") == 1
    assert bus.name_has_owner("org.freedesktop.DBus")
    assert not bus.name_has_owner(desktop.NOTIFICATIONS_NAME)


def test_gnome_keyring_round_trip(
    keyring_daemon: GnomeKeyring, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from keyring.backends import SecretService

    assert keyring_daemon.collection_path == "/org/freedesktop/secrets/collection/login"
    desktop.apply_env(monkeypatch, keyring_daemon)  # secretstorage reads the address when it connects
    backend = SecretService.Keyring()

    bounded(lambda: backend.set_password("qwen-tray-test", "alice", "s3cr\u00e9t"))
    assert bounded(lambda: backend.get_password("qwen-tray-test", "alice")) == "s3cr\u00e9t"
    bounded(lambda: backend.delete_password("qwen-tray-test", "alice"))
    assert bounded(lambda: backend.get_password("qwen-tray-test", "alice")) is None

    # The keyring lives in the test's directory, not in the real HOME.
    assert (tmp_path / "xdg-data" / "keyrings" / "login.keyring").is_file()


def test_xvfb_display_answers(xvfb: Xvfb) -> None:
    desktop.require("xdotool")
    geometry = run(["xdotool", "getdisplaygeometry"], desktop.env_for(xvfb))
    assert geometry.stdout.split() == ["1024", "768"]
    assert xvfb.socket_path.exists()


def test_two_xvfbs_pick_different_displays(tmp_path: Path) -> None:
    desktop.require(Xvfb)
    with Xvfb(workdir=tmp_path) as first, Xvfb(workdir=tmp_path) as second:
        assert first.display != second.display
        with pytest.raises(desktop.ServiceError), Xvfb(first.display_number, workdir=tmp_path):
            pass  # that display is taken: a fixed number is not silently replaced
    assert_all_gone([first, second])
    # Xvfb removed its lock files (another run may already have reused a number, with its own PID).
    for server in (first, second):
        lock = desktop.X11_LOCK_DIR / f".X{server.display_number}-lock"
        with contextlib.suppress(FileNotFoundError):
            assert int(lock.read_text()) not in server.pids


def test_dunst_receives_notify_send(dunst: Dunst, bus: SessionBus) -> None:
    desktop.require("notify-send", "dunstctl")
    assert bus.name_has_owner(desktop.NOTIFICATIONS_NAME)
    env = desktop.env_for(dunst)
    run(["notify-send", "--expire-time=60000", "desktop harness", "hello from the test"], env)

    def in_history() -> list[str]:
        # history lists only closed notifications; the one just sent may still be queued, so close again.
        run(["dunstctl", "close-all"], env)
        history = json.loads(run(["dunstctl", "history"], env).stdout)
        return [entry["summary"]["data"] for entry in history["data"][0]]

    assert "desktop harness" in wait_for(in_history, "the notification in dunst's history")


def test_stop_ends_exactly_the_started_processes(tmp_path: Path) -> None:
    desktop.require(SessionBus, GnomeKeyring, Xvfb, Dunst)
    bus = SessionBus(tmp_path).start()
    services: list[desktop.Service] = [bus]
    try:
        services.append(GnomeKeyring(bus, tmp_path).start())
        xvfb = Xvfb(workdir=tmp_path).start()
        services.append(xvfb)
        services.append(Dunst(bus, xvfb).start())
        assert all(service.running for service in services)
        # Each daemon is a session leader, and nothing else runs in those sessions.
        assert desktop.stray_processes(*services) == sorted(s.pid for s in services)
    finally:
        for service in reversed(services):
            service.stop()
    assert not any(service.running for service in services)
    assert_all_gone(services)
    for service in services:
        service.stop()  # idempotent
