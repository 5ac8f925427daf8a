"""Where the token lives: the OS keyring (default) or, opt-in only, a 0600 file.

Each account has two slots, its current token and the one before it (``token:<id>``,
``previous_token:<id>``), so a bad replacement can never strand the user; the slot ``accounts`` holds
a copy of the account list (not a secret: the keyring is where it survives a lost state file).

Every keyring call is bounded by a timeout: a locked keyring waiting on a prompt no one will answer
must not hang a refresh or the CLI.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from tray_app.errors import NoKeyringError, StorageError
from tray_app.i18n import N_, Text, tr

if TYPE_CHECKING:
    from tray_app.state import FileIdentity

#: Release 0.1.0's slots: one account, no id. Read once, to upgrade (accounts.py), then deleted.
CURRENT = "token"
PREVIOUS = "previous_token"
SLOTS = (CURRENT, PREVIOUS)
#: The copy of the account list.
INDEX = "accounts"


def current_slot(account_id: str) -> str:
    return f"{CURRENT}:{account_id}"


def previous_slot(account_id: str) -> str:
    return f"{PREVIOUS}:{account_id}"


def account_slots(account_id: str) -> tuple[str, str]:
    return current_slot(account_id), previous_slot(account_id)

KEYRING_SERVICE = "qwen-tray"

_T = TypeVar("_T")
log = logging.getLogger(__name__)

#: What to do without a keyring (English; ``tr(NO_KEYRING_HELP)`` for a person).
NO_KEYRING_HELP = N_(
    "install and start a keyring (gnome-keyring or KWallet on Linux), or opt in to the plain file store "
    'with storage = "file" in config.toml or --storage file'
)


def no_keyring_message() -> Text:
    """There is no keyring here at all, and what to do."""
    return tr("No system keyring is available: {help}.", help=tr(NO_KEYRING_HELP))


#: keyring's backends in words a person knows (the start line, ``status``); others go by keyring's own name.
#: English: :func:`describe_keyring` translates them.
KEYRING_WORDS = {
    "keyring.backends.SecretService.Keyring": N_("the desktop keyring (Secret Service)"),
    "keyring.backends.libsecret.Keyring": N_("the desktop keyring (Secret Service, through libsecret)"),
    "keyring.backends.kwallet.DBusKeyring": N_("KDE Wallet"),
    "keyring.backends.kwallet.DBusKeyringKWallet4": N_("KDE Wallet"),
    "keyring.backends.macOS.Keyring": N_("the macOS Keychain"),
    "keyring.backends.Windows.WinVaultKeyring": N_("the Windows Credential Manager"),
    "keyring.backends.fail.Keyring": N_("no keyring (none was found on this system)"),
}

#: A keyring call that did not answer in time, by what it was to do (whole sentences, for translators).
_NO_ANSWER = {
    "read": N_(
        "The keyring did not answer within {seconds:g} s (to read the token); it may be locked and waiting "
        "for a password prompt. Unlock it and try again."
    ),
    "write": N_(
        "The keyring did not answer within {seconds:g} s (to write the token); it may be locked and waiting "
        "for a password prompt. Unlock it and try again."
    ),
    "delete": N_(
        "The keyring did not answer within {seconds:g} s (to delete the token); it may be locked and waiting "
        "for a password prompt. Unlock it and try again."
    ),
}
#: A keyring call that failed, by what it was to do.
_FAILED = {
    "read": N_("The keyring failed to read the token ({detail}): {help}."),
    "write": N_("The keyring failed to write the token ({detail}): {help}."),
    "delete": N_("The keyring failed to delete the token ({detail}): {help}."),
}


class TokenStore(Protocol):
    """The narrow interface every store offers."""

    @property
    def description(self) -> str:
        """Where the token is, for messages ("the desktop keyring (Secret Service)", "the file …")."""

    def get(self, slot: str) -> str | None: ...

    def set(self, token: str, slot: str) -> None: ...

    def delete(self, slot: str) -> None: ...

    def check_exists(self) -> None:
        """Raise NoKeyringError if this store cannot exist here at all (no keyring call: a look at the
        choice made); trouble that may pass, such as a locked keyring, shows when the token is read."""


def replace_token(store: TokenStore, account_id: str, token: str) -> None:
    """Make ``token`` the account's current token, keeping the old one as previous; verify by reading it
    back.

    At every step a usable token is stored: the old one is copied to the previous slot before the
    current slot is touched, and restored if the new one does not read back.
    """
    current, previous = account_slots(account_id)
    old = store.get(current)
    if old == token:
        return
    if old is not None:
        store.set(old, previous)
    store.set(token, current)
    if store.get(current) != token:
        if old is not None:
            store.set(old, current)
        raise StorageError(
            tr("The token did not read back from {store}; the old one was kept.", store=store.description)
        )


def delete_slots(store: TokenStore, slots: tuple[str, ...]) -> bool:
    """Delete these slots; whether any held a token (False: there was nothing to forget)."""
    found = False
    for slot in slots:
        if store.get(slot) is not None:
            store.delete(slot)
            found = True
    return found


class KeyringStore:
    """The OS keyring through ``keyring``, honouring its own backend choice (PYTHON_KEYRING_BACKEND...)."""

    def __init__(self, service: str = KEYRING_SERVICE, timeout: float = 10.0) -> None:
        self.service = service
        self.timeout = timeout
        self._backend: Any = None
        #: The backend keyring chose, usable or not; or why the one PYTHON_KEYRING_BACKEND names cannot be.
        self._chosen: Any = None
        self._unusable: str | None = None

    @property
    def description(self) -> str:
        """Where the token is, in words (a :class:`Text`); choosing the backend the first time it is asked
        for (importing keyring costs ~65 ms: not before the tray's icon shows, nor for commands that never
        ask). Put into words only here: ``qwen-tray token`` never loads a translation."""
        with contextlib.suppress(NoKeyringError):  # said when the token is read or stored
            self._resolve()
        if self._chosen is not None:
            return describe_keyring(self._chosen)
        if self._unusable is not None:
            return tr("no keyring ({backend} cannot be used here)", backend=self._unusable)
        return tr("the system keyring")

    def _resolve(self) -> Any:
        """The keyring backend, chosen again while none is usable: a keyring that starts after us (the
        desktop's, at login) is found by the next call, without a restart."""
        from keyring.backends.fail import Keyring as NoKeyring

        if self._backend is not None:
            return self._backend
        try:
            backend = _keyring_backend()
        except NoKeyringError:
            self._chosen = None
            self._unusable = str(os.environ.get("PYTHON_KEYRING_BACKEND"))
            raise
        self._chosen = backend
        if isinstance(backend, NoKeyring):
            raise NoKeyringError(no_keyring_message())
        self._backend = backend
        return backend

    def check_exists(self) -> None:
        self._resolve()

    def get(self, slot: str) -> str | None:
        value = self._bounded(lambda: self._backend.get_password(self.service, slot), "read")
        return value if isinstance(value, str) else None

    def set(self, token: str, slot: str) -> None:
        self._bounded(lambda: self._backend.set_password(self.service, slot, token), "write")

    def delete(self, slot: str) -> None:
        from keyring.errors import PasswordDeleteError

        def delete_if_present() -> None:
            if self._backend.get_password(self.service, slot) is None:
                return
            try:
                self._backend.delete_password(self.service, slot)
            except PasswordDeleteError:
                if self._backend.get_password(self.service, slot) is not None:
                    raise

        self._bounded(delete_if_present, "delete")

    def _bounded(self, call: Callable[[], _T], action: str) -> _T:
        """Run one keyring call on a helper thread; give up after ``timeout`` seconds."""
        self._resolve()
        outcome: list[_T] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                outcome.append(call())
            except Exception as exc:  # noqa: BLE001 - handed to the caller's thread below, not dropped
                failure.append(exc)

        worker = threading.Thread(target=run, name=f"keyring-{action}", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            raise StorageError(tr(_NO_ANSWER[action], seconds=self.timeout))
        if failure:
            raise _translate_keyring_error(failure[0], action) from failure[0]
        return outcome[0]


#: The backends tried first, per platform, in order, unless PYTHON_KEYRING_BACKEND or keyringrc.cfg
#: names one. keyring's own discovery would end with the same choice (these have the highest priority
#: where they run) after importing every backend: libsecret's loads PyGObject, macOS's probes ctypes,
#: which costs every ``qwen-tray token`` time and puts GLib into a tray that needs no GTK. A frozen build
#: (PyInstaller) has no entry points to discover backends with at all.
PREFERRED_BACKENDS = {
    "linux": ("keyring.backends.SecretService.Keyring", "keyring.backends.kwallet.DBusKeyring"),
    "darwin": ("keyring.backends.macOS.Keyring",),
    "win32": ("keyring.backends.Windows.WinVaultKeyring",),
}


def _keyring_backend() -> Any:
    """PYTHON_KEYRING_BACKEND, else keyringrc.cfg, else the first preferred backend for this platform that
    says it can run here, else keyring's discovery by priority (third-party backends; in a frozen build,
    which cannot discover, no keyring). A backend named by the user that cannot run here raises
    NoKeyringError saying why."""
    import keyring.core

    named = os.environ.get("PYTHON_KEYRING_BACKEND")
    if named:
        try:
            return keyring.core.load_keyring(named)
        except Exception as exc:
            reason = " ".join(str(exc).split()).rstrip(". ") or type(exc).__name__
            raise NoKeyringError(
                tr(
                    "The keyring named by PYTHON_KEYRING_BACKEND ({backend}) cannot be used here: {reason}.",
                    backend=named,
                    reason=reason,
                )
            ) from exc
    configured = keyring.core.load_config()
    if configured is not None:
        return configured
    for name in PREFERRED_BACKENDS.get(sys.platform, PREFERRED_BACKENDS["linux"]):
        try:
            return keyring.core.load_keyring(name)  # asks the backend's priority: raises where it cannot run
        except Exception as exc:  # noqa: BLE001 - each backend has its own ways to say "not here"
            log.debug("Keyring backend %s is not usable here: %s", name, exc)
    if not getattr(sys, "frozen", False):
        return keyring.core.get_keyring()
    from keyring.backends.fail import Keyring as NoKeyring

    return NoKeyring()  # type: ignore[no-untyped-call]


def describe_keyring(backend: Any) -> Text:
    """Where a keyring backend keeps the token, in words: "the desktop keyring (Secret Service)"."""
    cls = type(backend)
    known = KEYRING_WORDS.get(f"{cls.__module__}.{cls.__qualname__}")
    if known:
        return tr(known)
    if cls.__module__ == "keyring.backends.chainer":
        described: Text | None = None
        for each in backend.backends:
            words = describe_keyring(each)
            described = words if described is None else tr("{first} or {second}", first=described, second=words)
        return described if described is not None else tr(KEYRING_WORDS["keyring.backends.fail.Keyring"])
    file_path = getattr(backend, "file_path", None)  # keyrings.alt's file backends
    if isinstance(file_path, str):
        name = f"{cls.__module__}.{cls.__qualname__}"
        return tr("the keyring file {path} ({backend})", path=file_path, backend=name)
    return tr("the keyring {name}", name=getattr(cls, "name", cls.__qualname__))


def _translate_keyring_error(exc: BaseException, action: str) -> StorageError:
    from keyring.errors import InitError, KeyringLocked
    from keyring.errors import NoKeyringError as KeyringFoundNone

    # keyring's own messages end with a period ("Prompt dismissed."): ours follows, so drop theirs.
    detail = (str(exc).splitlines()[0].rstrip(". ") if str(exc) else "") or type(exc).__name__
    if isinstance(exc, KeyringFoundNone):
        return NoKeyringError(no_keyring_message())
    if isinstance(exc, KeyringLocked):
        return StorageError(tr("The keyring is locked: unlock it (log in to the desktop session) and try again."))
    if isinstance(exc, InitError):
        return StorageError(
            tr(
                "The keyring could not be opened ({detail}); unlock it or create a default keyring, or opt in to "
                'the plain file store with storage = "file" in config.toml or --storage file.',
                detail=detail,
            )
        )
    return StorageError(tr(_FAILED[action], detail=detail, help=tr(NO_KEYRING_HELP)))


class FileStore:
    """Opt-in plain-file store: JSON in a 0600 file. ``set-token`` says where it is, ``status`` shows it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: The slots read last, kept while the file is unchanged (a thousand accounts' file is read a
        #: few times per refresh); never handed out, only copies.
        self._cache: tuple[FileIdentity, dict[str, str]] | None = None
        self._cache_lock = threading.Lock()

    @property
    def description(self) -> str:
        return tr("the file {path} (plain text, readable only by you)", path=self.path)

    def _load(self) -> dict[str, str]:
        from tray_app.state import file_identity

        try:
            identity = file_identity(self.path)
            with self._cache_lock:
                cached = self._cache
            if cached is not None and cached[0] == identity:
                return dict(cached[1])
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StorageError(tr("Cannot read the token file {path}: {error}", path=self.path, error=exc)) from exc
        if not isinstance(data, dict):
            raise StorageError(
                tr("The token file {path} is damaged; run `qwen-tray forget` and set it again.", path=self.path)
            )
        slots = {slot: value for slot, value in data.items() if isinstance(slot, str) and isinstance(value, str)}
        with self._cache_lock:
            self._cache = (identity, slots)
        return dict(slots)

    def _save(self, data: dict[str, str]) -> None:
        from tray_app.state import file_identity, write_atomically

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if data:
                write_atomically(self.path, json.dumps(data, separators=(",", ":")) + "\n")
                saved = (file_identity(self.path), dict(data))
            else:
                self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(
                tr("Cannot write the token file {path}: {error}", path=self.path, error=exc.strerror or exc)
            ) from exc
        with self._cache_lock:
            self._cache = saved if data else None

    def get(self, slot: str) -> str | None:
        return self._load().get(slot)

    def set(self, token: str, slot: str) -> None:
        data = self._load()
        if data.get(slot) == token:
            return
        data[slot] = token
        self._save(data)

    def delete(self, slot: str) -> None:
        data = self._load()
        if data.pop(slot, None) is not None:
            self._save(data)

    def check_exists(self) -> None:
        """A file can always be tried; a folder we cannot write shows when the token is stored."""
