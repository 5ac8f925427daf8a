"""Settings: the base URL check, every key of config.toml, the environment override and reading the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tray_app.config import (
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    Settings,
    check_base_url,
    load_settings,
    parse_settings,
    save_setting,
)
from tray_app.errors import ConfigError
from tray_app.i18n import LANGUAGE_ENV


def assert_one_line(error: BaseException) -> str:
    message = str(error)
    assert message
    assert "\n" not in message
    assert "\r" not in message
    return message


# -- check_base_url ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://chat.qwen.ai", "https://chat.qwen.ai"),
        ("https://chat.qwen.ai/", "https://chat.qwen.ai"),
        ("  https://chat.qwen.ai//  ", "https://chat.qwen.ai"),
        ("https://chat.qwen.ai:8443/prefix/", "https://chat.qwen.ai:8443/prefix"),
        ("https://10.0.0.7", "https://10.0.0.7"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://127.0.0.5", "http://127.0.0.5"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://localhost", "http://localhost"),
    ],
)
def test_check_base_url_accepts(url: str, expected: str) -> None:
    assert check_base_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://chat.qwen.ai",
        "http://8.8.8.8",
        "http://10.0.0.7:8080",
        "http://192.168.1.10",
        "http://[fd00::1]",
        "http://0.0.0.0:8080",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
    ],
)
def test_check_base_url_refuses_plain_http_off_loopback(url: str) -> None:
    with pytest.raises(ConfigError, match="https is required") as caught:
        check_base_url(url)
    assert url in assert_one_line(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("ftp://chat.qwen.ai", id="ftp"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("https://", id="no-host"),
        pytest.param("chat.qwen.ai", id="no-scheme"),
        pytest.param("https://chat.qwen.ai/?a=1", id="query"),
        pytest.param("https://chat.qwen.ai/#top", id="fragment"),
    ],
)
def test_check_base_url_refuses_what_is_not_a_base_url(url: str) -> None:
    with pytest.raises(ConfigError, match="base_url") as caught:
        check_base_url(url)
    assert_one_line(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://chat.qwen.ai:abc", id="port-not-a-number"),
        pytest.param("https://chat.qwen.ai:99999", id="port-out-of-range"),
        pytest.param("https://chat.\nqwen.ai", id="newline-inside"),
        pytest.param("https://chat.qwen.ai/\tapi", id="tab-inside"),
    ],
)
def test_check_base_url_refuses_urls_the_client_cannot_use(url: str) -> None:
    """What passes here is used as is by the client: httpx would raise InvalidURL (not our error) later."""
    with pytest.raises(ConfigError, match="base_url") as caught:
        check_base_url(url)
    assert_one_line(caught.value)


# -- parse_settings ------------------------------------------------------------------------------------


def test_parse_settings_defaults() -> None:
    settings = parse_settings({}, {})
    assert settings == Settings()
    assert settings.base_url == DEFAULT_BASE_URL == "https://chat.qwen.ai"
    assert (settings.refresh_before_days, settings.storage, settings.on_refresh, settings.keyring_timeout) == (
        3.0,
        "keyring",
        None,
        10.0,
    )
    assert (settings.notify_after_refresh, settings.clear_clipboard_after) == (True, 30)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("base_url", "https://qwen.example.org/", "https://qwen.example.org"),
        ("base_url", "http://127.0.0.1:9999", "http://127.0.0.1:9999"),
        ("refresh_before_days", 5, 5.0),
        ("refresh_before_days", 0.5, 0.5),
        ("refresh_before_days", 30, 30.0),
        ("storage", "file", "file"),
        ("storage", "keyring", "keyring"),
        ("on_refresh", "my-proxy --reload", "my-proxy --reload"),
        ("keyring_timeout", 2.5, 2.5),
        ("keyring_timeout", 600, 600.0),
        ("notify_after_refresh", False, False),
        ("clear_clipboard_after", 0, 0),
        ("clear_clipboard_after", 3600, 3600),
    ],
)
def test_parse_settings_each_key(key: str, value: Any, expected: Any) -> None:
    settings = parse_settings({key: value}, {})
    assert getattr(settings, key) == expected
    assert type(getattr(settings, key)) is type(expected)


def test_parse_settings_all_keys_together() -> None:
    data = {
        "base_url": "https://qwen.example.org",
        "refresh_before_days": 2,
        "storage": "file",
        "on_refresh": "notify-send refreshed",
        "keyring_timeout": 4,
    }
    assert parse_settings(data, {}) == Settings(
        base_url="https://qwen.example.org",
        refresh_before_days=2.0,
        storage="file",
        on_refresh="notify-send refreshed",
        keyring_timeout=4.0,
    )


@pytest.mark.parametrize("key", ["refresh_days", "Storage", "section"])
def test_parse_settings_unknown_key_is_named(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({key: 1}, {})
    assert repr(key) in assert_one_line(caught.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("refresh_before_days", 0),
        ("refresh_before_days", -1),
        ("refresh_before_days", "3"),
        ("refresh_before_days", True),
        ("refresh_before_days", 100),
        ("refresh_before_days", float("nan")),
        ("refresh_before_days", float("inf")),
        ("refresh_before_days", None),
        ("storage", "cloud"),
        ("storage", ""),
        ("storage", 1),
        ("on_refresh", ""),
        ("on_refresh", "   "),
        ("on_refresh", ["my-proxy", "--reload"]),
        ("keyring_timeout", 0),
        ("keyring_timeout", -3),
        ("keyring_timeout", 601),
        ("keyring_timeout", False),
        ("base_url", 5),
        ("base_url", "http://example.com"),
        ("base_url", ""),
        ("notify_after_refresh", "yes"),
        ("notify_after_refresh", 1),
        ("clear_clipboard_after", -1),
        ("clear_clipboard_after", 3601),
        ("clear_clipboard_after", 1.5),
        ("clear_clipboard_after", True),
    ],
)
def test_parse_settings_bad_value_names_the_key(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({key: value}, {})
    assert key in assert_one_line(caught.value)


def test_the_environment_overrides_the_file_for_base_url() -> None:
    settings = parse_settings({"base_url": "https://qwen.example.org"}, {BASE_URL_ENV: "http://127.0.0.1:8080/"})
    assert settings.base_url == "http://127.0.0.1:8080"
    assert parse_settings({}, {BASE_URL_ENV: "https://other.example"}).base_url == "https://other.example"


def test_an_empty_environment_variable_is_ignored() -> None:
    assert parse_settings({"base_url": "https://qwen.example.org"}, {BASE_URL_ENV: ""}).base_url == (
        "https://qwen.example.org"
    )


@pytest.mark.parametrize("value", ["http://example.com", "ftp://x", "https://chat.qwen.ai/?a=1"])
def test_a_bad_environment_variable_is_named(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({}, {BASE_URL_ENV: value})
    assert BASE_URL_ENV in assert_one_line(caught.value)


# -- language ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("en", "en"),
        ("vi", "vi"),
        ("zh_CN", "zh_CN"),
        ("vi_VN.UTF-8", "vi"),  # as desktops write it: our catalog's name
        ("zh-Hans-CN", "zh_CN"),
        ("  zh_CN  ", "zh_CN"),
        ("en-GB", "en"),
        ("klingon", "klingon"),  # no catalog: kept, and English is spoken (quietly)
        ("de_DE", "de_DE"),
        ("zh_TW", "zh_TW"),  # Traditional Chinese has no catalog: not turned into Simplified
    ],
)
def test_language_accepts_any_language_tag(value: str, stored: str) -> None:
    assert parse_settings({"language": value}, {}).language == stored


def test_language_defaults_to_the_desktops() -> None:
    assert Settings().language is None
    assert parse_settings({}, {}).language is None


@pytest.mark.parametrize("value", [7, True, ["vi"], "", "   ", "vi VN", "../vi", "vi;rm"])
def test_a_language_that_is_not_a_language_tag_is_refused(value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"language": value}, {})
    assert "language" in assert_one_line(caught.value)


def test_the_environment_overrides_the_file_for_language() -> None:
    assert parse_settings({"language": "vi"}, {LANGUAGE_ENV: "zh_CN.UTF-8"}).language == "zh_CN"
    assert parse_settings({}, {LANGUAGE_ENV: "vi"}).language == "vi"
    assert parse_settings({"language": "vi"}, {LANGUAGE_ENV: ""}).language == "vi"  # empty: ignored
    assert parse_settings({}, {LANGUAGE_ENV: "tlh"}).language == "tlh"  # unknown: English later, no error


def test_a_language_variable_we_cannot_use_is_english_quietly(tmp_path: Path) -> None:
    """Set for some other program perhaps, it must not stop `qwen-tray token`: it is ignored, and the
    file's key, if any, stands."""
    path = tmp_path / "config.toml"
    path.write_text('language = "zh_CN"\n', encoding="utf-8")
    assert load_settings(tmp_path / "none.toml", {LANGUAGE_ENV: "vi VN"}).language is None
    assert load_settings(path, {LANGUAGE_ENV: "vi VN"}).language == "zh_CN"


