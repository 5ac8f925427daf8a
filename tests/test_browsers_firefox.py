"""Firefox and LibreWolf: folder tables (pure), profiles.ini/installs.ini, LSNG localStorage (snappy,
UTF-16, container tabs), webappsstore.sqlite, the cookie fallback, and a live -wal holding the newest value."""

from __future__ import annotations

import functools
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path, PurePosixPath, PureWindowsPath

import cramjam
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_token import make_token
from tray_app.browsers import BrowserChoice, Limits, find_tokens, parse_browser_choice
from tray_app.browsers._places import BrowserRoot
from tray_app.browsers.firefox import (
    decode_lsng_value,
    firefox_roots,
    list_profiles,
    origin_attributes_ok,
    parse_installs_ini,
    parse_profiles_ini,
)

NEWEST = make_token(exp=1_900_000_000)
OLDER = make_token(exp=1_850_000_000)
OLDEST = make_token(exp=1_800_000_000)

LSNG_SCHEMA = """
CREATE TABLE database (origin TEXT NOT NULL, usage INTEGER NOT NULL DEFAULT 0,
  last_vacuum_time INTEGER NOT NULL DEFAULT 0, last_analyze_time INTEGER NOT NULL DEFAULT 0,
  last_vacuum_size INTEGER NOT NULL DEFAULT 0);
CREATE TABLE data (key TEXT PRIMARY KEY, utf16_length INTEGER NOT NULL, conversion_type INTEGER NOT NULL,
  compression_type INTEGER NOT NULL, last_access_time INTEGER NOT NULL DEFAULT 0, value BLOB NOT NULL);
"""
COOKIE_SCHEMA = """
CREATE TABLE moz_cookies (id INTEGER PRIMARY KEY, originAttributes TEXT NOT NULL DEFAULT '', name TEXT,
  value TEXT, host TEXT, path TEXT, expiry INTEGER, lastAccessed INTEGER, creationTime INTEGER,
  isSecure INTEGER, isHttpOnly INTEGER);
"""


def lsng_row(text: str, *, utf8: bool = True, snappy: bool = False) -> tuple[str, int, int, int, bytes]:
    raw = text.encode("utf-8") if utf8 else text.encode("utf-16-le")
    if snappy:
        raw = bytes(cramjam.snappy.compress_raw(raw))
    return ("token", len(text), 1 if utf8 else 0, 1 if snappy else 0, raw)


def write_lsng(profile: Path, folder: str, text: str | None, **encoding: bool) -> Path:
    database = profile / "storage" / "default" / folder / "ls" / "data.sqlite"
    database.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(database)) as connection:
        connection.executescript(LSNG_SCHEMA)
        connection.execute("INSERT INTO database (origin) VALUES ('https://chat.qwen.ai')")
        connection.execute("INSERT INTO data VALUES ('other', 5, 1, 0, 0, x'6f74686572')")
        if text is not None:
            key, length, conversion, compression, value = lsng_row(text, **encoding)
            connection.execute(
                "INSERT INTO data (key, utf16_length, conversion_type, compression_type, value) VALUES (?, ?, ?, ?, ?)",
                (key, length, conversion, compression, value),
            )
        connection.commit()
    return database


def write_cookies(profile: Path, rows: list[tuple[str, str, str, int]]) -> None:
    """rows: (host, name, value, creationTime in microseconds)."""
    with closing(sqlite3.connect(profile / "cookies.sqlite")) as connection:
        connection.executescript(COOKIE_SCHEMA)
        connection.executemany(
            "INSERT INTO moz_cookies (host, name, value, creationTime, path) VALUES (?, ?, ?, ?, '/')", rows
        )
        connection.commit()


def firefox_home(tmp_path: Path, profiles: dict[str, str], *, default: str | None = None) -> Path:
    """~/.mozilla/firefox with profiles.ini listing ``profiles`` (name → folder under Profiles/)."""
    root = tmp_path / ".mozilla" / "firefox"
    lines = []
    for index, (name, folder) in enumerate(profiles.items()):
        (root / "Profiles" / folder).mkdir(parents=True)
        lines += [f"[Profile{index}]", f"Name={name}", "IsRelative=1", f"Path=Profiles/{folder}", ""]
    if default is not None:
        lines += ["[Install4F96D1932A9F858E]", f"Default=Profiles/{profiles[default]}", "Locked=1", ""]
    lines += ["[General]", "StartWithLastProfile=1", "Version=2", ""]
    (root / "profiles.ini").write_text("\n".join(lines))
    return root


# --- pure tables -----------------------------------------------------------------------------------------


