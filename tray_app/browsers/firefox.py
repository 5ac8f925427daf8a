"""Firefox and LibreWolf: where their profiles are, and the chat.qwen.ai token in a profile.

Where the token is, newest first:

- localStorage (LSNG, Firefox 92+): ``storage/default/https+++chat.qwen.ai/ls/data.sqlite``, table
  ``data``, key ``token``; container tabs keep their own copy in ``https+++chat.qwen.ai^userContextId=N``.
  Values may be raw-snappy compressed (``compression_type`` 1) and UTF-8 (``conversion_type`` 1) or
  UTF-16-LE. Older profiles kept localStorage in ``webappsstore.sqlite``, table ``webappsstore2``.
- Only when that profile's localStorage has no token: the ``token`` cookie in ``cookies.sqlite``
  (``moz_cookies``, host ``chat.qwen.ai``, ``.chat.qwen.ai`` or ``.qwen.ai``). Firefox does not encrypt it.

Each profile gives at most one token: the one whose JWT expires last (chat.qwen.ai issues each token for
about seven days, so that is the newest), then the most recently written file.

A running Firefox keeps fresh writes in ``*.sqlite-wal``. Each database is copied WITH its ``-wal`` and
``-shm`` into a private temporary folder and the copy is opened read-only: SQLite then replays the WAL
into the view of the copy, and the profile is never touched (never ``immutable=1`` on a live file, which
would ignore the WAL and could read a half-written page). If the files change while being copied, the
copy is made again (three tries). The copies are deleted before the read returns.
"""

from __future__ import annotations

import configparser
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath

from tray_app.browsers._common import (
    MAX_PIECE_BYTES,
    Budget,
    Found,
    LimitReached,
    Unreadable,
    check_token_text,
    newest,
    open_regular,
    snappy_decompress,
)
from tray_app.browsers._places import BrowserRoot, family, home_path, mac_support, windows_folder, xdg_config
from tray_app.i18n import tr

#: Browser id → the name people know it by.
BROWSERS: dict[str, str] = {"firefox": "Firefox", "librewolf": "LibreWolf"}

ORIGIN_FOLDER = "https+++chat.qwen.ai"
#: webappsstore2.originKey (older: .scope) for https://chat.qwen.ai: the host reversed, scheme, port.
WEBAPPSSTORE_ORIGIN = "ia.newq.tahc.:https:443"
COOKIE_HOSTS = ("chat.qwen.ai", ".chat.qwen.ai", ".qwen.ai")
#: profiles.ini / installs.ini larger than this are not read.
MAX_INI_BYTES = 1024 * 1024
#: storage/default with more entries than this is not looked through further.
MAX_ORIGIN_ENTRIES = 200_000

_ATTRIBUTE = re.compile(r"userContextId=\d{1,9}|firstPartyDomain=(?:chat\.)?qwen\.ai")

# (browser, name, path under the home) — Linux; the XDG location (Firefox 147+) is added from env.
_LINUX: tuple[tuple[str, str, str], ...] = (
    ("firefox", "Firefox", ".mozilla/firefox"),
    ("firefox", "Firefox (snap)", "snap/firefox/common/.mozilla/firefox"),
    ("firefox", "Firefox (Flatpak)", ".var/app/org.mozilla.firefox/.mozilla/firefox"),
    ("librewolf", "LibreWolf", ".librewolf"),
    ("librewolf", "LibreWolf (Flatpak)", ".var/app/io.gitlab.librewolf-community/.librewolf"),
)
_MACOS: tuple[tuple[str, str, str], ...] = (
    ("firefox", "Firefox", "Firefox"),
    ("librewolf", "LibreWolf", "librewolf"),
)
_WINDOWS_ROAMING: tuple[tuple[str, str, str], ...] = (
    ("firefox", "Firefox", "Mozilla/Firefox"),
    ("librewolf", "LibreWolf", "librewolf"),
)


def firefox_roots(platform: str, home: PurePath | str, env: Mapping[str, str]) -> list[BrowserRoot]:
    """Every folder that may hold a ``profiles.ini`` of Firefox or LibreWolf on ``platform``, for the user
    whose home is ``home`` and whose environment is ``env``. Pure: nothing is checked on disk."""
    home = home_path(platform, home)
    kind = family(platform)
    if kind == "windows":
        roaming = windows_folder(env, "APPDATA", home, "AppData", "Roaming")
        return [BrowserRoot(b, n, roaming / p) for b, n, p in _WINDOWS_ROAMING]
    if kind == "macos":
        support = mac_support(home)
        return [BrowserRoot(b, n, support / p) for b, n, p in _MACOS]
    roots = [BrowserRoot(b, n, PurePosixPath(home) / p) for b, n, p in _LINUX]
    roots.insert(1, BrowserRoot("firefox", "Firefox", xdg_config(env, home) / "mozilla" / "firefox"))
    return roots


