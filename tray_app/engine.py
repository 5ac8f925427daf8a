"""The engine: reads, refreshes and replaces the token, records what happened, tells subscribers.

The CLI, the daemon and the tray all act through :class:`TokenService`; none of them holds state of its
own. Time (``clock``), waiting (``wait``) and randomness (``jitter``) are injected so tests can move them.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tray_app.accounts import (
    account_label,
    damaged_token_message,
    load_book,
    open_book,
    resolve_account,
    save_book,
)
from tray_app.config import Settings
from tray_app.errors import (
    AccountError,
    AlreadyRunningError,
    BadResponseError,
    BrowserError,
    ExpiredTokenError,
    InvalidTokenError,
    NoTokenError,
    QwenTrayError,
    RateLimitedError,
    RefreshError,
    StorageError,
    TokenFormatError,
)
from tray_app.hook import run_hook
from tray_app.i18n import N_, Text, joined, tr
from tray_app.policy import (
    DAY,
    TokenState,
    backoff_seconds,
    quick_retry_pause,
    refresh_due_at,
    token_state,
    urgency,
)
from tray_app.state import Book, LastError, State, StateFile
from tray_app.store import (
    INDEX,
    TokenStore,
    account_slots,
    current_slot,
    delete_slots,
    replace_token,
)
from tray_app.store import SLOTS as LEGACY_SLOTS
from tray_app.timefmt import format_duration, format_utc
from tray_app.token import KnownExpiry, TokenClaims, TokenFacts, decode_token, extract_token

if TYPE_CHECKING:
    from tray_app.browsers import BrowserChoice, Scan
    from tray_app.client import QwenClient, Session

log = logging.getLogger(__name__)

#: How long a refresh or token change waits for another process's refresh to finish.
REFRESH_LOCK_TIMEOUT = 90.0


@dataclass(frozen=True)
class Status:
    """Everything known about one account's token at one moment (never the token itself)."""

    state: TokenState
    #: The token's expiry and account: decoded from the token when it was read, else the state file's copy.
    claims: TokenFacts | None
    record: State
    now: float
    #: When the next automatic refresh may run (None: only a new token from the browser helps).
    due_at: float | None
    #: Why the token could not be read (state UNKNOWN), in words a person can act on.
    problem: str | None = None
    #: The account (the token's ``id``); None when no account is known.
    account_id: str | None = None
    is_default: bool = True

    @property
    def days_left(self) -> float | None:
        return None if self.claims is None else (self.claims.expires_at - self.now) / DAY

    @property
    def label(self) -> str:
        """The account in words: its email, else ``account 1a2b3c4d``; "" when there is none."""
        return account_label(self.account_id, self.record) if self.account_id else ""

    def to_json(self) -> dict[str, Any]:
        """The `status --json` contract (tests/test_cli.py pins its keys)."""
        error = self.record.last_error
        return {
            "state": self.state.value,
            "user_id": self.claims.user_id if self.claims else self.account_id,
            "email": self.record.email,
            "name": self.record.name,
            "expires_at": self.claims.expires_at if self.claims else None,
            "days_left": None if self.days_left is None else round(self.days_left, 4),
            "last_refresh": self.record.last_refresh,
            "last_error": None if error is None else {"kind": error.kind, "message": error.message, "at": error.at},
            "next_refresh_at": self.due_at,
        }


def most_urgent(statuses: Sequence[Status]) -> Status | None:
    """The account that most needs a person: the worst state, then the least time left."""
    if not statuses:
        return None
    return min(statuses, key=lambda s: urgency(s.state, s.claims.expires_at if s.claims else None))


def unchecked_paste_message(error: RefreshError) -> Text:
    """Why a pasted token was not stored, and what to do: nothing retries a paste, so nothing may say it will."""
    if not error.transient:  # chat.qwen.ai answered: this token will not do
        return tr("{reason} Nothing was stored.", reason=error.message)
    if error.kind == "network":
        return tr(
            "Could not check the token with chat.qwen.ai: {reason} Nothing was stored; try again when online, "
            "or store it unchecked with `qwen-tray set-token --no-verify`.",
            reason=error.message,
        )
    if isinstance(error, RateLimitedError) and error.retry_after is not None:
        return tr(
            "Could not check the token with chat.qwen.ai: {reason} Nothing was stored; try again in {duration}, "
            "or store it unchecked with `qwen-tray set-token --no-verify`.",
            reason=error.message,
            duration=format_duration(error.retry_after),
        )
    if error.kind == "blocked":  # the client's words are about a stored token being still good
        return tr(
            "Could not check the token with chat.qwen.ai: chat.qwen.ai's firewall answered instead (a captcha or "
            "block page). Nothing was stored; open chat.qwen.ai in a browser, then try again, "
            "or store it unchecked with `qwen-tray set-token --no-verify`."
        )
    return tr(
        "Could not check the token with chat.qwen.ai: {reason} Nothing was stored; try again later, "
        "or store it unchecked with `qwen-tray set-token --no-verify`.",
        reason=error.message,
    )


