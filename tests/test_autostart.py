"""Start at login: the real XDG entry on this machine (and that it launches the installed qwen-tray), the macOS
launch agent on the file system, the Windows Run key against a dict-backed registry, all renderers by content."""

from __future__ import annotations

import configparser
import plistlib
import shlex
import stat
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from tray_app import __version__
from tray_app.autostart import (
    RUN_KEY,
    STARTUP_APPROVED_KEY,
    TRAY_ARGS,
    Autostart,
    AutostartError,
    EntryState,
    LaunchAgent,
    LaunchCommand,
    WindowsRunKey,
    WinRegistry,
    XdgAutostart,
    autostart_for,
    desktop_entry_state,
    launch_agent_plist,
    launch_agent_state,
    launch_command,
    run_key_state,
    windows_run_value,
    xdg_config_home,
    xdg_desktop_entry,
)
from tray_app.errors import QwenTrayError

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="runs the real XDG entry")


def read_desktop_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # desktop keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def unescape_desktop_string(value: str) -> str:
    """The spec's string escapes (applied before the Exec quoting rules)."""
    escapes = {"\\": "\\", "s": " ", "n": "\n", "t": "\t", "r": "\r"}
    out, chars = [], iter(value)
    for char in chars:
        out.append(escapes[next(chars)] if char == "\\" else char)
    return "".join(out)


def exec_argv_by_sh(exec_value: str) -> list[str]:
    """Split an Exec value as the spec defines it: string escapes, ``%%``, then POSIX shell double-quote rules."""
    command = unescape_desktop_string(exec_value).replace("%%", "%")
    printed = subprocess.run(
        ["sh", "-c", 'printf "%s\\000" ' + command], capture_output=True, check=True, timeout=10
    ).stdout
    return printed.decode().split("\0")[:-1]


def exec_argv_by_glib(entry_text: str) -> list[str] | None:
    """Split an Exec value as GNOME does (GKeyFile, then g_shell_parse_argv); None without PyGObject."""
    try:
        import gi

        gi.require_version("GLib", "2.0")
        from gi.repository import GLib
    except (ImportError, ValueError):
        return None
    key_file = GLib.KeyFile()
    data = entry_text.encode()
    key_file.load_from_data(entry_text, len(data), GLib.KeyFileFlags.NONE)
    exec_line = key_file.get_string("Desktop Entry", "Exec").replace("%%", "%")
    ok, argv = GLib.shell_parse_argv(exec_line)
    assert ok
    return list(argv)


# --- Linux, for real ------------------------------------------------------------------------------------------


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Autostart:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return autostart_for("linux")


@linux_only
def test_enable_writes_an_entry_that_launches_the_installed_qwen_tray(xdg: Autostart, tmp_path: Path) -> None:
    path = xdg.enable()

    assert path == tmp_path / "config" / "autostart" / "qwen-tray.desktop"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    entry = read_desktop_entry(path)
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Qwen token tray"
    assert entry["Terminal"] == "false"
    assert entry["X-GNOME-Autostart-enabled"] == "true"
    assert entry["X-Qwen-Tray"] == "1"
    assert "Hidden" not in entry
    argv = shlex.split(entry["Exec"])
    expected = launch_command()
    assert tuple(argv) == expected.argv
    assert argv == [str(Path(sys.executable).parent / "qwen-tray"), "tray", "--wait-for-tray", "60"]
    assert entry["TryExec"] == argv[0]
    glib_argv = exec_argv_by_glib(path.read_text(encoding="utf-8"))
    assert glib_argv in (None, argv)

    # The entry launches the installed qwen-tray: the same argv, asked for its version instead of the tray.
    argv[argv.index("tray")] = "--version"
    launched = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True)
    assert launched.stdout.strip() == f"qwen-tray {__version__}"

    assert xdg.is_enabled()
    assert str(path) in xdg.describe()


@linux_only
def test_disable_removes_the_entry_once(xdg: Autostart, tmp_path: Path) -> None:
    path = xdg.enable()

    assert xdg.disable() is True
    assert not path.exists()
    assert not xdg.is_enabled()
    assert xdg.disable() is False


@linux_only
def test_enable_twice_is_idempotent(xdg: Autostart) -> None:
    path = xdg.enable()
    first = path.read_text(encoding="utf-8")

    assert xdg.enable() == path
    assert path.read_text(encoding="utf-8") == first
    assert [child.name for child in path.parent.iterdir()] == ["qwen-tray.desktop"]  # no temp files left behind
    assert xdg.is_enabled()


