"""The tray in Vietnamese and Simplified Chinese (issue 11), end to end on the virtual desktop.

The language comes from the environment a desktop session gives its programs: ``LANG=vi_VN.UTF-8`` (a
locale that is not generated on this machine: nothing may depend on ``setlocale``) or
``QWEN_TRAY_LANGUAGE``. On xfce4-panel (StatusNotifierItem) the menu is read as the panel reads it
(DBusMenu ``GetLayout``), Copy token is clicked as the panel clicks it, and dunst, the real notification
server, says what the person was told; a language with no catalog (German) is English. Under trayer
(the gtk backend) the menu is opened with a right click, and with QWEN_TRAY_SCREENSHOTS=<folder> its
screenshot is kept (the READMEs' ``menu-vi.png`` and ``menu-zh_CN.png`` come from here).

Expected words come from the compiled catalogs themselves (``gettext.translation``), plus a few written
out by hand, so that a catalog that were English (or missing) fails.
"""

from __future__ import annotations

import gettext
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests import desktop
from tests.helpers import wait_for
from tests.test_tray_e2e import Desktop, TrayDriver, fresh_driver, trayer_desktop
from tests.test_tray_sni_e2e import PanelDesktop, SniDriver, panel_session
from tray_app import icon
from tray_app.i18n import DOMAIN, LOCALE_DIR
from tray_app.policy import TokenState
from tray_app.sni.pixmaps import argb32_pixmaps
from tray_app.tray import ICON_SIZE

EMAIL = "alice@example.com"
#: 5 d 11 h 30 min: the menu says "5 d 11 h left" for half an hour, and the badge says "5".
LIFETIME = 5 * 86400 + 11 * 3600 + 1800
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: The menu's items after the header, in order (one account, a token stored, clear after 30 s).
ITEMS = (
    "Copy token",
    "Paste new token",
    "Import from browser",
    "Refresh now",
    "Open chat.qwen.ai",
    "How to get a token",
    "Notify after each refresh",
    "Clear clipboard after {seconds} s",
    "Recover from the browser",
    "Start at login",
    "Open log folder",
    "Quit",
)
NOT_A_TOKEN = "Not a token: a chat.qwen.ai token has three parts separated by dots, this text has no dots."
#: Written out by hand: what a reader of the language sees (an English or absent catalog fails here).
LITERALS = {
    "vi": {"Copy token": "Sao chép token", "Quit": "Thoát", "Qwen token copied": "Đã sao chép token Qwen"},
    "zh_CN": {"Copy token": "复制令牌", "Quit": "退出", "Qwen token copied": "已复制 Qwen 令牌"},
    "en": {"Copy token": "Copy token", "Quit": "Quit", "Qwen token copied": "Qwen token copied"},
}
#: (the catalog expected, the environment that asks for a language)
LANGUAGES = [
    pytest.param("vi", {"LANG": "vi_VN.UTF-8"}, id="vi-from-LANG"),
    pytest.param("zh_CN", {"QWEN_TRAY_LANGUAGE": "zh_CN"}, id="zh_CN-from-QWEN_TRAY_LANGUAGE"),
    pytest.param("en", {"LANG": "de_DE.UTF-8"}, id="de-from-LANG-is-English"),
    pytest.param("en", {"QWEN_TRAY_LANGUAGE": "de"}, id="de-from-QWEN_TRAY_LANGUAGE-is-English"),
]


def catalog(language: str) -> gettext.NullTranslations:
    """The compiled catalog (English: the source strings themselves)."""
    if language == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language])


def expected_left(t: gettext.NullTranslations, expires_at: int) -> str:
    """``5 d 11 h left (until 1 Dec 14:00)``, built from the catalog's pieces."""
    moment = datetime.fromtimestamp(expires_at).astimezone()
    date = t.gettext("{day} {month} {time}").format(
        day=moment.day, month=t.gettext(MONTHS[moment.month - 1]), month_number=moment.month,
        time=moment.strftime("%H:%M"),
    )  # fmt: skip
    left = t.gettext("{duration} left").format(duration=t.gettext("{days} d {hours} h").format(days=5, hours=11))
    return t.gettext("{left} (until {date})").format(left=left, date=date)