@dataclass(frozen=True)
class IniProfile:
    """A profile as profiles.ini or installs.ini lists it."""

    name: str
    path: PurePath
    default: bool


def parse_profiles_ini(text: str, root: PurePath) -> list[IniProfile]:
    """The profiles in a ``profiles.ini`` (pure). ``Path`` is relative to ``root`` unless ``IsRelative=0``;
    the default is the one an ``[Install…]`` section names, else the one marked ``Default=1``.
    ValueError if the file cannot be parsed."""
    parser = _parse_ini(text)
    install_defaults = {
        parser.get(section, "Default", fallback="") for section in parser.sections() if section.startswith("Install")
    }
    profiles = []
    for section in parser.sections():
        if not section.startswith("Profile") or not parser.get(section, "Path", fallback=""):
            continue
        raw_path = parser.get(section, "Path")
        relative = parser.get(section, "IsRelative", fallback="1").strip() != "0"
        path = root / raw_path if relative else type(root)(raw_path)
        default = raw_path in install_defaults or (
            not install_defaults and parser.get(section, "Default", fallback="0").strip() == "1"
        )
        name = parser.get(section, "Name", fallback="").strip() or PurePath(raw_path.replace("\\", "/")).name
        profiles.append(IniProfile(name, path, default))
    return profiles


def parse_installs_ini(text: str, root: PurePath) -> list[PurePath]:
    """The default profile of each installation in ``installs.ini`` (pure; paths relative to ``root``)."""
    parser = _parse_ini(text)
    paths = []
    for section in parser.sections():
        value = parser.get(section, "Default", fallback="").strip()
        if value:
            relative = parser.get(section, "IsRelative", fallback="1").strip() != "0"
            paths.append(root / value if relative else type(root)(value))
    return paths


