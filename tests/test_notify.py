"""Notifications against real services: dunst on a private D-Bus and Xvfb, plus a bus with no server.

dunst gets a dunstrc that prints the urgency it assigned in front of each message, so its history
(``dunstctl history``, closed notifications only) shows how dunst itself classified ours.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests import desktop
from tests.desktop import Dunst, SessionBus, Xvfb
from tests.helpers import run, wait_for
from tray_app import notify
from tray_app.notify import (
    DbusNotifier,
    FallbackNotifier,
    LogNotifier,
    NotifyError,
    NotifySendNotifier,
    OsascriptNotifier,
    PlyerNotifier,
    clean_text,
    default_notifier,
)

DEADLINE = 5.0
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6InUxIiwiZXhwIjoxODAwMDAwMDAwfQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
DUNSTRC = """\
[global]
    idle_threshold = 0
    markup = full
[urgency_low]
    format = "urgency=low %s: %b"
[urgency_normal]
    format = "urgency=normal %s: %b"
[urgency_critical]
    format = "urgency=critical %s: %b"
"""


# -- helpers ---------------------------------------------------------------------------------------------


def history(env: dict[str, str]) -> list[dict[str, Any]]:
    """dunst's closed notifications, newest first, as plain {field: value} dicts."""
    entries = json.loads(run(["dunstctl", "history"], env).stdout)["data"][0]
    return [{key: field["data"] for key, field in entry.items()} for entry in entries]


def find_in_history(env: dict[str, str], summary: str, *, close_all: bool = True) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        if close_all:  # history lists only closed notifications; one just sent may still be queued
            run(["dunstctl", "close-all"], env)
        return next((entry for entry in history(env) if entry["summary"] == summary), None)

    result: dict[str, Any] = wait_for(found, f"{summary!r} in dunst's history")
    return result


def displayed(env: dict[str, str]) -> int:
    return int(run(["dunstctl", "count", "displayed"], env).stdout)


@contextlib.contextmanager
def monitor(env: dict[str, str], log: Path) -> Iterator[Callable[[], str]]:
    """dbus-monitor on the Notifications interface; yields a function that reads what it printed so far."""
    desktop.require("dbus-monitor")
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["dbus-monitor", "--session", f"interface='{notify.NOTIFICATIONS_NAME}'"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            # It prints NameLost for itself once it has become a monitor.
            wait_for(lambda: "member=NameLost" in log.read_text(), "dbus-monitor to start")
            yield log.read_text
        finally:
            proc.terminate()
            proc.wait(timeout=DEADLINE)


def replaces_ids(monitor_output: str) -> list[int]:
    """The replaces_id argument of every Notify call from qwen-tray in dbus-monitor's output."""
    return [
        int(found) for found in re.findall(r'member=Notify\n\s+string "qwen-tray"\n\s+uint32 (\d+)\n', monitor_output)
    ]


# -- services --------------------------------------------------------------------------------------------


@dataclass
class Desktop:
    bus: SessionBus
    dunst: Dunst
    empty_bus: SessionBus  # a bus on which nobody owns org.freedesktop.Notifications
    xvfb: Xvfb


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desktop]:
    desktop.require(SessionBus, Xvfb, Dunst, "dunstctl", "notify-send")
    workdir = tmp_path_factory.mktemp("notify-desktop")
    empty_dir = tmp_path_factory.mktemp("notify-empty-bus")
    bus = SessionBus(workdir)
    dunstrc = Path(bus.dirs["XDG_CONFIG_HOME"]) / "dunst" / "dunstrc"
    dunstrc.parent.mkdir(parents=True)
    dunstrc.write_text(DUNSTRC)
    with bus, Xvfb(workdir=workdir) as xvfb, Dunst(bus, xvfb) as dunst, SessionBus(empty_dir) as empty_bus:
        started: list[desktop.Service] = [bus, xvfb, dunst, empty_bus]
        yield Desktop(bus=bus, dunst=dunst, empty_bus=empty_bus, xvfb=xvfb)
    assert [pid for service in started for pid in service.pids if desktop.pid_alive(pid)] == []
    assert desktop.stray_processes(*started) == []


