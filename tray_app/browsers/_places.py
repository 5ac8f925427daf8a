"""The per-user folders browsers keep their data under, as pure functions of (platform, home, env).

Pure so that the Windows and macOS tables are tested on Linux: paths come back as PureWindowsPath or
PurePosixPath according to ``platform``, never touching the disk. The reader turns them into ``Path``
on the platform they belong to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath, PureWindowsPath
from typing import Literal

Family = Literal["windows", "macos", "linux"]


@dataclass(frozen=True)
class BrowserRoot:
    """One installation's data folder: browser id ("chrome"), the name to show ("Google Chrome Beta",
    "Chromium (snap)"), and where it is. For the Chromium family it is the "User Data" folder holding
    profiles; for Firefox, the folder holding profiles.ini."""

    browser: str
    name: str
    path: PurePath


def family(platform: str) -> Family:
    """``sys.platform`` → the table to use. Everything that is not Windows or macOS follows XDG."""
    if platform == "win32" or platform.startswith("cygwin"):
        return "windows"
    if platform == "darwin":
        return "macos"
    return "linux"


def home_path(platform: str, home: PurePath | str) -> PurePath:
    return PureWindowsPath(home) if family(platform) == "windows" else PurePosixPath(home)


def windows_folder(env: Mapping[str, str], variable: str, home: PurePath, *fallback: str) -> PureWindowsPath:
    """%LOCALAPPDATA% / %APPDATA% when set to an absolute path, else its usual place under the home."""
    value = env.get(variable, "")
    path = PureWindowsPath(value)
    if value and path.is_absolute():
        return path
    return PureWindowsPath(home, *fallback)


def xdg_config(env: Mapping[str, str], home: PurePath) -> PurePosixPath:
    """$XDG_CONFIG_HOME when set to an absolute path (as the spec asks), else ~/.config."""
    value = env.get("XDG_CONFIG_HOME", "")
    if value.startswith("/"):
        return PurePosixPath(value)
    return PurePosixPath(home, ".config")


def mac_support(home: PurePath) -> PurePosixPath:
    return PurePosixPath(home, "Library", "Application Support")
