"""The real-browser harness (tests/browsers.py) on its own, without the token readers (issue 9).

Each test drives real Chromium or Firefox ESR against the loopback stand-in for chat.qwen.ai and checks
the profile's raw files: the readers are tested elsewhere against what these runs leave behind. Skipped
locally when a browser is missing; a failure under CI=true (scripts/ci-apt-packages.txt installs them).
"""

from __future__ import annotations

import json
import socket
import sqlite3
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browsers import (
    HOST,
    ORIGIN,
    BrowserError,
    ChromiumProfile,
    FakeQwenSite,
    FirefoxProfile,
    chromium_key,
    chromium_value,
    cut_in_half,
    damage_newest,
    firefox_ls_value,
    make_unreadable,
    newest_file,
    open_copy,
    read_profiles_ini,
)
from tests.desktop import require
from tests.helpers import wait_for
from tray_app.simulator import QwenSimulator

#: A running browser commits on its own timers (both ~5 s after a page's write): wait well past that.
DISK_TIMEOUT = 40.0


@pytest.fixture
def tokens() -> Iterator[list[str]]:
    """Real JWTs for three accounts, signed like the site's (the simulator is not started)."""
    simulator = QwenSimulator()
    accounts = [simulator.add_account(email=f"user{n}@example.com", name=f"User {n}") for n in range(3)]
    yield [simulator.issue_token(account) for account in accounts]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[FakeQwenSite]:
    require(FakeQwenSite)  # type: ignore[arg-type]  # only its missing() is used
    with FakeQwenSite(tmp_path) as running:
        yield running


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "browser-home"
    path.mkdir()
    return path


def finished(browser: ChromiumProfile | FirefoxProfile) -> None:
    """The browser quit cleanly through its protocol and left no process behind."""
    assert not browser.running
    assert browser.clean_exit, (browser.exit_code, browser.quit_problem)
    assert browser.leftovers() == []


def raw(path: Path) -> bytes:
    return path.read_bytes()


# -- the site alone -------------------------------------------------------------------------------------------
def https_get(site: FakeQwenSite, path: str) -> tuple[bytes, bytes]:
    """A strict client: the site's certificate must verify for chat.qwen.ai against the throwaway CA."""
    context = ssl.create_default_context(cafile=str(site.ca_pem))
    with (
        socket.create_connection(site.address, timeout=10) as plain,
        context.wrap_socket(plain, server_hostname=HOST) as tls,
    ):
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def test_site_serves_the_page_over_https_on_loopback_only(site: FakeQwenSite, tokens: list[str]) -> None:
    assert site.address[0] == "127.0.0.1"
    assert site.port != 443
    visit = site.plan(tokens[0])

    head, body = https_get(site, f"/?visit={visit.id}")

    assert head.startswith(b"HTTP/1.1 200")
    cookie = f"Set-Cookie: token={tokens[0]}; Path=/; Max-Age=604800; HttpOnly; SameSite=Lax; Secure"
    assert cookie.encode() in head.split(b"\r\n")
    assert json.dumps(tokens[0]).encode() in body
    assert b'localStorage.setItem("token", plan.token)' in body
    assert visit.served == 1
    assert not visit.ran.is_set()

    removal = site.plan(None, remove=True)
    head, body = https_get(site, f"/?visit={removal.id}")
    assert b"Set-Cookie: token=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure" in head.split(b"\r\n")
    assert b'"remove": true' in body
    assert https_get(site, "/elsewhere")[0].startswith(b"HTTP/1.1 404")


# -- Chromium -------------------------------------------------------------------------------------------------
def test_chromium_stores_the_token_in_the_leveldb_log(site: FakeQwenSite, home: Path, tokens: list[str]) -> None:
    require(ChromiumProfile)
    chromium = ChromiumProfile(home, site)

    visit = chromium.visit_and_close(tokens[0])

    finished(chromium)
    assert visit.report == {"visit": visit.id, "origin": ORIGIN, "token": tokens[0], "keys": 1}
    assert chromium.leveldb_dir == home / ".config/chromium/Default/Local Storage/leveldb"
    names = {path.name for path in chromium.leveldb_files()}
    assert {"CURRENT", "LOCK"} <= names
    assert any(name.startswith("MANIFEST-") for name in names)
    holders = chromium.files_with(chromium_value(tokens[0]))
    assert [path.suffix for path in holders] == [".log"]
    assert chromium_key() in raw(holders[0])
    assert "Default" in chromium.local_state_profiles()
    # The cookie is there too, encrypted with the "basic" password store's fixed key (v10).
    with open_copy(chromium.cookies_db, home.parent) as db:
        rows = db.execute("SELECT host_key, name, is_secure, is_httponly, encrypted_value FROM cookies").fetchall()
    assert [(host, name, secure, httponly) for host, name, secure, httponly, _ in rows] == [(HOST, "token", 1, 1)]
    assert rows[0][4].startswith(b"v10")

    # Damage helpers work on the real files.
    log = newest_file(chromium.leveldb_dir, ".log")
    size = log.stat().st_size
    assert damage_newest(chromium.leveldb_dir, ".log") == log
    assert log.stat().st_size == size // 2


