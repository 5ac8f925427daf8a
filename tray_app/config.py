"""Settings from ``config.toml`` and the environment, checked once, with one-line errors naming the key."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tray_app.errors import ConfigError
from tray_app.i18n import LANGUAGE_ENV, supported_language, tr

DEFAULT_BASE_URL = "https://chat.qwen.ai"
BASE_URL_ENV = "QWEN_TRAY_BASE_URL"
STORAGE_KINDS = ("keyring", "file")
#: A language tag as people and desktops write it: ``vi``, ``zh_CN``, ``zh-Hans``, ``vi_VN.UTF-8``, ``en@latin``.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:[_.@-][A-Za-z0-9]{1,16}){0,4}")


@dataclass(frozen=True)
class Settings:
    """Every setting; the defaults are what a user who never wrote a config gets."""

    base_url: str = DEFAULT_BASE_URL
    #: Refresh once fewer than this many days are left (the token lives about 7).
    refresh_before_days: float = 3.0
    #: "keyring" (the OS keyring) or "file" (opt-in plain 0600 file).
    storage: str = "keyring"
    #: A command run after each new token, the token on its stdin.
    on_refresh: str | None = None
    #: Seconds any single keyring call may take before we call the keyring stuck.
    keyring_timeout: float = 10.0
    #: The tray notifies after each successful refresh (failures are always notified).
    notify_after_refresh: bool = True
    #: The tray clears a token it copied from the clipboard after this many seconds (0: never).
    clear_clipboard_after: int = 30
    #: When the stored token is rejected, expired, or about to expire while refreshing fails, look in the
    #: browsers for a newer token of the same account (opt-in: it reads browser profiles).
    recover_from_browser: bool = False
    #: With several accounts: at most this many refreshes on the wire at once, and this many started per
    #: second, so accounts falling due together never reach chat.qwen.ai at once.
    max_refreshes_in_flight: int = 4
    max_refreshes_per_second: float = 2.0
    #: The language to speak ("en", "vi", "zh_CN", or as the desktop writes it: "vi_VN.UTF-8"); None: the
    #: desktop's. One we have no catalog for is English, quietly (tray_app.i18n.choose_language).
    language: str | None = None
    #: Where browser profiles are looked for (None: the person's home). Not a config key: the demo's.
    browser_home: str | None = None


Validator = Callable[[str, Any], Any]


def _number(low: float, high: float) -> Validator:
    def check(key: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value <= high:
            raise ConfigError(
                tr(
                    "{key} must be a number above {low:g} and at most {high:g}, not {value}.",
                    key=key,
                    low=low,
                    high=high,
                    value=repr(value),
                )
            )
        return float(value)

    return check


def _whole_seconds(high: int) -> Validator:
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
            raise ConfigError(
                tr(
                    "{key} must be a whole number of seconds from 0 to {high}, not {value}.",
                    key=key,
                    high=high,
                    value=repr(value),
                )
            )
        return value

    return check


def _whole_number(low: int, high: int) -> Validator:
    def check(key: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigError(
                tr(
                    "{key} must be a whole number from {low} to {high}, not {value}.",
                    key=key,
                    low=low,
                    high=high,
                    value=repr(value),
                )
            )
        return value

    return check


def _boolean(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(tr("{key} must be true or false, not {value}.", key=key, value=repr(value)))
    return value


def _storage(key: str, value: Any) -> str:
    if value not in STORAGE_KINDS:
        raise ConfigError(tr('{key} must be "keyring" or "file", not {value}.', key=key, value=repr(value)))
    return str(value)


def _command(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(tr('{key} must be a command line in a string, e.g. "my-proxy --reload".', key=key))
    return value


def _base_url(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(tr('{key} must be a string such as "https://chat.qwen.ai".', key=key))
    return check_base_url(value)


def _language(key: str, value: Any) -> str:
    """A language tag: kept as written unless it names one of our catalogs (then that catalog's name:
    "vi_VN.UTF-8" is "vi"); a well-formed tag we have no catalog for is kept, and English is spoken."""
    if not isinstance(value, str) or not _LANGUAGE_TAG.fullmatch(value.strip()):
        raise ConfigError(
            tr(
                '{key} must be a language such as "en", "vi" or "zh_CN", not {value}.',
                key=key,
                value=repr(value),
            )
        )
    return supported_language(value) or value.strip()


#: How each key in config.toml is checked (and turned into its Settings value).
VALIDATORS: dict[str, Validator] = {
    "base_url": _base_url,
    "refresh_before_days": _number(0, 30),
    "storage": _storage,
    "on_refresh": _command,
    "keyring_timeout": _number(0, 600),
    "notify_after_refresh": _boolean,
    "clear_clipboard_after": _whole_seconds(3600),
    "recover_from_browser": _boolean,
    "max_refreshes_in_flight": _whole_number(1, 64),
    "max_refreshes_per_second": _number(0, 100),
    "language": _language,
}


def check_base_url(url: str) -> str:
    """Return ``url`` without a trailing slash; refuse anything but https, or plain http to loopback."""
    url = url.strip()
    if any(character.isspace() or ord(character) < 32 for character in url):
        raise ConfigError(tr("base_url must not contain spaces or control characters: {url}.", url=repr(url)))
    parts = urlsplit(url)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme not in ("https", "http") or not parts.hostname or not port_ok:
        raise ConfigError(tr("base_url must look like https://chat.qwen.ai, not {url}.", url=repr(url)))
    if parts.query or parts.fragment:
        raise ConfigError(tr("base_url must not carry a query or fragment: {url}.", url=repr(url)))
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            tr(
                "base_url {url} uses plain http: https is required (http is allowed only for localhost).",
                url=repr(url),
            )
        )
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_settings(data: Mapping[str, Any], env: Mapping[str, str]) -> Settings:
    """Build Settings from a parsed config file and the environment (which wins for base_url)."""
    values = {}
    for key, value in data.items():
        validator = VALIDATORS.get(key)
        if validator is None:
            raise ConfigError(
                tr(
                    "Unknown setting {key} in config.toml (known: {known}).",
                    key=repr(key),
                    known=", ".join(VALIDATORS),
                )
            )
        values[key] = validator(key, value)
    return with_environment(Settings(**values), env)


def with_environment(settings: Settings, env: Mapping[str, str]) -> Settings:
    """Apply the environment's overrides (it wins over the file): QWEN_TRAY_BASE_URL, QWEN_TRAY_LANGUAGE."""
    if env.get(BASE_URL_ENV):
        try:
            settings = replace(settings, base_url=check_base_url(env[BASE_URL_ENV]))
        except ConfigError as exc:
            raise ConfigError(tr("{variable}: {reason}", variable=BASE_URL_ENV, reason=exc.message)) from exc
    if env.get(LANGUAGE_ENV, "").strip():
        # A language we cannot use is English, quietly: a variable set for some other program must
        # not stop `qwen-tray token`.
        with contextlib.suppress(ConfigError):
            settings = replace(settings, language=_language(LANGUAGE_ENV, env[LANGUAGE_ENV]))
    return settings