@dataclass(frozen=True)
class EngineEvent:
    """Published to subscribers: ``refreshed``, ``refresh_failed``, ``token_set``, ``imported``,
    ``recovered``, ``forgotten``, ``default_changed`` (by the engine, about the account ``status`` is
    of), ``state_changed`` and ``checked`` (by the refresher, after each look at the clock: ``status`` is
    then the most urgent account's, ``statuses`` every account's). ``source`` names the browser profile
    of an import or a recovery."""

    kind: str
    status: Status
    error: QwenTrayError | None = None
    source: str | None = None
    statuses: tuple[Status, ...] = ()


@dataclass(frozen=True)
class ImportOutcome:
    """What importing from a browser did: ``stored`` False means what we hold was at least as fresh."""

    stored: bool
    source: str
    status: Status


#: What to do when no browser holds a usable token (English; ``tr(NOTHING_IN_BROWSERS)`` for a person).
NOTHING_IN_BROWSERS = N_(
    "sign in at chat.qwen.ai in your browser; if you just did, close the browser or wait a minute, "
    "then try again"
)


def choose_candidate(candidates: Sequence[Any], held: TokenClaims | None, *, now: float) -> Any:
    """The browser token to import: the freshest of the account we hold; with none of it, the freshest
    of the one account found. Candidates are :class:`tray_app.browsers.Candidate`s; those that do not
    decode or have expired are passed over. Raises BrowserError when there is nothing usable, or tokens
    of several accounts and none of ours (the person must choose a profile)."""
    usable = [c for c in candidates if c.claims is not None and c.claims.expires_at > now and c.claims.user_id]
    if not usable:
        raise BrowserError(
            tr("No usable chat.qwen.ai token was found in the browsers: {remedy}.", remedy=tr(NOTHING_IN_BROWSERS))
        )
    freshest = sorted(usable, key=lambda c: c.claims.expires_at, reverse=True)
    if held is not None and held.user_id:
        ours = [c for c in freshest if c.claims.user_id == held.user_id]
        if ours:
            return ours[0]
    accounts = {c.claims.user_id for c in freshest}
    if len(accounts) > 1:
        found = joined(
            [tr("{profile} (account {id})", profile=c.label, id=c.claims.user_id[:8]) for c in freshest], "; "
        )
        raise BrowserError(
            tr(
                "Tokens of {count} accounts were found ({found}); choose one with BROWSER:PROFILE, "
                "e.g. `qwen-tray set-token --from-browser firefox:default-release`.",
                count=len(accounts),
                found=found,
            )
        )
    return freshest[0]


def at_least_as_fresh(candidate: TokenClaims, held: TokenFacts | None, held_state: TokenState | None) -> bool:
    """Whether an imported token may replace what we hold: never an older token of the same account over
    one that still works (a stale profile must not undo a refresh)."""
    if held is None or held.user_id != candidate.user_id:
        return True
    if isinstance(held, TokenClaims) and candidate.token == held.token:
        return False  # already stored
    if held_state in (TokenState.INVALID, TokenState.EXPIRED):
        return True
    return candidate.expires_at >= held.expires_at


@dataclass(frozen=True)
class RefreshOutcome:
    refreshed: bool
    status: Status


