"""Chrome, Chromium, Edge, Brave, Vivaldi and Opera: where their profiles are, and the chat.qwen.ai token
in a profile's localStorage.

Chromium keeps localStorage in a LevelDB under ``<profile>/Local Storage/leveldb``, unencrypted: the key
for chat.qwen.ai's ``token`` is ``_https://chat.qwen.ai`` + NUL + ``\\x01token``; its value starts with
``\\x01`` (then Latin-1 bytes) or ``\\x00`` (then UTF-16-LE). Only that key is ever looked up. Cookies are
never read: Chromium encrypts them, and undoing that is not ours to do.

:func:`chromium_roots` is a pure table (platform, home, env → folders) so that every platform's paths are
tested anywhere; :func:`list_profiles` and :func:`read_token` touch the disk, read-only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath

from tray_app.browsers._common import Budget, Found, Unreadable, check_token_text, open_regular
from tray_app.browsers._places import (
    BrowserRoot,
    family,
    home_path,
    mac_support,
    windows_folder,
    xdg_config,
)
from tray_app.browsers.leveldb import read_latest
from tray_app.i18n import tr

ORIGIN = "https://chat.qwen.ai"
#: The LevelDB key of localStorage.getItem('token') for https://chat.qwen.ai.
TOKEN_KEY = b"_" + ORIGIN.encode() + b"\x00\x01token"

#: Browser id → the name people know it by.
BROWSERS: dict[str, str] = {
    "chrome": "Google Chrome",
    "chromium": "Chromium",
    "edge": "Microsoft Edge",
    "brave": "Brave",
    "vivaldi": "Vivaldi",
    "opera": "Opera",
}

#: ``Local State`` (profile names) larger than this is not read; real ones are well under 1 MiB.
MAX_LOCAL_STATE_BYTES = 16 * 1024 * 1024
#: A browser data folder with more entries than this is not looked through.
MAX_ROOT_ENTRIES = 10_000

_PROFILE_FOLDER = re.compile(r"Default|Profile \d{1,6}")

# (browser, name, path under the XDG config folder); snap (under ~/snap) and flatpak (application id,
# path under its config folder) installs follow.
_LINUX: tuple[tuple[str, str, str], ...] = (
    ("chrome", "Google Chrome", "google-chrome"),
    ("chrome", "Google Chrome Beta", "google-chrome-beta"),
    ("chrome", "Google Chrome Dev", "google-chrome-unstable"),
    ("chromium", "Chromium", "chromium"),
    ("edge", "Microsoft Edge", "microsoft-edge"),
    ("edge", "Microsoft Edge Beta", "microsoft-edge-beta"),
    ("edge", "Microsoft Edge Dev", "microsoft-edge-dev"),
    ("brave", "Brave", "BraveSoftware/Brave-Browser"),
    ("brave", "Brave Beta", "BraveSoftware/Brave-Browser-Beta"),
    ("brave", "Brave Nightly", "BraveSoftware/Brave-Browser-Nightly"),
    ("vivaldi", "Vivaldi", "vivaldi"),
    ("vivaldi", "Vivaldi Snapshot", "vivaldi-snapshot"),
    ("opera", "Opera", "opera"),
    ("opera", "Opera Beta", "opera-beta"),
    ("opera", "Opera Developer", "opera-developer"),
)
_LINUX_SNAP: tuple[tuple[str, str, str], ...] = (
    ("chromium", "Chromium (snap)", "chromium/common/chromium"),
    ("brave", "Brave (snap)", "brave/current/.config/BraveSoftware/Brave-Browser"),
    ("vivaldi", "Vivaldi (snap)", "vivaldi/current/.config/vivaldi"),
    ("opera", "Opera (snap)", "opera/current/.config/opera"),
)
_LINUX_FLATPAK: tuple[tuple[str, str, str, str], ...] = (
    ("chrome", "Google Chrome (Flatpak)", "com.google.Chrome", "google-chrome"),
    ("chromium", "Chromium (Flatpak)", "org.chromium.Chromium", "chromium"),
    ("chromium", "Ungoogled Chromium (Flatpak)", "io.github.ungoogled_software.ungoogled_chromium", "chromium"),
    ("edge", "Microsoft Edge (Flatpak)", "com.microsoft.Edge", "microsoft-edge"),
    ("brave", "Brave (Flatpak)", "com.brave.Browser", "BraveSoftware/Brave-Browser"),
    ("vivaldi", "Vivaldi (Flatpak)", "com.vivaldi.Vivaldi", "vivaldi"),
    ("opera", "Opera (Flatpak)", "com.opera.Opera", "opera"),
)
# (browser, name, path under ~/Library/Application Support)
_MACOS: tuple[tuple[str, str, str], ...] = (
    ("chrome", "Google Chrome", "Google/Chrome"),
    ("chrome", "Google Chrome Beta", "Google/Chrome Beta"),
    ("chrome", "Google Chrome Dev", "Google/Chrome Dev"),
    ("chrome", "Google Chrome Canary", "Google/Chrome Canary"),
    ("chromium", "Chromium", "Chromium"),
    ("edge", "Microsoft Edge", "Microsoft Edge"),
    ("edge", "Microsoft Edge Beta", "Microsoft Edge Beta"),
    ("edge", "Microsoft Edge Dev", "Microsoft Edge Dev"),
    ("brave", "Brave", "BraveSoftware/Brave-Browser"),
    ("brave", "Brave Beta", "BraveSoftware/Brave-Browser-Beta"),
    ("brave", "Brave Nightly", "BraveSoftware/Brave-Browser-Nightly"),
    ("vivaldi", "Vivaldi", "Vivaldi"),
    ("opera", "Opera", "com.operasoftware.Opera"),
    ("opera", "Opera GX", "com.operasoftware.OperaGX"),
)
# (browser, name, path under %LOCALAPPDATA%) — Opera alone keeps its profile under %APPDATA% (Roaming).
_WINDOWS_LOCAL: tuple[tuple[str, str, str], ...] = (
    ("chrome", "Google Chrome", "Google/Chrome/User Data"),
    ("chrome", "Google Chrome Beta", "Google/Chrome Beta/User Data"),
    ("chrome", "Google Chrome Dev", "Google/Chrome Dev/User Data"),
    ("chrome", "Google Chrome Canary", "Google/Chrome SxS/User Data"),
    ("chromium", "Chromium", "Chromium/User Data"),
    ("edge", "Microsoft Edge", "Microsoft/Edge/User Data"),
    ("edge", "Microsoft Edge Beta", "Microsoft/Edge Beta/User Data"),
    ("edge", "Microsoft Edge Dev", "Microsoft/Edge Dev/User Data"),
    ("brave", "Brave", "BraveSoftware/Brave-Browser/User Data"),
    ("brave", "Brave Beta", "BraveSoftware/Brave-Browser-Beta/User Data"),
    ("brave", "Brave Nightly", "BraveSoftware/Brave-Browser-Nightly/User Data"),
    ("vivaldi", "Vivaldi", "Vivaldi/User Data"),
)
_WINDOWS_ROAMING: tuple[tuple[str, str, str], ...] = (
    ("opera", "Opera", "Opera Software/Opera Stable"),
    ("opera", "Opera GX", "Opera Software/Opera GX Stable"),
)


def chromium_roots(platform: str, home: PurePath | str, env: Mapping[str, str]) -> list[BrowserRoot]:
    """Every folder a Chromium-family browser may keep its profiles in on ``platform`` (``sys.platform``
    values), for the user whose home is ``home`` and whose environment is ``env``. Pure: nothing is
    checked on disk."""
    home = home_path(platform, home)
    kind = family(platform)
    if kind == "windows":
        local = windows_folder(env, "LOCALAPPDATA", home, "AppData", "Local")
        roaming = windows_folder(env, "APPDATA", home, "AppData", "Roaming")
        return [BrowserRoot(b, n, local / p) for b, n, p in _WINDOWS_LOCAL] + [
            BrowserRoot(b, n, roaming / p) for b, n, p in _WINDOWS_ROAMING
        ]
    if kind == "macos":
        support = mac_support(home)
        return [BrowserRoot(b, n, support / p) for b, n, p in _MACOS]
    config = xdg_config(env, home)
    roots = [BrowserRoot(b, n, config / p) for b, n, p in _LINUX]
    roots += [BrowserRoot(b, n, PurePosixPath(home, "snap") / p) for b, n, p in _LINUX_SNAP]
    roots += [
        BrowserRoot(b, n, PurePosixPath(home, ".var", "app", app, "config") / p) for b, n, app, p in _LINUX_FLATPAK
    ]
    order = list(BROWSERS)
    return sorted(roots, key=lambda root: order.index(root.browser))  # each browser's installs together


def decode_value(raw: bytes) -> str:
    """A localStorage value as Chromium stores it: ``\\x01`` + Latin-1, or ``\\x00`` + UTF-16-LE."""
    if not raw:
        raise ValueError("the stored value is empty (no encoding byte)")
    if raw[0] == 1:
        return raw[1:].decode("latin-1")
    if raw[0] == 0:
        if len(raw) % 2 == 0:
            raise ValueError("the stored UTF-16 value has an odd number of bytes")
        try:
            return raw[1:].decode("utf-16-le")
        except UnicodeDecodeError as exc:
            raise ValueError("the stored UTF-16 value does not decode") from exc
    raise ValueError(f"the stored value starts with {raw[0]}, not an encoding byte (0 or 1)")


@dataclass(frozen=True)
class ChromiumProfile:
    """One profile: ``folder`` is what ``--profile-directory`` takes ("Default", "Profile 2"; "" when the
    data folder itself is the profile, as in Opera), ``name`` the one the browser shows."""

    root: BrowserRoot
    folder: str
    name: str
    path: Path

    @property
    def leveldb(self) -> Path:
        return self.path / "Local Storage" / "leveldb"


def profile_names(local_state: bytes) -> dict[str, str]:
    """Folder → shown name, from ``Local State``'s ``profile.info_cache`` (JSON). ValueError if damaged."""
    try:
        data = json.loads(local_state)
    except (ValueError, RecursionError) as exc:
        raise ValueError("it is not valid JSON") from exc
    profile = data.get("profile") if isinstance(data, dict) else None
    cache = profile.get("info_cache") if isinstance(profile, dict) else None
    if cache is None:
        return {}
    if not isinstance(cache, dict):
        raise ValueError("its profile.info_cache is not a JSON object")
    names = {}
    for folder, info in cache.items():
        name = info.get("name") if isinstance(info, dict) else None
        if _safe_folder(folder):
            names[folder] = name.strip() if isinstance(name, str) and name.strip() else folder
    return names