def expected_items(t: gettext.NullTranslations) -> list[str]:
    return [t.gettext(item).format(seconds=30) for item in ITEMS]


@pytest.fixture(scope="module")
def xfce_desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PanelDesktop]:
    with panel_session(desktop.XfcePanel, tmp_path_factory.mktemp("i18n-desktop")) as session:
        yield session


@pytest.fixture
def sni_tray(xfce_desktop: PanelDesktop, tmp_path: Path) -> Iterator[SniDriver]:
    with fresh_driver(SniDriver, xfce_desktop, tmp_path) as driver:
        yield driver


#: What the panel drew of the badge, per run: the same pixels whatever the language.
_badges_on_screen: dict[str, bytes] = {}


@pytest.mark.parametrize(("language", "asked"), LANGUAGES)
def test_the_menu_a_notification_and_an_error_speak_the_desktops_language(
    sni_tray: SniDriver, language: str, asked: dict[str, str], request: pytest.FixtureRequest
) -> None:
    tray, t = sni_tray, catalog(language)
    words = LITERALS[language]
    assert t.gettext("Copy token") == words["Copy token"], "the compiled catalog is the one written out here"
    tray.env.update(asked)

    # A CLI error, in the language.
    refused = tray.run("set-token", input_text="not-a-token")
    assert refused.returncode == 1
    assert refused.stderr == f"qwen-tray: {t.gettext(NOT_A_TOKEN)}\n", refused.stderr

    account = tray.server.add_account(email=EMAIL, name="Alice")
    expires_at = int(time.time()) + LIFETIME
    token = tray.server.issue_token(account, expires_at=expires_at)
    assert tray.run("set-token", input_text=token).returncode == 0
    tray.start()
    assert "Tray icon shown (sni backend)" in tray.output()
    tray.shows(icon.GREEN)
    item = tray.item()

    # The menu, as the panel reads it: the header, then the items, all in the language.
    def read_menu() -> dict[str, Any]:  # {} until the header names the account
        found = desktop.menu_layout(tray.bus, item)
        return found if EMAIL in found["children"][0]["properties"].get("label", "") else {}

    layout = wait_for(read_menu, "the menu's header to name the account", detail=tray.output)
    entries = [child for child in layout["children"] if child["properties"].get("type") != "separator"]
    labels = [entry["properties"].get("label") for entry in entries]
    left = expected_left(t, expires_at)
    assert labels[0] == t.gettext("{account}: {left}").format(account=EMAIL, left=left), labels
    assert labels[1:] == expected_items(t), labels
    enabled = [entry for entry in entries if entry["properties"].get("enabled", True)]
    assert enabled[0]["properties"]["label"] == words["Copy token"]
    assert entries[-1]["properties"]["label"] == words["Quit"]
    if language != "en":
        assert not set(labels) & set(expected_items(catalog("en"))), "no label left in English"
    title, text = desktop.item_property(tray.bus, item, "ToolTip")[2:]
    assert (title, text) == (t.gettext("Qwen token"), f"{EMAIL} · {left}"), (title, text)

    # The badge is language-free: what the app sends is the English test process's drawing, pixel for pixel,
    # and what the panel drew is the same whatever the language of an earlier run of this test.
    face = icon.icon_face(TokenState.OK, expires_at - time.time())
    assert face.label == "5"
    pixmaps = [(w, h, bytes(data)) for w, h, data in desktop.item_property(tray.bus, item, "IconPixmap")]
    assert pixmaps == argb32_pixmaps(icon.render_icon(face, ICON_SIZE))
    drawn = tray.icon_image().convert("RGB").tobytes()
    for earlier, pixels in _badges_on_screen.items():
        assert pixels == drawn, f"the badge differs from the one drawn in {earlier}"
    _badges_on_screen[request.node.callspec.id] = drawn

    # Copy token, clicked as the panel clicks it: the notification is in the language, never the token.
    desktop.menu_click(tray.bus, item, enabled[0]["id"])
    wait_for(lambda: tray.clipboard() == token, "the token on the clipboard", detail=tray.output)
    said = tray.notified(words["Qwen token copied"])
    summary, _colon, body = said.partition(": ")
    assert summary == words["Qwen token copied"], said
    assert body.startswith(t.gettext("The token is on the clipboard.")), said
    assert t.gettext("It will be cleared from the clipboard in {seconds} s.").format(seconds=30) in body, said
    assert token not in said
    if language != "en":
        assert "clipboard" not in said, said

    # Quit, the last item.
    desktop.menu_click(tray.bus, item, entries[-1]["id"])
    assert tray.process is not None
    assert tray.process.wait(15) == 0, tray.output()
    assert "Traceback" not in tray.output()