def test_chromium_token_changed_twice_leaves_old_values_and_a_removal_in_the_log(
    site: FakeQwenSite, home: Path, tokens: list[str]
) -> None:
    require(ChromiumProfile)
    for token in tokens:
        browser = ChromiumProfile(home, site)
        browser.visit_and_close(token)
        finished(browser)
    browser = ChromiumProfile(home, site)
    browser.visit_and_close(None, remove=True)
    finished(browser)

    # LevelDB reuses its small log across runs: every value is still there, oldest first.
    logs = browser.leveldb_files(".log")
    assert len(logs) == 1
    data = raw(logs[0])
    offsets = [data.find(chromium_value(token)) for token in tokens]
    assert -1 not in offsets
    assert offsets == sorted(offsets)
    # ... followed by a deletion record: type 0, the key's length, the key.
    key = chromium_key()
    assert data.rfind(b"\x00" + bytes([len(key)]) + key) > offsets[-1]
    assert browser.visits[0].report["token"] is None


def test_chromium_many_writes_compact_into_ldb_tables(site: FakeQwenSite, home: Path, tokens: list[str]) -> None:
    require(ChromiumProfile)
    chromium = ChromiumProfile(home, site)
    visit = chromium.visit_and_close(tokens[0], writes=200)
    finished(chromium)
    assert visit.report["keys"] == 201
    # One batch of 3 MiB sits in the log until the next start...
    assert [path.suffix for path in chromium.files_with(chromium_value(tokens[0]))] == [".log"]
    assert chromium.leveldb_files(".log")[0].stat().st_size > 3_000_000

    again = ChromiumProfile(home, site)
    again.visit_and_close(tokens[1])
    finished(again)

    # ... which writes it out as a sorted table (snappy-compressed blocks) and starts a new log.
    tables = again.leveldb_files(".ldb")
    assert tables
    assert all(0 < path.stat().st_size < 3_000_000 for path in tables)
    assert "Level-0 table" in (again.leveldb_dir / "LOG").read_text(errors="replace")
    newest_log = newest_file(again.leveldb_dir, ".log")
    assert chromium_value(tokens[1]) in raw(newest_log)
    assert chromium_value(tokens[0]) not in raw(newest_log)
    table = newest_file(again.leveldb_dir, ".ldb")
    size = table.stat().st_size
    assert cut_in_half(table) == size // 2 == table.stat().st_size
    make_unreadable(table)
    with pytest.raises(OSError):
        table.read_bytes()


def test_two_chromium_profiles_hold_two_tokens(site: FakeQwenSite, home: Path, tokens: list[str]) -> None:
    require(ChromiumProfile)
    first = ChromiumProfile(home, site)
    first.visit_and_close(tokens[0])
    second = ChromiumProfile(home, site, "Profile 1")
    second.visit_and_close(tokens[1])
    finished(first)
    finished(second)

    assert first.user_data_dir == second.user_data_dir
    assert first.files_with(chromium_value(tokens[0]))
    assert not first.files_with(chromium_value(tokens[1]))
    assert second.files_with(chromium_value(tokens[1]))
    assert not second.files_with(chromium_value(tokens[0]))
    profiles = second.local_state_profiles()
    assert {"Default", "Profile 1"} <= profiles.keys()
    assert all(entry.get("name") for entry in profiles.values())


def test_a_running_chromium_can_be_read(site: FakeQwenSite, home: Path, tokens: list[str]) -> None:
    require(ChromiumProfile)
    with ChromiumProfile(home, site) as chromium:
        # Page closed after the visit (the default): no page holds the origin's storage, Chromium commits.
        visit = chromium.visit(tokens[0])
        assert chromium.running
        assert chromium.leftovers()
        holders = wait_for(lambda: chromium.files_with(chromium_value(tokens[0])), "the closed page's write", 10.0)
        assert [path.suffix for path in holders] == [".log"]
        assert visit.ran_at is not None
        chromium.timings["closed page on disk"] = round(time.monotonic() - visit.ran_at, 1)
        # Page left open, as a person would: Chromium's own commit timer (~5 s for a first write).
        started = time.monotonic()
        chromium.visit(tokens[1], keep_open=True)
        wait_for(lambda: chromium.files_with(chromium_value(tokens[1])), "the open page's write", DISK_TIMEOUT)
        chromium.timings["open page on disk"] = round(time.monotonic() - started, 1)
        assert (chromium.leveldb_dir / "LOCK").exists()
        # A second launch on the same user-data-dir would be handed to this one: refused, nothing started.
        second = ChromiumProfile(home, site, "Profile 1")
        with pytest.raises(BrowserError, match="already runs"):
            second.start()
        assert not second.pids
    finished(chromium)


