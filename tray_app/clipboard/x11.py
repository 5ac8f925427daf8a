"""The X11 CLIPBOARD owned in-process: every text target and the password-manager hint, on one thread of ours.

Why not a helper process: xclip (and xsel) serve one target per process, so the text and
``x-kde-passwordManagerHint`` cannot be offered together; and they fork a daemon that keeps serving after
its parent is gone, so a ``kill -9`` of the tray would leave the token on the clipboard. An owner inside the
tray's process has neither problem: the X server drops a selection when its owner's connection closes,
however the process ends.

How (ICCCM 2.2-2.6): a window of our own on a connection of its own takes ``CLIPBOARD`` with a real server
timestamp (from a PropertyNotify, never ``CurrentTime``). One thread, the only user of that connection,
answers ``SelectionRequest``: ``TARGETS``, ``TIMESTAMP``, ``MULTIPLE`` and the targets in
:func:`~tray_app.clipboard.formats.x11_targets`; anything else, and data too large for one property (INCR
is not spoken: a token never needs it), is refused with property ``None``. It stops at ``SelectionClear``
(another client copied something). Clearing sets the owner to ``None`` *with our timestamp*, which the
server ignores if anyone took the selection since: "clear only if still ours" without a race.

We never hand the token to a clipboard manager's ``SAVE_TARGETS`` on exit (as GTK apps do): it must go
with us.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from typing import Any

from tray_app.clipboard.formats import PASSWORD_HINT, x11_target_names, x11_targets
from tray_app.errors import ClipboardError
from tray_app.i18n import tr

log = logging.getLogger(__name__)

#: How long we wait for the X server: for our timestamp at start, for the thread to let go at clear().
SERVER_TIMEOUT = 5.0
#: ChangeProperty's fixed part, in bytes (what is left of the maximum request length is data).
_CHANGE_PROPERTY_HEADER = 24


def _xid(value: Any) -> int:
    """A window's id, whether python-xlib gives a Window object or a bare number (``X.NONE`` is 0)."""
    return int(getattr(value, "id", value))