def test_linux_table_with_snap_flatpak_and_xdg() -> None:
    roots = firefox_roots("linux", "/home/ann", {"XDG_CONFIG_HOME": "/home/ann/cfg"})
    assert [(root.browser, str(root.path)) for root in roots] == [
        ("firefox", "/home/ann/.mozilla/firefox"),
        ("firefox", "/home/ann/cfg/mozilla/firefox"),
        ("firefox", "/home/ann/snap/firefox/common/.mozilla/firefox"),
        ("firefox", "/home/ann/.var/app/org.mozilla.firefox/.mozilla/firefox"),
        ("librewolf", "/home/ann/.librewolf"),
        ("librewolf", "/home/ann/.var/app/io.gitlab.librewolf-community/.librewolf"),
    ]
    assert all(isinstance(root.path, PurePosixPath) for root in roots)


def test_macos_table() -> None:
    roots = firefox_roots("darwin", "/Users/ann", {})
    assert [str(root.path) for root in roots] == [
        "/Users/ann/Library/Application Support/Firefox",
        "/Users/ann/Library/Application Support/librewolf",
    ]


def test_windows_table() -> None:
    roots = firefox_roots("win32", r"C:\Users\ann", {"APPDATA": r"E:\Roaming"})
    assert [str(root.path) for root in roots] == [r"E:\Roaming\Mozilla\Firefox", r"E:\Roaming\librewolf"]
    assert all(isinstance(root.path, PureWindowsPath) for root in roots)
    defaults = firefox_roots("win32", r"C:\Users\ann", {})
    assert str(defaults[0].path) == r"C:\Users\ann\AppData\Roaming\Mozilla\Firefox"


PROFILES_INI = """\
[Profile1]
Name=default
IsRelative=1
Path=Profiles/abcd1234.default
Default=1

[Profile0]
Name=default-release
IsRelative=1
Path=Profiles/efgh5678.default-release

[Profile2]
Name=elsewhere
IsRelative=0
Path={absolute}

[Install4F96D1932A9F858E]
Default=Profiles/efgh5678.default-release
Locked=1

[General]
StartWithLastProfile=1
Version=2
"""


@pytest.mark.parametrize(
    ("root", "absolute", "kind"),
    [
        (PurePosixPath("/home/ann/.mozilla/firefox"), "/mnt/other/profile", PurePosixPath),
        (PureWindowsPath(r"C:\Users\ann\AppData\Roaming\Mozilla\Firefox"), r"D:\ff\profile", PureWindowsPath),
    ],
)
def test_parse_profiles_ini(root: PurePosixPath | PureWindowsPath, absolute: str, kind: type) -> None:
    profiles = parse_profiles_ini(PROFILES_INI.format(absolute=absolute), root)
    assert [(p.name, p.default) for p in profiles] == [
        ("default", False),  # Default=1 is outdated once an [Install…] section names another
        ("default-release", True),
        ("elsewhere", False),
    ]
    assert profiles[1].path == root / "Profiles" / "efgh5678.default-release"
    assert profiles[2].path == kind(absolute)


def test_parse_profiles_ini_without_install_sections_uses_default_1() -> None:
    text = "[Profile0]\nName=a\nPath=a.x\n\n[Profile1]\nName=b\nPath=b.x\nDefault=1\n"
    assert [(p.name, p.default) for p in parse_profiles_ini(text, PurePosixPath("/r"))] == [("a", False), ("b", True)]


def test_parse_installs_ini() -> None:
    text = "[308046B0AF4A39CB]\nDefault=Profiles/xyz.default-esr\nLocked=1\n\n[Empty]\nLocked=1\n"
    assert parse_installs_ini(text, PurePosixPath("/r")) == [PurePosixPath("/r/Profiles/xyz.default-esr")]


def test_damaged_ini_says_why() -> None:
    with pytest.raises(ValueError, match="File contains no section headers"):
        parse_profiles_ini("Name=x\n", PurePosixPath("/r"))


@pytest.mark.parametrize(
    ("suffix", "ok"),
    [
        ("", True),
        ("^userContextId=2", True),
        ("^firstPartyDomain=qwen.ai", True),
        ("^userContextId=2&firstPartyDomain=chat.qwen.ai", True),
        ("^privateBrowsingId=1", False),
        ("^partitionKey=%28https%2Cexample.com%29", False),
        ("^userContextId=2&partitionKey=%28https%2Cexample.com%29", False),
        ("x", False),
        (".evil.com", False),
    ],
)
def test_origin_attributes(suffix: str, ok: bool) -> None:
    assert origin_attributes_ok(suffix) is ok


