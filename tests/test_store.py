"""One contract for every token store, run against real backends: a plain file, keyring's file backend
(keyrings.alt), and a real Secret Service (gnome-keyring on a private D-Bus)."""

from __future__ import annotations

import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import desktop
from tray_app.errors import NoKeyringError, StorageError
from tray_app.paths import AppPaths
from tray_app.store import (
    FileStore,
    KeyringStore,
    TokenStore,
    account_slots,
    current_slot,
    delete_slots,
    previous_slot,
    replace_token,
)

ACCOUNT = "a1b2c3d4-acct"
CURRENT = current_slot(ACCOUNT)
PREVIOUS = previous_slot(ACCOUNT)


def forget_all(store: TokenStore) -> bool:
    return delete_slots(store, account_slots(ACCOUNT))

TOKEN_A = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6ImEiLCJleHAiOjE4MDAwMDAwMDB9.c2lnbmF0dXJlLWE"
TOKEN_B = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6ImEiLCJleHAiOjE4MDA2MDAwMDB9.c2lnbmF0dXJlLWI"


@pytest.fixture(params=["file", "keyrings.alt", "secret-service"])
def store(request: pytest.FixtureRequest, app_paths: AppPaths) -> Iterator[TokenStore]:
    if request.param == "file":
        yield FileStore(app_paths.token_file)
    elif request.param == "keyrings.alt":
        alt_store = KeyringStore(service="qwen-tray-test")
        assert "keyrings.alt" in alt_store.description  # PYTHON_KEYRING_BACKEND from conftest is honoured
        assert "keyring_pass.cfg" in alt_store.description
        yield alt_store
    else:
        request.getfixturevalue("use_secret_service")
        backend_store = KeyringStore(service="qwen-tray-test", timeout=10)
        assert backend_store.description == "the desktop keyring (Secret Service)"
        yield backend_store
        forget_all(backend_store)  # the Secret Service outlives one test


def test_an_empty_store_has_nothing(store: TokenStore) -> None:
    store.check_exists()
    assert store.get(CURRENT) is None
    assert store.get(PREVIOUS) is None


def test_set_get_and_overwrite(store: TokenStore) -> None:
    store.set(TOKEN_A, CURRENT)
    assert store.get(CURRENT) == TOKEN_A
    store.set(TOKEN_B, CURRENT)
    assert store.get(CURRENT) == TOKEN_B
    assert store.get(PREVIOUS) is None


def test_slots_are_independent(store: TokenStore) -> None:
    store.set(TOKEN_A, PREVIOUS)
    assert store.get(CURRENT) is None
    assert store.get(PREVIOUS) == TOKEN_A


def test_delete_removes_one_slot_and_tolerates_absence(store: TokenStore) -> None:
    store.set(TOKEN_A, CURRENT)
    store.set(TOKEN_B, PREVIOUS)
    store.delete(CURRENT)
    assert store.get(CURRENT) is None
    assert store.get(PREVIOUS) == TOKEN_B
    store.delete(CURRENT)  # nothing there: no error


def test_replace_token_keeps_the_previous(store: TokenStore) -> None:
    replace_token(store, ACCOUNT, TOKEN_A)
    assert (store.get(CURRENT), store.get(PREVIOUS)) == (TOKEN_A, None)
    replace_token(store, ACCOUNT, TOKEN_B)
    assert (store.get(CURRENT), store.get(PREVIOUS)) == (TOKEN_B, TOKEN_A)
    replace_token(store, ACCOUNT, TOKEN_B)  # the same again: the previous is not lost
    assert (store.get(CURRENT), store.get(PREVIOUS)) == (TOKEN_B, TOKEN_A)


def test_forget_all(store: TokenStore) -> None:
    replace_token(store, ACCOUNT, TOKEN_A)
    replace_token(store, ACCOUNT, TOKEN_B)
    assert forget_all(store) is True
    assert (store.get(CURRENT), store.get(PREVIOUS)) == (None, None)
    assert forget_all(store) is False  # nothing was left to forget
    store.set(TOKEN_A, PREVIOUS)
    assert forget_all(store) is True  # a previous token alone is something


def test_the_file_store_is_private(app_paths: AppPaths) -> None:
    store = FileStore(app_paths.token_file)
    store.set(TOKEN_A, CURRENT)
    assert stat.S_IMODE(app_paths.token_file.stat().st_mode) == 0o600
    assert str(app_paths.token_file) in store.description