@linux_only
def test_a_foreign_entry_is_neither_reported_nor_removed_nor_overwritten(xdg: Autostart, tmp_path: Path) -> None:
    path = tmp_path / "config" / "autostart" / "qwen-tray.desktop"
    path.parent.mkdir(parents=True)
    foreign = "[Desktop Entry]\nType=Application\nName=Mine\nExec=/usr/local/bin/my-qwen-tray\n"
    path.write_text(foreign, encoding="utf-8")

    assert not xdg.is_enabled()
    assert xdg.disable() is False
    with pytest.raises(AutostartError, match="not written by qwen-tray"):
        xdg.enable()
    assert path.read_text(encoding="utf-8") == foreign


@linux_only
@pytest.mark.parametrize("switch_off", ["Hidden=true", "X-GNOME-Autostart-enabled=false"])
def test_an_entry_switched_off_in_the_desktop_settings_is_disabled(xdg: Autostart, switch_off: str) -> None:
    path = xdg.enable()
    text = path.read_text(encoding="utf-8").replace("X-GNOME-Autostart-enabled=true\n", "")
    path.write_text(text + switch_off + "\n", encoding="utf-8")

    assert not xdg.is_enabled()
    xdg.enable()  # asking again switches it back on
    assert xdg.is_enabled()
    assert xdg.disable() is True  # and a switched-off entry of ours is still ours to remove
    xdg.enable()
    path.write_text(path.read_text(encoding="utf-8") + switch_off + "\n", encoding="utf-8")
    assert xdg.disable() is True


@linux_only
def test_a_write_failure_is_one_line_naming_the_path(xdg: Autostart, tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "autostart").write_text("not a folder", encoding="utf-8")

    with pytest.raises(AutostartError) as caught:
        xdg.enable()
    assert isinstance(caught.value, QwenTrayError)
    assert caught.value.kind == "autostart"
    assert str(tmp_path / "config" / "autostart" / "qwen-tray.desktop") in str(caught.value)
    assert "\n" not in str(caught.value)


def test_xdg_config_home_follows_the_spec(tmp_path: Path) -> None:
    assert xdg_config_home({"XDG_CONFIG_HOME": "/x/conf"}, tmp_path) == Path("/x/conf")
    assert xdg_config_home({}, tmp_path) == tmp_path / ".config"
    assert xdg_config_home({"XDG_CONFIG_HOME": "  "}, tmp_path) == tmp_path / ".config"
    assert xdg_config_home({"XDG_CONFIG_HOME": "relative/conf"}, tmp_path) == tmp_path / ".config"
    adapter = autostart_for("freebsd14", home=tmp_path, env={})
    assert isinstance(adapter, XdgAutostart)
    assert adapter.path == tmp_path / ".config" / "autostart" / "qwen-tray.desktop"


@pytest.mark.parametrize(
    "program",
    [
        "/opt/My Apps/$HOME/qwen-tray",
        '/opt/we`ird "quoted"/back\\slash/qwen-tray',
        "/opt/100% it's/(x);y|z&~*?#<>/qwen-tray",
        "/opt/tab\there/qwen-tray",
    ],
)
def test_exec_quoting_round_trips(program: str, tmp_path: Path) -> None:
    command = LaunchCommand((program, "", "50%", *TRAY_ARGS))
    text = xdg_desktop_entry(command)
    path = tmp_path / "entry.desktop"
    path.write_text(text, encoding="utf-8")
    exec_value = read_desktop_entry(path)["Exec"]

    assert exec_argv_by_sh(exec_value) == list(command.argv)
    assert exec_argv_by_glib(text) in (None, list(command.argv))
    assert unescape_desktop_string(read_desktop_entry(path)["TryExec"]) == program


def test_simple_exec_lines_split_with_shlex() -> None:
    command = LaunchCommand(("/opt/My Apps/qwen-tray", *TRAY_ARGS))
    exec_line = next(line for line in xdg_desktop_entry(command).splitlines() if line.startswith("Exec="))
    assert exec_line == 'Exec="/opt/My Apps/qwen-tray" tray --wait-for-tray 60'
    assert tuple(shlex.split(exec_line.removeprefix("Exec="))) == command.argv


@pytest.mark.parametrize(
    ("text", "state"),
    [
        (None, EntryState.ABSENT),
        ("[Desktop Entry]\nExec=qwen-tray tray\n", EntryState.FOREIGN),
        ("[Desktop Entry]\nX-Qwen-Tray=1\n", EntryState.ENABLED),
        ("# comment\n[Desktop Entry]\nX-Qwen-Tray = 1\nHidden=false\n", EntryState.ENABLED),
        ("[Desktop Entry]\nX-Qwen-Tray=1\nHidden=true\n", EntryState.DISABLED),
        ("[Desktop Entry]\nX-Qwen-Tray=1\nX-GNOME-Autostart-enabled=false\n", EntryState.DISABLED),
        ("[Desktop Entry]\nName=x\n[Desktop Action y]\nX-Qwen-Tray=1\n", EntryState.FOREIGN),
        ("[Desktop Entry]\nX-Qwen-Tray=1\n[Desktop Action y]\nHidden=true\n", EntryState.ENABLED),
    ],
)
def test_desktop_entry_state(text: str | None, state: EntryState) -> None:
    assert desktop_entry_state(text) is state