@pytest.mark.parametrize(
    ("row", "text"),
    [
        (lsng_row("eyJ.utf8.x"), "eyJ.utf8.x"),
        (lsng_row("eyJ.utf16.x", utf8=False), "eyJ.utf16.x"),
        (lsng_row("eyJ.snappy.x" * 20, snappy=True), "eyJ.snappy.x" * 20),
        (lsng_row("eyJ.both.ü" * 20, utf8=False, snappy=True), "eyJ.both.ü" * 20),
    ],
    ids=["utf8", "utf16", "snappy-utf8", "snappy-utf16"],
)
def test_decode_lsng_value(row: tuple[str, int, int, int, bytes], text: str) -> None:
    _key, _length, conversion, compression, value = row
    assert decode_lsng_value(value, conversion, compression) == text


def test_decode_lsng_value_refuses_bombs_and_garbage() -> None:
    bomb = bytes(cramjam.snappy.compress_raw(b"\x00" * (40 * 1024 * 1024)))
    with pytest.raises(ValueError, match="would expand to 41943040 bytes"):
        decode_lsng_value(bomb, 1, 1)
    with pytest.raises(ValueError, match="not valid snappy data"):
        decode_lsng_value(b"\x05\xff\xff\xff", 1, 1)
    with pytest.raises(ValueError, match="unknown compression type 7"):
        decode_lsng_value(b"x", 1, 7)
    with pytest.raises(ValueError, match="does not decode"):
        decode_lsng_value(b"\xff\xfe\xfd", 1, 0)


# --- profiles -------------------------------------------------------------------------------------------


def test_list_profiles_default_first_and_installs_ini(tmp_path: Path) -> None:
    root = firefox_home(tmp_path, {"work": "w.work", "default-release": "d.default-release"}, default="default-release")
    (root / "Profiles" / "esr.default-esr").mkdir()
    (root / "installs.ini").write_text("[308046B0AF4A39CB]\nDefault=Profiles/esr.default-esr\nLocked=1\n")
    problems: list[str] = []
    profiles = list_profiles(BrowserRoot("firefox", "Firefox", root), problems)
    assert [(p.name, p.default) for p in profiles] == [
        ("default-release", True),
        ("esr.default-esr", True),
        ("work", False),
    ]
    assert problems == []


def test_a_damaged_profiles_ini_falls_back_to_folders(tmp_path: Path) -> None:
    root = tmp_path / ".mozilla" / "firefox"
    (root / "abc.default").mkdir(parents=True)
    (root / "abc.default" / "prefs.js").write_text("")
    (root / "Crash Reports").mkdir()
    (root / "profiles.ini").write_bytes(b"\x00garbage")
    problems: list[str] = []
    profiles = list_profiles(BrowserRoot("firefox", "Firefox", root), problems)
    assert [p.name for p in profiles] == ["abc.default"]
    assert problems[0].startswith("Firefox: profiles.ini unreadable (File contains no section headers.")


# --- reading profiles through the door --------------------------------------------------------------------


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The reader's temporary copies go here, so the test can check they are gone afterwards."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    assert list(folder.iterdir()) == []


def scan_firefox(home: Path, only: str = "firefox") -> list[tuple[str, str, str]]:
    scan = find_tokens(platform="linux", home=home, env={}, only=parse_browser_choice(only))
    assert scan.skipped == [], scan.skipped
    return [(c.profile, c.source, c.token) for c in scan.candidates]


def test_lsng_snappy_utf16_and_the_newest_container(tmp_path: Path) -> None:
    root = firefox_home(tmp_path, {"default-release": "d.default-release"})
    profile = root / "Profiles" / "d.default-release"
    write_lsng(profile, "https+++chat.qwen.ai", OLDEST, utf8=False, snappy=True)
    write_lsng(profile, "https+++chat.qwen.ai^userContextId=2", NEWEST, utf8=False)  # the work container
    write_lsng(profile, "https+++chat.qwen.ai^userContextId=3", OLDER, snappy=True)
    write_lsng(profile, "https+++chat.qwen.ai^privateBrowsingId=1", make_token(exp=2_000_000_000))
    write_lsng(profile, "https+++example.com^partitionKey=%28https%2Cqwen.ai%29", make_token(exp=2_000_000_000))
    write_lsng(profile, "https+++chat.qwen.ai.evil.com", make_token(exp=2_000_000_000))
    assert scan_firefox(tmp_path) == [("default-release", "localStorage", NEWEST)]


