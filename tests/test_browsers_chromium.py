"""Chromium-family browsers: the localStorage key and value encoding, the per-platform folder tables (pure),
profiles and their names, and the door (find_tokens, parse_browser_choice) on profiles made here."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from tests import leveldb_writer as lw
from tests.test_token import make_token
from tray_app.browsers import BROWSERS, BrowserChoice, Candidate, Limits, find_tokens, parse_browser_choice
from tray_app.browsers._places import BrowserRoot
from tray_app.browsers.chromium import TOKEN_KEY, chromium_roots, decode_value, list_profiles, profile_names
from tray_app.errors import BrowserError, QwenTrayError

TOKEN = make_token(exp=1_900_000_000)
OLDER = make_token(exp=1_800_000_000)


def latin1(text: str) -> bytes:
    return b"\x01" + text.encode("latin-1")


def utf16(text: str) -> bytes:
    return b"\x00" + text.encode("utf-16-le")


def test_the_key_is_chat_qwen_ai_token() -> None:
    assert TOKEN_KEY == b"_https://chat.qwen.ai\x00\x01token"


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (latin1("eyJ.abc.def"), "eyJ.abc.def"),
        (utf16("eyJ.abc.def"), "eyJ.abc.def"),
        (utf16("ü€"), "ü€"),
        (latin1("café"), "café"),
        (b"\x01", ""),
    ],
    ids=["latin1", "utf16", "utf16-non-latin", "latin1-accent", "empty"],
)
def test_values_decode(raw: bytes, text: str) -> None:
    assert decode_value(raw) == text


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"\x02abc", "starts with 2"),
        (b"\x00abc", "odd number of bytes"),
        (b"\x00\x00", "odd number of bytes"),
        (b"\x00\x00\xd8\x41\x00", "does not decode"),  # a lone surrogate
    ],
)
def test_undecodable_values_say_why(raw: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        decode_value(raw)


# --- where the profiles are (pure tables) ---------------------------------------------------------------


def paths(roots: list[BrowserRoot], browser: str) -> list[str]:
    return [str(root.path) for root in roots if root.browser == browser]


def test_linux_table() -> None:
    roots = chromium_roots("linux", "/home/ann", {})
    assert paths(roots, "chrome") == [
        "/home/ann/.config/google-chrome",
        "/home/ann/.config/google-chrome-beta",
        "/home/ann/.config/google-chrome-unstable",
        "/home/ann/.var/app/com.google.Chrome/config/google-chrome",
    ]
    assert paths(roots, "chromium") == [
        "/home/ann/.config/chromium",
        "/home/ann/snap/chromium/common/chromium",
        "/home/ann/.var/app/org.chromium.Chromium/config/chromium",
        "/home/ann/.var/app/io.github.ungoogled_software.ungoogled_chromium/config/chromium",
    ]
    assert "/home/ann/.config/BraveSoftware/Brave-Browser" in paths(roots, "brave")
    assert "/home/ann/snap/brave/current/.config/BraveSoftware/Brave-Browser" in paths(roots, "brave")
    assert "/home/ann/.config/microsoft-edge" in paths(roots, "edge")
    assert "/home/ann/.config/vivaldi" in paths(roots, "vivaldi")
    assert "/home/ann/.config/opera" in paths(roots, "opera")
    assert {root.browser for root in roots} == set(BROWSERS) - {"firefox", "librewolf"}
    assert all(isinstance(root.path, PurePosixPath) for root in roots)


def test_linux_follows_xdg_config_home_but_not_a_relative_one() -> None:
    moved = chromium_roots("linux", "/home/ann", {"XDG_CONFIG_HOME": "/data/cfg"})
    assert paths(moved, "chrome")[0] == "/data/cfg/google-chrome"
    assert paths(moved, "chromium")[1] == "/home/ann/snap/chromium/common/chromium"  # snap and flatpak stay
    relative = chromium_roots("freebsd14", "/home/ann", {"XDG_CONFIG_HOME": "cfg"})
    assert paths(relative, "chrome")[0] == "/home/ann/.config/google-chrome"


def test_macos_table() -> None:
    roots = chromium_roots("darwin", "/Users/ann", {"XDG_CONFIG_HOME": "/ignored"})
    support = "/Users/ann/Library/Application Support"
    assert paths(roots, "chrome")[0] == f"{support}/Google/Chrome"
    assert paths(roots, "chromium") == [f"{support}/Chromium"]
    assert paths(roots, "edge")[0] == f"{support}/Microsoft Edge"
    assert paths(roots, "brave")[0] == f"{support}/BraveSoftware/Brave-Browser"
    assert paths(roots, "vivaldi") == [f"{support}/Vivaldi"]
    assert paths(roots, "opera") == [f"{support}/com.operasoftware.Opera", f"{support}/com.operasoftware.OperaGX"]


def test_windows_table_from_the_environment() -> None:
    env = {"LOCALAPPDATA": r"D:\Users\ann\AppData\Local", "APPDATA": r"D:\Users\ann\AppData\Roaming"}
    roots = chromium_roots("win32", r"C:\Users\ann", env)
    assert all(isinstance(root.path, PureWindowsPath) for root in roots)
    assert paths(roots, "chrome")[0] == r"D:\Users\ann\AppData\Local\Google\Chrome\User Data"
    assert r"D:\Users\ann\AppData\Local\Google\Chrome SxS\User Data" in paths(roots, "chrome")  # Canary
    assert paths(roots, "chromium") == [r"D:\Users\ann\AppData\Local\Chromium\User Data"]
    assert paths(roots, "edge")[0] == r"D:\Users\ann\AppData\Local\Microsoft\Edge\User Data"
    assert paths(roots, "brave")[0] == r"D:\Users\ann\AppData\Local\BraveSoftware\Brave-Browser\User Data"
    assert paths(roots, "vivaldi") == [r"D:\Users\ann\AppData\Local\Vivaldi\User Data"]
    assert paths(roots, "opera") == [
        r"D:\Users\ann\AppData\Roaming\Opera Software\Opera Stable",
        r"D:\Users\ann\AppData\Roaming\Opera Software\Opera GX Stable",
    ]


def test_windows_without_the_variables_uses_the_home() -> None:
    roots = chromium_roots("win32", r"C:\Users\ann", {"LOCALAPPDATA": "relative\\path"})
    assert paths(roots, "chrome")[0] == r"C:\Users\ann\AppData\Local\Google\Chrome\User Data"
    assert paths(roots, "opera")[0] == r"C:\Users\ann\AppData\Roaming\Opera Software\Opera Stable"


# --- profiles ---------------------------------------------------------------------------------------------


def local_state(names: dict[str, str]) -> str:
    return json.dumps({"profile": {"info_cache": {folder: {"name": name} for folder, name in names.items()}}})


def test_profile_names_from_local_state() -> None:
    text = local_state({"Default": "Ann", "Profile 3": "Work"}).encode()
    assert profile_names(text) == {"Default": "Ann", "Profile 3": "Work"}
    assert profile_names(b"{}") == {}
    unsafe = json.dumps({"profile": {"info_cache": {"../../etc": {"name": "x"}, "Profile 1": {"name": " "}}}})
    assert profile_names(unsafe.encode()) == {"Profile 1": "Profile 1"}
    for damaged in (b"{not json", b'{"profile": {"info_cache": []}}', b"[" * 100_000):
        with pytest.raises(ValueError, match=r"not valid JSON|not a JSON object"):
            profile_names(damaged)


def make_profile(root: Path, folder: str, token_value: bytes | None) -> lw.Database:
    """A profile whose localStorage holds another site's token and, unless None, chat.qwen.ai's."""
    profile = root / folder if folder else root
    db = lw.Database(profile / "Local Storage" / "leveldb")
    db.put(b"_https://other.example\x00\x01token", latin1("someone else's"))
    if token_value is not None:
        db.put(TOKEN_KEY, token_value)
    return db


def test_list_profiles_orders_and_names_them(tmp_path: Path) -> None:
    root = tmp_path / "google-chrome"
    for folder in ("Profile 10", "Profile 2", "Default", "System Profile", "Guest Profile", "Named"):
        (root / folder).mkdir(parents=True)
    (root / "Local State").write_text(local_state({"Profile 2": "Work", "Named": "Odd one"}))
    problems: list[str] = []
    profiles = list_profiles(BrowserRoot("chrome", "Google Chrome", root), problems)
    assert [(p.folder, p.name) for p in profiles] == [
        ("Default", "Default"),
        ("Profile 2", "Work"),
        ("Profile 10", "Profile 10"),
        ("Named", "Odd one"),
    ]
    assert problems == []


def test_a_damaged_local_state_still_lists_profiles(tmp_path: Path) -> None:
    root = tmp_path / "chromium"
    (root / "Default").mkdir(parents=True)
    (root / "Local State").write_text("{trunc")
    problems: list[str] = []
    profiles = list_profiles(BrowserRoot("chromium", "Chromium", root), problems)
    assert [p.folder for p in profiles] == ["Default"]
    assert problems == ["Chromium: Local State unreadable (it is not valid JSON); profiles shown by folder name"]


def test_opera_keeps_its_profile_in_the_data_folder(tmp_path: Path) -> None:
    root = tmp_path / ".config" / "opera"
    make_profile(root, "", latin1(TOKEN))
    scan = find_tokens(platform="linux", home=tmp_path, env={})
    assert [(c.browser, c.profile, c.profile_name) for c in scan.candidates] == [("opera", "", "Opera")]


# --- the door -------------------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Chrome with two profiles (Work holds the newest token), Brave with a UTF-16 token, and Chromium
    (snap) signed out."""
    chrome = tmp_path / ".config" / "google-chrome"
    make_profile(chrome, "Default", latin1(OLDER))
    make_profile(chrome, "Profile 1", latin1(TOKEN))
    (chrome / "Local State").write_text(local_state({"Default": "Ann", "Profile 1": "Work"}))
    make_profile(tmp_path / ".config" / "BraveSoftware" / "Brave-Browser", "Default", utf16(TOKEN))
    signed_out = make_profile(tmp_path / "snap" / "chromium" / "common" / "chromium", "Default", latin1(OLDER))
    signed_out.flush()
    signed_out.delete(TOKEN_KEY)  # signing out removes the key
    return tmp_path