# --- macOS, by content and on the file system -----------------------------------------------------------------


def test_launch_agent_plist_content() -> None:
    command = LaunchCommand(("/Applications/Qwen Tray.app/Contents/MacOS/qwen-tray", *TRAY_ARGS))
    assert plistlib.loads(launch_agent_plist(command)) == {
        "Label": "io.github.qwen-tray",
        "ProgramArguments": list(command.argv),
        "RunAtLoad": True,
        "ProcessType": "Interactive",
        "KeepAlive": False,
    }


def test_launch_agent_round_trip(tmp_path: Path) -> None:
    agent = autostart_for("darwin", home=tmp_path)
    assert isinstance(agent, LaunchAgent)
    assert not agent.is_enabled()

    path = agent.enable()
    assert path == tmp_path / "Library" / "LaunchAgents" / "io.github.qwen-tray.plist"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert plistlib.loads(path.read_bytes())["ProgramArguments"] == list(launch_command("darwin").argv)
    assert agent.is_enabled()
    assert agent.enable() == path
    assert str(path) in agent.describe()

    assert agent.disable() is True
    assert not path.exists()
    assert not agent.is_enabled()
    assert agent.disable() is False


@pytest.mark.parametrize(
    ("data", "state"),
    [
        (None, EntryState.ABSENT),
        (b"not a plist", EntryState.FOREIGN),
        (b"<plist><dict><key>Label", EntryState.FOREIGN),
        (plistlib.dumps(["a list"]), EntryState.FOREIGN),
        (plistlib.dumps({"Label": "com.example.other"}), EntryState.FOREIGN),
        (plistlib.dumps({"Label": "io.github.qwen-tray"}), EntryState.ENABLED),
        (plistlib.dumps({"Label": "io.github.qwen-tray", "Disabled": True}), EntryState.DISABLED),
    ],
)
def test_launch_agent_state(data: bytes | None, state: EntryState) -> None:
    assert launch_agent_state(data) is state


def test_a_foreign_launch_agent_is_left_alone(tmp_path: Path) -> None:
    agent = LaunchAgent(tmp_path, LaunchCommand(("/x/qwen-tray", *TRAY_ARGS)))
    agent.path.parent.mkdir(parents=True)
    foreign = plistlib.dumps({"Label": "com.example.other", "ProgramArguments": ["/bin/true"]})
    agent.path.write_bytes(foreign)

    assert not agent.is_enabled()
    assert agent.disable() is False
    with pytest.raises(AutostartError):
        agent.enable()
    assert agent.path.read_bytes() == foreign


# --- Windows, by content and with a dict-backed registry ------------------------------------------------------


class FakeRegistry:
    """HKEY_CURRENT_USER as a dict of (key, value name) -> data."""

    def __init__(self, values: Mapping[tuple[str, str], object] | None = None) -> None:
        self.values = dict(values or {})
        self.fail: OSError | None = None

    def read(self, key: str, name: str) -> object:
        if self.fail:
            raise self.fail
        return self.values.get((key, name))

    def write_string(self, key: str, name: str, value: str) -> None:
        if self.fail:
            raise self.fail
        self.values[key, name] = value

    def delete(self, key: str, name: str) -> bool:
        if self.fail:
            raise self.fail
        return self.values.pop((key, name), None) is not None


GUI_EXE = r"C:\Program Files\Qwen Tray\Scripts\qwen-tray-gui.exe"


def test_windows_run_value_quotes_paths_with_spaces() -> None:
    command = LaunchCommand((GUI_EXE, *TRAY_ARGS))
    assert windows_run_value(command) == f'"{GUI_EXE}" tray --wait-for-tray 60'
    assert windows_run_value(LaunchCommand((r"C:\qt\qwen-tray.exe", 'a "b"'))) == r'C:\qt\qwen-tray.exe "a \"b\""'