def _safe_folder(name: str) -> bool:
    """A plain folder name (no separators, not . or ..): Local State is data, not a path to follow."""
    return 0 < len(name) <= 255 and name not in (".", "..") and not any(c in name for c in "/\\\x00:")


def _profile_order(profile: ChromiumProfile) -> tuple[int, int, str]:
    if profile.folder in ("", "Default"):
        return (0, 0, profile.folder)
    if _PROFILE_FOLDER.fullmatch(profile.folder):
        return (1, int(profile.folder.split()[1]), profile.folder)
    return (2, 0, profile.folder)


def list_profiles(root: BrowserRoot, problems: list[str]) -> list[ChromiumProfile]:
    """The profiles under ``root`` (which must be a path of this platform), named from ``Local State``;
    a missing ``Local State`` just means folder names are shown, a damaged one adds a line to ``problems``."""
    base = Path(root.path)
    if not base.is_dir():
        return []
    names: dict[str, str] = {}
    local_state = base / "Local State"
    try:
        with open_regular(local_state) as handle:
            text = handle.read(MAX_LOCAL_STATE_BYTES + 1)
        if len(text) > MAX_LOCAL_STATE_BYTES:
            raise ValueError(f"it is over {MAX_LOCAL_STATE_BYTES} bytes")
        names = profile_names(text)
    except FileNotFoundError:
        pass
    except (OSError, Unreadable, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problems.append(
            tr(
                "{browser}: Local State unreadable ({reason}); profiles shown by folder name",
                browser=root.name,
                reason=reason,
            )
        )
    folders: set[str] = set()
    for count, entry in enumerate(base.iterdir(), start=1):
        if count > MAX_ROOT_ENTRIES:
            problems.append(
                tr(
                    "{browser}: more than {count} entries in {folder}; the rest not looked at",
                    browser=root.name,
                    count=MAX_ROOT_ENTRIES,
                    folder=base,
                )
            )
            break
        if _PROFILE_FOLDER.fullmatch(entry.name) and entry.is_dir():
            folders.add(entry.name)
    folders.update(folder for folder in names if (base / folder).is_dir())
    side = base / "_side_profiles"  # Opera's extra profiles
    if side.is_dir():
        folders.update(f"_side_profiles/{entry.name}" for entry in side.iterdir() if _safe_folder(entry.name))
    if (base / "Local Storage").is_dir():
        folders.add("")  # Opera keeps its first profile in the data folder itself
    profiles = [
        ChromiumProfile(root, folder, names.get(folder, folder or root.name), base / folder if folder else base)
        for folder in folders
    ]
    return sorted(profiles, key=_profile_order)


def read_token(profile: ChromiumProfile, budget: Budget, problems: list[str]) -> Found | None:
    """The token in this profile's localStorage (its newest record), or None; what could not be read,
    one line each, goes to ``problems`` (over a limit too: then nothing is returned)."""
    folder = profile.leveldb
    if not folder.is_dir():
        return None
    result = read_latest(folder, TOKEN_KEY, budget=budget)
    problems.extend(f"{folder}: {line}" for line in result.skipped)
    if result.record is None or result.record.value is None:
        return None
    try:
        text = decode_value(result.record.value)
        token = check_token_text(text)
    except ValueError as exc:
        problems.append(tr("{path}: the token value cannot be used ({reason})", path=folder, reason=exc))
        return None
    return Found(token=token, source="localStorage", location=str(folder / result.record.file))