def _has_font_for(language: str) -> bool:
    """fontconfig has a font that covers ``language`` (Chinese needs a CJK font, or the menu is boxes)."""
    tag = {"vi": "vi", "zh_CN": "zh-cn"}[language]
    listed = subprocess.run(["fc-list", f":lang={tag}", "family"], capture_output=True, text=True, check=False)
    return bool(listed.stdout.strip())


@pytest.fixture(scope="module")
def xembed_desktop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desktop]:
    """An XEmbed tray (trayer): the gtk backend, whose menu GTK draws with the system's fonts."""
    with trayer_desktop(tmp_path_factory.mktemp("i18n-trayer")) as session:
        yield session


@pytest.fixture
def tray(xembed_desktop: Desktop, tmp_path: Path) -> Iterator[TrayDriver]:
    with fresh_driver(TrayDriver, xembed_desktop, tmp_path) as driver:
        yield driver


@pytest.mark.parametrize("language", ["vi", "zh_CN"])
def test_the_gtk_menu_opens_in_the_language_for_the_screenshot(tray: TrayDriver, language: str) -> None:
    """Under trayer (gtk's menu, drawn by GTK with the system's fonts): the README's screenshots."""
    if not _has_font_for(language):
        message = f"no font covers {language}: see scripts/ci-apt-packages.txt"
        if desktop.is_ci():
            pytest.fail(message)
        pytest.skip(message)
    tray.env["LANG"] = {"vi": "vi_VN.UTF-8", "zh_CN": "zh_CN.UTF-8"}[language]
    account = tray.server.add_account(email=EMAIL, name="Alice")
    token = tray.server.issue_token(account, expires_at=int(time.time()) + LIFETIME)
    assert tray.run("set-token", input_text=token).returncode == 0
    tray.start()
    assert "Tray icon shown (gtk backend)" in tray.output()
    tray.shows(icon.GREEN)
    _x, y, _width, height = tray.icon_box

    shots: list[bytes] = []

    def menu_drawn() -> bool:
        """The menu, a dozen items high, is drawn below the panel and no longer changes (its items are
        drawn after its frame)."""
        time.sleep(0.1)
        shot = desktop.grab(tray.screen.display, (0, 0, 600, 480))
        box = shot.getbbox()
        shots.append(shot.tobytes() if box is not None and box[3] > y + height + 200 else b"")
        return len(shots) >= 2 and shots[-1] != b"" and shots[-1] == shots[-2]

    tray.menu()
    wait_for(menu_drawn, "the menu to open", detail=tray.output)
    tray.screenshot(f"menu-{language}")
    tray.tool("xdotool", "key", "Escape")
    # The gtk menu is the same menu: its first item copies the token.
    tray.menu("Down", "Return")
    wait_for(lambda: tray.clipboard() == token, "the token copied from the gtk menu", detail=tray.output)
    assert catalog(language).gettext("Qwen token copied") in tray.notified(LITERALS[language]["Qwen token copied"])
    assert tray.process is not None
    tray.process.send_signal(signal.SIGTERM)
    assert tray.process.wait(15) == 0, tray.output()