def parse_toml(text: str, path: Path) -> dict[str, Any]:
    """Parse config text; tomllib is imported only when there is a file (keeps `qwen-tray token` lean)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            tr("{path} is not valid TOML: {reason}", path=path, reason=" ".join(str(exc).split()))
        ) from exc
    return data


def load_settings(path: Path, env: Mapping[str, str]) -> Settings:
    """Read ``path`` (missing is fine: defaults) and the environment."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return parse_settings({}, env)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(tr("Cannot read {path}: {error}", path=path, error=exc)) from exc
    data = parse_toml(text, path)
    try:
        settings = parse_settings(data, {})
    except ConfigError as exc:
        raise ConfigError(tr("{path}: {reason}", path=path, reason=exc.message)) from exc
    return with_environment(settings, env)


def save_setting(path: Path, key: str, value: bool | int) -> None:
    """Set one top-level key in config.toml (the tray's toggles), keeping the user's other lines and comments.

    Only booleans and whole numbers are written this way; the result is parsed again before it replaces
    the file, so a toggle can never leave a config that does not load.
    """
    import re

    from tray_app.state import write_atomically

    VALIDATORS[key](key, value)
    literal = str(value).lower() if isinstance(value, bool) else str(value)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    line = f"{key} = {literal}"
    pattern = re.compile(rf"^{re.escape(key)}\s*=.*$", re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(line, text, count=1)
    else:
        first_table = re.search(r"^\[", text, re.MULTILINE)
        at = first_table.start() if first_table else len(text)
        head = text[:at]
        if head and not head.endswith("\n"):
            head += "\n"
        text = head + line + "\n" + text[at:]
    try:
        parse_settings(parse_toml(text, path), {})
    except ConfigError as exc:
        raise ConfigError(
            tr(
                "Cannot save {key} to {path}: the file would not load ({reason}).",
                key=key,
                path=path,
                reason=exc.message,
            )
        ) from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, text)