def test_find_tokens_returns_one_candidate_per_profile_newest_first(home: Path) -> None:
    scan = find_tokens(platform="linux", home=home, env={})
    assert [(c.browser_name, c.profile_name, c.source) for c in scan.candidates] == [
        ("Google Chrome", "Work", "localStorage"),
        ("Brave", "Default", "localStorage"),
        ("Google Chrome", "Ann", "localStorage"),
    ]
    work, brave, ann = scan.candidates
    assert work.token == brave.token == TOKEN and ann.token == OLDER
    assert work.claims is not None and work.claims.expires_at == 1_900_000_000 and work.problem is None
    assert work.location.endswith("Profile 1/Local Storage/leveldb/000002.log")
    assert scan.skipped == []
    assert scan.searched == [
        "Google Chrome / Ann",
        "Google Chrome / Work",
        "Chromium (snap) / Default",
        "Brave / Default",
    ]


def test_the_token_never_shows_in_repr_or_str(home: Path) -> None:
    scan = find_tokens(platform="linux", home=home, env={})
    for text in (repr(scan), str(scan), repr(scan.candidates[0]), str(scan.candidates[0])):
        assert TOKEN not in text and OLDER not in text
        assert TOKEN.split(".")[1] not in text


def test_only_one_browser_or_profile(home: Path) -> None:
    work = find_tokens(platform="linux", home=home, env={}, only=parse_browser_choice("Chrome:work"))
    assert [(c.profile, c.profile_name) for c in work.candidates] == [("Profile 1", "Work")]
    by_folder = find_tokens(platform="linux", home=home, env={}, only=BrowserChoice("chrome", "profile 1"))
    assert [c.profile for c in by_folder.candidates] == ["Profile 1"]
    brave = find_tokens(platform="linux", home=home, env={}, only=BrowserChoice("brave"))
    assert [c.browser for c in brave.candidates] == ["brave"]
    missing = find_tokens(platform="linux", home=home, env={}, only=BrowserChoice("chrome", "Play"))
    assert missing.candidates == []
    assert missing.skipped == ["Google Chrome has no profile 'Play' (its profiles: Ann, Work)"]
    absent = find_tokens(platform="linux", home=home, env={}, only=BrowserChoice("vivaldi"))
    assert absent.skipped == ["Vivaldi: no profiles found for this user"]


