"""The engine: reads, refreshes and replaces the token, records what happened, tells subscribers.

The CLI, the daemon and the tray all act through :class:`TokenService`; none of them holds state of its
own. Time (``clock``), waiting (``wait``) and randomness (``jitter``) are injected so tests can move them.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tray_app.config import Settings
from tray_app.errors import (
    AlreadyRunningError,
    BadResponseError,
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
    """Published to subscribers: ``refreshed``, ``refresh_failed``, ``token_set``, ``forgotten`` (by the
    engine), ``state_changed`` and ``checked`` (by the refresher, after each look at the clock)."""

    kind: str
    status: Status
    error: QwenTrayError | None = None


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

    def status_or_trouble(self) -> Status:
        """The status; or, when the token cannot be read (a keyring missing, locked or not answering), an
        UNKNOWN status saying why, for a view that must show something rather than stop."""
        try:
            return self.status()
        except StorageError as exc:
            return self.trouble_status(exc)

    def trouble_status(self, error: StorageError) -> Status:
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
        self.store.get(CURRENT)  # a store we cannot use fails here, before we ask the server anything
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
            same_account = old_claims is not None and old_claims.user_id == claims.user_id
            record = State(
                email=session.email if session else (old.email if same_account else None),
                name=session.name if session else (old.name if same_account else None),
                last_refresh=old.last_refresh if same_account else None,
            )
            replace_token(self.store, claims.token)
            self.state_file.save(record)
            status = self.evaluate(claims, record, self.clock())
        log.info("A new token was set; it expires %s.", format_utc(claims.expires_at))
        self.publish(EngineEvent("token_set", status))
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