@pytest.fixture
def dunst_env(services: Desktop, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process (and children) pointed at the bus with dunst; nothing left on screen from other tests."""
    desktop.apply_env(monkeypatch, services.dunst)
    env = desktop.env_for(services.dunst)
    run(["dunstctl", "close-all"], env)
    return env


@pytest.fixture
def no_server_env(services: Desktop, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process pointed at a live session bus on which no notification server runs."""
    desktop.apply_env(monkeypatch, services.empty_bus)
    return desktop.env_for(services.empty_bus)


# -- DbusNotifier against dunst --------------------------------------------------------------------------


def test_dbus_delivers_to_dunst(dunst_env: dict[str, str]) -> None:
    DbusNotifier().notify("dbus delivers", "Token refreshed; good until 2027-01-22 08:00 UTC.")
    entry = find_in_history(dunst_env, "dbus delivers")
    assert entry["body"] == "Token refreshed; good until 2027-01-22 08:00 UTC."
    assert entry["appname"] == "qwen-tray"
    assert entry["message"] == "urgency=normal dbus delivers: Token refreshed; good until 2027-01-22 08:00 UTC."
    assert entry["timeout"] == 10_000_000  # microseconds: our 10 s, not 0 ("never expires")


def test_urgent_is_critical_in_dunst(dunst_env: dict[str, str]) -> None:
    DbusNotifier().notify("dbus urgent", "Token rejected: paste a new one.", urgent=True)
    assert find_in_history(dunst_env, "dbus urgent")["message"].startswith("urgency=critical ")


def test_dbus_notification_expires_by_itself(dunst_env: dict[str, str]) -> None:
    started = time.monotonic()
    DbusNotifier(expire_timeout_ms=500).notify("dbus expires", "gone in half a second")
    entry = find_in_history(dunst_env, "dbus expires", close_all=False)
    elapsed = time.monotonic() - started
    assert entry["timeout"] == 500_000
    assert 0.4 <= elapsed < 3, elapsed


def test_second_notification_replaces_the_first(dunst_env: dict[str, str], tmp_path: Path) -> None:
    notifier = DbusNotifier()
    with monitor(dunst_env, tmp_path / "monitor.txt") as output:
        notifier.notify("dbus replace 1", "first")
        first_id = notifier.last_id
        notifier.notify("dbus replace 2", "second")
        sent = wait_for(
            lambda: replaces_ids(output()) if len(replaces_ids(output())) == 2 else None, "two Notify calls"
        )
    assert first_id > 0
    assert sent == [0, first_id]
    assert notifier.last_id == first_id  # dunst honoured it: the replacement keeps the id
    wait_for(lambda: displayed(dunst_env) == 1, "one notification on screen")
    assert int(run(["dunstctl", "count", "waiting"], dunst_env).stdout) == 0
    # The replaced notification never closes, so it never reaches the history.
    assert find_in_history(dunst_env, "dbus replace 2")["id"] == first_id
    assert all(entry["summary"] != "dbus replace 1" for entry in history(dunst_env))


def test_new_server_instance_gets_no_stale_replaces_id(
    services: Desktop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids restart with the server: an id from the previous dunst must not replace someone else's notification."""
    bus = SessionBus(tmp_path)
    bus.start()
    try:
        desktop.apply_env(monkeypatch, bus)
        env = desktop.env_for(bus)
        notifier = DbusNotifier()
        with monitor(env, tmp_path / "monitor.txt") as output:
            with Dunst(bus, services.xvfb):
                notifier.notify("first server", "one")
            with Dunst(bus, services.xvfb):
                notifier.notify("second server", "two")
                notifier.notify("second server again", "three")
            sent = wait_for(lambda: replaces_ids(output()) if len(replaces_ids(output())) == 3 else None, "three calls")
        assert sent == [0, 0, notifier.last_id]
    finally:
        bus.stop()


def test_token_and_markup_arrive_cleaned(dunst_env: dict[str, str], services: Desktop) -> None:
    title = f"dbus redacts {TOKEN}"
    body = f"Refresh failed for\n\n  {TOKEN}:\tserver said <html> & gave up. " + "x" * 400
    DbusNotifier().notify(title, body)
    entry = find_in_history(dunst_env, "dbus redacts [token]")
    assert TOKEN not in json.dumps(entry)
    # One paragraph, capped, and escaped because dunst announces body-markup.
    assert entry["body"].startswith("Refresh failed for [token]: server said &lt;html&gt; &amp; gave up. xxx")
    assert entry["body"].endswith("x…")
    assert len(entry["body"].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")) == notify.BODY_MAX
    assert "Unable to parse markup" not in (services.bus.workdir / "dunst.log").read_text()


# -- NotifySendNotifier ----------------------------------------------------------------------------------


def test_notify_send_delivers_to_dunst(dunst_env: dict[str, str]) -> None:
    NotifySendNotifier().notify("notify-send delivers", f"critical, token {TOKEN}", urgent=True)
    entry = find_in_history(dunst_env, "notify-send delivers")
    assert entry["appname"] == "qwen-tray"
    assert entry["body"] == "critical, token [token]"
    assert entry["message"].startswith("urgency=critical ")
    assert entry["timeout"] == 10_000_000


def test_notify_send_fails_quickly_without_a_server(no_server_env: dict[str, str]) -> None:
    started = time.monotonic()
    with pytest.raises(NotifyError, match=r"notify-send exited with status \d+: .*org\.freedesktop\.Notifications"):
        NotifySendNotifier().notify("nobody listens", "body")
    assert time.monotonic() - started < DEADLINE


def test_notify_send_missing_is_a_notify_error(tmp_path: Path) -> None:
    with pytest.raises(NotifyError, match="is not installed"):
        NotifySendNotifier(executable=str(tmp_path / "no-notify-send")).notify("t", "b")


# -- DbusNotifier failures -------------------------------------------------------------------------------


def test_dbus_fails_quickly_without_a_server(no_server_env: dict[str, str]) -> None:
    notifier = DbusNotifier()
    started = time.monotonic()
    with pytest.raises(NotifyError, match=r"no notification server on the session bus \(.*ServiceUnknown\)"):
        notifier.notify("nobody listens", "body")
    assert time.monotonic() - started < 1.0
    assert notifier.last_id == 0


def test_dbus_fails_without_a_bus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    with pytest.raises(NotifyError, match="FileNotFoundError"):
        DbusNotifier().notify("t", "b")
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(NotifyError, match="DBUS_SESSION_BUS_ADDRESS is not set"):
        DbusNotifier().notify("t", "b")


def test_dbus_conversation_is_bounded_by_one_deadline(tmp_path: Path) -> None:
    """A bus that authenticates us and then never answers Hello: jeepney's blocking connection would hang."""
    path = tmp_path / "mute-bus"
    stop = threading.Event()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                received = b""
                while b"\r\n" not in received:
                    received += conn.recv(1024)
                conn.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n")
                stop.wait(DEADLINE)  # read BEGIN and Hello, answer nothing

        thread = threading.Thread(target=serve, name="mute-bus")
        thread.start()
        try:
            started = time.monotonic()
            with pytest.raises(NotifyError, match=r"no answer on the session bus within 0\.3 s"):
                DbusNotifier(call_timeout=0.3, bus_address=f"unix:path={path}").notify("t", "b")
            assert time.monotonic() - started < 1.0
        finally:
            stop.set()
            thread.join(DEADLINE)
    gc.collect()  # a leaked socket would raise its ResourceWarning here (filterwarnings = error)


def test_expire_timeout_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        DbusNotifier(expire_timeout_ms=0)
    with pytest.raises(ValueError, match="positive"):
        NotifySendNotifier(expire_timeout_ms=-1)


# -- the fallback chain ----------------------------------------------------------------------------------


def test_fallback_moves_on_and_warns_once(
    services: Desktop, dunst_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    broken = DbusNotifier(bus_address=services.empty_bus.address)
    chain = FallbackNotifier([broken, NotifySendNotifier(), LogNotifier()])
    with caplog.at_level(logging.DEBUG, logger="tray_app.notify"):
        assert chain.notify("fallback 1", "delivered by notify-send") == "notify-send"
        assert chain.notify("fallback 2", "again") == "notify-send"
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == [
        "Notifications via dbus failed (no notification server on the session bus "
        "(org.freedesktop.DBus.Error.ServiceUnknown)); trying notify-send"
    ]
    assert find_in_history(dunst_env, "fallback 1")["appname"] == "qwen-tray"

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tray_app.notify"):
        broken.bus_address = services.bus.address  # the server is back
        assert chain.notify("fallback 3", "dbus again") == "dbus"
    assert [record.getMessage() for record in caplog.records] == ["Notifications via dbus work again"]


def test_every_backend_failing_ends_in_the_log(no_server_env: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    chain = default_notifier("linux")
    with caplog.at_level(logging.INFO, logger="tray_app.notify"):
        assert chain.notify("all down", f"token {TOKEN}\nnext line") == "log"
    messages = [(record.levelname, record.getMessage()) for record in caplog.records]
    assert [level for level, _ in messages] == ["WARNING", "WARNING", "INFO"]
    assert messages[0][1].startswith("Notifications via dbus failed (no notification server")
    assert messages[0][1].endswith("; trying notify-send")
    assert messages[1][1].startswith("Notifications via notify-send failed (notify-send exited with status")
    assert messages[1][1].endswith("; trying log")
    assert messages[2][1] == "Notification: all down: token [token] next line"


class _Exploding:
    name = "exploding"

    def notify(self, title: str, body: str, *, urgent: bool = False) -> None:
        raise RuntimeError(f"bug while showing {title}")


class _Failing:
    name = "failing"

    def notify(self, title: str, body: str, *, urgent: bool = False) -> None:
        raise NotifyError("always")


def test_fallback_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    chain = FallbackNotifier([_Exploding(), LogNotifier()])
    with caplog.at_level(logging.INFO, logger="tray_app.notify"):
        assert chain.notify("boom", "body", urgent=True) == "log"
    assert caplog.records[0].getMessage() == (
        "Notifications via exploding failed (unexpected RuntimeError: bug while showing boom); trying log"
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tray_app.notify"):
        assert FallbackNotifier([_Failing()]).notify(f"lost {TOKEN}", "body") == ""
    assert [record.getMessage() for record in caplog.records] == [
        "Notifications via failing failed (always); trying nothing else",
        "Notification not shown (every backend failed): lost [token]: body",
    ]


@pytest.mark.parametrize(
    ("platform", "names"),
    [
        ("linux", ("dbus", "notify-send", "log")),
        ("freebsd14", ("dbus", "notify-send", "log")),
        ("darwin", ("plyer", "osascript", "log")),
        ("win32", ("plyer", "log")),
    ],
)
def test_default_chains(platform: str, names: tuple[str, ...]) -> None:
    assert default_notifier(platform, icon_path="/x/icon.png").names == names


def test_linux_never_imports_plyer_and_imports_jeepney_only_to_notify(dunst_env: dict[str, str]) -> None:
    code = textwrap.dedent(
        """
        import json, sys
        from tray_app.notify import default_notifier
        jeepney_at_import = "jeepney" in sys.modules
        chain = default_notifier()
        delivered = chain.notify("no plyer here", "from a subprocess")
        print(json.dumps({
            "names": chain.names,
            "delivered": delivered,
            "jeepney_at_import": jeepney_at_import,
            "jeepney_after": "jeepney" in sys.modules,
            "plyer": sorted(name for name in sys.modules if name.split(".")[0] == "plyer"),
        }))
        """
    )
    out = json.loads(run([sys.executable, "-c", code], dunst_env).stdout)
    assert out == {
        "names": ["dbus", "notify-send", "log"],
        "delivered": "dbus",
        "jeepney_at_import": False,
        "jeepney_after": True,
        "plyer": [],
    }
    assert find_in_history(dunst_env, "no plyer here")["appname"] == "qwen-tray"


# -- macOS and Windows backends, as far as Linux can check them -------------------------------------------


def test_osascript_gets_the_text_as_argv_only(tmp_path: Path) -> None:
    fake = tmp_path / "osascript"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/argv\ncat > {tmp_path}/script\n')
    fake.chmod(0o755)
    title = '-e "; do shell script "touch /tmp/pwned" --'
    OsascriptNotifier(executable=str(fake)).notify(title, f"body {TOKEN}")
    assert (tmp_path / "script").read_text() == notify.OSASCRIPT_SCRIPT
    assert (tmp_path / "argv").read_text().splitlines() == ["-", title, "body [token]"]

    fake.write_text("#!/bin/sh\necho 'execution error: Not authorised' >&2\nexit 1\n")
    with pytest.raises(NotifyError, match="osascript exited with status 1: execution error: Not authorised"):
        OsascriptNotifier(executable=str(fake)).notify("t", "b")
    with pytest.raises(NotifyError, match="osascript is not installed"):
        OsascriptNotifier(executable=str(tmp_path / "missing")).notify("t", "b")


def test_plyer_notifier_passes_clean_text_and_wraps_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    fake_plyer = SimpleNamespace(notification=SimpleNamespace(notify=lambda **kwargs: calls.append(kwargs)))
    monkeypatch.setitem(sys.modules, "plyer", fake_plyer)

    PlyerNotifier("/x/icon.ico", platform="win32").notify("T" * 70 + TOKEN, "é" * 100 + "😀" * 200)
    (sent,) = calls
    assert sent["app_name"] == "qwen-tray"
    assert sent["app_icon"] == "/x/icon.ico"
    assert sent["timeout"] == 10
    # A Windows balloon holds 63 + 255 UTF-16 units; the emoji take two each.
    assert len(sent["title"].encode("utf-16-le")) // 2 <= 63
    assert len(sent["message"].encode("utf-16-le")) // 2 <= 255
    assert sent["message"].endswith("…")

    def explode(**kwargs: Any) -> None:
        raise NotImplementedError

    monkeypatch.setattr(fake_plyer.notification, "notify", explode)
    with pytest.raises(NotifyError, match="plyer failed: NotImplementedError"):
        PlyerNotifier(platform="win32").notify("t", "b")


def test_plyer_on_macos_without_pyobjus_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "plyer", None)  # importing it would fail the test
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *args: None)
    with pytest.raises(NotifyError, match="pyobjus"):
        PlyerNotifier(platform="darwin").notify("t", "b")


# -- text and the log backend ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("  Token\n\nrefreshed\t ok  ", 100, "Token refreshed ok"),
        (f"Bearer {TOKEN}", 100, "Bearer [token]"),
        ("nul\x00and\x1bescape\x7f", 100, "nul and escape"),
        ("lone \udc80 surrogate", 100, "lone ? surrogate"),
        ("abcdefghij", 5, "abcd…"),
        (f"see {TOKEN}", 20, "see [token]"),  # redacted before the cut: no partial token
    ],
)
def test_clean_text(text: str, limit: int, expected: str) -> None:
    assert clean_text(text, limit) == expected


def test_log_notifier_logs_at_info(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tray_app.notify"):
        LogNotifier().notify("", f"body with {TOKEN}")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("INFO", "Notification: qwen-tray: body with [token]")
    ]
