"""The mechanics of speaking the user's language, before any catalog is written: a fake "language" that
upper-cases every message (placeholders left alone) shows what goes through the translator (menus,
notifications, the CLI's help, usage, errors and own lines) and what must not (JSON, state names, logs,
the ``token`` command's output)."""

from __future__ import annotations

import argparse
import gettext
import json
import logging
import re

import pytest

from tests.test_view import ALICE, status
from tray_app import cli, i18n
from tray_app.config import Settings
from tray_app.engine import EngineEvent
from tray_app.errors import NetworkError, RateLimitedError
from tray_app.i18n import Text, local, tr
from tray_app.notify import FallbackNotifier, LogNotifier
from tray_app.policy import DAY, TokenState
from tray_app.state import State
from tray_app.timefmt import format_duration, format_left, format_local
from tray_app.view import describe, menu_entries, tray_title

#: What a translation must keep as it is: str.format fields and %-style placeholders.
_PLACEHOLDER = re.compile(r"(\{[^}]*\}|%\([^)]*\)[a-z]|%[a-z%])")


def shout(message: str) -> str:
    """``message`` upper-cased, its placeholders untouched."""
    return "".join(piece if _PLACEHOLDER.fullmatch(piece) else piece.upper() for piece in _PLACEHOLDER.split(message))


