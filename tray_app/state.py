"""Non-secret state in a JSON file written atomically: the accounts we keep (their ids, in order, and the
default), and per account its email, expiry, last refresh, last error and backoff.

The token is never here. Each account's expiry is a copy of its token's ``exp``, kept so the refresher
can decide what is due without reading the keyring for every account; the token is checked when read.
Losing this file loses only history: the keyring keeps a copy of the account list (see accounts.py).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tray_app.errors import StorageError
from tray_app.i18n import tr

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LastError:
    kind: str
    message: str
    at: float


@dataclass(frozen=True)
class State:
    """What we remember between runs besides the token."""

    email: str | None = None
    name: str | None = None
    #: The stored token's ``exp`` (a copy: the token, checked when read, wins if they differ).
    expires_at: int | None = None
    #: Unix time of the last successful refresh (a new token from the server, stored).
    last_refresh: float | None = None
    last_error: LastError | None = None
    #: ``exp`` of the token the server rejected (401/403): that token is invalid, a new one is not.
    rejected_exp: int | None = None
    #: Consecutive transient failures, for backoff.
    failures: int = 0
    #: No automatic attempt before this unix time (backoff after a failure).
    retry_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in _STATE_FIELD_ORDER}
        if self.last_error is not None:
            data["last_error"] = asdict(self.last_error)
        data.update(self.extra)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        known = {key: value for key, value in data.items() if key in _STATE_FIELDS}
        error = known.get("last_error")
        known["last_error"] = LastError(**error) if isinstance(error, dict) else None
        extra = {key: value for key, value in data.items() if key not in _STATE_FIELDS}
        return cls(**known, extra=extra)


#: State's fields as the JSON names them (computed once: a book of 1,000 accounts reads 1,000 records).
_STATE_FIELD_ORDER = tuple(f.name for f in fields(State) if f.name != "extra")
_STATE_FIELDS = frozenset(_STATE_FIELD_ORDER)


@dataclass(frozen=True)
class Account:
    """One account: its id (the token's ``id`` claim) and what we remember of it."""

    id: str
    record: State


@dataclass(frozen=True)
class Book:
    """Every account we keep, in the order they were added, and which one is the default."""

    accounts: tuple[Account, ...] = ()
    default: str | None = None
    #: No automatic refresh of any account before this unix time: chat.qwen.ai rate-limited us, and all
    #: accounts are one client to it.
    paused_until: float | None = None
    #: A release 0.1.0 state file (one account, no ids), read as it was: accounts.py upgrades it.
    legacy: State | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(account.id for account in self.accounts)

    def get(self, account_id: str) -> State | None:
        for account in self.accounts:
            if account.id == account_id:
                return account.record
        return None

    def with_record(self, account_id: str, record: State) -> Book:
        """This book with ``account_id``'s record replaced, or the account added last (the first one
        added becomes the default)."""
        if self.get(account_id) is None:
            return replace(
                self, accounts=(*self.accounts, Account(account_id, record)), default=self.default or account_id
            )
        accounts = tuple(Account(a.id, record) if a.id == account_id else a for a in self.accounts)
        return replace(self, accounts=accounts)

    def without(self, account_id: str) -> Book:
        """This book without ``account_id``; a removed default passes to the first one left."""
        accounts = tuple(a for a in self.accounts if a.id != account_id)
        default = self.default if self.default != account_id else (accounts[0].id if accounts else None)
        return replace(self, accounts=accounts, default=default)

    def with_default(self, account_id: str) -> Book:
        return replace(self, default=account_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": BOOK_VERSION,
            "default": self.default,
            "paused_until": self.paused_until,
            "accounts": [{"id": a.id, **a.record.to_json()} for a in self.accounts],
        }

    @classmethod
    def from_json(cls, data: Any) -> Book:
        """A book from the state file; a 0.1.0 file (no ``accounts``) comes back as ``legacy``."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if "accounts" not in data:
            return cls(legacy=State.from_json(data))
        accounts: list[Account] = []
        for item in data["accounts"]:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
                raise ValueError("an account without an id")
            fields_only = {key: value for key, value in item.items() if key != "id"}
            accounts.append(Account(item["id"], State.from_json(fields_only)))
        ids = [a.id for a in accounts]
        default = data.get("default")
        if default not in ids:
            default = ids[0] if ids else None
        paused = data.get("paused_until")
        return cls(
            accounts=tuple(accounts),
            default=default,
            paused_until=float(paused) if isinstance(paused, (int, float)) and not isinstance(paused, bool) else None,
        )


BOOK_VERSION = 2


class StateFile:
    """Load and save the :class:`Book`; saves are atomic (temp file, fsync, rename). The book read last
    is kept while the file is unchanged (the same inode, size and mtime): with a thousand accounts, a
    refresh would otherwise parse the whole file three times."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: tuple[FileIdentity, Book] | None = None
        self._cache_lock = threading.Lock()

    def load(self) -> Book | None:
        """The book; None when there is no state file, or one we cannot read (accounts.py rebuilds it
        from the keyring's copy of the account list)."""
        try:
            identity = file_identity(self.path)
            with self._cache_lock:
                cached = self._cache
            if cached is not None and cached[0] == identity:
                return cached[1]
            book = Book.from_json(json.loads(self.path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            log.warning("Ignoring unreadable state file %s (%s); rebuilding it.", self.path, exc)
            return None
        with self._cache_lock:
            self._cache = (identity, book)
        return book

    def mtime_ns(self) -> int | None:
        """Changes whenever another process saves; cheap enough to check every minute."""
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def save(self, book: Book) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # No indent: json's C encoder only runs without one (a thousand accounts, every refresh).
            write_atomically(self.path, json.dumps(book.to_json(), separators=(",", ":")) + "\n")
            identity = file_identity(self.path)
        except OSError as exc:
            raise StorageError(
                tr("Cannot write the state file {path}: {error}", path=self.path, error=exc.strerror or exc)
            ) from exc
        with self._cache_lock:
            self._cache = (identity, book)

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


#: What tells one version of a file from the next: every save is a new file renamed into place.
FileIdentity = tuple[int, int, int, int]


def file_identity(path: Path) -> FileIdentity:
    """The file's device, inode, size and mtime (raises OSError, FileNotFoundError if there is none)."""
    info = path.stat()
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` so a crash leaves either the old file or the new one, never half of either.

    The file is created 0600 (mkstemp's mode) whatever the umask.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    tmp = Path(tmp_name)
    replaced = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
        replaced = True
    finally:
        if not replaced:
            tmp.unlink(missing_ok=True)
