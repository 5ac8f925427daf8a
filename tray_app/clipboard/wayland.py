"""The Wayland clipboard through a ``wl-copy --foreground`` child that dies with us, text only.

What wl-clipboard 2.1 (Debian 12) can do, tried against sway: one MIME type per process. ``--type`` with a
text type offers text/plain, text/plain;charset=utf-8, TEXT, STRING and UTF8_STRING; ``--type`` given twice
keeps the last; ``--type x-kde-passwordManagerHint`` offers that type *alone* (nothing pasteable as text);
and a second wl-copy replaces the first rather than adding to it. So the secret mark cannot be offered
beside the text with this tool, and we do not pretend: a clipboard manager on Wayland sees plain text.
(Offering both needs a client of the wlr/ext data-control protocol. From Python that means pywayland: a cffi
binding plus protocol XML to generate, for compositors other than GNOME's; not worth a dependency for one
MIME type. wl-clipboard's unreleased successor has no multi-type copy either.)

Why a foreground child: a forking wl-copy outlives the tray, even a ``kill -9`` of it, serving the token.
Ours runs in the foreground with ``PR_SET_PDEATHSIG`` = SIGKILL, so the kernel kills it when its parent
goes, however. The "parent" there is the *thread* that forked (prctl(2)), so each copy has a keeper thread
that starts wl-copy and waits for it: it ends only when wl-copy has ended. wl-copy exits by itself when
another client copies something, so "still ours" is "our wl-copy still runs".
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from typing import IO

from tray_app.clipboard.formats import wl_copy_argv
from tray_app.errors import ClipboardError
from tray_app.i18n import tr

log = logging.getLogger(__name__)

#: wl-copy fails within milliseconds when it cannot reach the compositor; a copy that lives this long took.
EARLY_FAILURE = 0.2
#: How long wl-copy may take to go once told to.
STOP_TIMEOUT = 3.0
PR_SET_PDEATHSIG = 1
#: How wl-copy ends normally: replaced by another copy (0), or stopped by us.
_EXPECTED_ENDS = (0, -signal.SIGTERM, -signal.SIGKILL)


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel SIGKILL the child when the forking thread ends (Linux only).

    ``prctl`` is looked up here, in the parent, so the child does nothing between fork and exec but the
    call itself. If the parent is already gone by then (the race prctl(2) warns of), the child exits.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def preexec() -> None:
        if prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:
            os._exit(1)

    return preexec


class WaylandCopy:
    """``text`` on the Wayland clipboard, served by a wl-copy child of a keeper thread of ours."""

    backend = "wayland"
    marks: tuple[str, ...] = ()  # wl-copy cannot offer the hint beside the text: see the module docstring

    def __init__(self, text: str, env: Mapping[str, str] | None = None) -> None:
        self._lock = threading.Lock()  # the keeper's exit against the hand-over
        self._clear_lock = threading.Lock()  # one clear() at a time
        self._started = threading.Event()
        self._exited = threading.Event()
        self._handed_over = False  # copy_secret returned: a later failure is logged, not raised
        self._cleared = False
        self._ended = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._spawn_error: Exception | None = None
        self._errors: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - the keeper thread closes it
        self._error_text = ""
        self._env = dict(env) if env is not None else None
        self._keeper = threading.Thread(target=self._keep, name="qwen-tray-clipboard-wl-copy", daemon=True)
        self._keeper.start()
        self._started.wait()
        proc = self._child()
        if proc is None or proc.stdin is None:
            raise ClipboardError(
                tr("Cannot write the clipboard: cannot run wl-copy ({error}).", error=self._spawn_error)
            )
        self._hand_over(proc, proc.stdin, text)

    def _child(self) -> subprocess.Popen[bytes] | None:
        """wl-copy, once the keeper has started it (None if it could not)."""
        return self._proc

    def _hand_over(self, proc: subprocess.Popen[bytes], stdin: IO[bytes], text: str) -> None:
        """Give wl-copy the text; return once it has had time to fail (it fails fast) and has not."""
        try:
            stdin.write(text.encode("utf-8"))
            stdin.close()
        except BrokenPipeError as exc:  # wl-copy is gone already: its exit status and stderr say why
            with contextlib.suppress(BrokenPipeError):  # close() still closes the pipe when its flush fails
                stdin.close()
            if not self._exited.wait(STOP_TIMEOUT):
                proc.kill()  # it took no text: it must not hold the clipboard either
            reason = self._error_text or tr("wl-copy closed its input")
            raise ClipboardError(tr("Cannot write the clipboard: {reason}.", reason=reason)) from exc
        self._exited.wait(EARLY_FAILURE)
        with self._lock:
            # Exit status 0 this soon is not a failure: another client (a clipboard manager that re-offers
            # what it reads, say) took the clipboard after us.
            if not self._exited.is_set() or proc.returncode == 0:
                self._handed_over = True
                log.info("Put the token on the Wayland clipboard (wl-copy %d; text only, no secret mark).", proc.pid)
                return
        reason = self._error_text or tr("wl-copy exited with {status}", status=proc.returncode)
        raise ClipboardError(tr("Cannot write the clipboard: {reason}.", reason=reason))

    # -- what the door offers --------------------------------------------------------------------------
    def holds(self) -> bool:
        """Whether our wl-copy still serves the clipboard (it ends when another client copies)."""
        return not self._exited.is_set()

    def clear(self) -> bool:
        """End our wl-copy if it still serves the clipboard (the compositor then empties it); True if it did."""
        with self._clear_lock:  # a second caller waits for the first one's answer
            if self._ended:
                return self._cleared
            self._ended = True
            proc = self._child()
            if proc is None or self._exited.is_set():
                return False
            proc.terminate()
            if not self._exited.wait(STOP_TIMEOUT):
                log.warning("wl-copy %d did not stop on SIGTERM; killing it.", proc.pid)
                proc.kill()
                self._exited.wait(STOP_TIMEOUT)
            self._cleared = True
            log.info("Cleared the token from the Wayland clipboard.")
            return True

    @property
    def pid(self) -> int | None:
        """wl-copy's process id (for tests that check it is gone)."""
        return self._proc.pid if self._proc is not None else None

    # -- the keeper thread -----------------------------------------------------------------------------
    def _keep(self) -> None:
        """Start wl-copy and wait for it: this thread is its "parent" for PR_SET_PDEATHSIG, so it must live
        exactly as long as the child does."""
        try:
            try:
                self._proc = subprocess.Popen(
                    wl_copy_argv(), env=self._env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                    stderr=self._errors, preexec_fn=die_with_parent(),  # noqa: PLW1509 - see die_with_parent
                )  # fmt: skip
            except (OSError, subprocess.SubprocessError) as exc:
                self._spawn_error = exc
                return
            finally:
                self._started.set()
            returncode = self._proc.wait()
            self._errors.seek(0)
            text = " ".join(self._errors.read().decode(errors="replace").split())  # wl-copy's own words
            with self._lock:
                self._error_text = text
                self._exited.set()
                late = self._handed_over
            if late and returncode not in _EXPECTED_ENDS:
                log.warning("wl-copy ended with %d: %s", returncode, text or "(no message)")
        finally:
            with contextlib.suppress(OSError):  # closing a temporary file: nothing to lose
                self._errors.close()
            self._exited.set()
