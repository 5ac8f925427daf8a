"""Start qwen-tray's tray at login: one small interface, one adapter per platform.

    Autostart            enable() -> what it wrote, disable() -> removed?, is_enabled(), describe()
    ├── XdgAutostart     Linux/BSD: $XDG_CONFIG_HOME/autostart/qwen-tray.desktop
    ├── LaunchAgent      macOS: ~/Library/LaunchAgents/io.github.qwen-tray.plist (launchd reads it at next login)
    └── WindowsRunKey    Windows: HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run, value "qwen-tray"

What is written is rendered by pure functions (``xdg_desktop_entry``, ``launch_agent_plist``, ``windows_run_value``)
and what is found is judged by pure functions returning an :class:`EntryState`, so every platform is tested by
content on any machine. Each adapter removes only what it wrote: an entry without our mark is never touched.
``OSError`` from files or the registry becomes :class:`AutostartError` (kind "autostart"), one line naming where.
"""

from __future__ import annotations

import enum
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tray_app.errors import QwenTrayError
from tray_app.i18n import N_, tr
from tray_app.paths import APP_NAME
from tray_app.state import write_atomically

log = logging.getLogger(__name__)

#: At login the panel (and its tray) may come up after us: wait for it rather than fail.
TRAY_ARGS = ("tray", "--wait-for-tray", "60")

DESKTOP_FILE_NAME = f"{APP_NAME}.desktop"
#: Our mark in the desktop entry: only a file carrying it is ours to report on or remove.
DESKTOP_MARKER_KEY = "X-Qwen-Tray"

LAUNCH_AGENT_LABEL = "io.github.qwen-tray"

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
#: Where Task Manager / Settings > Startup apps record "disabled" for a Run value, without touching the value.
STARTUP_APPROVED_KEY = r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
RUN_VALUE_NAME = APP_NAME

#: Desktop Entry spec, "The Exec key": an argument holding any of these must be quoted.
_EXEC_RESERVED = frozenset(" \t\n\"'\\><~|&;$*?#`()")
#: ... and inside quotes these four are backslash-escaped.
_EXEC_QUOTE_ESCAPES = re.compile(r'(["`$\\])')


class AutostartError(QwenTrayError):
    """The login entry could not be written, removed or found."""

    kind = "autostart"


class EntryState(enum.Enum):
    """What sits where an adapter would write, as far as qwen-tray is concerned."""

    ABSENT = "absent"
    #: Something is there, but not ours (or unreadable): never report it as ours, never remove it.
    FOREIGN = "foreign"
    #: Ours, but the desktop's startup settings switched it off.
    DISABLED = "disabled"
    ENABLED = "enabled"

    @property
    def ours(self) -> bool:
        return self in (EntryState.DISABLED, EntryState.ENABLED)


@dataclass(frozen=True)
class LaunchCommand:
    """What runs at login: the installed qwen-tray and the tray's arguments."""

    argv: tuple[str, ...]


class Autostart(Protocol):
    """Start qwen-tray at login, or stop doing so."""

    def enable(self) -> Path:
        """Write the login entry; return where (a file, or a registry pseudo-path)."""
        ...

    def disable(self) -> bool:
        """Remove our login entry; False if there was none of ours."""
        ...

    def is_enabled(self) -> bool: ...

    def describe(self) -> str:
        """Where the entry lives, for messages."""
        ...


# --- what to launch -------------------------------------------------------------------------------------------


def launch_command(
    platform: str = sys.platform, *, executable_dir: Path | None = None, frozen: bool | None = None
) -> LaunchCommand:
    """The installed ``qwen-tray`` with the tray's arguments: an absolute path, since login has no venv on PATH.

    Frozen (PyInstaller) builds launch themselves. Otherwise the console script next to the running interpreter
    wins (it belongs to the install that is running now), then the install scheme's scripts folder, then PATH.
    On Windows ``qwen-tray-gui.exe`` comes first: it opens no console window.
    """
    if frozen is None:
        frozen = bool(getattr(sys, "frozen", False))
    if frozen:
        return LaunchCommand((sys.executable, *TRAY_ARGS))
    windows = platform == "win32"
    names = (f"{APP_NAME}-gui.exe", f"{APP_NAME}.exe") if windows else (APP_NAME,)
    folders = [executable_dir] if executable_dir is not None else _script_folders()
    for folder in folders:
        for name in names:
            candidate = folder / name
            if candidate.is_file() and (windows or os.access(candidate, os.X_OK)):
                return LaunchCommand((str(candidate.absolute()), *TRAY_ARGS))
    for name in (f"{APP_NAME}-gui", APP_NAME) if windows else (APP_NAME,):
        found = shutil.which(name)
        if found:
            return LaunchCommand((str(Path(found).absolute()), *TRAY_ARGS))
    where = ", ".join(str(folder) for folder in folders)
    raise AutostartError(
        tr(
            "Cannot find the installed {command} command (looked in {folders} and on PATH).",
            command=APP_NAME,
            folders=where,
        )
    )


