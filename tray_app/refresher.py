"""The refresher thread: looks at the clock at least once a minute, refreshes when the policy says so.

It only asks (policy), waits (an Event, never ``time.sleep``) and acts (the engine). ``step()`` is one
look, so tests drive it on a fake clock without a thread.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from tray_app.engine import EngineEvent, Status, TokenService
from tray_app.errors import QwenTrayError, RefreshError, StorageError
from tray_app.policy import CHECK_INTERVAL, Decision, TokenState, decide, recovery_due

log = logging.getLogger(__name__)

#: Real seconds between two looks at least (the demo's fast clock would otherwise look 60 times a second).
MIN_REAL_WAIT = 0.25


class Refresher:
    """Keeps the token alive on its own thread until :meth:`stop`."""

    def __init__(
        self, service: TokenService, *, stop_event: threading.Event | None = None, time_scale: float = 1.0
    ) -> None:
        self.service = service
        #: Clock seconds per real second: 1 but in the demo, whose clock runs fast.
        self.time_scale = time_scale
        #: Set to stop; the engine's quick retries wait on it too, so stop() interrupts them.
        self.stop_event = stop_event or threading.Event()
        self._wake = threading.Event()
        self._manual = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen_mtime: int | None = None
        self._status: Status | None = None
        self._shown_state: TokenState | None = None
        #: When the browsers were last looked at for a newer token (recovery), on the service's clock.
        self._last_recovery_look: float | None = None
        #: Why the token store failed the last look; said once, as a locked keyring fails every look.
        self._store_trouble: StorageError | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="qwen-refresher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop; returns as soon as it has (at once unless a request is on the wire)."""
        self.stop_event.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def refresh_now(self) -> None:
        """Ask for a refresh on the refresher thread (the tray's "Refresh now"); returns at once."""
        self._manual.set()
        self._wake.set()

    def run(self) -> None:
        while not self.stop_event.is_set():
            seconds = self.step()
            self._wake.wait(max(seconds / self.time_scale, MIN_REAL_WAIT))
            self._wake.clear()

    def step(self) -> float:
        """One look: reload what changed, refresh if due, publish a state change. Returns seconds to wait."""
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

    def look_again(self) -> None:
        """Read the store again now, not only when the state file changed (the tray's "Retry")."""
        self._status = None
        self._wake.set()

    def _report_store_trouble(self, error: StorageError) -> None:
        """A locked or silent keyring may come back: say so once (not at every look), and keep looking
        (the next look reads the store again, as nothing was read this time). Subscribers (the tray)
        get an UNKNOWN status saying why, once per new reason."""
        said, self._store_trouble = self._store_trouble, error
        self._status = None
        if said is not None and said.message == error.message:
            log.debug("Still: %s", error)
            return
        log.warning("%s qwen-tray looks again every minute and will say when it works.", error)
        self._shown_state = TokenState.UNKNOWN
        self.service.publish(EngineEvent("state_changed", self.service.trouble_status(error)))

    def _step(self) -> float:
        manual = self._manual.is_set()
        self._manual.clear()
        status = self._current_status()
        decision = self._decide(status)
        if manual or decision.refresh:
            self._status = None  # the engine writes state; read it afresh after
            try:
                self.service.refresh(force=manual, honour_backoff=not manual)
            except RefreshError as exc:
                # Recorded in the state (with its backoff), logged and published by the engine.
                log.debug("Refresh failed: %s", exc.kind)
            status = self._current_status()
            decision = self._decide(status)
            if decision.refresh:  # still due right after an attempt: never spin
                decision = replace(decision, wait=CHECK_INTERVAL)
        if self._recover(status):
            status = self._current_status()
            decision = self._decide(status)
        self._note_state(status)
        return decision.wait

    def _recovery_on(self) -> bool:
        return self.service.settings.recover_from_browser

    def _recover(self, status: Status) -> bool:
        """With recovery on, and our token dead or dying: a newer token of the same account from a browser
        (at most one look per RECOVERY_INTERVAL; no network call unless a browser has one)."""
        if not self._recovery_on() or not recovery_due(
            status.state, status.claims, status.record, now=status.now, last_look=self._last_recovery_look
        ):
            return False
        self._last_recovery_look = status.now
        try:
            outcome = self.service.recover_from_browser()
        except QwenTrayError as exc:
            log.warning("Recovery from the browser failed: %s", exc)
            return False
        if outcome is None or not outcome.stored:
            return False
        self._status = None  # read the recovered token afresh
        return True

    def _decide(self, status: Status) -> Decision:
        return decide(
            status.claims,
            status.record,
            now=status.now,
            refresh_before_days=self.service.settings.refresh_before_days,
        )

    def _current_status(self) -> Status:
        """The engine's status, re-reading the keyring only when the state file changed (another
        process set or refreshed the token); otherwise only the clock moves."""
        mtime = self.service.state_file.mtime_ns()
        if self._status is None or mtime != self._seen_mtime:
            self._seen_mtime = mtime
            self._status = self.service.status()
            return self._status
        return self.service.evaluate(self._status.claims, self._status.record, self.service.clock())

    def _note_state(self, status: Status) -> None:
        """Publish ``checked`` after every look (the tray's days-left label follows the clock) and
        ``state_changed`` when the state moved."""
        if status.state is not self._shown_state:
            previous, self._shown_state = self._shown_state, status.state
            if previous is None:
                log.info("Token state: %s.", status.state.value)
            else:
                log.info("Token state: %s -> %s.", previous.value, status.state.value)
            self.service.publish(EngineEvent("state_changed", status))
        self.service.publish(EngineEvent("checked", status))
