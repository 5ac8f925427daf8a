"""The user's language: English, Vietnamese or Simplified Chinese, through gettext (standard library).

Everything a person reads goes through here: ``_()`` and ``ngettext()`` for words only a person reads
(menus, notifications, the CLI's own lines), ``tr()`` for messages that are also logged (errors):
a :class:`Text` is English as a ``str`` (what logs, ``repr`` and JSON get) and carries the translation
in :attr:`Text.local`, which is what a person is shown (:func:`local`). Machine-readable output (JSON
keys and values, state names, ``enabled``/``disabled``, exit codes) and the log stay English.

The language is the one named by ``language`` in config.toml or ``QWEN_TRAY_LANGUAGE``; else the
desktop's, from ``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` (read as text: nothing depends on
``locale.setlocale``, and many headless boxes have only ``C.UTF-8``), or the UI language on Windows and
macOS. A language we have no catalog for is English, quietly. Catalogs load on first use: ``qwen-tray
token`` never pays for them.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import gettext

DOMAIN = "qwen-tray"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
#: The languages with a catalog (English is the source), as gettext names their folders.
LANGUAGES = ("en", "vi", "zh_CN")
LANGUAGE_ENV = "QWEN_TRAY_LANGUAGE"
#: Where the desktop names its language on Unix, in the order gettext itself reads them.
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")



class _Speaker:
    """The language chosen and its catalog: one per process, behind a lock (any thread may translate)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: What config.toml names (set_language()); the language itself is chosen on first use.
        self.configured: str | None = None
        self.language: str | None = None
        self.catalog: gettext.NullTranslations | None = None


_speaker = _Speaker()


def supported_language(tag: str) -> str | None:
    """The catalog for a language tag as desktops and people write it (``vi_VN.UTF-8``, ``zh-Hans-CN``,
    ``zh_CN``, ``en-GB``, ``vi``), or None: Traditional Chinese (``zh_TW``, ``zh-Hant``) has no catalog
    of its own and is not given the Simplified one; ``C`` and ``POSIX`` name no language."""
    base = tag.strip().split(".", 1)[0].split("@", 1)[0].replace("-", "_")
    if not base or base.upper() in ("C", "POSIX"):
        return None
    parts = [part.lower() for part in base.split("_")]
    if parts[0] == "en":
        return "en"
    if parts[0] == "vi":
        return "vi"
    if parts[0] == "zh":
        rest = set(parts[1:])
        if rest & {"tw", "hk", "mo", "hant"}:
            return None
        return "zh_CN"
    return None


def choose_language(
    configured: str | None, env: Mapping[str, str], desktop: Sequence[str] = ()
) -> str:
    """The language to speak: ``configured`` (config.toml's ``language``), else ``QWEN_TRAY_LANGUAGE``
    (either one, when it names a language we have no catalog for, means English); else the first of
    ``LANGUAGE``'s list (``fr:vi``) we speak; else the first of ``LC_ALL``, ``LC_MESSAGES`` and ``LANG``
    that is set to a language (not ``C``), English when we do not speak it; else the desktop's UI
    languages (Windows, macOS); else English."""
    for chosen in (configured, env.get(LANGUAGE_ENV)):
        if chosen and chosen.strip():
            return supported_language(chosen) or "en"
    for tag in env.get("LANGUAGE", "").split(":"):
        language = supported_language(tag)
        if language is not None:
            return language
    for variable in LOCALE_VARIABLES[1:]:
        value = env.get(variable, "")
        if _names_a_language(value):
            return supported_language(value) or "en"
    for tag in desktop:
        language = supported_language(tag)
        if language is not None:
            return language
    return "en"


def _names_a_language(tag: str) -> bool:
    return tag.strip().split(".", 1)[0].upper() not in ("", "C", "POSIX")


def desktop_languages() -> list[str]:
    """The UI languages Windows or macOS report, best first (none on other systems, or on failure)."""
    if sys.platform == "win32":
        import ctypes
        import locale

        lcid = ctypes.windll.kernel32.GetUserDefaultUILanguage()  # type: ignore[attr-defined]
        name = locale.windows_locale.get(int(lcid))
        return [name] if name else []
    if sys.platform == "darwin":
        import subprocess

        try:
            answer = subprocess.run(
                ["/usr/bin/defaults", "read", "-g", "AppleLanguages"],
                capture_output=True,
                text=True,
                timeout=2,
                check=False,
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return []
        return [item.strip().strip('",') for item in answer.strip("()\n ").split("\n") if item.strip().strip('",')]
    return []


def set_language(configured: str | None) -> None:
    """The language config.toml names (None: none); the CLI calls this once it has read the file. It
    costs nothing: the language is chosen, and its catalog loaded, when something is first translated
    (on macOS, asking the desktop runs a program, which `qwen-tray token` must not pay for)."""
    with _speaker.lock:
        _speaker.configured = configured
        _speaker.language = None
        _speaker.catalog = None


def _desktop_if_needed(configured: str | None) -> list[str]:
    """The desktop's UI languages, asked only when nothing else names a language (on macOS, asking
    runs a program)."""
    env = os.environ
    if configured or env.get(LANGUAGE_ENV) or any(_names_a_language(env.get(v, "")) for v in LOCALE_VARIABLES):
        return []
    return desktop_languages()


def _translations() -> gettext.NullTranslations:
    import gettext  # here, not at the top: `qwen-tray token` imports this module and never translates

    with _speaker.lock:
        if _speaker.catalog is None:
            if _speaker.language is None:
                configured = _speaker.configured
                _speaker.language = choose_language(configured, os.environ, _desktop_if_needed(configured))
            _speaker.catalog = gettext.translation(DOMAIN, LOCALE_DIR, languages=[_speaker.language], fallback=True)
        return _speaker.catalog


def _(message: str) -> str:
    """``message`` in the user's language."""
    return _translations().gettext(message)


def N_(message: str) -> str:
    """Marks ``message`` for the catalog without translating it now (it is translated where it is shown,
    e.g. argparse's help, built on every run but printed only on request)."""
    return message


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural of a message, as the user's language counts (Vietnamese and Chinese have
    one form)."""
    return _translations().ngettext(singular, plural, count)


class Text(str):
    """A message in English (its ``str`` value: for logs) that carries its translation (:attr:`local`:
    for people). Made by :func:`tr`."""

    local: str

    def __new__(cls, english: str, translated: str) -> Text:
        text = super().__new__(cls, english)
        text.local = translated
        return text

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]  # copy and pickle keep both
        return str(self), self.local


def tr(template: str, **params: Any) -> Text:
    """``template`` filled with ``params``, in English and in the user's language; a parameter that is a
    :class:`Text` itself is filled in its own language in each."""
    english = template.format(**params)
    translated = _(template).format(**{name: local(value) for name, value in params.items()})
    return Text(english, translated)


def local(message: object) -> Any:
    """What a person is shown of ``message``: a :class:`Text`'s translation; anything else as it is."""
    return message.local if isinstance(message, Text) else message


def joined(items: Iterable[str], separator: str = ", ") -> Text:
    """Listed items (account labels, profiles) as one message parameter: English joined from their
    English, the translation from their translations (an item that is a plain ``str`` is both)."""
    listed = list(items)
    return Text(separator.join(listed), separator.join(str(local(each)) for each in listed))
