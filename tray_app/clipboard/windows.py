"""The Windows clipboard through user32 and kernel32 (ctypes): the text, and the marks for history and cloud.

The formats come from :func:`~tray_app.clipboard.formats.windows_formats` (tested everywhere); this module
only sets them, as the Win32 documentation describes: ``OpenClipboard`` with a window of ours (with a NULL
window, ``EmptyClipboard`` leaves no owner and ``SetClipboardData`` fails), ``EmptyClipboard``, then for each
format ``RegisterClipboardFormatW`` (named formats), ``GlobalAlloc(GMEM_MOVEABLE)``, ``GlobalLock``, copy,
``GlobalUnlock`` and ``SetClipboardData``, which makes the memory the system's; ``CloseClipboard``.
"Still ours" is ``GetClipboardSequenceNumber`` unchanged since our copy.

There is no Windows machine here: this code is checked with ``mypy --platform win32`` but has never run.

Windows keeps the data itself once set (no delayed rendering), so the token stays on the clipboard after
the tray ends, killed or not, until something else is copied or the tray clears it; history (Win+V), the
cloud clipboard and monitors that honour the marks never see it.
"""

from __future__ import annotations

import sys

from tray_app.clipboard.formats import (
    WINDOWS_EXCLUDE_FROM_MONITORS,
    WINDOWS_NO_CLOUD,
    WINDOWS_NO_HISTORY,
    windows_formats,
)
from tray_app.errors import ClipboardError
from tray_app.i18n import tr

#: Another program may hold the clipboard open for a moment; we retry this long.
OPEN_TIMEOUT = 1.0
OPEN_RETRY = 0.02
GMEM_MOVEABLE = 0x0002

if sys.platform == "win32":
    import contextlib
    import ctypes
    import logging
    import threading
    import time
    from collections.abc import Iterator
    from ctypes import wintypes

    log = logging.getLogger(__name__)

    _user32 = ctypes.WinDLL("user32", use_last_error=True)
    _kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)

    _user32.OpenClipboard.argtypes = [wintypes.HWND]
    _user32.OpenClipboard.restype = wintypes.BOOL
    _user32.CloseClipboard.argtypes = []
    _user32.CloseClipboard.restype = wintypes.BOOL
    _user32.EmptyClipboard.argtypes = []
    _user32.EmptyClipboard.restype = wintypes.BOOL
    _user32.SetClipboardData.argtypes = [wintypes.UINT, wintypes.HANDLE]
    _user32.SetClipboardData.restype = wintypes.HANDLE
    _user32.RegisterClipboardFormatW.argtypes = [wintypes.LPCWSTR]
    _user32.RegisterClipboardFormatW.restype = wintypes.UINT
    _user32.GetClipboardSequenceNumber.argtypes = []
    _user32.GetClipboardSequenceNumber.restype = wintypes.DWORD
    _user32.CreateWindowExW.argtypes = [
        wintypes.DWORD, wintypes.LPCWSTR, wintypes.LPCWSTR, wintypes.DWORD,
        ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
        wintypes.HWND, wintypes.HMENU, wintypes.HINSTANCE, wintypes.LPVOID,
    ]  # fmt: skip
    _user32.CreateWindowExW.restype = wintypes.HWND
    _user32.DestroyWindow.argtypes = [wintypes.HWND]
    _user32.DestroyWindow.restype = wintypes.BOOL
    _kernel32.GlobalAlloc.argtypes = [wintypes.UINT, ctypes.c_size_t]
    _kernel32.GlobalAlloc.restype = wintypes.HGLOBAL
    _kernel32.GlobalLock.argtypes = [wintypes.HGLOBAL]
    _kernel32.GlobalLock.restype = wintypes.LPVOID
    _kernel32.GlobalUnlock.argtypes = [wintypes.HGLOBAL]
    _kernel32.GlobalUnlock.restype = wintypes.BOOL
    _kernel32.GlobalFree.argtypes = [wintypes.HGLOBAL]
    _kernel32.GlobalFree.restype = wintypes.HGLOBAL

    def _failed(what: str) -> ClipboardError:
        return ClipboardError(
            tr(
                "Cannot write the clipboard: {call} failed ({reason}).",
                call=what,
                reason=ctypes.FormatError(ctypes.get_last_error()),
            )
        )

    @contextlib.contextmanager
    def _opened() -> Iterator[None]:
        """The clipboard opened for a hidden window of ours (retrying while another program has it open)."""
        window = _user32.CreateWindowExW(0, "STATIC", None, 0, 0, 0, 0, 0, None, None, None, None)
        if not window:
            raise _failed("CreateWindowExW")
        try:
            deadline = time.monotonic() + OPEN_TIMEOUT
            while not _user32.OpenClipboard(window):
                if time.monotonic() > deadline:
                    raise _failed(tr("OpenClipboard (another program keeps it open)"))
                time.sleep(OPEN_RETRY)
            try:
                yield
            finally:
                _user32.CloseClipboard()
        finally:
            _user32.DestroyWindow(window)

    def _set(kind: int | str, data: bytes) -> None:
        """One format: moveable global memory handed to the system by SetClipboardData."""
        number = kind if isinstance(kind, int) else _user32.RegisterClipboardFormatW(kind)
        if not number:
            raise _failed(f"RegisterClipboardFormatW({kind})")
        handle = _kernel32.GlobalAlloc(GMEM_MOVEABLE, len(data))
        if not handle:
            raise _failed("GlobalAlloc")
        pointer = _kernel32.GlobalLock(handle)
        if not pointer:
            _kernel32.GlobalFree(handle)
            raise _failed("GlobalLock")
        ctypes.memmove(pointer, data, len(data))
        _kernel32.GlobalUnlock(handle)  # 0 with no error is success: the lock count reached zero
        if not _user32.SetClipboardData(number, handle):
            error = _failed(f"SetClipboardData({kind})")
            _kernel32.GlobalFree(handle)  # still ours only when SetClipboardData failed
            raise error

    class WindowsCopy:
        """The secret on the Windows clipboard with the marks; ours while the sequence number is unchanged."""

        backend = "windows"
        marks: tuple[str, ...] = (WINDOWS_EXCLUDE_FROM_MONITORS, WINDOWS_NO_HISTORY, WINDOWS_NO_CLOUD)

        def __init__(self, text: str) -> None:
            self._lock = threading.Lock()
            self._ended = False
            self._cleared = False
            with _opened():
                if not _user32.EmptyClipboard():
                    raise _failed("EmptyClipboard")
                try:
                    for kind, data in windows_formats(text):
                        _set(kind, data)
                except ClipboardError:
                    _user32.EmptyClipboard()  # never leave the text without its marks
                    raise
            self._sequence = _user32.GetClipboardSequenceNumber()
            log.info("Put the token on the Windows clipboard, marked for no history, no cloud, no monitors.")

        def holds(self) -> bool:
            """Whether nothing has been copied since our copy."""
            return not self._ended and _user32.GetClipboardSequenceNumber() == self._sequence

        def clear(self) -> bool:
            """Empty the clipboard if it still holds our copy (checked with the clipboard open); True if so."""
            with self._lock:
                if self._ended:
                    return self._cleared
                self._ended = True
                with _opened():
                    if _user32.GetClipboardSequenceNumber() != self._sequence:
                        return False
                    if not _user32.EmptyClipboard():
                        raise _failed("EmptyClipboard")
                self._cleared = True
                log.info("Cleared the token from the Windows clipboard.")
                return True