def test_run_key_round_trip_touches_only_our_value() -> None:
    others = {
        (RUN_KEY, "OneDrive"): '"C:\\OneDrive.exe" /background',
        (STARTUP_APPROVED_KEY, "OneDrive"): b"\x03" + bytes(11),
    }
    registry = FakeRegistry(others)
    run_key = autostart_for("win32", registry=registry, command=LaunchCommand((GUI_EXE, *TRAY_ARGS)))
    assert isinstance(run_key, WindowsRunKey)
    assert not run_key.is_enabled()

    assert str(run_key.enable()) == r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run\qwen-tray"
    assert registry.values[RUN_KEY, "qwen-tray"] == f'"{GUI_EXE}" tray --wait-for-tray 60'
    assert run_key.is_enabled()
    run_key.enable()
    assert run_key.is_enabled()
    assert "Run\\qwen-tray" in run_key.describe()

    assert run_key.disable() is True
    assert not run_key.is_enabled()
    assert run_key.disable() is False
    assert registry.values == others


def test_run_key_disabled_in_task_manager() -> None:
    registry = FakeRegistry()
    run_key = WindowsRunKey(registry, LaunchCommand((GUI_EXE, *TRAY_ARGS)))
    run_key.enable()
    registry.values[STARTUP_APPROVED_KEY, "qwen-tray"] = b"\x03\x00\x00\x00" + bytes(8)

    assert not run_key.is_enabled()
    run_key.enable()  # asking again clears Task Manager's "disabled" mark, or Windows would still skip it
    assert run_key.is_enabled()
    assert (STARTUP_APPROVED_KEY, "qwen-tray") not in registry.values


@pytest.mark.parametrize(
    ("run_value", "approved", "state"),
    [
        (None, None, EntryState.ABSENT),
        ("qwen-tray.exe tray", None, EntryState.ENABLED),
        ("qwen-tray.exe tray", b"\x02" + bytes(11), EntryState.ENABLED),
        ("qwen-tray.exe tray", b"\x06" + bytes(11), EntryState.ENABLED),
        ("qwen-tray.exe tray", b"\x03" + bytes(11), EntryState.DISABLED),
        (12, None, EntryState.FOREIGN),
    ],
)
def test_run_key_state(run_value: object, approved: object, state: EntryState) -> None:
    assert run_key_state(run_value, approved) is state


def test_registry_errors_are_one_line_naming_the_value() -> None:
    registry = FakeRegistry()
    run_key = WindowsRunKey(registry, LaunchCommand((GUI_EXE, *TRAY_ARGS)))
    registry.fail = PermissionError(13, "Access is denied")

    with pytest.raises(AutostartError, match=r"HKCU\\Software\\.*\\Run\\qwen-tray: Access is denied"):
        run_key.enable()
    assert not run_key.is_enabled()


@pytest.mark.skipif(sys.platform == "win32", reason="the real registry is there")
def test_the_real_registry_says_it_needs_windows() -> None:
    with pytest.raises(AutostartError, match="only on Windows"):
        WinRegistry().read(RUN_KEY, "qwen-tray")


# --- what to launch -------------------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX venv layout")
def test_launch_command_finds_the_console_script_of_this_install() -> None:
    command = launch_command()
    expected = Path(sys.executable).parent / "qwen-tray"
    assert command.argv == (str(expected), "tray", "--wait-for-tray", "60")
    assert expected.is_file()


def test_a_frozen_build_launches_itself() -> None:
    assert launch_command(frozen=True).argv == (sys.executable, "tray", "--wait-for-tray", "60")
    assert launch_command("win32", frozen=True).argv[0] == sys.executable


def test_windows_prefers_the_gui_script(tmp_path: Path) -> None:
    (tmp_path / "qwen-tray.exe").write_bytes(b"MZ")
    assert launch_command("win32", executable_dir=tmp_path, frozen=False).argv[0] == str(tmp_path / "qwen-tray.exe")
    (tmp_path / "qwen-tray-gui.exe").write_bytes(b"MZ")
    command = launch_command("win32", executable_dir=tmp_path, frozen=False)
    assert command.argv == (str(tmp_path / "qwen-tray-gui.exe"), *TRAY_ARGS)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX executable bits")
def test_launch_command_falls_back_to_path_then_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty, on_path = tmp_path / "empty", tmp_path / "bin"
    empty.mkdir()
    on_path.mkdir()
    (empty / "qwen-tray").write_text("#!/bin/sh\n", encoding="utf-8")  # not executable: not a command
    monkeypatch.setenv("PATH", str(on_path))
    with pytest.raises(AutostartError, match="Cannot find the installed qwen-tray"):
        launch_command("linux", executable_dir=empty, frozen=False)

    script = on_path / "qwen-tray"
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    script.chmod(0o755)
    assert launch_command("linux", executable_dir=empty, frozen=False).argv[0] == str(script)