def test_a_damaged_token_file_is_a_clear_error(app_paths: AppPaths) -> None:
    app_paths.token_file.parent.mkdir(parents=True)
    app_paths.token_file.write_text("[1, 2]")
    with pytest.raises(StorageError, match="damaged"):
        FileStore(app_paths.token_file).get(CURRENT)


def test_the_keyring_backend_choice_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    nothing = KeyringStore()
    assert nothing.description == "no keyring (none was found on this system)"  # not keyring's "(fail)"
    with pytest.raises(NoKeyringError, match="No system keyring"):
        nothing.check_exists()


@pytest.mark.parametrize("call", [lambda s: s.get(CURRENT), lambda s: s.set(TOKEN_A, CURRENT)], ids=["get", "set"])
def test_no_keyring_says_what_to_do(monkeypatch: pytest.MonkeyPatch, call: Callable[[TokenStore], object]) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    with pytest.raises(NoKeyringError) as caught:  # a StorageError that says waiting will not help
        call(KeyringStore())
    message = str(caught.value)
    assert "No system keyring" in message
    assert 'storage = "file"' in message
    assert "\n" not in message


@contextmanager
def daemon(argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def test_a_keyring_without_a_login_collection_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gnome-keyring started without --unlock: there is no keyring to write to, and no one to prompt."""
    desktop.require(desktop.SessionBus, desktop.GnomeKeyring)
    with (
        desktop.SessionBus(tmp_path) as bus,
        daemon(["gnome-keyring-daemon", "--foreground", "--components=secrets"], desktop.env_for(bus)),
    ):
        bus.wait_for_name("org.freedesktop.secrets", timeout=10)
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyring")
        with pytest.raises(StorageError) as caught:
            KeyringStore(timeout=10).set(TOKEN_A, CURRENT)
    message = str(caught.value)
    assert "could not be opened" in message
    assert "\n" not in message


#: A Secret Service that takes the bus name and never answers a call, like one stuck on a prompt.
SILENT_SECRET_SERVICE = """
import sys, time
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection
connection = open_dbus_connection(bus="SESSION")
connection.send_and_get_reply(message_bus.RequestName("org.freedesktop.secrets"))
print("ready", flush=True)
time.sleep(120)
"""


def test_a_keyring_that_never_answers_is_given_up_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    desktop.require(desktop.SessionBus)
    with (
        desktop.SessionBus(tmp_path) as bus,
        daemon([sys.executable, "-c", SILENT_SECRET_SERVICE], desktop.env_for(bus)),
    ):
        bus.wait_for_name("org.freedesktop.secrets", timeout=10)
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyring")
        store = KeyringStore(timeout=1.0)
        for call in (lambda: store.get(CURRENT), lambda: store.set(TOKEN_A, CURRENT)):
            with pytest.raises(StorageError) as caught:
                call()
            message = str(caught.value)
            assert "did not answer within 1 s" in message
            assert "Unlock it" in message


def test_a_named_keyring_that_cannot_run_here_says_why_on_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """PYTHON_KEYRING_BACKEND=…SecretService with no session bus: keyring raises a bare RuntimeError."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyring")
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/nonexistent")
    store = KeyringStore()
    assert "cannot be used here" in store.description
    for call in (store.check_exists, lambda: store.get(CURRENT)):
        with pytest.raises(NoKeyringError, match=r"PYTHON_KEYRING_BACKEND \(keyring\.backends\.SecretService"):
            call()


def test_the_desktop_keyring_is_found_without_loading_pygobject(secret_service: desktop.SessionBus) -> None:
    """No keyring variable: the Secret Service is taken first, without keyring's discovery of every
    backend (its libsecret backend imports gi, which the SNI tray must not load)."""
    env = desktop.env_for(secret_service)
    env.pop("PYTHON_KEYRING_BACKEND", None)
    probe = (
        "import sys; from tray_app.store import KeyringStore; store = KeyringStore(); "
        "print(store.description); print('gi' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=30,
                            check=True)  # fmt: skip
    assert result.stdout.splitlines() == ["the desktop keyring (Secret Service)", "False"]


@pytest.mark.parametrize("message", ["Prompt dismissed.", "Prompt dismissed", "Failed to unlock the collection!"])
def test_keyring_messages_are_one_sentence_without_a_doubled_period(message: str) -> None:
    from keyring.errors import InitError, KeyringError

    from tray_app.store import _translate_keyring_error

    for error in (InitError(message), KeyringError(message)):
        text = _translate_keyring_error(error, "write").message
        assert ".." not in text and ".)" not in text, text
        assert message.rstrip(".") in text
