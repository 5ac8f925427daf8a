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

from tray_app.config import Settings
from tray_app.errors import (
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
from tray_app.policy import (
    DAY,
    TokenState,
    backoff_seconds,
    quick_retry_pause,
    refresh_due_at,
    token_state,
)
from tray_app.state import LastError, State, StateFile
from tray_app.store import CURRENT, TokenStore, forget_all, replace_token
from tray_app.timefmt import format_duration, format_utc
from tray_app.token import TokenClaims, decode_token, extract_token

if TYPE_CHECKING:
    from tray_app.browsers import BrowserChoice, Scan
    from tray_app.client import QwenClient, Session

log = logging.getLogger(__name__)

#: How long a refresh or token change waits for another process's refresh to finish.
REFRESH_LOCK_TIMEOUT = 90.0


@dataclass(frozen=True)
class Status:
    """Everything known about the stored token at one moment (never the token itself)."""

    state: TokenState
    claims: TokenClaims | None
    record: State
    now: float
    #: When the next automatic refresh may run (None: only a new token from the browser helps).
    due_at: float | None
    #: Why the token could not be read (state UNKNOWN), in words a person can act on.
    problem: str | None = None

    @property
    def days_left(self) -> float | None:
        return None if self.claims is None else (self.claims.expires_at - self.now) / DAY

    def to_json(self) -> dict[str, Any]:
        """The `status --json` contract (tests/test_cli.py pins its keys)."""
        error = self.record.last_error
        return {
            "state": self.state.value,
            "user_id": self.claims.user_id if self.claims else None,
            "email": self.record.email,
            "name": self.record.name,
            "expires_at": self.claims.expires_at if self.claims else None,
            "days_left": None if self.days_left is None else round(self.days_left, 4),
            "last_refresh": self.record.last_refresh,
            "last_error": None if error is None else {"kind": error.kind, "message": error.message, "at": error.at},
            "next_refresh_at": self.due_at,
        }


def unchecked_paste_message(error: RefreshError) -> str:
    """Why a pasted token was not stored, and what to do: nothing retries a paste, so nothing may say it will."""
    if not error.transient:  # chat.qwen.ai answered: this token will not do
        return f"{error.reason} Nothing was stored."
    reason = error.reason
    retry = "try again later"
    if error.kind == "network":
        retry = "try again when online"
    elif isinstance(error, RateLimitedError) and error.retry_after is not None:
        retry = f"try again in {format_duration(error.retry_after)}"
    elif error.kind == "blocked":  # the client's words are about a stored token being still good
        reason = "chat.qwen.ai's firewall answered instead (a captcha or block page)."
        retry = "open chat.qwen.ai in a browser, then try again"
    return (
        f"Could not check the token with chat.qwen.ai: {reason} Nothing was stored; {retry}, "
        "or store it unchecked with `qwen-tray set-token --no-verify`."
    )


@dataclass(frozen=True)
class EngineEvent:
    """Published to subscribers: ``refreshed``, ``refresh_failed``, ``token_set``, ``imported``,
    ``recovered``, ``forgotten`` (by the engine), ``state_changed`` and ``checked`` (by the refresher,
    after each look at the clock). ``source`` names the browser profile of an import or a recovery."""

    kind: str
    status: Status
    error: QwenTrayError | None = None
    source: str | None = None


@dataclass(frozen=True)
class ImportOutcome:
    """What importing from a browser did: ``stored`` False means what we hold was at least as fresh."""

    stored: bool
    source: str
    status: Status


NOTHING_IN_BROWSERS = (
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
        raise BrowserError(f"No usable chat.qwen.ai token was found in the browsers: {NOTHING_IN_BROWSERS}.")
    freshest = sorted(usable, key=lambda c: c.claims.expires_at, reverse=True)
    if held is not None and held.user_id:
        ours = [c for c in freshest if c.claims.user_id == held.user_id]
        if ours:
            return ours[0]
    accounts = {c.claims.user_id for c in freshest}
    if len(accounts) > 1:
        found = "; ".join(f"{c.label} (account {c.claims.user_id[:8]})" for c in freshest)
        raise BrowserError(
            f"Tokens of {len(accounts)} accounts were found ({found}); choose one with BROWSER:PROFILE, "
            "e.g. `qwen-tray set-token --from-browser firefox:default-release`."
        )
    return freshest[0]


def at_least_as_fresh(candidate: TokenClaims, held: TokenClaims | None, held_state: TokenState | None) -> bool:
    """Whether an imported token may replace what we hold: never an older token of the same account over
    one that still works (a stale profile must not undo a refresh)."""
    if held is None or held.user_id != candidate.user_id:
        return True
    if candidate.token == held.token:
        return False  # already stored
    if held_state in (TokenState.INVALID, TokenState.EXPIRED):
        return True
    return candidate.expires_at >= held.expires_at


@dataclass(frozen=True)
class RefreshOutcome:
    refreshed: bool
    status: Status


class TokenService:
    """One owner for the token and its state; every method is safe to call from any thread."""

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

    def status(self) -> Status:
        return self.evaluate(self._stored_claims(), self.state_file.load(), self.clock())

    def trouble_status(self, error: StorageError) -> Status:
        """An UNKNOWN status saying why the token cannot be read (a keyring missing, locked or not
        answering), for a view that must show something rather than stop."""
        return Status(TokenState.UNKNOWN, None, self.state_file.load(), self.clock(), None, problem=error.message)

    def evaluate(self, claims: TokenClaims | None, record: State, now: float, *, backoff: bool = True) -> Status:
        """The status these facts give at ``now``; ``backoff=False`` ignores a pending retry time."""
        days = self.settings.refresh_before_days
        due = refresh_due_at(
            claims, record if backoff else replace(record, retry_at=None), now=now, refresh_before_days=days
        )
        return Status(
            state=token_state(claims, record, now=now, refresh_before_days=days),
            claims=claims,
            record=record,
            now=now,
            due_at=due,
        )

    def _stored_claims(self) -> TokenClaims | None:
        token = self.store.get(CURRENT)
        if token is None:
            return None
        try:
            return decode_token(token)
        except TokenFormatError as exc:
            raise StorageError(
                f"The token stored in {self.store.description} is damaged ({exc}); "
                "set a new one with `qwen-tray set-token`."
            ) from exc

    def unknown_status_json(self, error: QwenTrayError) -> dict[str, Any]:
        """The `status --json` contract when the token cannot be read (a keyring that is missing, locked
        or damaged): ``state`` "unknown", what the state file knows, and ``last_error`` saying why."""
        record = self.state_file.load()
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
        """One refresh or token change at a time: across threads, and across processes."""
        from filelock import Timeout

        from tray_app.locks import refresh_lock

        with self._thread_lock:
            lock = refresh_lock(self._refresh_lock_path)
            try:
                lock.acquire(timeout=REFRESH_LOCK_TIMEOUT)
            except Timeout as exc:
                raise AlreadyRunningError("Another qwen-tray process is refreshing the token; try again soon.") from exc
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
                    wait = format_duration(pause)
                    log.info("Refresh attempt %d failed (%s); retrying in %s.", attempt, exc.kind, wait)
                    if self._wait(pause):
                        raise
                    attempt += 1

    def refresh(self, *, force: bool = False, honour_backoff: bool = False) -> RefreshOutcome:
        """Refresh if due (always with ``force``); record and publish the outcome.

        Raises our errors: NoTokenError, InvalidTokenError/ExpiredTokenError when only a new token helps
        (without a network call unless forced), RefreshError kinds when the server did not oblige.
        """
        with self._exclusive():
            record = self.state_file.load()
            claims = self._stored_claims()
            now = self.clock()
            status = self.evaluate(claims, record, now, backoff=honour_backoff)
            if claims is None:
                raise NoTokenError
            if not force:
                if status.state is TokenState.INVALID:
                    raise InvalidTokenError(
                        "chat.qwen.ai rejected this token earlier; copy a new token from the browser."
                    )
                if status.state is TokenState.EXPIRED:
                    raise ExpiredTokenError(
                        f"The token expired on {format_utc(claims.expires_at)}; copy a new one from the browser."
                    )
                if status.due_at is None or status.due_at > now:
                    return RefreshOutcome(refreshed=False, status=status)
            try:
                from tray_app.client import check_new_token

                session = self._fetch(claims.token)
                new_claims = check_new_token(session, claims, now=self.clock())
            except RefreshError as exc:
                raise self._record_failure(exc, claims, record) from exc
            replace_token(self.store, session.token)
            record = State(
                email=session.email or record.email,
                name=session.name or record.name,
                last_refresh=self.clock(),
            )
            self.state_file.save(record)
            status = self.evaluate(new_claims, record, self.clock())
        log.info("Token refreshed; it now expires %s.", format_utc(new_claims.expires_at))
        self.publish(EngineEvent("refreshed", status))
        self._run_hook(session.token, new_claims.expires_at)
        return RefreshOutcome(refreshed=True, status=status)

    def _record_failure(self, error: RefreshError, claims: TokenClaims, record: State) -> RefreshError:
        """Record, log and publish a failed refresh; returns the error to raise, saying what happened (when
        the next try is, the state says, and each caller in its own words)."""
        now = self.clock()
        failures = record.failures + 1
        retry_at = None
        if error.transient:
            retry_after = error.retry_after if isinstance(error, RateLimitedError) else None
            retry_at = now + backoff_seconds(error.kind, failures, retry_after=retry_after, jitter=self._jitter())
        failure = error.restated(error.reason)
        record = replace(
            record,
            last_error=LastError(kind=failure.kind, message=failure.message, at=now),
            failures=failures,
            retry_at=retry_at,
            rejected_exp=claims.expires_at if isinstance(error, InvalidTokenError) else record.rejected_exp,
        )
        self.state_file.save(record)
        if retry_at is None:
            log.warning("Refresh failed (%s): %s", failure.kind, failure.message)
        else:
            log.warning(
                "Refresh failed (%s): %s Next try due at %s (in %s).",
                failure.kind,
                failure.message,
                format_utc(retry_at),
                format_duration(retry_at - now),
            )
        self.publish(EngineEvent("refresh_failed", self.evaluate(claims, record, now), failure))
        return failure

    def set_token(self, text: str, *, verify: bool = True) -> Status:
        """Store the token found in pasted ``text`` (as pasted), after asking the server unless told not to.

        Refused input raises before anything stored changes.
        """
        claims = extract_token(text, now=self.clock())
        status = self._store_new(claims, verify=verify, event="token_set")
        assert status is not None  # noqa: S101 - only an import keeps what it holds
        return status

    # -- from the browser -------------------------------------------------------------------------

    def browser_scan(self, only: BrowserChoice | None = None) -> Scan:
        """What the browsers hold for chat.qwen.ai (read-only, no network call)."""
        from tray_app.browsers import find_tokens

        home = Path(self.settings.browser_home) if self.settings.browser_home else None
        env: dict[str, str] | None = {} if self.settings.browser_home else None  # a simulated home: its defaults
        return find_tokens(home=home, env=env, only=only)

    def import_from_browser(self, only: BrowserChoice | None = None) -> ImportOutcome:
        """Import the best browser token (:func:`choose_candidate`): judged like a paste, checked with
        chat.qwen.ai, and stored only if at least as fresh as what we hold for that account."""
        scan = self.browser_scan(only)
        if not scan.candidates:
            looked = f" (looked in {', '.join(scan.searched)})" if scan.searched else " (no browser profile found)"
            raise BrowserError(f"No chat.qwen.ai token was found in the browsers{looked}: {NOTHING_IN_BROWSERS}.")
        held = self._stored_claims()
        candidate = choose_candidate(scan.candidates, held, now=self.clock())
        return self._import(candidate, "imported")

    def recover_from_browser(self) -> ImportOutcome | None:
        """A newer token of the account we hold, from a browser, when ours is dead or dying; None when no
        browser has one (no network call then). Errors of the check are the caller's to record."""
        held = self._stored_claims()
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
            held = self.status()
            if held.state in (TokenState.INVALID, TokenState.EXPIRED):
                raise BrowserError(
                    f"{candidate.label} holds the same token, which no longer works: {NOTHING_IN_BROWSERS}."
                )
            return ImportOutcome(stored=False, source=candidate.label, status=held)
        return ImportOutcome(stored=True, source=candidate.label, status=status)

    def _store_new(
        self, claims: TokenClaims, *, verify: bool, event: str, source: str | None = None
    ) -> Status | None:
        """Check ``claims``' token with the server (unless told not to) and store it; for an import
        (``source``), only if at least as fresh as what we hold (None: kept what we hold)."""
        self.store.get(CURRENT)  # a store we cannot use fails here, before we ask the server anything
        if source is not None:
            held = self.status()
            if not at_least_as_fresh(claims, held.claims, held.state):
                log.info("The token in %s is not newer than the stored one; kept the stored one.", source)
                return None
        session = None
        if verify:
            try:
                session = self._fetch(claims.token)
            except RefreshError as exc:
                raise exc.restated(unchecked_paste_message(exc)) from exc
            if session.user_id and claims.user_id and session.user_id != claims.user_id:
                raise BadResponseError("chat.qwen.ai answered for another account; nothing was stored.")
        with self._exclusive():
            old = self.state_file.load()
            old_claims = self._stored_claims()
            if source is not None:  # again under the lock: a refresh may have run meanwhile
                held = self.evaluate(old_claims, old, self.clock())
                if not at_least_as_fresh(claims, held.claims, held.state):
                    return None
            same_account = old_claims is not None and old_claims.user_id == claims.user_id
            record = State(
                email=session.email if session else (old.email if same_account else None),
                name=session.name if session else (old.name if same_account else None),
                last_refresh=old.last_refresh if same_account else None,
            )
            replace_token(self.store, claims.token)
            self.state_file.save(record)
            status = self.evaluate(claims, record, self.clock())
        log.info(
            "A new token was %s%s; it expires %s.",
            {"token_set": "set", "imported": "imported", "recovered": "recovered"}[event],
            f" from {source}" if source else "",
            format_utc(claims.expires_at),
        )
        self.publish(EngineEvent(event, status, source=source))
        self._run_hook(claims.token, claims.expires_at)
        return status

    def forget(self) -> bool:
        """Delete the stored token, the previous one, and the state; False if no token was stored."""
        with self._exclusive():
            found = forget_all(self.store)
            self.state_file.delete()
            status = self.evaluate(None, State(), self.clock())
        if found:
            log.info("The stored token was forgotten.")
        self.publish(EngineEvent("forgotten", status))
        return found

    def _run_hook(self, token: str, expires_at: int) -> None:
        if self.settings.on_refresh:
            run_hook(self.settings.on_refresh, token, expires_at)
