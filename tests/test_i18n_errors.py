"""Errors in the user's language: with a catalog that "translates" by upper-casing, every layer of a
message is translated (the words of each error embedded in another, the keyring's description), while
``str(error)``, logs and JSON keep the English."""

from __future__ import annotations

import gettext
import json
import logging
import string
from collections.abc import Callable
from pathlib import Path

import pytest

from tray_app import i18n
from tray_app.accounts import load_book, resolve_account
from tray_app.client import interpret_response
from tray_app.engine import unchecked_paste_message
from tray_app.errors import (
    AccountError,
    NoTokenError,
    QwenTrayError,
    RefreshError,
    StorageError,
    TokenFormatError,
)
from tray_app.i18n import local
from tray_app.state import Account, Book, State, StateFile
from tray_app.store import CURRENT, describe_keyring, no_keyring_message, replace_token
from tray_app.token import decode_token, extract_token


def shout(message: str) -> str:
    """``message`` upper-cased outside its placeholders (which must survive for str.format)."""
    out = []
    for literal, field, spec, conversion in string.Formatter().parse(message):
        out.append(literal.upper().replace("{", "{{").replace("}", "}}"))
        if field is not None:
            out.append("{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
    return "".join(out)


class Shouting(gettext.NullTranslations):
    def gettext(self, message: str) -> str:
        return shout(message)

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        return shout(msgid1 if n == 1 else msgid2)


@pytest.fixture(autouse=True)
def shouting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(i18n._speaker, "language", "vi")
    monkeypatch.setattr(i18n._speaker, "catalog", Shouting())


def caught(call: Callable[..., object], *args: object) -> QwenTrayError:
    with pytest.raises(QwenTrayError) as raised:
        call(*args)
    return raised.value


def test_the_fake_catalog_keeps_placeholders() -> None:
    assert shout("Cannot read {path}: {error!r} ({seconds:g} s)") == "CANNOT READ {path}: {error!r} ({seconds:g} S)"


def test_an_account_error_lists_the_accounts_translated_all_through() -> None:
    book = Book(
        accounts=(
            Account("1a2b3c4d5e6f", State(email="ana@example.com")),
            Account("9f8e7d6c5b4a", State()),
        ),
        default="1a2b3c4d5e6f",
    )
    error = caught(resolve_account, book, "zed")
    assert isinstance(error, AccountError)
    assert str(error) == ("No account matches 'zed'; the accounts are: ana@example.com (id 1a2b3c4d), id 9f8e7d6c5b4a.")
    assert error.local == (
        "NO ACCOUNT MATCHES 'zed'; THE ACCOUNTS ARE: ana@example.com (ID 1a2b3c4d), ID 9f8e7d6c5b4a."
    )
    assert resolve_account(book, "") == "1a2b3c4d5e6f"  # the default: no error


def test_ambiguous_selector_and_no_token() -> None:
    book = Book(
        accounts=(Account("abc111", State(email="a@x.org")), Account("abc222", State())),
        default="abc111",
    )
    error = caught(resolve_account, book, "abc")
    assert str(error) == "'abc' matches 2 accounts (a@x.org (id abc111), id abc222); give more of it."
    assert error.local == "'abc' MATCHES 2 ACCOUNTS (a@x.org (ID abc111), ID abc222); GIVE MORE OF IT."
    missing = NoTokenError()
    assert str(missing) == "No token is stored yet: paste one with `qwen-tray set-token`."
    assert missing.local == "NO TOKEN IS STORED YET: PASTE ONE WITH `QWEN-TRAY SET-TOKEN`."


def test_token_format_errors_are_translated() -> None:
    empty = caught(lambda: extract_token("   ", now=0.0))
    assert isinstance(empty, TokenFormatError)
    assert str(empty) == "Nothing was pasted: the text is empty."
    assert empty.local == "NOTHING WAS PASTED: THE TEXT IS EMPTY."
    parts = caught(decode_token, "a.b")
    assert str(parts) == "Not a token: a chat.qwen.ai token has three parts separated by dots, this has 2."
    assert parts.local == "NOT A TOKEN: A CHAT.QWEN.AI TOKEN HAS THREE PARTS SEPARATED BY DOTS, THIS HAS 2."


class SecretService:
    """Looks like keyring's Secret Service backend to :func:`describe_keyring` (module and name)."""


SecretService.__module__ = "keyring.backends.SecretService"
SecretService.__qualname__ = "Keyring"


class ForgetfulKeyring:
    """A store in the desktop keyring that keeps one damaged token and forgets what it is given."""

    def __init__(self, held: dict[str, str]) -> None:
        self.held = held

    @property
    def description(self) -> str:
        return describe_keyring(SecretService())

    def get(self, slot: str) -> str | None:
        return self.held.get(slot)

    def set(self, token: str, slot: str) -> None:
        pass

    def delete(self, slot: str) -> None:
        self.held.pop(slot, None)

    def check_exists(self) -> None:
        pass


def test_storage_errors_embed_the_keyring_description_translated(tmp_path: Path) -> None:
    store = ForgetfulKeyring({CURRENT: "not-a-token"})
    assert store.description == "the desktop keyring (Secret Service)"
    assert local(store.description) == "THE DESKTOP KEYRING (SECRET SERVICE)"

    damaged = caught(load_book, store, StateFile(tmp_path / "state.json"))
    assert isinstance(damaged, StorageError)
    assert str(damaged) == (
        "The token stored in the desktop keyring (Secret Service) is damaged (Not a token: a chat.qwen.ai token "
        "has three parts separated by dots, this text has no dots.); set a new one with `qwen-tray set-token`."
    )
    assert damaged.local == (
        "THE TOKEN STORED IN THE DESKTOP KEYRING (SECRET SERVICE) IS DAMAGED (NOT A TOKEN: A CHAT.QWEN.AI TOKEN "
        "HAS THREE PARTS SEPARATED BY DOTS, THIS TEXT HAS NO DOTS.); SET A NEW ONE WITH `QWEN-TRAY SET-TOKEN`."
    )

    lost = caught(replace_token, store, "someone", "new-token")
    assert str(lost) == "The token did not read back from the desktop keyring (Secret Service); the old one was kept."
    assert lost.local == "THE TOKEN DID NOT READ BACK FROM THE DESKTOP KEYRING (SECRET SERVICE); THE OLD ONE WAS KEPT."

    nothing = no_keyring_message()
    assert nothing.startswith("No system keyring is available: install and start a keyring")
    assert local(nothing).startswith("NO SYSTEM KEYRING IS AVAILABLE: INSTALL AND START A KEYRING")


def test_a_paste_message_embeds_the_servers_error_translated() -> None:
    server = caught(lambda: interpret_response(503, {}, b"", now=0.0))
    assert isinstance(server, RefreshError)
    message = unchecked_paste_message(server)
    assert message == (
        "Could not check the token with chat.qwen.ai: chat.qwen.ai had a server error (HTTP 503). Nothing was "
        "stored; try again later, or store it unchecked with `qwen-tray set-token --no-verify`."
    )
    assert local(message) == (
        "COULD NOT CHECK THE TOKEN WITH CHAT.QWEN.AI: CHAT.QWEN.AI HAD A SERVER ERROR (HTTP 503). NOTHING WAS "
        "STORED; TRY AGAIN LATER, OR STORE IT UNCHECKED WITH `QWEN-TRAY SET-TOKEN --NO-VERIFY`."
    )
    restated = server.restated(message)
    assert restated.local == local(message)
    assert str(restated) == message


def test_logs_and_json_stay_english(caplog: pytest.LogCaptureFixture) -> None:
    error = caught(lambda: extract_token("", now=0.0))
    with caplog.at_level(logging.WARNING, logger="tray_app.test"):
        logging.getLogger("tray_app.test").warning("Refused: %s", error)
        logging.getLogger("tray_app.test").warning("Refused (message): %s", error.message)
    assert [record.getMessage() for record in caplog.records] == [
        "Refused: Nothing was pasted: the text is empty.",
        "Refused (message): Nothing was pasted: the text is empty.",
    ]
    assert "NOTHING" not in caplog.text
    assert json.loads(json.dumps({"problem": error.message})) == {"problem": "Nothing was pasted: the text is empty."}
    assert repr(error) == "TokenFormatError('Nothing was pasted: the text is empty.')"