def test_cookie_only_when_local_storage_has_none(tmp_path: Path) -> None:
    root = firefox_home(tmp_path, {"with-ls": "a.ls", "cookie-only": "b.cookie", "nothing": "c.none"})
    with_ls, cookie_only, nothing = (root / "Profiles" / name for name in ("a.ls", "b.cookie", "c.none"))
    write_lsng(with_ls, "https+++chat.qwen.ai", OLDEST)
    write_cookies(with_ls, [("chat.qwen.ai", "token", NEWEST, 1)])  # newer, but localStorage comes first
    write_lsng(cookie_only, "https+++chat.qwen.ai", None)  # visited, no token in localStorage
    write_cookies(
        cookie_only,
        [
            (".qwen.ai", "token", OLDER, 10),
            ("chat.qwen.ai", "token", NEWEST, 5),
            ("chat.qwen.ai", "other", make_token(exp=2_000_000_000), 1),
            ("evil.example", "token", make_token(exp=2_000_000_000), 1),
        ],
    )
    write_cookies(nothing, [("evil.example", "token", NEWEST, 1)])
    assert scan_firefox(tmp_path) == [
        ("cookie-only", "cookie", NEWEST),
        ("with-ls", "localStorage", OLDEST),
    ]


def test_webappsstore_of_older_profiles(tmp_path: Path) -> None:
    root = firefox_home(tmp_path, {"old": "o.default"})
    profile = root / "Profiles" / "o.default"
    with closing(sqlite3.connect(profile / "webappsstore.sqlite")) as connection:
        connection.execute(
            "CREATE TABLE webappsstore2 (originAttributes TEXT, originKey TEXT, scope TEXT, key TEXT, value TEXT)"
        )
        connection.executemany(
            "INSERT INTO webappsstore2 VALUES (?, ?, '', ?, ?)",
            [
                ("", "ia.newq.tahc.:https:443", "token", OLDER),
                ("^userContextId=1", "ia.newq.tahc.:https:443", "token", NEWEST),
                ("^privateBrowsingId=1", "ia.newq.tahc.:https:443", "token", make_token(exp=2_000_000_000)),
                ("", "moc.elpmaxe.:https:443", "token", make_token(exp=2_000_000_000)),
            ],
        )
        connection.commit()
    assert scan_firefox(tmp_path) == [("old", "localStorage", NEWEST)]


def test_a_live_wal_holds_the_newest_value(tmp_path: Path) -> None:
    """Firefox running: the newest token is only in data.sqlite-wal. The copy with its -wal sees it, and
    nothing in the profile changes."""
    root = firefox_home(tmp_path, {"default-release": "d.default-release"})
    database = write_lsng(root / "Profiles" / "d.default-release", "https+++chat.qwen.ai", OLDER)
    with closing(sqlite3.connect(database)) as browser:
        browser.execute("PRAGMA journal_mode = WAL")
        browser.execute("PRAGMA wal_autocheckpoint = 0")  # as a busy browser: nothing copied back yet
        browser.execute("UPDATE data SET value = ? WHERE key = 'token'", (NEWEST.encode(),))
        browser.commit()
        wal = database.with_name("data.sqlite-wal")
        assert wal.stat().st_size > 0
        with closing(sqlite3.connect(f"{database.as_uri()}?immutable=1", uri=True)) as stale:
            assert stale.execute("SELECT value FROM data WHERE key = 'token'").fetchone() == (OLDER.encode(),)
        files = sorted(database.parent.iterdir())
        before = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in files}
        assert scan_firefox(tmp_path) == [("default-release", "localStorage", NEWEST)]
        assert sorted(database.parent.iterdir()) == files
        assert {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in files} == before
        assert browser.execute("SELECT value FROM data WHERE key = 'token'").fetchone() == (NEWEST.encode(),)


def test_damaged_databases_are_skipped_with_reasons(tmp_path: Path) -> None:
    root = firefox_home(tmp_path, {"broken": "b.broken", "good": "g.good"})
    broken = root / "Profiles" / "b.broken"
    database = broken / "storage" / "default" / "https+++chat.qwen.ai" / "ls" / "data.sqlite"
    database.parent.mkdir(parents=True)
    database.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    bomb = bytes(cramjam.snappy.compress_raw(b"a" * (40 * 1024 * 1024)))
    container = write_lsng(broken, "https+++chat.qwen.ai^userContextId=1", None)
    with closing(sqlite3.connect(container)) as connection:
        connection.execute("INSERT INTO data VALUES ('token', 9, 1, 1, 0, ?)", (bomb,))
        connection.commit()
    (broken / "cookies.sqlite").write_bytes(b"not a database at all" * 100)
    write_lsng(root / "Profiles" / "g.good", "https+++chat.qwen.ai", NEWEST)
    scan = find_tokens(platform="linux", home=tmp_path, env={}, only=BrowserChoice("firefox"))
    assert [(c.profile, c.token) for c in scan.candidates] == [("good", NEWEST)]
    assert len(scan.skipped) == 3, scan.skipped
    assert scan.skipped[0].startswith(f"Firefox / broken: {database}: cannot be read (")
    assert "would expand to 41943040 bytes" in scan.skipped[1]
    assert scan.skipped[2].startswith(f"Firefox / broken: {broken / 'cookies.sqlite'}: cannot be read (")
    assert all("\n" not in line for line in scan.skipped)


