"""The macOS pasteboard through PyObjC (AppKit): the string and the nspasteboard.org markers.

The types come from :func:`~tray_app.clipboard.formats.macos_types` (tested everywhere); this module only
writes them, as NSPasteboard's documentation describes: ``clearContents`` (which makes us the owner and
returns the new change count), then ``setString:forType:`` for the text and ``setData:forType:`` with empty
data for ``org.nspasteboard.ConcealedType`` and ``org.nspasteboard.TransientType``, all on the first item.
"Still ours" is ``changeCount`` unchanged since. AppKit (pyobjc-framework-Cocoa, which pystray's macOS
backend already needs) is imported only here, only on macOS.

There is no Mac here: this code is checked with ``mypy --platform darwin`` but has never run.

The pasteboard server keeps the data once written, so the token stays after the tray ends, killed or not,
until something else is copied or the tray clears it; clipboard managers that follow nspasteboard.org (Maccy,
Alfred, Raycast, Paste, CopyClip…) do not record it.
"""

from __future__ import annotations

import sys

from tray_app.clipboard.formats import MACOS_CONCEALED, MACOS_TRANSIENT, macos_types
from tray_app.errors import ClipboardError
from tray_app.i18n import tr

if sys.platform == "darwin":
    import logging
    import threading
    from typing import Any

    log = logging.getLogger(__name__)

    def _pasteboard() -> Any:
        try:
            from AppKit import NSPasteboard  # type: ignore[import-not-found]
        except ImportError as exc:
            raise ClipboardError(
                tr("Cannot write the clipboard: PyObjC's AppKit is missing (pip install pyobjc-framework-Cocoa).")
            ) from exc
        return NSPasteboard.generalPasteboard()

    class MacCopy:
        """The secret on the general pasteboard with the markers; ours while the change count is unchanged."""

        backend = "macos"
        marks: tuple[str, ...] = (MACOS_CONCEALED, MACOS_TRANSIENT)

        def __init__(self, text: str) -> None:
            from Foundation import NSData  # type: ignore[import-not-found]

            self._lock = threading.Lock()
            self._ended = False
            self._cleared = False
            self._board = _pasteboard()
            self._board.clearContents()
            for kind, value in macos_types(text):
                if isinstance(value, str):
                    written = self._board.setString_forType_(value, kind)
                else:
                    written = self._board.setData_forType_(NSData.dataWithBytes_length_(value, len(value)), kind)
                if not written:
                    self._board.clearContents()  # never leave the text without its markers
                    raise ClipboardError(tr("Cannot write the clipboard: the pasteboard refused {kind}.", kind=kind))
            self._count = int(self._board.changeCount())
            log.info("Put the token on the macOS pasteboard, marked concealed and transient.")

        def holds(self) -> bool:
            """Whether nothing has been copied since our copy."""
            return not self._ended and int(self._board.changeCount()) == self._count

        def clear(self) -> bool:
            """Clear the pasteboard if it still holds our copy; True if it did."""
            with self._lock:
                if self._ended:
                    return self._cleared
                self._ended = True
                if int(self._board.changeCount()) != self._count:
                    return False
                self._board.clearContents()
                self._cleared = True
                log.info("Cleared the token from the macOS pasteboard.")
                return True
