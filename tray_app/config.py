"""Settings from ``config.toml`` and the environment, checked once, with one-line errors naming the key."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tray_app.errors import ConfigError

DEFAULT_BASE_URL = "https://chat.qwen.ai"
BASE_URL_ENV = "QWEN_TRAY_BASE_URL"
STORAGE_KINDS = ("keyring", "file")


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


def _check_number(key: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value <= high:
        raise ConfigError(f"{key} must be a number above {low:g} and at most {high:g}, not {value!r}.")
    return float(value)


def check_base_url(url: str) -> str:
    """Return ``url`` without a trailing slash; refuse anything but https, or plain http to loopback."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"base_url must look like https://chat.qwen.ai, not {url!r}.")
    if parts.query or parts.fragment:
        raise ConfigError(f"base_url must not carry a query or fragment: {url!r}.")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(f"base_url {url!r} uses plain http: https is required (http is allowed only for localhost).")
    return url.strip().rstrip("/")


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
    known = Settings.__dataclass_fields__
    for key in data:
        if key not in known:
            raise ConfigError(f"Unknown setting {key!r} in config.toml (known: {', '.join(known)}).")
    settings = Settings()
    if "base_url" in data:
        if not isinstance(data["base_url"], str):
            raise ConfigError('base_url must be a string such as "https://chat.qwen.ai".')
        settings = replace(settings, base_url=check_base_url(data["base_url"]))
    if "refresh_before_days" in data:
        days = _check_number("refresh_before_days", data["refresh_before_days"], 0, 30)
        settings = replace(settings, refresh_before_days=days)
    if "storage" in data:
        if data["storage"] not in STORAGE_KINDS:
            raise ConfigError(f'storage must be "keyring" or "file", not {data["storage"]!r}.')
        settings = replace(settings, storage=data["storage"])
    if "on_refresh" in data:
        if not isinstance(data["on_refresh"], str) or not data["on_refresh"].strip():
            raise ConfigError('on_refresh must be a command line in a string, e.g. "my-proxy --reload".')
        settings = replace(settings, on_refresh=data["on_refresh"])
    if "keyring_timeout" in data:
        timeout = _check_number("keyring_timeout", data["keyring_timeout"], 0, 600)
        settings = replace(settings, keyring_timeout=timeout)
    if env.get(BASE_URL_ENV):
        try:
            settings = replace(settings, base_url=check_base_url(env[BASE_URL_ENV]))
        except ConfigError as exc:
            raise ConfigError(f"{BASE_URL_ENV}: {exc}") from exc
    return settings


def load_settings(path: Path, env: Mapping[str, str]) -> Settings:
    """Read ``path`` (missing is fine: defaults) and the environment."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return parse_settings({}, env)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read {path}: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    try:
        return parse_settings(data, env)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