def test_the_byte_limit_applies_to_copies(tmp_path: Path) -> None:
    root = firefox_home(tmp_path, {"big": "b.big"})
    profile = root / "Profiles" / "b.big"
    write_cookies(profile, [("chat.qwen.ai", "token", NEWEST, 1)])
    with closing(sqlite3.connect(profile / "cookies.sqlite")) as connection:
        connection.executemany(
            "INSERT INTO moz_cookies (host, name, value) VALUES (?, 'x', ?)",
            [(f"site{i}.example", "v" * 1000) for i in range(3000)],
        )
        connection.commit()
    scan = find_tokens(
        platform="linux",
        home=tmp_path,
        env={},
        only=BrowserChoice("firefox"),
        limits=Limits(max_bytes_per_profile=1 << 20),
    )
    assert scan.candidates == []
    assert scan.skipped == [f"Firefox / big: {profile}: stopped reading, over the limit of 1 MiB read per profile"]


def test_librewolf(tmp_path: Path) -> None:
    root = tmp_path / ".librewolf"
    (root / "x.default-default").mkdir(parents=True)
    (root / "profiles.ini").write_text("[Profile0]\nName=default-default\nIsRelative=1\nPath=x.default-default\n")
    write_lsng(root / "x.default-default", "https+++chat.qwen.ai", NEWEST)
    assert scan_firefox(tmp_path, "librewolf:Default-Default") == [("default-default", "localStorage", NEWEST)]


def test_nothing_is_left_in_the_temporary_folder_even_on_errors(tmp_path: Path, private_tmp: Path) -> None:
    root = firefox_home(tmp_path, {"p": "p.p"})
    (root / "Profiles" / "p.p" / "cookies.sqlite").write_bytes(b"junk")
    find_tokens(platform="linux", home=tmp_path, env={}, only=BrowserChoice("firefox"))
    assert list(private_tmp.iterdir()) == []


@functools.cache
def damaged_template() -> dict[str, bytes]:
    """A profile (LSNG with a live -wal, cookies) as bytes, to damage at random."""
    with tempfile.TemporaryDirectory() as workdir:
        home = Path(workdir)
        root = firefox_home(home, {"p": "p.p"})
        profile = root / "Profiles" / "p.p"
        database = write_lsng(profile, "https+++chat.qwen.ai", NEWEST, snappy=True)
        write_cookies(profile, [("chat.qwen.ai", "token", OLDER, 1)])
        with closing(sqlite3.connect(database)) as browser:
            browser.execute("PRAGMA journal_mode = WAL")
            browser.execute("PRAGMA wal_autocheckpoint = 0")
            browser.execute("UPDATE data SET last_access_time = 1")
            browser.commit()
            return {str(path.relative_to(home)): path.read_bytes() for path in home.rglob("*") if path.is_file()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=st.lists(st.tuples(st.integers(0, 20), st.floats(0, 1), st.sampled_from(["flip", "cut", "ff"]))))
def test_random_damage_never_crashes(tmp_path: Path, damage: list[tuple[int, float, str]]) -> None:
    home = Path(tempfile.mkdtemp(dir=tmp_path))
    files = dict(damaged_template())
    names = sorted(files)
    for which, where, kind in damage:
        name = names[which % len(names)]
        data = bytearray(files[name])
        at = min(int(where * len(data)), max(len(data) - 1, 0))
        if kind == "flip" and data:
            data[at] ^= 0x5A
        elif kind == "cut":
            del data[at:]
        else:
            data[at : at + 8] = b"\xff" * 8
        files[name] = bytes(data)
    for name, data in files.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_bytes(data)
    scan = find_tokens(platform="linux", home=home, env={}, only=BrowserChoice("firefox"))
    assert {c.token for c in scan.candidates} <= {NEWEST, OLDER}
    assert all("\n" not in line for line in scan.skipped)