class TokenService:
    """One owner for the accounts, their tokens and their state; every method is safe to call from any
    thread. Methods taking ``account`` accept a selector (id, email, or a prefix of either: see
    :func:`tray_app.accounts.resolve_account`); None means the default account."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: TokenStore,
        state_file: StateFile,
        refresh_lock_path: Path,
        clock: Callable[[], float] = time.time,
        wait: Callable[[float], bool] | None = None,
        jitter: Callable[[], float] = random.random,
        client_factory: Callable[[], QwenClient] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.state_file = state_file
        self.clock = clock
        self._wait = wait or threading.Event().wait
        self._jitter = jitter
        self._client_factory = client_factory
        self._refresh_lock_path = refresh_lock_path
        self._thread_lock = threading.Lock()
        self._subscribers: list[Callable[[EngineEvent], None]] = []

    # -- events -------------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[EngineEvent], None]) -> None:
        self._subscribers.append(callback)

    def publish(self, event: EngineEvent) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("A %s subscriber failed; the engine carries on.", event.kind)

    # -- reading ------------------------------------------------------------------------------

    def book(self) -> Book:
        """The accounts (no keyring read, unless the state file must be rebuilt or upgraded)."""
        return open_book(self.store, self.state_file, exclusive=self._exclusive)

    def _locked_book(self) -> Book:
        """The book, with the lock held (a state file lost meanwhile is rebuilt, never taken as empty)."""
        return load_book(self.store, self.state_file)

    def resolve(self, account: str | None) -> str:
        """The id of the account ``account`` names (raises NoTokenError or AccountError)."""
        return resolve_account(self.book(), account)

    def status(self, account: str | None = None, *, book: Book | None = None) -> Status:
        """One account's status, its token read from the store and checked (``book``: as just read)."""
        book = self.book() if book is None else book
        account_id = resolve_account(book, account) if book.accounts or account else None
        if account_id is None:
            return self.evaluate(None, State(), self.clock())
        record = book.get(account_id) or State()
        return self.evaluate(self._stored_claims(account_id), record, self.clock(), account_id=account_id, book=book)

    def statuses(self, book: Book | None = None, now: float | None = None) -> list[Status]:
        """Every account's status from the state file alone (no keyring read), in the book's order."""
        book = self.book() if book is None else book
        now = self.clock() if now is None else now
        return [
            self.evaluate(
                None if a.record.expires_at is None else KnownExpiry(a.record.expires_at, a.id),
                a.record,
                now,
                account_id=a.id,
                book=book,
            )
            for a in book.accounts
        ]

    def trouble_status(self, error: StorageError) -> Status:
        """An UNKNOWN status saying why the token cannot be read (a keyring missing, locked or not
        answering), for a view that must show something rather than stop."""
        account_id, record = self._default_record()
        return Status(
            TokenState.UNKNOWN, None, record, self.clock(), None, problem=error.message, account_id=account_id
        )

    def _default_record(self) -> tuple[str | None, State]:
        """The default account and what the state file remembers of it, without the keyring."""
        book = self.state_file.load()
        account_id = book.default if book is not None else None
        record = book.get(account_id) if book is not None and account_id else None
        return account_id, record or State()

    def evaluate(
        self,
        claims: TokenFacts | None,
        record: State,
        now: float,
        *,
        backoff: bool = True,
        account_id: str | None = None,
        book: Book | None = None,
    ) -> Status:
        """The status these facts give at ``now``; ``backoff=False`` ignores a pending retry time (the
        account's, and the pause after a rate limit, which ``book`` holds)."""
        days = self.settings.refresh_before_days
        if backoff and book is not None and book.paused_until is not None:
            retry_at = max(record.retry_at or 0.0, book.paused_until)
            due_record = replace(record, retry_at=retry_at if retry_at > 0 else None)
        else:
            due_record = record if backoff else replace(record, retry_at=None)
        due = refresh_due_at(claims, due_record, now=now, refresh_before_days=days)
        return Status(
            state=token_state(claims, record, now=now, refresh_before_days=days),
            claims=claims,
            record=record,
            now=now,
            due_at=due,
            account_id=account_id or (claims.user_id if claims else None),
            is_default=book is None or book.default == account_id,
        )

    def token(self, account: str | None = None) -> str:
        """The account's token (raises NoTokenError when none is stored)."""
        book = self.book()
        account_id = resolve_account(book, account)
        token = self.store.get(current_slot(account_id))
        if token is None:
            raise NoTokenError(
                tr(
                    "No token is stored for {account}; paste one with `qwen-tray set-token`.",
                    account=account_label(account_id, book.get(account_id)),
                )
            )
        return token

    def _stored_claims(self, account_id: str) -> TokenClaims | None:
        token = self.store.get(current_slot(account_id))
        if token is None:
            return None
        try:
            return decode_token(token)
        except TokenFormatError as exc:
            raise StorageError(damaged_token_message(self.store.description, exc)) from exc

    def unknown_status_json(self, error: QwenTrayError) -> dict[str, Any]:
        """The `status --json` contract when the token cannot be read (a keyring that is missing, locked
        or damaged): ``state`` "unknown", what the state file knows, and ``last_error`` saying why."""
        _account_id, record = self._default_record()
        return {
            "state": "unknown",
            "user_id": None,
            "email": record.email,
            "name": record.name,
            "expires_at": None,
            "days_left": None,
            "last_refresh": record.last_refresh,
            "last_error": {"kind": error.kind, "message": error.message, "at": self.clock()},
            "next_refresh_at": None,
        }

    # -- acting -------------------------------------------------------------------------------

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One change of the accounts at a time: across threads, and across processes. Held only while
        reading and writing the store and the state file, never during a network call."""
        from filelock import Timeout

        from tray_app.locks import refresh_lock

        with self._thread_lock:
            lock = refresh_lock(self._refresh_lock_path)
            try:
                lock.acquire(timeout=REFRESH_LOCK_TIMEOUT)
            except Timeout as exc:
                raise AlreadyRunningError(
                    tr("Another qwen-tray process is changing the token; try again soon.")
                ) from exc
            try:
                yield
            finally:
                lock.release()

    def _client(self) -> QwenClient:
        if self._client_factory is not None:
            return self._client_factory()
        from tray_app.client import QwenClient

        return QwenClient(self.settings.base_url)

    def _fetch(self, token: str) -> Session:
        """One refresh call with quick retries for transient trouble (three attempts in ~10 s)."""
        with self._client() as client:
            attempt = 1
            while True:
                try:
                    return client.fetch_session(token, now=self.clock())
                except RefreshError as exc:
                    retry_after = exc.retry_after if isinstance(exc, RateLimitedError) else None
                    pause = quick_retry_pause(exc.kind, attempt, retry_after)
                    if pause is None:
                        raise
                    if isinstance(exc, RateLimitedError):
                        self._pause_all(self.clock() + pause)
                    wait = format_duration(pause)
                    log.info("Refresh attempt %d failed (%s); retrying in %s.", attempt, exc.kind, wait)
                    if self._wait(pause):
                        raise
                    attempt += 1

    def _pause_all(self, until: float) -> None:
        """No automatic refresh of any account before ``until``: chat.qwen.ai rate-limited one of them,
        and every account is one client to it (the refresher reads the pause from the state file)."""
        with self._exclusive():
            book = self._locked_book()
            if book.paused_until is None or book.paused_until < until:
                save_book(self.store, self.state_file, replace(book, paused_until=until), before=book)

    def refresh(
        self, account: str | None = None, *, force: bool = False, honour_backoff: bool = False
    ) -> RefreshOutcome:
        """Refresh the account if due (always with ``force``); record and publish the outcome.

        Raises our errors: NoTokenError, InvalidTokenError/ExpiredTokenError when only a new token helps
        (without a network call unless forced), RefreshError kinds when the server did not oblige.
        """
        with self._exclusive():
            book = self._locked_book()
            account_id = resolve_account(book, account)
            record = book.get(account_id) or State()
            claims = self._stored_claims(account_id)
            if claims is not None and record.expires_at != claims.expires_at:
                # The state's copy of the expiry is behind the token (a crash between storing a token and
                # saving the state): the token wins, and the state learns it.
                record = replace(record, expires_at=claims.expires_at)
                book = book.with_record(account_id, record)
                save_book(self.store, self.state_file, book, before=book)
            now = self.clock()
            status = self.evaluate(claims, record, now, backoff=honour_backoff, account_id=account_id, book=book)
        label = account_label(account_id, record)
        if claims is None:
            raise NoTokenError(
                tr("No token is stored for {account}; paste one with `qwen-tray set-token`.", account=label)
            )
        if not force:
            if status.state is TokenState.INVALID:
                raise InvalidTokenError(
                    tr(
                        "chat.qwen.ai rejected the token of {account} earlier; copy a new token from the browser.",
                        account=label,
                    )
                )
            if status.state is TokenState.EXPIRED:
                raise ExpiredTokenError(
                    tr(
                        "The token of {account} expired on {date}; copy a new one from the browser.",
                        account=label,
                        date=format_utc(claims.expires_at),
                    )
                )
            if status.due_at is None or status.due_at > now:
                return RefreshOutcome(refreshed=False, status=status)
        try:
            from tray_app.client import check_new_token

            session = self._fetch(claims.token)
            new_claims = check_new_token(session, claims, now=self.clock())
        except RefreshError as exc:
            raise self._record_failure(exc, account_id, claims) from exc
        with self._exclusive():
            book = self._locked_book()
            latest = book.get(account_id)
            if latest is None or self.store.get(current_slot(account_id)) != claims.token:
                # Removed, or given a new token by another process, while we asked: theirs stands.
                log.info("The token of %s changed while it was being refreshed; kept the newer change.", label)
                current = self._stored_claims(account_id) if latest is not None else None
                return RefreshOutcome(
                    refreshed=False,
                    status=self.evaluate(current, latest or State(), self.clock(), account_id=account_id, book=book),
                )
            replace_token(self.store, account_id, session.token)
            record = State(
                email=session.email or latest.email,
                name=session.name or latest.name,
                last_refresh=self.clock(),
                expires_at=new_claims.expires_at,
            )
            book = book.with_record(account_id, record)
            save_book(self.store, self.state_file, book, before=book)
            status = self.evaluate(new_claims, record, self.clock(), account_id=account_id, book=book)
        log.info("Token of %s refreshed; it now expires %s.", status.label, format_utc(new_claims.expires_at))
        self.publish(EngineEvent("refreshed", status))
        self._run_hook(session.token, status)
        return RefreshOutcome(refreshed=True, status=status)

    def _record_failure(self, error: RefreshError, account_id: str, claims: TokenClaims) -> RefreshError:
        """Record, log and publish a failed refresh; returns the error to raise, saying what happened (when
        the next try is, the state says, and each caller in its own words). A rate limit pauses every
        account: they are one client to chat.qwen.ai."""
        failure = error
        with self._exclusive():
            book = self._locked_book()
            record = book.get(account_id)
            now = self.clock()
            if record is None:  # removed while we asked
                return failure
            failures = record.failures + 1
            retry_at = None
            if error.transient:
                retry_after = error.retry_after if isinstance(error, RateLimitedError) else None
                retry_at = now + backoff_seconds(error.kind, failures, retry_after=retry_after, jitter=self._jitter())
            record = replace(
                record,
                last_error=LastError(kind=failure.kind, message=failure.message, at=now),
                failures=failures,
                retry_at=retry_at,
                rejected_exp=claims.expires_at if isinstance(error, InvalidTokenError) else record.rejected_exp,
            )
            book = book.with_record(account_id, record)
            if isinstance(error, RateLimitedError) and retry_at is not None:
                book = replace(book, paused_until=max(retry_at, book.paused_until or 0.0))
            save_book(self.store, self.state_file, book, before=book)
            status = self.evaluate(claims, record, now, account_id=account_id, book=book)
        label = status.label
        if retry_at is None:
            log.warning("Refresh of %s failed (%s): %s", label, failure.kind, failure.message)
        else:
            log.warning(
                "Refresh of %s failed (%s): %s Next try due at %s (in %s).",
                label,
                failure.kind,
                failure.message,
                format_utc(retry_at),
                format_duration(retry_at - now),
            )
        self.publish(EngineEvent("refresh_failed", status, failure))
        return failure

    def set_token(self, text: str, *, verify: bool = True, account: str | None = None) -> Status:
        """Store the token found in pasted ``text`` (as pasted), after asking the server unless told not
        to: a token of an account we keep replaces its token, any other adds an account. With ``account``,
        the token must belong to that account. Refused input raises before anything stored changes."""
        claims = extract_token(text, now=self.clock())
        if account is not None:
            self._insist_on(account, claims)
        status = self._store_new(claims, verify=verify, event="token_set")
        assert status is not None  # noqa: S101 - only an import keeps what it holds
        return status

    def _insist_on(self, account: str, claims: TokenClaims) -> None:
        """Refuse a token of another account than the one named (``--account``)."""
        book = self.book()
        wanted = resolve_account(book, account)
        if claims.user_id != wanted:
            theirs = account_label(claims.user_id or "?", book.get(claims.user_id or ""))
            raise AccountError(
                tr(
                    "This token belongs to {theirs}, not {wanted}; nothing was stored.",
                    theirs=theirs,
                    wanted=account_label(wanted, book.get(wanted)),
                )
            )

    def use(self, account: str) -> Status:
        """Make ``account`` the default: the one ``token``, the tray's click and a bare command act on."""
        self.book()
        with self._exclusive():
            book = self._locked_book()
            account_id = resolve_account(book, account)
            new_book = book.with_default(account_id)
            save_book(self.store, self.state_file, new_book, before=book)
        log.info("The default account is now %s.", account_label(account_id, book.get(account_id)))
        status = self.statuses(new_book)[new_book.ids.index(account_id)]
        self.publish(EngineEvent("default_changed", status))
        return status

    # -- from the browser -------------------------------------------------------------------------

    def browser_scan(self, only: BrowserChoice | None = None) -> Scan:
        """What the browsers hold for chat.qwen.ai (read-only, no network call)."""
        from tray_app.browsers import find_tokens

        home = Path(self.settings.browser_home) if self.settings.browser_home else None
        env: dict[str, str] | None = {} if self.settings.browser_home else None  # a simulated home: its defaults
        return find_tokens(home=home, env=env, only=only)

    def import_from_browser(self, only: BrowserChoice | None = None, account: str | None = None) -> ImportOutcome:
        """Import the best browser token (:func:`choose_candidate`; with ``account``, that account's):
        judged like a paste, checked with chat.qwen.ai, and stored only if at least as fresh as what we
        hold for that account (a token of another account adds it)."""
        scan = self.browser_scan(only)
        if not scan.candidates:
            if scan.searched:
                raise BrowserError(
                    tr(
                        "No chat.qwen.ai token was found in the browsers (looked in {profiles}): {remedy}.",
                        profiles=joined(scan.searched),
                        remedy=tr(NOTHING_IN_BROWSERS),
                    )
                )
            raise BrowserError(
                tr(
                    "No chat.qwen.ai token was found in the browsers (no browser profile found): {remedy}.",
                    remedy=tr(NOTHING_IN_BROWSERS),
                )
            )
        book = self.book()
        candidates = scan.candidates
        if account is not None:
            wanted = resolve_account(book, account)
            candidates = [c for c in candidates if c.claims is not None and c.claims.user_id == wanted]
            if not candidates:
                raise BrowserError(
                    tr(
                        "No browser holds a token of {account}: {remedy}.",
                        account=account_label(wanted, book.get(wanted)),
                        remedy=tr(NOTHING_IN_BROWSERS),
                    )
                )
            held = self._stored_claims(wanted)
        else:
            held = self._stored_claims(book.default) if book.default else None
        candidate = choose_candidate(candidates, held, now=self.clock())
        return self._import(candidate, "imported")

    def recover_from_browser(self, account: str | None = None) -> ImportOutcome | None:
        """A newer token of the account, from a browser, when its token is dead or dying; None when no
        browser has one (no network call then). Errors of the check are the caller's to record."""
        account_id = self.resolve(account)
        held = self._stored_claims(account_id)
        if held is None:
            return None
        scan = self.browser_scan()
        now = self.clock()
        newer = [
            (c.claims.expires_at, c)
            for c in scan.candidates
            if c.claims is not None and c.claims.user_id == held.user_id and c.claims.expires_at > now
            and c.claims.token != held.token and c.claims.expires_at >= held.expires_at
        ]  # fmt: skip
        if not newer:
            log.info("Recovery: no newer token of this account in the browsers (%d profiles).", len(scan.searched))
            return None
        return self._import(max(newer, key=lambda pair: pair[0])[1], "recovered")

    def _import(self, candidate: Any, event: str) -> ImportOutcome:
        claims = extract_token(candidate.token, now=self.clock())  # judged like a paste
        status = self._store_new(claims, verify=True, event=event, source=candidate.label)
        if status is None:
            held = self.status(claims.user_id)
            if held.state in (TokenState.INVALID, TokenState.EXPIRED):
                raise BrowserError(
                    tr(
                        "{profile} holds the same token, which no longer works: {remedy}.",
                        profile=candidate.label,
                        remedy=tr(NOTHING_IN_BROWSERS),
                    )
                )
            return ImportOutcome(stored=False, source=candidate.label, status=held)
        return ImportOutcome(stored=True, source=candidate.label, status=status)

    def _held(self, book: Book, account_id: str) -> Status | None:
        """The status of ``account_id`` if we keep it, its token read and checked; None if we do not."""
        record = book.get(account_id)
        if record is None:
            return None
        return self.evaluate(self._stored_claims(account_id), record, self.clock(), account_id=account_id, book=book)

    def _store_new(
        self, claims: TokenClaims, *, verify: bool, event: str, source: str | None = None
    ) -> Status | None:
        """Check ``claims``' token with the server (unless told not to) and store it for its account,
        adding the account if new; for an import (``source``), only if at least as fresh as what we hold
        (None: kept what we hold)."""
        assert claims.user_id is not None  # noqa: S101 - extract_token refuses a token without an id
        account_id = claims.user_id
        book = self.book()  # a store we cannot use fails here, before we ask the server anything
        held = self._held(book, account_id)
        if held is None:
            self.store.get(current_slot(account_id))
        if source is not None and held is not None and not at_least_as_fresh(claims, held.claims, held.state):
            log.info("The token in %s is not newer than the stored one; kept the stored one.", source)
            return None
        session = None
        if verify:
            try:
                session = self._fetch(claims.token)
            except RefreshError as exc:
                raise exc.restated(unchecked_paste_message(exc)) from exc
            if session.user_id and session.user_id != account_id:
                raise BadResponseError(tr("chat.qwen.ai answered for another account; nothing was stored."))
        with self._exclusive():
            book = self._locked_book()
            held = self._held(book, account_id)
            # Again under the lock: a refresh may have run meanwhile.
            if source is not None and held is not None and not at_least_as_fresh(claims, held.claims, held.state):
                return None
            old = held.record if held is not None else State()
            record = State(
                email=session.email if session and session.email else old.email,
                name=session.name if session and session.name else old.name,
                last_refresh=old.last_refresh,
                expires_at=claims.expires_at,
            )
            replace_token(self.store, account_id, claims.token)
            new_book = book.with_record(account_id, record)
            save_book(self.store, self.state_file, new_book, before=book)
            status = self.evaluate(claims, record, self.clock(), account_id=account_id, book=new_book)
        log.info(
            "A new token was %s%s for %s%s; it expires %s.",
            {"token_set": "set", "imported": "imported", "recovered": "recovered"}[event],
            f" from {source}" if source else "",
            status.label,
            " (a new account)" if held is None else "",
            format_utc(claims.expires_at),
        )
        self.publish(EngineEvent(event, status, source=source))
        self._run_hook(claims.token, status)
        return status

    def forget(self, account: str | None = None) -> bool:
        """Delete the account: its token, the previous one, and its state; a removed default passes to
        the first account left. False if no token was stored."""
        book = self.book()
        if not book.accounts and account is None:
            return self.forget_all()
        with self._exclusive():
            book = self._locked_book()
            account_id = resolve_account(book, account)
            delete_slots(self.store, account_slots(account_id))
            new_book = book.without(account_id)
            if new_book.accounts:
                save_book(self.store, self.state_file, new_book, before=book)
            else:
                self._forget_book()
            status = self.evaluate(None, State(), self.clock(), account_id=account_id)
        log.info("The token of %s was forgotten.", account_label(account_id, book.get(account_id)))
        self.publish(EngineEvent("forgotten", status))
        return True

    def forget_all(self) -> bool:
        """Delete every account, token and state (and anything release 0.1.0 left); False if none was stored."""
        with self._exclusive():
            book = self._locked_book()
            found = False
            for account_id in book.ids:
                found = delete_slots(self.store, account_slots(account_id)) or found
            found = delete_slots(self.store, LEGACY_SLOTS) or found
            self._forget_book()
            status = self.evaluate(None, State(), self.clock())
        if found:
            log.info("Every stored token was forgotten (%d account(s)).", len(book.accounts))
        self.publish(EngineEvent("forgotten", status))
        return found

    def _forget_book(self) -> None:
        self.store.delete(INDEX)
        self.state_file.delete()

    def _run_hook(self, token: str, status: Status) -> None:
        if self.settings.on_refresh and status.claims is not None:
            run_hook(
                self.settings.on_refresh,
                token,
                status.claims.expires_at,
                account_id=status.account_id or "",
                email=status.record.email or "",
            )