class X11SelectionOwner:
    """Owns ``selection`` with ``text`` and the secret hint until cleared or until someone else copies."""

    backend = "x11"
    marks: tuple[str, ...] = (PASSWORD_HINT,)

    def __init__(self, text: str, display_name: str | None = None, selection: str = "CLIPBOARD") -> None:
        import Xlib.display
        import Xlib.error
        from Xlib import X

        self._offer = x11_targets(text)
        self._target_names = x11_target_names(text)
        self._lock = threading.Lock()  # one clear() at a time
        self._ended = False  # clear() has run (or started): it runs once
        self._cleared = False  # clear() took the token off the clipboard
        self._stop = threading.Event()  # clear() asks the thread to let go
        self._owning = threading.Event()  # set while the selection is ours and answered
        try:
            self._display: Any = Xlib.display.Display(display_name)
        except (Xlib.error.DisplayError, OSError) as exc:
            raise ClipboardError(
                tr("Cannot write the clipboard: cannot connect to the X display ({error}).", error=exc)
            ) from exc
        try:
            self._display.set_error_handler(self._on_x_error)
            self._atoms = {name: self._display.intern_atom(name) for name in ("ATOM", "ATOM_PAIR", "INTEGER")}
            self._selection = self._display.intern_atom(selection)
            self._targets = {self._display.intern_atom(name): name for name in self._target_names}
            self._types = {name: self._display.intern_atom(kind) for name, (kind, _data) in self._offer.items()}
            self._max_bytes = self._display.display.info.max_request_length * 4 - _CHANGE_PROPERTY_HEADER
            screen = self._display.screen()
            self._window: Any = screen.root.create_window(
                -10, -10, 1, 1, 0, X.CopyFromParent, X.InputOnly, X.CopyFromParent,
                event_mask=X.PropertyChangeMask,
            )  # fmt: skip
            self._time = self._server_time()
            self._window.set_selection_owner(self._selection, self._time)
            if _xid(self._display.get_selection_owner(self._selection)) != self._window.id:
                raise ClipboardError(tr("Cannot write the clipboard: the X server did not give it to us."))
        except (Xlib.error.XError, Xlib.error.ConnectionClosedError, OSError) as exc:
            self._display.close()
            raise ClipboardError(tr("Cannot write the clipboard: the X server refused ({error}).", error=exc)) from exc
        except ClipboardError:
            self._display.close()
            raise
        self._wake_read, self._wake_write = os.pipe()
        self._owning.set()
        self._thread = threading.Thread(target=self._serve, name="qwen-tray-clipboard-x11", daemon=True)
        self._thread.start()
        log.info("Took the X11 clipboard (%d targets, marked secret).", len(self._targets))

    # -- what the door offers --------------------------------------------------------------------------
    def holds(self) -> bool:
        """Whether the clipboard is still ours (no one has copied anything since)."""
        return self._owning.is_set()

    def clear(self) -> bool:
        """Take the token off the clipboard if it is still ours, and stop serving; True if it was ours."""
        with self._lock:  # a second caller waits for the first one's answer
            if self._ended:
                return self._cleared
            self._ended = True
            self._stop.set()
            os.write(self._wake_write, b"!")
            self._thread.join(SERVER_TIMEOUT)
            if self._thread.is_alive():
                log.warning("The X11 clipboard thread did not stop in %g s.", SERVER_TIMEOUT)
                return False
            os.close(self._wake_read)
            os.close(self._wake_write)
            return self._cleared

    # -- the owner's thread ------------------------------------------------------------------------------
    def _serve(self) -> None:
        import Xlib.error

        try:
            self._answer_until_done()
        except (Xlib.error.ConnectionClosedError, OSError) as exc:
            log.warning("Lost the X display; the clipboard is no longer ours: %s", exc)
        finally:
            self._owning.clear()
            with contextlib.suppress(Xlib.error.ConnectionClosedError, OSError):  # already gone: nothing to close
                self._display.close()

    def _answer_until_done(self) -> None:
        from Xlib import X

        while True:
            while self._display.pending_events():
                event = self._display.next_event()
                if event.type == X.SelectionRequest:
                    self._answer_one(event)
                elif event.type == X.SelectionClear and _xid(event.window) == self._window.id:
                    log.info("Another program took the clipboard; stopped serving the token.")
                    return
            if self._stop.is_set():
                self._let_go()
                return
            readable, _, _ = select.select([self._display, self._wake_read], [], [])
            if self._wake_read in readable:
                os.read(self._wake_read, 64)

    def _let_go(self) -> None:
        """Give the selection up, only if it is still ours (the server ignores our old timestamp otherwise)."""
        from Xlib import X
        from Xlib.protocol import request

        if _xid(self._display.get_selection_owner(self._selection)) != self._window.id:
            return
        self._owning.clear()
        request.SetSelectionOwner(
            display=self._display.display, onerror=None, window=X.NONE, selection=self._selection, time=self._time
        )
        self._cleared = _xid(self._display.get_selection_owner(self._selection)) == X.NONE
        if self._cleared:
            log.info("Cleared the token from the X11 clipboard.")

    def _answer_one(self, event: Any) -> None:
        """One request; an X error in it (a requestor that misbehaves) is logged and the next one served."""
        import Xlib.error

        try:
            self._answer(event)
        except Xlib.error.XError as exc:
            log.warning("A clipboard request failed: %s", exc)

    def _answer(self, event: Any) -> None:
        """Convert one SelectionRequest and tell the requestor (a SelectionNotify, property None if refused)."""
        import Xlib.error
        from Xlib import X
        from Xlib.protocol import event as events

        # ICCCM 2.2: property None comes from obsolete clients; use the target's name as the property.
        prop = event.property if event.property != X.NONE else event.target
        stale = event.time != X.CurrentTime and event.time < self._time
        done = False
        if event.selection == self._selection and _xid(event.owner) == self._window.id and not stale:
            done = self._convert(event.requestor, event.target, prop, top_level=True)
        notify = events.SelectionNotify(
            time=event.time, requestor=event.requestor, selection=event.selection,
            target=event.target, property=prop if done else X.NONE,
        )  # fmt: skip
        catch = Xlib.error.CatchError()
        event.requestor.send_event(notify, event_mask=0, onerror=catch)
        self._display.sync()
        if catch.get_error() is not None:  # the requestor's window went away before our answer: its loss
            log.debug("A clipboard requestor vanished: %s", catch.get_error())

    def _convert(self, requestor: Any, target: int, prop: int, *, top_level: bool) -> bool:
        """Put ``target``'s data in ``prop`` on ``requestor``; False (nothing written) to refuse."""
        import Xlib.error
        from Xlib import Xatom

        name = self._targets.get(target)
        catch = Xlib.error.CatchError()
        if name == "TARGETS":
            requestor.change_property(prop, Xatom.ATOM, 32, list(self._targets), onerror=catch)
        elif name == "TIMESTAMP":
            requestor.change_property(prop, Xatom.INTEGER, 32, [self._time], onerror=catch)
        elif name == "MULTIPLE":
            return top_level and self._convert_multiple(requestor, prop)
        elif name is not None:
            _kind, data = self._offer[name]
            if len(data) > self._max_bytes:
                log.warning("Refused a clipboard request: %d bytes need INCR, which we do not speak.", len(data))
                return False
            requestor.change_property(prop, self._types[name], 8, data, onerror=catch)
        else:
            return False
        self._display.sync()
        return catch.get_error() is None

    def _convert_multiple(self, requestor: Any, prop: int) -> bool:
        """ICCCM 2.6.2: ``prop`` holds (target, property) pairs; convert each, None where we refuse."""
        import Xlib.error
        from Xlib import X

        try:
            pairs = requestor.get_full_property(prop, self._atoms["ATOM_PAIR"])
        except Xlib.error.XError as exc:
            log.debug("A MULTIPLE request could not be read: %s", exc)
            return False
        if pairs is None or pairs.format != 32 or len(pairs.value) % 2:
            return False
        answered: list[int] = []
        for target, each in zip(pairs.value[0::2], pairs.value[1::2], strict=True):
            done = each != X.NONE and self._convert(requestor, target, each, top_level=False)
            answered += [target, each if done else X.NONE]
        catch = Xlib.error.CatchError()
        requestor.change_property(prop, self._atoms["ATOM_PAIR"], 32, answered, onerror=catch)
        self._display.sync()
        return catch.get_error() is None

    # -- set-up -----------------------------------------------------------------------------------------
    def _server_time(self) -> int:
        """A real server timestamp: append nothing to a property of ours and read the PropertyNotify's time."""
        from Xlib import X

        probe = self._display.intern_atom("_QWEN_TRAY_TIMESTAMP")
        self._window.change_property(probe, self._atoms["INTEGER"], 32, [], mode=X.PropModeAppend)
        self._display.flush()
        deadline = time.monotonic() + SERVER_TIMEOUT
        while True:
            while self._display.pending_events():
                event = self._display.next_event()
                if event.type == X.PropertyNotify and event.atom == probe:
                    return int(event.time)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ClipboardError(tr("Cannot write the clipboard: the X server did not answer in time."))
            select.select([self._display], [], [], remaining)

    @staticmethod
    def _on_x_error(error: Any, request: Any) -> None:
        log.warning("X error on the clipboard connection: %s", error)