def _script_folders() -> list[Path]:
    import sysconfig  # only when the autostart entry is written: not loaded by every tray start

    folders = [Path(sys.executable).parent]
    scripts = sysconfig.get_path("scripts")
    if scripts and Path(scripts) not in folders:
        folders.append(Path(scripts))
    return folders


# --- pure renderers and judges --------------------------------------------------------------------------------


def xdg_desktop_entry(command: LaunchCommand) -> str:
    """A desktop entry for an XDG autostart folder; ``X-Qwen-Tray=1`` marks it as ours."""
    lines = [
        "[Desktop Entry]",
        "Type=Application",
        "Version=1.5",
        "Name=Qwen token tray",
        "Comment=Keeps the chat.qwen.ai web token alive (written by qwen-tray)",
        f"Exec={desktop_exec(command.argv)}",
        # Uninstalled? Then the session skips the entry instead of failing to start it.
        f"TryExec={_escape_desktop_string(command.argv[0])}",
        "Icon=qwen-tray",
        "Terminal=false",
        "Categories=Utility;",
        "X-GNOME-Autostart-enabled=true",
        "X-GNOME-Autostart-Delay=5",
        f"{DESKTOP_MARKER_KEY}=1",
    ]
    return "\n".join(lines) + "\n"


def desktop_exec(argv: tuple[str, ...]) -> str:
    """The Exec value for ``argv``: quoted per argument, ``%`` doubled, then escaped as a string value.

    The spec applies the string escapes (``\\\\``) before the quoting rules, so a quoted ``$`` is
    written ``"\\\\$"``: GLib rejects the whole Exec line for a bare ``\\$``.
    """
    if not argv:
        raise ValueError("an Exec line needs a program")
    return _escape_desktop_string(" ".join(_quote_exec_arg(arg) for arg in argv))


def _quote_exec_arg(arg: str) -> str:
    if arg and not _EXEC_RESERVED.intersection(arg):
        return arg.replace("%", "%%")
    return ('"' + _EXEC_QUOTE_ESCAPES.sub(r"\\\1", arg) + '"').replace("%", "%%")


