"""Accounts: selectors, the book's rules, and the store opened after a lost state file or from release 0.1.0.

Selectors and the book are plain data; the upgrade runs on real stores (keyrings.alt's file keyring and
our file store), written in release 0.1.0's exact layout.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import NOW
from tray_app.accounts import open_book, resolve_account
from tray_app.errors import AccountError, NoTokenError, StorageError
from tray_app.paths import AppPaths
from tray_app.simulator import sign_token
from tray_app.state import Account, Book, LastError, State, StateFile
from tray_app.store import (
    CURRENT,
    INDEX,
    PREVIOUS,
    FileStore,
    KeyringStore,
    TokenStore,
    current_slot,
    previous_slot,
)

ALICE = "a11ce000-1111-4000-8000-000000000001"
BOB = "b0b00000-2222-4000-8000-000000000002"
BOBBY = "b0bb1000-3333-4000-8000-000000000003"


def book_of(*people: tuple[str, str | None], default: str | None = None) -> Book:
    book = Book()
    for account_id, email in people:
        book = book.with_record(account_id, State(email=email, expires_at=int(NOW)))
    return book if default is None else book.with_default(default)


THREE = book_of((ALICE, "alice@example.com"), (BOB, "bob@example.com"), (BOBBY, "Bobby@Example.com"))


# -- selectors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "wanted"),
    [
        (None, ALICE),  # the default: the first added
        ("", ALICE),
        (ALICE, ALICE),
        ("bob@example.com", BOB),  # exact email, although "bob" also starts bobby's
        ("BOBBY@example.COM", BOBBY),  # case does not matter
        ("bobby", BOBBY),  # a prefix of one email
        ("a11c", ALICE),  # a prefix of one id
        ("b0bb", BOBBY),
        (f"  {BOB}  ", BOB),
    ],
)
def test_a_selector_names_one_account(selector: str | None, wanted: str) -> None:
    assert resolve_account(THREE, selector) == wanted


def test_an_ambiguous_selector_lists_the_matches_and_an_unknown_one_lists_every_account() -> None:
    with pytest.raises(AccountError) as ambiguous:
        resolve_account(THREE, "bob")
    assert str(ambiguous.value) == (
        "'bob' matches 2 accounts (bob@example.com (id b0b00000), Bobby@Example.com (id b0bb1000)); give more of it."
    )
    with pytest.raises(AccountError) as unknown:
        resolve_account(THREE, "carol")
    assert str(unknown.value) == (
        "No account matches 'carol'; the accounts are: alice@example.com (id a11ce000), "
        "bob@example.com (id b0b00000), Bobby@Example.com (id b0bb1000)."
    )
    with pytest.raises(AccountError, match=f"id {BOB}"):  # no email yet: the whole id
        resolve_account(book_of((BOB, None)), "zzz")
    with pytest.raises(NoTokenError):
        resolve_account(Book(), None)


# -- the book ------------------------------------------------------------------------------------------


def test_the_first_account_is_the_default_and_a_removed_default_passes_to_the_first_left() -> None:
    assert THREE.default == ALICE
    assert THREE.ids == (ALICE, BOB, BOBBY)
    assert THREE.with_default(BOB).without(BOB).default == ALICE
    assert THREE.without(ALICE).default == BOB
    assert THREE.without(BOB).default == ALICE  # not the default: it stays
    assert THREE.without(ALICE).without(BOB).without(BOBBY) == Book()
    replaced = THREE.with_record(BOB, State(email="new@example.com"))
    assert replaced.ids == THREE.ids, "a known account keeps its place"
    assert replaced.get(BOB) == State(email="new@example.com")


def test_the_book_round_trips_through_its_json_and_reads_release_0_1_0_as_legacy() -> None:
    failed = THREE.with_record(BOB, State(email="bob@example.com", failures=2, retry_at=NOW + 60, expires_at=9))
    book = Book(failed.accounts, default=BOBBY, paused_until=NOW + 300)
    assert Book.from_json(json.loads(json.dumps(book.to_json()))) == book
    old = {"email": "alice@example.com", "last_refresh": NOW, "failures": 0, "retry_at": None}
    assert Book.from_json(old) == Book(legacy=State(email="alice@example.com", last_refresh=NOW))
    with pytest.raises(ValueError, match="without an id"):
        Book.from_json({"accounts": [{"email": "x@example.com"}]})
    unknown_default = {"accounts": [{"id": BOB}], "default": "gone"}
    assert Book.from_json(unknown_default).default == BOB


# -- opening the store: rebuilt, or upgraded from release 0.1.0 ---------------------------------------


SECRET = b"not the server's key"


def token_of(account_id: str, expires_at: int) -> str:
    return sign_token({"id": account_id, "last_password_change": 1, "exp": expires_at}, SECRET)


@contextlib.contextmanager
def no_lock() -> Iterator[None]:
    yield


def open_here(store: TokenStore, state_file: StateFile) -> Book:
    return open_book(store, state_file, exclusive=no_lock)


@pytest.fixture(params=["keyring", "file"])
def store(request: pytest.FixtureRequest, app_paths: AppPaths) -> TokenStore:
    """keyrings.alt's plain-file keyring (the conftest's choice) under service ``qwen-tray``, or our file store."""
    if request.param == "keyring":
        return KeyringStore()
    return FileStore(app_paths.token_file)


def write_release_0_1_0(store: TokenStore, app_paths: AppPaths, current: str, previous: str) -> None:
    """What release 0.1.0 left: two slots with no account in their names, and its flat state file."""
    if isinstance(store, FileStore):  # its exact file: {"token": …, "previous_token": …}
        app_paths.token_file.parent.mkdir(parents=True, exist_ok=True)
        app_paths.token_file.write_text(json.dumps({"token": current, "previous_token": previous}) + "\n")
    else:
        store.set(current, CURRENT)
        store.set(previous, PREVIOUS)
    app_paths.state_file.parent.mkdir(parents=True, exist_ok=True)
    app_paths.state_file.write_text(
        json.dumps(
            {
                "email": "alice@example.com",
                "name": "Alice",
                "last_refresh": NOW - 3600,
                "last_error": {"kind": "server", "message": "HTTP 502", "at": NOW - 60},
                "rejected_exp": None,
                "failures": 1,
                "retry_at": NOW + 60,
            },
            indent=2,
            sort_keys=True,
        )
    )


def test_a_release_0_1_0_store_becomes_the_default_account_losing_nothing(
    store: TokenStore, app_paths: AppPaths
) -> None:
    current, previous = token_of(ALICE, int(NOW) + 86400), token_of(ALICE, int(NOW) + 3600)
    write_release_0_1_0(store, app_paths, current, previous)
    state_file = StateFile(app_paths.state_file)

    book = open_here(store, state_file)

    record = State(
        email="alice@example.com",
        name="Alice",
        last_refresh=NOW - 3600,
        last_error=LastError("server", "HTTP 502", NOW - 60),
        failures=1,
        retry_at=NOW + 60,
        expires_at=int(NOW) + 86400,
    )
    assert book == Book((Account(ALICE, record),), default=ALICE)
    assert (store.get(current_slot(ALICE)), store.get(previous_slot(ALICE))) == (current, previous)
    assert (store.get(CURRENT), store.get(PREVIOUS)) == (None, None), "the old slots are gone"
    assert json.loads(store.get(INDEX) or "") == {"default": ALICE, "ids": [ALICE]}
    assert state_file.load() == book
    assert open_here(store, state_file) == book, "once only"


def test_an_upgrade_cut_short_at_any_write_is_finished_by_the_next_run(app_paths: AppPaths) -> None:
    """A store that fails its n-th write (as a crash would stop there), for every n: the next run
    upgrades what is left, and the tokens are never lost."""
    current, previous = token_of(ALICE, int(NOW) + 86400), token_of(ALICE, int(NOW) + 3600)
    for failing_write in range(1, 7):  # the upgrade makes six changes: each is the last one once
        for leftover in (app_paths.token_file, app_paths.state_file):
            leftover.unlink(missing_ok=True)
        store = FailingStore(app_paths.token_file, fail_at=failing_write)
        write_release_0_1_0(store, app_paths, current, previous)
        state_file = StateFile(app_paths.state_file)
        with pytest.raises(StorageError, match="stopped here"):
            open_here(store, state_file)
        store.fail_at = None
        book = open_here(store, state_file)
        assert book.ids == (ALICE,), failing_write
        assert book.get(ALICE) is not None and book.get(ALICE).email == "alice@example.com"  # type: ignore[union-attr]
        assert (store.get(current_slot(ALICE)), store.get(previous_slot(ALICE))) == (current, previous)
        assert store.get(CURRENT) is None


class FailingStore(FileStore):
    """Our file store, whose ``fail_at``-th change (set or delete) raises as a dying process would stop."""

    def __init__(self, path: Path, fail_at: int | None) -> None:
        super().__init__(path)
        self.fail_at = fail_at
        self.changes = 0

    def _change(self) -> None:
        self.changes += 1
        if self.fail_at is not None and self.changes >= self.fail_at:
            raise StorageError("stopped here")

    def set(self, token: str, slot: str) -> None:
        self._change()
        super().set(token, slot)

    def delete(self, slot: str) -> None:
        self._change()
        super().delete(slot)


def test_a_lost_state_file_is_rebuilt_from_the_keyrings_account_list(store: TokenStore, app_paths: AppPaths) -> None:
    state_file = StateFile(app_paths.state_file)
    for account_id in (ALICE, BOB):
        store.set(token_of(account_id, int(NOW) + 7 * 86400), current_slot(account_id))
    store.set(json.dumps({"default": BOB, "ids": [ALICE, BOB, BOBBY]}), INDEX)  # bobby's token is gone

    book = open_here(store, state_file)

    assert book.ids == (ALICE, BOB)
    assert book.default == BOB
    assert book.get(ALICE) == State(expires_at=int(NOW) + 7 * 86400)
    assert state_file.load() == book


def test_nothing_stored_opens_an_empty_book_and_writes_nothing(store: TokenStore, app_paths: AppPaths) -> None:
    state_file = StateFile(app_paths.state_file)
    assert open_here(store, state_file) == Book()
    assert not app_paths.state_file.exists()
    assert store.get(INDEX) is None