def test_language_in_config_toml(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('language = "vi"\n', encoding="utf-8")
    assert load_settings(path, {}).language == "vi"
    path.write_text("language = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="language"):
        load_settings(path, {})


# -- load_settings -------------------------------------------------------------------------------------


def test_load_settings_missing_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings(tmp_path / "nowhere" / "config.toml", {}) == Settings()


def test_load_settings_missing_file_still_takes_the_environment(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "config.toml", {BASE_URL_ENV: "http://localhost:8000"})
    assert settings.base_url == "http://localhost:8000"


def test_load_settings_reads_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '# qwen-tray\nbase_url = "https://qwen.example.org/"\nrefresh_before_days = 2\n'
        'storage = "file"\non_refresh = "my-proxy --reload"\nkeyring_timeout = 3.5\n',
        encoding="utf-8",
    )
    assert load_settings(path, {}) == Settings(
        base_url="https://qwen.example.org",
        refresh_before_days=2.0,
        storage="file",
        on_refresh="my-proxy --reload",
        keyring_timeout=3.5,
    )
    assert load_settings(path, {BASE_URL_ENV: "http://127.0.0.1:1234"}).base_url == "http://127.0.0.1:1234"


def test_load_settings_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("", encoding="utf-8")
    assert load_settings(path, {}) == Settings()


@pytest.mark.parametrize(
    "text",
    [
        'storage = "file\n',
        "refresh_before_days = \n",
        "= 3\n",
        'storage = "file"\nstorage = "keyring"\n',
        "[[[\n",
    ],
)
def test_load_settings_invalid_toml_is_one_line_naming_the_path(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    message = assert_one_line(caught.value)
    assert str(path) in message
    assert "TOML" in message


def test_load_settings_bad_setting_names_the_path_and_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('storage = "cloud"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    message = assert_one_line(caught.value)
    assert str(path) in message
    assert "storage" in message


def test_load_settings_unknown_table_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[tray]\nicon = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert "'tray'" in assert_one_line(caught.value)


def test_load_settings_unreadable_file_is_one_line(tmp_path: Path) -> None:
    not_utf8 = tmp_path / "config.toml"
    not_utf8.write_bytes(b'storage = "\xff\xfe"\n')
    a_folder = tmp_path / "folder.toml"
    a_folder.mkdir()
    for path in (not_utf8, a_folder):
        with pytest.raises(ConfigError) as caught:
            load_settings(path, {})
        assert str(path) in assert_one_line(caught.value)


# -- the tray's toggles write one key, keeping the rest of the file ---------------------------------------


def test_save_setting_keeps_comments_and_other_keys(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("# my settings\nrefresh_before_days = 2  # sooner\nnotify_after_refresh = true\n")
    save_setting(config, "notify_after_refresh", False)
    save_setting(config, "clear_clipboard_after", 0)
    text = config.read_text()
    assert text.startswith("# my settings\nrefresh_before_days = 2  # sooner\n")
    assert "notify_after_refresh = false\n" in text
    assert text.count("notify_after_refresh") == 1
    settings = load_settings(config, {})
    assert (settings.refresh_before_days, settings.notify_after_refresh, settings.clear_clipboard_after) == (
        2.0,
        False,
        0,
    )


def test_save_setting_creates_the_file(tmp_path: Path) -> None:
    config = tmp_path / "qwen-tray" / "config.toml"
    save_setting(config, "clear_clipboard_after", 45)
    assert load_settings(config, {}).clear_clipboard_after == 45


def test_save_setting_refuses_a_bad_value_and_leaves_the_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("refresh_before_days = 2\n")
    with pytest.raises(ConfigError, match="clear_clipboard_after"):
        save_setting(config, "clear_clipboard_after", -5)
    assert config.read_text() == "refresh_before_days = 2\n"


def test_save_setting_will_not_write_into_a_broken_file(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("refresh_before_days = = 2\n")
    with pytest.raises(ConfigError, match="would not load"):
        save_setting(config, "notify_after_refresh", True)
    assert config.read_text() == "refresh_before_days = = 2\n"