def _escape_desktop_string(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def desktop_entry_state(text: str | None) -> EntryState:
    """Ours if marked; switched off if the desktop set ``Hidden=true`` (KDE) or ``X-GNOME-Autostart-enabled=false``."""
    if text is None:
        return EntryState.ABSENT
    keys = _desktop_entry_keys(text)
    if keys.get(DESKTOP_MARKER_KEY) != "1":
        return EntryState.FOREIGN
    if keys.get("Hidden") == "true" or keys.get("X-GNOME-Autostart-enabled") == "false":
        return EntryState.DISABLED
    return EntryState.ENABLED


def _desktop_entry_keys(text: str) -> dict[str, str]:
    """The keys of the ``[Desktop Entry]`` group (first occurrence wins), as the spec's simple grammar reads them."""
    keys: dict[str, str] = {}
    in_group = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            in_group = line == "[Desktop Entry]"
        elif in_group and "=" in line:
            key, _, value = line.partition("=")
            keys.setdefault(key.strip(), value.strip())
    return keys


def launch_agent_plist(command: LaunchCommand) -> bytes:
    """A per-user launchd agent: run once at login, in the GUI session, never restarted by launchd."""
    agent = {
        "Label": LAUNCH_AGENT_LABEL,
        "ProgramArguments": list(command.argv),
        "RunAtLoad": True,
        "ProcessType": "Interactive",
        "KeepAlive": False,
    }
    import plistlib  # macOS only (with pyexpat): not loaded on Linux and Windows

    return plistlib.dumps(agent, fmt=plistlib.FMT_XML)


def launch_agent_state(data: bytes | None) -> EntryState:
    """Ours if its Label is ours; ``Disabled=true`` switches it off."""
    if data is None:
        return EntryState.ABSENT
    import plistlib  # macOS only (with pyexpat): not loaded on Linux and Windows
    from xml.parsers.expat import ExpatError

    try:
        agent = plistlib.loads(data)
    except (ValueError, ExpatError):
        return EntryState.FOREIGN
    if not isinstance(agent, dict) or agent.get("Label") != LAUNCH_AGENT_LABEL:
        return EntryState.FOREIGN
    return EntryState.DISABLED if agent.get("Disabled") is True else EntryState.ENABLED


def windows_run_value(command: LaunchCommand) -> str:
    """The Run value: a command line as Windows' CreateProcess splits it."""
    return subprocess.list2cmdline(command.argv)


def run_key_state(run_value: object, approved: object) -> EntryState:
    """Our Run value, unless StartupApproved says disabled (an odd first byte: 03..., where 02/06 mean enabled)."""
    if run_value is None:
        return EntryState.ABSENT
    if not isinstance(run_value, str):
        return EntryState.FOREIGN
    if isinstance(approved, bytes) and approved and approved[0] & 1:
        return EntryState.DISABLED
    return EntryState.ENABLED


# --- file-based adapters --------------------------------------------------------------------------------------


class _AutostartFile:
    """An entry that is one file of ours: written atomically 0644, removed only if it carries our mark."""

    #: The entry in words, for messages (English; :meth:`describe` translates it).
    wording = N_("the autostart file {path}")

    def __init__(self, path: Path, command: LaunchCommand | None) -> None:
        self.path = path
        self._command = command

    def _render(self, command: LaunchCommand) -> str:
        raise NotImplementedError

    def _judge(self, data: bytes | None) -> EntryState:
        raise NotImplementedError

    def _default_command(self) -> LaunchCommand:
        return launch_command()

    def state(self) -> EntryState:
        try:
            data = self.path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            data = None
        except OSError as exc:
            log.warning("Cannot read %s (%s); leaving it alone.", self.path, exc)
            return EntryState.FOREIGN
        return self._judge(data)

    def enable(self) -> Path:
        if self.state() is EntryState.FOREIGN:
            raise AutostartError(tr("{path} exists and was not written by qwen-tray: remove it first.", path=self.path))
        text = self._render(self._command or self._default_command())
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, text)
            self.path.chmod(0o644)
        except OSError as exc:
            raise AutostartError(
                tr("Cannot write {entry}: {error}", entry=self.describe(), error=exc.strerror or exc)
            ) from exc
        return self.path

    def disable(self) -> bool:
        if not self.state().ours:
            return False
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise AutostartError(
                tr("Cannot remove {entry}: {error}", entry=self.describe(), error=exc.strerror or exc)
            ) from exc
        return True

    def is_enabled(self) -> bool:
        return self.state() is EntryState.ENABLED

    def describe(self) -> str:
        return tr(self.wording, path=self.path)


class XdgAutostart(_AutostartFile):
    """Linux and the BSDs: the session starts every entry in ``$XDG_CONFIG_HOME/autostart`` at login."""

    wording = N_("the autostart entry {path}")

    def __init__(self, config_home: Path, command: LaunchCommand | None = None) -> None:
        super().__init__(config_home / "autostart" / DESKTOP_FILE_NAME, command)

    def _render(self, command: LaunchCommand) -> str:
        return xdg_desktop_entry(command)

    def _judge(self, data: bytes | None) -> EntryState:
        return desktop_entry_state(None if data is None else data.decode("utf-8", errors="replace"))


class LaunchAgent(_AutostartFile):
    """macOS: launchd loads ``~/Library/LaunchAgents`` at the next login; we never call launchctl."""

    wording = N_("the launch agent {path}")

    def __init__(self, home: Path, command: LaunchCommand | None = None) -> None:
        super().__init__(home / "Library" / "LaunchAgents" / f"{LAUNCH_AGENT_LABEL}.plist", command)

    def _render(self, command: LaunchCommand) -> str:
        return launch_agent_plist(command).decode("utf-8")

    def _judge(self, data: bytes | None) -> EntryState:
        return launch_agent_state(data)

    def _default_command(self) -> LaunchCommand:
        return launch_command("darwin")


def xdg_config_home(env: Mapping[str, str], home: Path) -> Path:
    """``$XDG_CONFIG_HOME`` if set to an absolute path (the spec says ignore others), else ``~/.config``."""
    value = env.get("XDG_CONFIG_HOME", "").strip()
    if value and Path(value).is_absolute():
        return Path(value)
    return home / ".config"


