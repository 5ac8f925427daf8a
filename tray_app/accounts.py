"""The accounts we keep: which one an ``--account`` selector names, and the book of accounts opened from
the state file, rebuilt or upgraded when that file is missing or from release 0.1.0.

This module is on the hot path of ``qwen-tray token``: the standard library and our own light modules
only (no keyring import unless a store call needs it, no httpx).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace

from tray_app.errors import AccountError, NoTokenError, StorageError, TokenFormatError
from tray_app.i18n import Text, joined, tr
from tray_app.state import Account, Book, State, StateFile
from tray_app.store import (
    CURRENT,
    INDEX,
    PREVIOUS,
    TokenStore,
    current_slot,
    previous_slot,
)
from tray_app.token import TokenClaims, decode_token

log = logging.getLogger(__name__)

#: An account id shown in lists: enough to tell accounts apart, short enough to read.
SHORT_ID = 8


def account_label(account_id: str, record: State | None) -> str:
    """How an account is named to a person: its email, else ``account 1a2b3c4d`` (a :class:`Text`)."""
    if record is not None and record.email:
        return record.email
    return tr("account {id}", id=account_id[:SHORT_ID])


def damaged_token_message(where: str, error: TokenFormatError) -> Text:
    """Why a stored token cannot be used: ``where`` is the store's description."""
    return tr(
        "The token stored in {store} is damaged ({reason}); set a new one with `qwen-tray set-token`.",
        store=where,
        reason=error.message,
    )


def resolve_account(book: Book, selector: str | None) -> str:
    """The id of the account ``selector`` names: an id or email, or an unambiguous prefix of either (case
    does not matter); None names the default. Raises NoTokenError with no accounts, AccountError for a
    selector that names none or several (listing them)."""
    if not book.accounts:
        raise NoTokenError
    if selector is None or not selector.strip():
        assert book.default is not None  # noqa: S101 - a book with accounts has a default
        return book.default
    wanted = selector.strip().casefold()
    exact = [a.id for a in book.accounts if wanted in (a.id.casefold(), (a.record.email or "").casefold())]
    if len(exact) == 1:
        return exact[0]
    matches = exact or [
        a.id
        for a in book.accounts
        if a.id.casefold().startswith(wanted) or (a.record.email or "").casefold().startswith(wanted)
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = joined(_listed(book, a.id) for a in book.accounts)
        raise AccountError(
            tr(
                "No account matches {selector}; the accounts are: {accounts}.",
                selector=repr(selector.strip()),
                accounts=known,
            )
        )
    listed = joined(_listed(book, each) for each in matches)
    raise AccountError(
        tr(
            "{selector} matches {count} accounts ({accounts}); give more of it.",
            selector=repr(selector.strip()),
            count=len(matches),
            accounts=listed,
        )
    )


def _listed(book: Book, account_id: str) -> Text:
    record = book.get(account_id)
    email = record.email if record is not None else None
    if email:
        return tr("{email} (id {id})", email=email, id=account_id[:SHORT_ID])
    return tr("id {id}", id=account_id)


# -- the book on disk, and its copy in the store -------------------------------------------------------


def index_text(book: Book) -> str:
    """The store's copy of the account list (ids and default; nothing secret)."""
    return json.dumps({"default": book.default, "ids": list(book.ids)})


def save_book(store: TokenStore, state_file: StateFile, book: Book, *, before: Book | None) -> None:
    """Save the book; the store's copy of the account list too when the list or the default changed."""
    state_file.save(book)
    if before is None or before.ids != book.ids or before.default != book.default:
        if book.accounts:
            store.set(index_text(book), INDEX)
        else:
            store.delete(INDEX)


def open_book(
    store: TokenStore,
    state_file: StateFile,
    *,
    exclusive: Callable[[], AbstractContextManager[object]],
) -> Book:
    """The book of accounts: the state file, read without a lock or a keyring call when it is there and
    current; otherwise :func:`load_book` under ``exclusive``."""
    book = state_file.load()
    if book is not None and book.legacy is None:
        return book
    with exclusive():
        return load_book(store, state_file)


def load_book(store: TokenStore, state_file: StateFile) -> Book:
    """The book, with the caller holding the lock. Without a state file (lost, or never written), it is
    rebuilt from the store's copy of the account list; a release 0.1.0 store (slots ``token`` and
    ``previous_token``, and the old state file) becomes the default account, its history kept. Every
    step can be cut short by a crash: the next run finishes it, and no token is lost."""
    book = state_file.load()
    if book is not None and book.legacy is None:
        return book
    legacy = book.legacy if book is not None else None
    _move_legacy_slots(store)
    return _rebuild_from_index(store, state_file, legacy) or Book()


def _stored_claims(store: TokenStore, slot: str) -> TokenClaims | None:
    token = store.get(slot)
    if token is None:
        return None
    try:
        return decode_token(token)
    except TokenFormatError as exc:
        raise StorageError(damaged_token_message(store.description, exc)) from exc


def _read_index(store: TokenStore) -> tuple[list[str], str | None] | None:
    """The store's copy of the account list: (ids, default); None when there is none (or it is damaged)."""
    text = store.get(INDEX)
    if text is None:
        return None
    try:
        index = json.loads(text)
        ids = [each for each in index["ids"] if isinstance(each, str) and each]
        default = index.get("default")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("The account list in %s is damaged (%s); looking for tokens without it.", store.description, exc)
        return None
    return ids, default if isinstance(default, str) else None


def _move_legacy_slots(store: TokenStore) -> None:
    """Release 0.1.0's two slots move to its account's (``token:<id>``…), which joins the store's account
    list as the default, before the old slots are deleted."""
    claims = _stored_claims(store, CURRENT)
    if claims is None:
        return
    if not claims.user_id:
        raise StorageError(
            tr(
                "The token stored in {store} names no account; set a new one with `qwen-tray set-token`.",
                store=store.description,
            )
        )
    previous = store.get(PREVIOUS)
    store.set(claims.token, current_slot(claims.user_id))
    if previous is not None:
        store.set(previous, previous_slot(claims.user_id))
    ids, default = _read_index(store) or ([], None)
    if claims.user_id not in ids:
        ids.append(claims.user_id)
    store.set(json.dumps({"default": default or claims.user_id, "ids": ids}), INDEX)
    store.delete(PREVIOUS)
    store.delete(CURRENT)
    log.info("Moved the token of release 0.1.0 to account %s.", claims.user_id[:SHORT_ID])


def _rebuild_from_index(store: TokenStore, state_file: StateFile, legacy: State | None) -> Book | None:
    """The book from the store's copy of the account list (emails and history come back with the next
    refresh; release 0.1.0's, ``legacy``, go to the default account); None when the store has no copy."""
    index = _read_index(store)
    if index is None:
        return None
    ids, default = index
    accounts = []
    for account_id in ids:
        claims = _stored_claims(store, current_slot(account_id))
        if claims is not None:
            accounts.append(Account(account_id, State(expires_at=claims.expires_at)))
    book = Book(accounts=tuple(accounts))
    if accounts:
        book = book.with_default(default if default and book.get(default) is not None else accounts[0].id)
        if legacy is not None:
            assert book.default is not None  # noqa: S101 - set just above
            kept = book.get(book.default)
            book = book.with_record(book.default, replace(legacy, expires_at=kept.expires_at if kept else None))
    save_book(store, state_file, book, before=None)
    what = "upgraded the state file of release 0.1.0" if legacy is not None else "rebuilt the missing state file"
    log.info("Opened %d account(s) from %s: %s.", len(accounts), store.description, what)
    return book