def test_a_value_that_is_not_a_jwt_comes_with_the_reason(tmp_path: Path) -> None:
    make_profile(tmp_path / ".config" / "chromium", "Default", latin1("not-a-token"))
    (candidate,) = find_tokens(platform="linux", home=tmp_path, env={}).candidates
    assert candidate.claims is None
    assert candidate.problem is not None and candidate.problem.startswith("Not a token")


def test_a_damaged_profile_is_skipped_with_a_reason_and_the_rest_still_read(home: Path) -> None:
    leveldb = home / ".config" / "google-chrome" / "Profile 1" / "Local Storage" / "leveldb"
    for log in leveldb.glob("*.log"):
        log.write_bytes(b"\xff" * 100)  # a header claiming 65535 bytes in a 100-byte file
    scan = find_tokens(platform="linux", home=home, env={})
    assert [c.profile_name for c in scan.candidates] == ["Default", "Ann"]
    assert len(scan.skipped) == 1
    assert scan.skipped[0].startswith(f"Google Chrome / Work: {leveldb}: 000002.log: the last record (at byte 0)")


def test_limits_skip_with_reasons(home: Path) -> None:
    tight = find_tokens(platform="linux", home=home, env={}, limits=Limits(max_bytes_per_profile=64))
    assert tight.candidates == []
    assert len(tight.skipped) == 4
    assert all("stopped reading: over the limit of 64 bytes read per profile" in line for line in tight.skipped)
    ticks = iter(range(0, 1000, 5))
    late = find_tokens(platform="linux", home=home, env={}, limits=Limits(max_seconds=1), clock=lambda: next(ticks))
    assert late.candidates == []
    assert late.skipped[-1].startswith("not read, over the time limit of 1 s: ")


