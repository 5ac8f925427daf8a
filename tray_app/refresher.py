"""The refresher: one thread that keeps every account alive, looking at the clock at least once a minute.

It only asks (policy), waits (an Event, never ``time.sleep``) and acts (the engine). What is due is
decided from the state file alone (each account's expiry is kept there), so a look reads the keyring
for no account; the keyring is read when the state file changed (the default account's token, which
also tells whether the keyring works) and for each refresh. Refreshes run on a few worker threads
(``max_refreshes_in_flight``), started no faster than ``max_refreshes_per_second``; a rate limit from
chat.qwen.ai pauses them all. ``step()`` is one look: without :meth:`start` it runs the refreshes
itself, so tests drive it on a fake clock without a thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from tray_app.engine import EngineEvent, Status, TokenService, most_urgent
from tray_app.errors import QwenTrayError, RefreshError, StorageError
from tray_app.policy import CHECK_INTERVAL, TokenState, decide, next_start_at, recovery_due
from tray_app.state import Book, State

log = logging.getLogger(__name__)

#: After an attempt the engine found not due, the account waits this long (service clock) before the next.
NOT_DUE_PAUSE = 1.0

#: Real seconds between two looks at least (the demo's fast clock would otherwise look 60 times a second).
MIN_REAL_WAIT = 0.25


class Refresher:
    """Keeps every account's token alive on its own thread until :meth:`stop`."""

    def __init__(
        self, service: TokenService, *, stop_event: threading.Event | None = None, time_scale: float = 1.0
    ) -> None:
        self.service = service
        #: Clock seconds per real second: 1 but in the demo, whose clock runs fast.
        self.time_scale = time_scale
        #: Set to stop; the engine's quick retries wait on it too, so stop() interrupts them.
        self.stop_event = stop_event or threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._workers: ThreadPoolExecutor | None = None
        #: Guards the four below, which the worker threads change as refreshes end.
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()
        #: Accounts asked for by "Refresh now" (None: the default account), run at the next look.
        self._manual: set[str | None] = set()
        #: No automatic attempt of these accounts before these times (service clock): after a failure
        #: the engine does not record (a keyring that failed), CHECK_INTERVAL; after an attempt the
        #: engine found not due (the state changed meanwhile: a pause after a rate limit, another
        #: process's token), a moment, so a disagreement can never spin. Recorded failures back off
        #: in the state instead.
        self._not_before: dict[str, float] = {}
        #: The pacing slot the last refresh started in (service clock).
        self._last_start: float | None = None
        #: When the pacing lets the next due refresh start (None: nothing waits for it, or the workers
        #: are all busy and the one that finishes wakes us).
        self._next_slot: float | None = None
        self._book: Book | None = None
        self._default_status: Status | None = None
        self._seen_mtime: int | None = None
        self._shown: dict[str, TokenState] = {}
        #: When the browsers were last looked at for each account's newer token (recovery).
        self._last_recovery_look: dict[str, float] = {}
        #: Why the token store failed the last look; said once, as a locked keyring fails every look.
        self._store_trouble: StorageError | None = None

    def start(self) -> None:
        settings = self.service.settings
        self._workers = ThreadPoolExecutor(settings.max_refreshes_in_flight, thread_name_prefix="qwen-refresh")
        self._thread = threading.Thread(target=self.run, name="qwen-refresher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop; returns as soon as it has (at once unless a request is on the wire)."""
        self.stop_event.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self._workers is not None:
            self._workers.shutdown(wait=False, cancel_futures=True)

    def refresh_now(self, account: str | None = None) -> None:
        """Ask for a refresh of ``account`` (an id; None: the default) on the refresher's threads (the
        tray's "Refresh now"); returns at once."""
        with self._lock:
            self._manual.add(account)
        self._wake.set()

    def look_again(self) -> None:
        """Read the state and the store again now, not only when the state file changed (the tray's
        "Retry", and after the tray changed an account)."""
        self._book = None
        self._wake.set()

    def run(self) -> None:
        # The floor keeps the demo's fast clock from looking 60 times a second, but must not hold back
        # the pacing: a floor above 1/max_refreshes_per_second would start fewer refreshes than allowed.
        floor = min(MIN_REAL_WAIT, 1.0 / self.service.settings.max_refreshes_per_second)
        while not self.stop_event.is_set():
            seconds = self.step()
            self._wake.wait(max(seconds / self.time_scale, floor))
            self._wake.clear()

    def step(self) -> float:
        """One look: reload what changed, start the refreshes that are due, publish what changed.
        Returns the seconds to wait before the next look."""
        try:
            wait = self._step()
        except StorageError as exc:
            self._report_store_trouble(exc)
            return CHECK_INTERVAL
        except QwenTrayError as exc:
            log.warning("%s", exc)
            return CHECK_INTERVAL
        except Exception:
            log.exception("Unexpected error in the refresher; it carries on.")
            return CHECK_INTERVAL
        if self._store_trouble is not None:
            self._store_trouble = None
            where = self.service.store.description
            log.info("%s works again.", where[:1].upper() + where[1:])
        return wait

    def _report_store_trouble(self, error: StorageError) -> None:
        """A locked or silent keyring may come back: say so once (not at every look), and keep looking
        (the next look reads the store again). Subscribers (the tray) get an UNKNOWN status saying why,
        once per new reason."""
        said, self._store_trouble = self._store_trouble, error
        self._book = None
        if said is not None and said.message == error.message:
            log.debug("Still: %s", error)
            return
        log.warning("%s qwen-tray looks again every minute and will say when it works.", error)
        trouble = self.service.trouble_status(error)
        self._shown = {trouble.account_id or "": TokenState.UNKNOWN}
        self.service.publish(EngineEvent("state_changed", trouble, statuses=(trouble,)))

    # -- one look ---------------------------------------------------------------------------------

    def _step(self) -> float:
        statuses = self._statuses()
        ran = self._start_due(statuses)
        if ran:  # inline refreshes (no worker threads) changed the state: look at it afresh
            statuses = self._statuses()
        if self._recover(statuses):
            statuses = self._statuses()
        self._note_states(statuses)
        return self._next_wait(statuses)

    def _statuses(self) -> list[Status]:
        """Every account's status at the service's clock; the book and the default account's token are
        read again only when the state file changed (another process or a refresh wrote it)."""
        mtime = self.service.state_file.mtime_ns()
        if self._book is None or mtime != self._seen_mtime:
            self._seen_mtime = mtime
            book = self.service.book()
            self._default_status = self.service.status(book=book) if book.accounts else None
            self._book = book
        now = self.service.clock()
        statuses = self.service.statuses(self._book, now)
        default = self._default_status
        if default is not None and default.account_id in self._book.ids:
            at = self._book.ids.index(default.account_id)
            statuses[at] = self.service.evaluate(
                default.claims, statuses[at].record, now, account_id=default.account_id, book=self._book
            )
        return statuses

    def _due(self, statuses: list[Status]) -> list[tuple[str, bool]]:
        """(account id, forced) to refresh now, in order: those asked for by hand, then by due time."""
        with self._lock:
            manual, self._manual = self._manual, set()
            busy = set(self._in_flight)
            not_before = dict(self._not_before)
        ids = [s.account_id for s in statuses if s.account_id]
        default = self._book.default if self._book is not None else None
        wanted = [default if each is None else each for each in manual]
        queue = [(each, True) for each in ids if each in wanted and each not in busy]
        settings = self.service.settings
        due = []
        for status in statuses:
            account_id = status.account_id
            if not account_id or account_id in busy or account_id in wanted:
                continue
            if status.now < not_before.get(account_id, status.now):
                continue
            decision = decide(
                status.claims, status.record, now=status.now, refresh_before_days=settings.refresh_before_days
            )
            if decision.refresh and (status.due_at is None or status.due_at <= status.now):
                due.append((status.due_at or status.now, account_id))
        return queue + [(account_id, False) for _, account_id in sorted(due)]

    def _start_due(self, statuses: list[Status]) -> bool:
        """Start what is due, as fast as the pacing allows; whether any refresh ran here (inline)."""
        settings = self.service.settings
        ran_inline = False
        paused = self._book.paused_until if self._book is not None else None
        self._next_slot = None
        for account_id, forced in self._due(statuses):
            now = self.service.clock()
            with self._lock:
                start = next_start_at(
                    now,
                    last_start=self._last_start,
                    in_flight=len(self._in_flight),
                    max_in_flight=settings.max_refreshes_in_flight,
                    per_second=settings.max_refreshes_per_second,
                    paused_until=None if forced else paused,
                )
                if start is None or start > now:
                    if forced:  # asked for by hand: keep it for the next look
                        self._manual.add(account_id)
                    if start is not None:
                        self._next_slot = start if self._next_slot is None else min(self._next_slot, start)
                    continue
                self._in_flight.add(account_id)
                self._last_start = start
            job = self._job(account_id, forced)
            if self._workers is None:
                job()
                ran_inline = True
            else:
                self._workers.submit(job)
        return ran_inline

    def _job(self, account_id: str, forced: bool) -> Callable[[], None]:
        def refresh() -> None:
            not_before = None
            try:
                outcome = self.service.refresh(account_id, force=forced, honour_backoff=not forced)
                if not outcome.refreshed:
                    not_before = self.service.clock() + NOT_DUE_PAUSE
            except RefreshError as exc:
                # Recorded in the state (with its backoff), logged and published by the engine.
                log.debug("Refresh failed: %s", exc.kind)
            except QwenTrayError as exc:
                log.warning("%s", exc)
                not_before = self.service.clock() + CHECK_INTERVAL
            except Exception:
                log.exception("Unexpected error refreshing an account; the refresher carries on.")
                not_before = self.service.clock() + CHECK_INTERVAL
            finally:
                with self._lock:
                    self._in_flight.discard(account_id)
                    if not_before is None:
                        self._not_before.pop(account_id, None)
                    else:
                        self._not_before[account_id] = not_before
                self._wake.set()

        return refresh

    def _next_wait(self, statuses: list[Status]) -> float:
        """Seconds to the next look: the next due time or pacing slot, and at least once a minute. A
        refresh due now but held back waits for its pacing slot, or for a worker to finish (which wakes
        the loop), never in a spin."""
        now = self.service.clock()
        wait = CHECK_INTERVAL
        with self._lock:
            busy = set(self._in_flight)
            not_before = dict(self._not_before)
        for status in statuses:
            if status.account_id in busy or status.due_at is None:
                continue
            earliest = max(status.due_at, not_before.get(status.account_id or "", status.due_at))
            if earliest > now:
                wait = min(wait, earliest - now)
        if self._next_slot is not None:
            wait = min(wait, self._next_slot - now)
        return max(wait, 0.0)

    # -- recovery from the browser ----------------------------------------------------------------

    def _recover(self, statuses: list[Status]) -> bool:
        """With recovery on, for each account whose token is dead or dying: a newer token of it from a
        browser (at most one look per RECOVERY_INTERVAL per account; no network call unless a browser
        has one). Whether any was stored."""
        if not self.service.settings.recover_from_browser:
            return False
        stored = False
        for status in statuses:
            account_id = status.account_id
            if not account_id or not recovery_due(
                status.state,
                status.claims,
                status.record,
                now=status.now,
                last_look=self._last_recovery_look.get(account_id),
            ):
                continue
            self._last_recovery_look[account_id] = status.now
            try:
                outcome = self.service.recover_from_browser(account_id)
            except QwenTrayError as exc:
                log.warning("Recovery from the browser failed: %s", exc)
                continue
            if outcome is not None and outcome.stored:
                self._book = None  # read the recovered token afresh
                stored = True
        return stored

    # -- telling subscribers ----------------------------------------------------------------------

    def _note_states(self, statuses: list[Status]) -> None:
        """Publish ``state_changed`` for each account whose state moved, and ``checked`` after every
        look (the tray's days-left label follows the clock) with the most urgent account and all."""
        shown: dict[str, TokenState] = {}
        for status in statuses:
            account_id = status.account_id or ""
            shown[account_id] = status.state
            previous = self._shown.get(account_id)
            if status.state is previous:
                continue
            who = f" ({status.label})" if len(statuses) > 1 else ""
            if previous is None:
                log.info("Token state%s: %s.", who, status.state.value)
            else:
                log.info("Token state%s: %s -> %s.", who, previous.value, status.state.value)
            self.service.publish(EngineEvent("state_changed", status, statuses=tuple(statuses)))
        if not statuses:  # no account at all: one MISSING status stands for it
            missing = self.service.evaluate(None, State(), self.service.clock())
            shown[""] = TokenState.MISSING
            if self._shown.get("") is not TokenState.MISSING:
                log.info("Token state: missing.")
                self.service.publish(EngineEvent("state_changed", missing))
            statuses = [missing]
        self._shown = shown
        urgent = most_urgent(statuses)
        assert urgent is not None  # noqa: S101 - statuses is never empty here
        self.service.publish(EngineEvent("checked", urgent, statuses=tuple(s for s in statuses if s.account_id)))