# --- the Windows registry -------------------------------------------------------------------------------------


class Registry(Protocol):
    """The HKEY_CURRENT_USER operations :class:`WindowsRunKey` needs: :class:`WinRegistry`, or a dict in tests."""

    def read(self, key: str, name: str) -> object:
        """The value's data, or None if the key or value does not exist."""
        ...

    def write_string(self, key: str, name: str, value: str) -> None:
        """Set a REG_SZ value, creating the key if needed."""
        ...

    def delete(self, key: str, name: str) -> bool:
        """Delete one value; False if it was not there."""
        ...


class WinRegistry:
    """HKEY_CURRENT_USER through ``winreg`` (imported only when used, so the module loads everywhere)."""

    def read(self, key: str, name: str) -> object:
        if sys.platform == "win32":
            import winreg

            try:
                with winreg.OpenKey(winreg.HKEY_CURRENT_USER, key) as handle:
                    value: object = winreg.QueryValueEx(handle, name)[0]
            except FileNotFoundError:
                return None
            return value
        raise _not_windows()

    def write_string(self, key: str, name: str, value: str) -> None:
        if sys.platform == "win32":
            import winreg

            with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, key, 0, winreg.KEY_SET_VALUE) as handle:
                winreg.SetValueEx(handle, name, 0, winreg.REG_SZ, value)
            return
        raise _not_windows()

    def delete(self, key: str, name: str) -> bool:
        if sys.platform == "win32":
            import winreg

            try:
                with winreg.OpenKey(winreg.HKEY_CURRENT_USER, key, 0, winreg.KEY_SET_VALUE) as handle:
                    winreg.DeleteValue(handle, name)
            except FileNotFoundError:
                return False
            return True
        raise _not_windows()


def _not_windows() -> AutostartError:
    return AutostartError(tr("The Windows registry exists only on Windows."))


class WindowsRunKey:
    """Windows: the ``qwen-tray`` value of the current user's Run key."""

    def __init__(self, registry: Registry | None = None, command: LaunchCommand | None = None) -> None:
        self.registry: Registry = registry if registry is not None else WinRegistry()
        self._command = command
        self.path = Path(f"HKCU\\{RUN_KEY}\\{RUN_VALUE_NAME}")

    def state(self) -> EntryState:
        try:
            return run_key_state(
                self.registry.read(RUN_KEY, RUN_VALUE_NAME), self.registry.read(STARTUP_APPROVED_KEY, RUN_VALUE_NAME)
            )
        except OSError as exc:
            log.warning("Cannot read %s (%s).", self.path, exc)
            return EntryState.FOREIGN

    def enable(self) -> Path:
        """Write the Run value; also drop a Task Manager "disabled" mark for it, or Windows would still skip it."""
        value = windows_run_value(self._command or launch_command("win32"))
        try:
            self.registry.write_string(RUN_KEY, RUN_VALUE_NAME, value)
            if self.state() is EntryState.DISABLED:
                self.registry.delete(STARTUP_APPROVED_KEY, RUN_VALUE_NAME)
        except OSError as exc:
            raise AutostartError(
                tr("Cannot write the registry value {path}: {error}", path=self.path, error=exc.strerror or exc)
            ) from exc
        return self.path

    def disable(self) -> bool:
        if not self.state().ours:
            return False
        try:
            return self.registry.delete(RUN_KEY, RUN_VALUE_NAME)
        except OSError as exc:
            raise AutostartError(
                tr("Cannot remove the registry value {path}: {error}", path=self.path, error=exc.strerror or exc)
            ) from exc

    def is_enabled(self) -> bool:
        return self.state() is EntryState.ENABLED

    def describe(self) -> str:
        return tr("the registry value {path}", path=self.path)


def autostart_for(
    platform: str = sys.platform,
    *,
    home: Path | None = None,
    env: Mapping[str, str] | None = None,
    registry: Registry | None = None,
    command: LaunchCommand | None = None,
) -> Autostart:
    """The adapter for ``platform``; ``command`` defaults to :func:`launch_command`, resolved when enabling."""
    if platform == "win32":
        return WindowsRunKey(registry, command)
    home = home if home is not None else Path.home()
    if platform == "darwin":
        return LaunchAgent(home, command)
    return XdgAutostart(xdg_config_home(os.environ if env is None else env, home), command)