def test_the_same_folder_reached_twice_is_read_once(home: Path) -> None:
    scan = find_tokens(platform="linux", home=home, env={"XDG_CONFIG_HOME": str(home / ".config")})
    assert len(scan.candidates) == 3


# --- choosing a browser ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "choice"),
    [
        ("Firefox:default-release", BrowserChoice("firefox", "default-release")),
        ("chrome", BrowserChoice("chrome")),
        (" EDGE : Profile 2 ", BrowserChoice("edge", "Profile 2")),
        ("brave:Work:2", BrowserChoice("brave", "Work:2")),
        ("LibreWolf", BrowserChoice("librewolf")),
    ],
)
def test_parse_browser_choice(text: str, choice: BrowserChoice) -> None:
    assert parse_browser_choice(text) == choice


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("safari", "Unknown browser 'safari': use one of chrome, chromium, edge, brave, vivaldi, opera, firefox, "),
        ("", "Unknown browser ''"),
        ("firefox:", "No profile after 'firefox:'"),
    ],
)
def test_parse_browser_choice_refuses_with_one_line(text: str, message: str) -> None:
    with pytest.raises(BrowserError) as caught:
        parse_browser_choice(text)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, QwenTrayError) and caught.value.kind == "browser"


def test_candidate_label() -> None:
    candidate = Candidate("chrome", "Google Chrome", "Profile 1", "Work", "localStorage", "/x", "t", None, "why")
    assert candidate.label == "Google Chrome / Work"
