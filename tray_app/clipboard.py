"""The clipboard, through pyperclip, with a clear error when the platform offers no way to reach it."""

from __future__ import annotations

from tray_app.errors import ClipboardError

NO_CLIPBOARD_HELP = "install xclip or xsel (X11) or wl-clipboard (Wayland)"


def read_clipboard() -> str:
    import pyperclip

    try:
        text: str = pyperclip.paste()
    except pyperclip.PyperclipException as exc:
        raise ClipboardError(f"Cannot read the clipboard: {NO_CLIPBOARD_HELP}.") from exc
    return text


def write_clipboard(text: str) -> None:
    import pyperclip

    try:
        pyperclip.copy(text)
    except pyperclip.PyperclipException as exc:
        raise ClipboardError(f"Cannot write the clipboard: {NO_CLIPBOARD_HELP}.") from exc
