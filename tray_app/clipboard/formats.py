"""What a secret copy offers on each platform: pure lists of (format, bytes), tested without a desktop.

The platform code only walks these lists, so what is marked where is decided (and checked) here:

- X11: the text as ``UTF8_STRING``, ``text/plain;charset=utf-8``, ``TEXT`` and ``STRING``, and
  ``x-kde-passwordManagerHint`` = ``secret``, the mark Klipper (and CopyQ, GPaste, clipman…) skip.
- Wayland: text only. wl-copy serves one MIME type per process (``--type``; a text type brings its four
  aliases); offering the hint alone would leave nothing pasteable, and a second wl-copy replaces the first.
- Windows: ``CF_UNICODETEXT`` plus the registered formats that keep a copy out of clipboard history (Win+V)
  and the cloud clipboard, and that ask clipboard monitors to skip it.
- macOS: ``public.utf8-plain-text`` plus the nspasteboard.org markers ``org.nspasteboard.ConcealedType``
  (a password: do not record or show it) and ``org.nspasteboard.TransientType`` (do not record it at all).
"""

from __future__ import annotations

import struct

#: The KDE convention (Klipper, KDE Connect), also honoured by CopyQ, GPaste and others: not for history.
PASSWORD_HINT = "x-kde-passwordManagerHint"  # noqa: S105 - a MIME type's name, not a password
PASSWORD_HINT_VALUE = b"secret"

# -- X11 ---------------------------------------------------------------------------------------------------
#: Targets the selection protocol itself needs (ICCCM 2.6.2); the owner answers these from its own state.
X11_PROTOCOL_TARGETS = ("TARGETS", "MULTIPLE", "TIMESTAMP")


def x11_targets(text: str) -> dict[str, tuple[str, bytes]]:
    """Target name -> (property type, data) for a secret: the text targets, then the password-manager hint.

    ``STRING`` is ISO Latin-1 by definition (ICCCM), so it is offered only when the text fits; ``TEXT`` lets
    the owner choose, and we choose ``STRING`` when it fits (the oldest clients read it) and ``UTF8_STRING``
    otherwise. A token is ASCII, so in practice every text target carries the same bytes.
    """
    utf8 = text.encode("utf-8")
    try:
        latin1: bytes | None = text.encode("latin-1")
    except UnicodeEncodeError:
        latin1 = None
    targets = {
        "UTF8_STRING": ("UTF8_STRING", utf8),
        "text/plain;charset=utf-8": ("text/plain;charset=utf-8", utf8),
        "TEXT": ("STRING", latin1) if latin1 is not None else ("UTF8_STRING", utf8),
    }
    if latin1 is not None:
        targets["STRING"] = ("STRING", latin1)
    targets[PASSWORD_HINT] = (PASSWORD_HINT, PASSWORD_HINT_VALUE)
    return targets


def x11_target_names(text: str) -> list[str]:
    """What ``TARGETS`` lists: the protocol targets, then every target :func:`x11_targets` can convert to."""
    return [*X11_PROTOCOL_TARGETS, *x11_targets(text)]


# -- Wayland -----------------------------------------------------------------------------------------------
#: wl-copy 2.1 offers text/plain, text/plain;charset=utf-8, TEXT, STRING and UTF8_STRING for this type.
WAYLAND_TEXT_TYPE = "text/plain;charset=utf-8"


def wl_copy_argv() -> list[str]:
    """wl-copy in the foreground (a child that can die with us), offering the text types and nothing else."""
    return ["wl-copy", "--foreground", "--type", WAYLAND_TEXT_TYPE]


# -- Windows -----------------------------------------------------------------------------------------------
CF_UNICODETEXT = 13
#: "Place any data on the clipboard in this format to prevent all clipboard formats from being included in
#: the clipboard history or synced to the user's other devices" (Win32 docs, Clipboard Formats).
WINDOWS_EXCLUDE_FROM_MONITORS = "ExcludeClipboardContentFromMonitorProcessing"
#: A DWORD 0 in each keeps the copy out of clipboard history (Win+V) and the cloud clipboard.
WINDOWS_NO_HISTORY = "CanIncludeInClipboardHistory"
WINDOWS_NO_CLOUD = "CanUploadToCloudClipboard"
_DWORD_ZERO = struct.pack("<I", 0)


def windows_formats(text: str) -> list[tuple[int | str, bytes]]:
    """(standard format number or registered format name, bytes) for a secret, in the order they are set.

    ``CF_UNICODETEXT`` is UTF-16-LE with a terminating NUL; the marks are DWORDs (little-endian) of 0.
    """
    return [
        (CF_UNICODETEXT, (text + "\0").encode("utf-16-le")),
        (WINDOWS_EXCLUDE_FROM_MONITORS, _DWORD_ZERO),
        (WINDOWS_NO_HISTORY, _DWORD_ZERO),
        (WINDOWS_NO_CLOUD, _DWORD_ZERO),
    ]


# -- macOS -------------------------------------------------------------------------------------------------
MACOS_TEXT_TYPE = "public.utf8-plain-text"  # NSPasteboardTypeString
MACOS_CONCEALED = "org.nspasteboard.ConcealedType"
MACOS_TRANSIENT = "org.nspasteboard.TransientType"


def macos_types(text: str) -> list[tuple[str, str | bytes]]:
    """(pasteboard type, value) for a secret: the string, then the nspasteboard.org markers.

    A marker's data is not read by anyone (its presence is the message): empty data, as password managers do.
    """
    return [(MACOS_TEXT_TYPE, text), (MACOS_CONCEALED, b""), (MACOS_TRANSIENT, b"")]