# -- Firefox --------------------------------------------------------------------------------------------------
def firefox_rows(db: sqlite3.Connection) -> dict[str, str]:
    rows = db.execute("SELECT key, value, conversion_type, compression_type FROM data").fetchall()
    return {key: firefox_ls_value((value, conversion, compression)) for key, value, conversion, compression in rows}


def test_firefox_stores_the_token_in_lsng_and_the_cookie(site: FakeQwenSite, home: Path, tokens: list[str]) -> None:
    require(FirefoxProfile)
    firefox = FirefoxProfile(home, site)

    visit = firefox.visit_and_close(tokens[0])

    finished(firefox)
    assert visit.report["origin"] == ORIGIN
    assert firefox.path is not None
    assert firefox.ls_db == firefox.path / "storage/default/https+++chat.qwen.ai/ls/data.sqlite"
    with open_copy(firefox.ls_db, home.parent) as db:
        assert firefox_rows(db) == {"token": tokens[0]}
    with open_copy(firefox.cookies_db, home.parent) as db:
        cookies = db.execute(
            "SELECT host, name, value, originAttributes, isSecure, isHttpOnly FROM moz_cookies"
        ).fetchall()
    assert cookies == [(HOST, "token", tokens[0], "", 1, 1)]
    # Registered in profiles.ini by Firefox itself, relative to ~/.mozilla/firefox.
    sections = read_profiles_ini(firefox.profiles_ini)
    profile = next(section for section in sections if section.get("Name") == "default-release")
    assert profile["IsRelative"] == "1"
    assert firefox.profiles_ini.parent / profile["Path"] == firefox.path


def test_a_running_firefox_writes_lsng_late_and_cookies_to_the_wal(
    site: FakeQwenSite, home: Path, tokens: list[str]
) -> None:
    require(FirefoxProfile)
    token = tokens[0].encode()
    with FirefoxProfile(home, site) as firefox:
        visit = firefox.visit(tokens[0])
        assert visit.ran_at is not None
        ls_dir = firefox.ls_db.parent
        if time.monotonic() - visit.ran_at < 2.0:
            # Just after the page wrote it, the value is only in memory.
            assert not ls_dir.exists() or all(token not in raw(path) for path in ls_dir.iterdir())
        wal = firefox.cookies_db.with_name("cookies.sqlite-wal")
        wait_for(lambda: wal.exists() and token in raw(wal), "the cookie in cookies.sqlite-wal", DISK_TIMEOUT)
        wait_for(lambda: firefox.ls_db.exists() and token in raw(firefox.ls_db), "data.sqlite", DISK_TIMEOUT)
        firefox.timings["lsng on disk"] = round(time.monotonic() - visit.ran_at, 1)
        # LSNG keeps a rollback journal, not a WAL: the value is in data.sqlite itself.
        assert raw(firefox.ls_db)[18] == 1
        assert not firefox.ls_db.with_name("data.sqlite-wal").exists()
        with open_copy(firefox.ls_db, home.parent) as db:
            assert firefox_rows(db) == {"token": tokens[0]}
        assert visit.report["token"] == tokens[0]
    finished(firefox)
    # Quitting checkpoints the cookie WAL into cookies.sqlite.
    assert token in raw(firefox.cookies_db)
    assert not wal.exists() or wal.stat().st_size == 0


def test_firefox_container_tab_and_a_second_profile(site: FakeQwenSite, home: Path, tokens: list[str]) -> None:
    require(FirefoxProfile)
    plain = FirefoxProfile(home, site)
    plain.visit_and_close(tokens[0])
    work = FirefoxProfile(home, site, name="work", container=2)
    work.visit_and_close(tokens[1])
    finished(plain)
    finished(work)

    assert work.path is not None
    assert work.ls_db == work.path / "storage/default/https+++chat.qwen.ai^userContextId=2/ls/data.sqlite"
    assert not (work.path / "storage/default/https+++chat.qwen.ai").exists()
    with open_copy(work.ls_db, home.parent) as db:
        assert firefox_rows(db) == {"token": tokens[1]}
    with open_copy(work.cookies_db, home.parent) as db:
        cookies = db.execute("SELECT host, name, value, originAttributes FROM moz_cookies").fetchall()
    assert cookies == [(HOST, "token", tokens[1], "^userContextId=2")]
    containers = json.loads((work.path / "containers.json").read_text())
    assert 2 in {identity["userContextId"] for identity in containers["identities"]}

    names = {section.get("Name") for section in read_profiles_ini(work.profiles_ini)}
    assert {"default-release", "work"} <= names
    assert plain.path != work.path
