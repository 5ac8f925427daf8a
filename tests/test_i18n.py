"""The language: chosen from the desktop's variables as written (no setlocale), and the catalogs: every
string in the sources translated in each, with the same placeholders, compiled as shipped."""

from __future__ import annotations

import gettext
import io
import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tray_app import i18n
from tray_app.i18n import LOCALE_DIR, Text, choose_language, local, supported_language, tr

SOURCES = Path(i18n.__file__).resolve().parent
TRANSLATED = [language for language in i18n.LANGUAGES if language != "en"]
KEYWORDS = {"_": None, "N_": None, "tr": None, "ngettext": (1, 2)}


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        ("vi_VN.UTF-8", "vi"),
        ("vi", "vi"),
        ("zh_CN.UTF-8", "zh_CN"),
        ("zh-Hans-CN", "zh_CN"),
        ("zh_SG", "zh_CN"),
        ("zh", "zh_CN"),
        ("zh_TW.UTF-8", None),  # Traditional Chinese readers are not handed Simplified
        ("zh-Hant", None),
        ("en_GB.UTF-8", "en"),
        ("de_DE.UTF-8", None),
        ("C.UTF-8", None),
        ("POSIX", None),
        ("", None),
    ],
)
def test_language_tags_as_desktops_write_them(tag: str, language: str | None) -> None:
    assert supported_language(tag) == language


@pytest.mark.parametrize(
    ("configured", "env", "desktop", "language"),
    [
        (None, {}, [], "en"),
        (None, {"LANG": "vi_VN.UTF-8"}, [], "vi"),  # the locale need not exist on the machine
        (None, {"LANG": "C.UTF-8", "LANGUAGE": "zh_CN:en"}, [], "zh_CN"),
        (None, {"LANGUAGE": "fr:vi"}, [], "vi"),  # a list: the first we speak
        (None, {"LC_ALL": "de_DE.UTF-8", "LANG": "vi_VN.UTF-8"}, [], "en"),  # the first set decides: English
        (None, {"LC_MESSAGES": "zh_CN.UTF-8", "LANG": "vi_VN.UTF-8"}, [], "zh_CN"),
        (None, {"LANG": "C.UTF-8"}, ["vi-VN"], "vi"),  # C names no language: the desktop's UI language
        (None, {"QWEN_TRAY_LANGUAGE": "vi", "LANG": "zh_CN.UTF-8"}, [], "vi"),
        ("zh_CN", {"QWEN_TRAY_LANGUAGE": "vi"}, [], "zh_CN"),  # config.toml wins
        ("klingon", {"LANG": "vi_VN.UTF-8"}, [], "en"),  # unknown: English, quietly
    ],
)
def test_the_language_comes_from_config_then_the_environment_then_the_desktop(
    configured: str | None, env: dict[str, str], desktop: list[str], language: str
) -> None:
    assert choose_language(configured, env, desktop) == language


def test_a_text_is_english_for_logs_and_carries_its_translation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n._speaker, "catalog", Shouting())
    monkeypatch.setattr(i18n._speaker, "language", "vi")
    inner = tr("the keyring {name}", name="kwallet")
    outer = tr("Cannot read it from {where}: {seconds:g} s.", where=inner, seconds=2.50)
    assert outer == "Cannot read it from the keyring kwallet: 2.5 s."
    assert local(outer) == "CANNOT READ IT FROM THE KEYRING kwallet: 2.5 S."
    assert isinstance(outer, str) and isinstance(outer, Text)
    import copy

    assert local(copy.copy(outer)) == local(outer), "copies keep the translation"
    assert local("plain") == "plain"


class Shouting(gettext.NullTranslations):
    """A catalog that upper-cases every message but its placeholders: it shows what was translated."""

    def gettext(self, message: str) -> str:
        parts = re.split(r"(\{[^}]*\})", message)
        return "".join(part if part.startswith("{") else part.upper() for part in parts)


# -- the catalogs --------------------------------------------------------------------------------------


def source_messages() -> dict[str, str | None]:
    """Every message the sources mark (msgid -> plural msgid, None for a singular)."""
    found: dict[str, str | None] = {}
    for _filename, _line, message, _comments, _context in extract_from_dir(
        str(SOURCES), method_map=[("**.py", "python")], keywords=KEYWORDS
    ):
        if isinstance(message, tuple):
            found[message[0]] = message[1]
        else:
            found[message] = None
    return found


def fields(text: str) -> set[str]:
    """The placeholders of a str.format template, with their format specs: {seconds:g}."""
    return {f"{name}:{spec}" for _, name, spec, _ in string.Formatter().parse(text) if name is not None}


def catalog_of(language: str) -> object:
    path = LOCALE_DIR / language / "LC_MESSAGES" / "qwen-tray.po"
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_source_string_is_translated_with_the_same_placeholders(language: str) -> None:
    catalog = catalog_of(language)
    missing, broken = [], []
    for msgid, plural in source_messages().items():
        entry = catalog.get(msgid)  # type: ignore[attr-defined]
        strings = [] if entry is None else (list(entry.string) if plural else [entry.string])
        if not strings or not all(strings):
            missing.append(msgid)
            continue
        for translated in strings:
            if fields(translated) != fields(plural or msgid) and fields(translated) != fields(msgid):
                broken.append(f"{msgid!r} -> {translated!r}")
    assert not missing, f"{len(missing)} strings untranslated in {language}, e.g. {missing[:5]}"
    assert not broken, f"placeholders differ in {language}: {broken[:5]}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_shipped_mo_file_is_the_compiled_po_file(language: str) -> None:
    compiled = io.BytesIO()
    write_mo(compiled, catalog_of(language))  # type: ignore[arg-type]
    shipped = LOCALE_DIR / language / "LC_MESSAGES" / "qwen-tray.mo"
    assert shipped.read_bytes() == compiled.getvalue(), "run scripts/i18n.sh compile"