def _parse_ini(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep "IsRelative" as written
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise ValueError(str(exc).splitlines()[0]) from exc
    return parser


@dataclass(frozen=True)
class FirefoxProfile:
    """One profile: ``name`` is what ``firefox -P`` takes (profiles.ini's Name; the folder name when the
    profile is not listed), ``default`` whether Firefox starts it."""

    root: BrowserRoot
    name: str
    path: Path
    default: bool


def _read_ini(path: Path) -> str | None:
    try:
        with open_regular(path) as handle:
            data = handle.read(MAX_INI_BYTES + 1)
    except FileNotFoundError:
        return None
    if len(data) > MAX_INI_BYTES:
        raise ValueError(f"{path.name} is over {MAX_INI_BYTES} bytes")
    return data.decode("utf-8", errors="replace")


def list_profiles(root: BrowserRoot, problems: list[str]) -> list[FirefoxProfile]:
    """The profiles under ``root`` (a path of this platform): profiles.ini, then installs.ini; when
    profiles.ini is missing or damaged, the folders that look like profiles."""
    base = Path(root.path)
    if not base.is_dir():
        return []
    listed: list[IniProfile] = []
    try:
        text = _read_ini(base / "profiles.ini")
        if text is not None:
            listed = parse_profiles_ini(text, base)
        installs = _read_ini(base / "installs.ini")
        if installs is not None:
            known = {Path(profile.path) for profile in listed}
            listed += [
                IniProfile(Path(path).name, path, True)
                for path in parse_installs_ini(installs, base)
                if Path(path) not in known
            ]
    except (OSError, Unreadable, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problems.append(
            tr(
                "{browser}: profiles.ini unreadable ({reason}); looking for profile folders instead",
                browser=root.name,
                reason=reason,
            )
        )
        listed = []
    if not listed:
        listed = [IniProfile(path.name, path, False) for path in _profile_like_folders(base)]
    profiles: dict[Path, FirefoxProfile] = {}
    for entry in listed:
        path = Path(entry.path)
        if path not in profiles and path.is_dir():
            profiles[path] = FirefoxProfile(root, entry.name, path, entry.default)
    return sorted(profiles.values(), key=lambda profile: (not profile.default, profile.name.lower()))


def _profile_like_folders(base: Path) -> Iterator[Path]:
    for folder in (base, base / "Profiles"):
        if not folder.is_dir():
            continue
        for count, entry in enumerate(folder.iterdir()):
            if count >= 10_000:
                return
            if (entry / "prefs.js").is_file() or (entry / "storage").is_dir():
                yield entry


# --- reading a profile --------------------------------------------------------------------------------


def decode_lsng_value(value: object, conversion_type: int, compression_type: int) -> str:
    """An LSNG ``data.value``: snappy-compressed if ``compression_type`` is 1, UTF-8 if ``conversion_type``
    is 1, else UTF-16-LE. ValueError (without the value) if it does not decode."""
    if isinstance(value, str):
        if compression_type != 0:
            raise ValueError("a compressed value is stored as text")
        return value
    if not isinstance(value, bytes):
        raise ValueError(f"the stored value is a {type(value).__name__}, not text or bytes")
    raw = value
    if compression_type == 1:
        try:
            raw = snappy_decompress(raw, "the stored value", max_bytes=MAX_PIECE_BYTES)
        except Unreadable as exc:
            raise ValueError(str(exc)) from exc
    elif compression_type != 0:
        raise ValueError(f"unknown compression type {compression_type}")
    try:
        return raw.decode("utf-8") if conversion_type == 1 else raw.decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise ValueError("the stored value does not decode as text") from exc


def origin_attributes_ok(suffix: str) -> bool:
    """Storage of chat.qwen.ai itself: no attributes, a container tab (``userContextId=N``) or first-party
    isolation on qwen.ai; not a private window, nor chat.qwen.ai embedded in another site."""
    if not suffix:
        return True
    if not suffix.startswith("^"):
        return False
    return all(_ATTRIBUTE.fullmatch(part) for part in suffix[1:].split("&"))


def read_token(profile: FirefoxProfile, budget: Budget, problems: list[str]) -> Found | None:
    """The newest token of this profile: localStorage (every container, and webappsstore.sqlite), else
    the cookie. What could not be read goes to ``problems``, one line each."""
    with tempfile.TemporaryDirectory(prefix="qwen-tray-firefox-") as workdir:
        reader = _ProfileReader(profile, budget, problems, Path(workdir))
        try:
            found = newest(reader.local_storage())
            if found is None:
                found = newest(reader.cookies())
        except LimitReached as exc:
            problems.append(tr("{path}: stopped reading, {reason}", path=profile.path, reason=exc))
            return None
        return found


_RowReader = Callable[[sqlite3.Connection], Iterator[tuple[str, float]]]


class _ProfileReader:
    def __init__(self, profile: FirefoxProfile, budget: Budget, problems: list[str], workdir: Path) -> None:
        self.profile = profile
        self.budget = budget
        self.problems = problems
        self.workdir = workdir
        self.copies = 0

    def local_storage(self) -> list[Found]:
        found: list[Found] = []
        storage = self.profile.path / "storage" / "default"
        if storage.is_dir():
            for folder in self._origin_folders(storage):
                database = folder / "ls" / "data.sqlite"
                if database.is_file():
                    found += self._query(database, "localStorage", self._lsng_rows)
        old = self.profile.path / "webappsstore.sqlite"
        if old.is_file():
            found += self._query(old, "localStorage", self._webappsstore_rows)
        return found

    def cookies(self) -> list[Found]:
        database = self.profile.path / "cookies.sqlite"
        if not database.is_file():
            return []
        return self._query(database, "cookie", self._cookie_rows)

    def _origin_folders(self, storage: Path) -> Iterator[Path]:
        for count, entry in enumerate(storage.iterdir()):
            if count >= MAX_ORIGIN_ENTRIES:
                self.problems.append(
                    tr(
                        "{folder}: more than {count} origins; the rest not looked at",
                        folder=storage,
                        count=MAX_ORIGIN_ENTRIES,
                    )
                )
                return
            name = entry.name
            if name.startswith(ORIGIN_FOLDER) and origin_attributes_ok(name[len(ORIGIN_FOLDER) :]):
                yield entry

    def _query(
        self,
        database: Path,
        source: str,
        rows: _RowReader,
    ) -> list[Found]:
        """Copy ``database`` (with -wal, -shm), open the copy read-only, and turn its rows into Founds."""
        self.budget.check_time()
        try:
            copy = self._snapshot(database)
            connection = sqlite3.connect(f"{copy.as_uri()}?mode=ro", uri=True, timeout=0)
        except LimitReached:
            raise
        except (OSError, Unreadable, sqlite3.Error) as exc:
            self.problems.append(tr("{path}: cannot be read ({reason})", path=database, reason=_reason(exc)))
            return []
        budget = self.budget
        connection.set_progress_handler(lambda: 1 if budget.expired() else 0, 10_000)
        found = []
        try:
            connection.execute("PRAGMA trusted_schema = OFF")
            connection.execute("PRAGMA query_only = ON")
            when = database.stat().st_mtime
            for text, row_when in rows(connection):
                try:
                    token = check_token_text(text)
                except ValueError as exc:
                    self.problems.append(
                        tr("{path}: the token value cannot be used ({reason})", path=database, reason=exc)
                    )
                    continue
                found.append(Found(token, source, str(database), row_when or when))
        except sqlite3.Error as exc:
            if budget.expired():
                raise LimitReached(f"over the time limit of {budget.seconds:g} s") from exc
            self.problems.append(tr("{path}: cannot be read ({reason})", path=database, reason=_reason(exc)))
        except UnicodeDecodeError:  # sqlite3 failing to decode a damaged schema's own error message
            self.problems.append(tr("{path}: cannot be read (its schema is damaged)", path=database))
        except OSError as exc:
            self.problems.append(tr("{path}: cannot be read ({reason})", path=database, reason=_reason(exc)))
        finally:
            connection.close()
        return found

    def _lsng_rows(self, connection: sqlite3.Connection) -> Iterator[tuple[str, float]]:
        cursor = connection.execute("SELECT value, conversion_type, compression_type FROM data WHERE key = 'token'")
        for value, conversion, compression in cursor:
            try:
                yield decode_lsng_value(value, int(conversion or 0), int(compression or 0)), 0.0
            except (ValueError, TypeError) as exc:
                self.problems.append(tr("an LSNG value cannot be decoded ({reason})", reason=exc))

    def _webappsstore_rows(self, connection: sqlite3.Connection) -> Iterator[tuple[str, float]]:
        """``webappsstore2`` keyed by ``originKey`` (Firefox 48 to 91), or by ``scope`` before that."""
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        table = next((name for name in ("webappsstore2", "moz_webappsstore2") if name in tables), None)
        if table is None:
            return
        columns = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if "originKey" in columns:
            attributes = "originAttributes" if "originAttributes" in columns else "''"
            query = f"SELECT value, {attributes} FROM {table} WHERE originKey = ? AND key = 'token'"  # noqa: S608 - names from fixed lists
        else:
            query = f"SELECT value, '' FROM {table} WHERE scope = ? AND key = 'token'"  # noqa: S608 - a name from a fixed list
        for value, origin_attributes in connection.execute(query, (WEBAPPSSTORE_ORIGIN,)):
            if isinstance(value, str) and origin_attributes_ok(str(origin_attributes or "")):
                yield value, 0.0

    def _cookie_rows(self, connection: sqlite3.Connection) -> Iterator[tuple[str, float]]:
        cursor = connection.execute(
            "SELECT value, creationTime FROM moz_cookies WHERE name = 'token' AND host IN (?, ?, ?)",
            COOKIE_HOSTS,
        )
        for value, created in cursor:
            if isinstance(value, str):
                seconds = created / 1_000_000 if isinstance(created, int) else 0.0  # microseconds
                yield value, seconds

    def _snapshot(self, database: Path) -> Path:
        """A private copy of ``database`` with its ``-wal`` and ``-shm``, made again while they change."""
        self.copies += 1
        target = self.workdir / str(self.copies)
        target.mkdir()
        sources = [database.with_name(database.name + suffix) for suffix in ("", "-wal", "-shm")]
        for _attempt in range(3):
            before = [_signature(source) for source in sources]
            for source, signature in zip(sources, before, strict=True):
                copy = target / source.name
                if signature is None and source != database:
                    copy.unlink(missing_ok=True)  # a -wal gone since the last try must not be replayed
                else:
                    _copy(source, copy, self.budget)
            if before == [_signature(source) for source in sources]:
                return target / database.name
        raise Unreadable("it kept changing while being copied; close the browser or try again")


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return (status.st_size, status.st_mtime_ns)


def _copy(source: Path, target: Path, budget: Budget) -> None:
    with open_regular(source) as reader, target.open("wb") as writer:
        while True:
            budget.charge(1024 * 1024)
            chunk = reader.read(1024 * 1024)
            budget.refund(1024 * 1024 - len(chunk))
            if not chunk:
                return
            writer.write(chunk)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