class Shouting(gettext.NullTranslations):
    """A made-up language: every message upper-cased."""

    def gettext(self, message: str) -> str:
        return shout(message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return shout(msgid1 if n == 1 else msgid2)


@pytest.fixture
def shouting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Speak the upper-case language; the CLI's choice of language from config.toml does not undo it."""
    monkeypatch.setattr(i18n._speaker, "catalog", Shouting())
    monkeypatch.setattr(i18n._speaker, "language", "vi")
    monkeypatch.setattr(cli, "set_language", lambda configured: None)


def test_shout_keeps_placeholders() -> None:
    assert shout("{account}: {left} at %(prog)s, %s") == "{account}: {left} AT %(prog)s, %s"


# -- the tray --------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("shouting")
def test_menu_labels_and_the_tooltip_are_translated() -> None:
    entries = menu_entries(status(TokenState.OK), Settings())
    labels = [entry.label for entry in entries if not entry.is_separator]
    assert "COPY TOKEN" in labels
    assert "QUIT" in labels
    assert "CLEAR CLIPBOARD AFTER 30 S" in labels
    header = labels[0]
    assert header.startswith("alice@example.com: ")  # data stays as it is
    assert " D " in header
    assert " LEFT (UNTIL " in header
    title = tray_title(status(TokenState.OK))
    assert title.startswith("QWEN TOKEN · alice@example.com · ")


@pytest.mark.usefixtures("shouting")
def test_a_notice_is_translated_for_people_and_english_for_the_log(caplog: pytest.LogCaptureFixture) -> None:
    error = NetworkError(tr("Cannot reach {host}.", host="chat.qwen.ai"))
    notice = describe(EngineEvent("refresh_failed", status(TokenState.EXPIRING, 1.5), error), notify_after_refresh=True)
    assert notice is not None
    assert isinstance(notice.title, Text)
    assert isinstance(notice.body, Text)
    assert local(notice.title) == "QWEN TOKEN REFRESH FAILED"
    assert str(notice.title) == "Qwen token refresh failed"
    assert local(notice.body).startswith("CANNOT REACH chat.qwen.ai. WILL RETRY AT ")
    assert str(notice.body).startswith("Cannot reach chat.qwen.ai. Will retry at ")
    assert "The token has 1 d 12 h left." in str(notice.body)

    shown: list[tuple[str, str]] = []

    class Desktop:
        name = "desktop"

        def notify(self, title: str, body: str, *, urgent: bool = False) -> None:
            shown.append((title, body))

    class Broken:
        name = "broken"

        def notify(self, title: str, body: str, *, urgent: bool = False) -> None:
            from tray_app.notify import NotifyError

            raise NotifyError("no notification server")

    FallbackNotifier([Desktop()]).notify(notice.title, notice.body)
    assert shown == [(local(notice.title), local(notice.body))]
    assert type(shown[0][0]) is str  # a backend is given plain text
    with caplog.at_level(logging.INFO):
        assert FallbackNotifier([Broken(), LogNotifier()]).notify(notice.title, notice.body) == "log"
        assert FallbackNotifier([Broken()]).notify(notice.title, notice.body) == ""
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Notification: Qwen token refresh failed: Cannot reach chat.qwen.ai." in logged
    assert "every backend failed): Qwen token refresh failed" in logged
    assert "QWEN" not in logged


@pytest.mark.usefixtures("shouting")
def test_durations_and_dates_are_text_english_for_logs(caplog: pytest.LogCaptureFixture) -> None:
    assert format_duration(2 * DAY + 3 * 3600) == "2 d 3 h"
    assert local(format_duration(2 * DAY + 3 * 3600)) == "2 D 3 H"
    assert local(format_left(-90)) == "EXPIRED 1 MIN AGO"
    moment = format_local(1_800_000_000)
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d\d:\d\d", moment)
    assert local(moment) == moment.upper()
    log = logging.getLogger("tray_app.test")
    with caplog.at_level(logging.INFO):
        log.info("Refresh due in %s.", format_duration(600))
    assert caplog.records[-1].getMessage() == "Refresh due in 10 min."


def test_the_badge_is_language_free() -> None:
    from tray_app.icon import icon_face

    english = icon_face(TokenState.OK, 4 * DAY)
    i18n._speaker.catalog = Shouting()
    try:
        assert icon_face(TokenState.OK, 4 * DAY) == english
    finally:
        i18n.set_language(None)


# -- the command line ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("shouting")
def test_help_is_translated_with_argparse_s_own_words(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("USAGE: qwen-tray ")
    assert "KEEPS A CHAT.QWEN.AI WEB SESSION TOKEN ALIVE" in out
    assert "\nOPTIONS:\n" in out
    assert "SHOW THIS HELP MESSAGE AND EXIT" in out
    assert "SHOW PROGRAM'S VERSION NUMBER AND EXIT" in out
    assert "PRINT THE STORED TOKEN AND NOTHING ELSE" in out
    assert "--storage" in out  # options and commands are not words to translate
    assert argparse._ is gettext.gettext  # type: ignore[attr-defined]  # argparse is left as it was

    with pytest.raises(SystemExit):
        cli.main(["tray", "--help"])
    out = capsys.readouterr().out
    assert "(DEFAULT 30)" in out
    assert "POSITIONAL ARGUMENTS" not in out


@pytest.mark.usefixtures("shouting")
def test_usage_errors_are_translated(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["use"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("USAGE: qwen-tray use ")
    assert "qwen-tray use: ERROR: THE FOLLOWING ARGUMENTS ARE REQUIRED: ACCOUNT" in err
    with pytest.raises(SystemExit):
        cli.main(["autostart", "sometimes"])
    assert "INVALID CHOICE: 'sometimes' (CHOOSE FROM 'enable', 'disable', 'status')" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["status", "--bogus"])
    assert "UNRECOGNIZED ARGUMENTS: --bogus" in capsys.readouterr().err
    assert argparse._ is gettext.gettext  # type: ignore[attr-defined]


def test_a_successful_parse_loads_no_catalog() -> None:
    i18n.set_language(None)
    cli.build_parser().parse_args(["token", "--all"])
    assert i18n._speaker.catalog is None


@pytest.mark.usefixtures("shouting")
def test_error_lines_are_translated(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["set-token", "--from-browser", "--no-verify", "--storage", "file"]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert err == "qwen-tray: --FROM-BROWSER ALWAYS CHECKS THE TOKEN WITH CHAT.QWEN.AI; LEAVE OUT --NO-VERIFY.\n"
    error = RateLimitedError(tr("Too many requests."))
    assert cli.describe_error(error) == "RATE LIMITED: TOO MANY REQUESTS."
    assert cli.main(["token", "--storage", "file"]) == cli.EXIT_FAILED
    assert capsys.readouterr().err == "qwen-tray: NO TOKEN IS STORED; PASTE ONE WITH `QWEN-TRAY SET-TOKEN`.\n"


def test_status_json_and_state_names_stay_english(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["status", "--json", "--storage", "file"]) == cli.EXIT_FAILED
    english = capsys.readouterr().out
    assert cli.main(["accounts", "--json", "--storage", "file"]) == cli.EXIT_OK
    english_accounts = capsys.readouterr().out
    monkeypatch.setattr(i18n._speaker, "catalog", Shouting())
    monkeypatch.setattr(cli, "set_language", lambda configured: None)
    assert cli.main(["status", "--json", "--storage", "file"]) == cli.EXIT_FAILED
    assert capsys.readouterr().out == english
    assert json.loads(english)["state"] == "missing"
    assert cli.main(["accounts", "--json", "--storage", "file"]) == cli.EXIT_OK
    assert capsys.readouterr().out == english_accounts
    assert cli.main(["status", "--storage", "file"]) == cli.EXIT_FAILED
    human = capsys.readouterr().out
    assert human.startswith("STATE:        missing\n")  # the label translated, the state name not
    assert "STORED IN:    " in human


@pytest.mark.usefixtures("shouting")
def test_the_status_labels_line_up_in_any_language() -> None:
    from tray_app.engine import Status
    from tray_app.token import TokenClaims

    claims = TokenClaims("t", int(1_800_000_000 + 4 * DAY), "u-1")
    record = State(email=ALICE.email, name=ALICE.name, last_refresh=1_800_000_000 - DAY)
    text = cli.format_status(Status(TokenState.OK, claims, record, 1_800_000_000, None), "a file")
    columns = {line.index(line.split(":", 1)[1].strip()) for line in text.splitlines() if ":" in line}
    assert len(columns) == 1, text


def test_the_token_command_loads_no_catalog_when_it_succeeds(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import time

    from tray_app.simulator import sign_token

    token = sign_token({"id": "u-1234", "exp": int(time.time()) + 6 * DAY}, b"secret")
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(token.encode())))
    assert cli.main(["set-token", "--no-verify", "--storage", "file"]) == cli.EXIT_OK
    capsys.readouterr()
    i18n.set_language(None)
    assert cli.main(["token", "--storage", "file"]) == cli.EXIT_OK
    assert capsys.readouterr().out == token + "\n"
    assert i18n._speaker.catalog is None
