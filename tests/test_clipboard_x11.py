"""The secret copy on a real X server (Xvfb), read by separate clients: xclip, and python-xlib for ICCCM corners.

What a clipboard manager sees: ``TARGETS`` with the text targets and ``x-kde-passwordManagerHint``, the hint
reading ``secret``, the text exactly the token; after clear() nothing; a later copy by someone else untouched;
and after ``kill -9`` of the process that copied, nobody serving the token.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import desktop
from tests.helpers import wait_for
from tray_app.clipboard import SecretCopy, copy_secret
from tray_app.errors import ClipboardError

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6IjEyMyIsImV4cCI6MTgwMDAwMDAwMH0.c2lnbmF0dXJlLV8"
TEXT_TARGETS = {"UTF8_STRING", "text/plain;charset=utf-8", "TEXT", "STRING"}
ROOT = Path(__file__).resolve().parent.parent

#: A process that copies the token (read from stdin), says so, and waits to be killed.
OWNER_SCRIPT = """
import sys
from tray_app.clipboard import copy_secret
copy = copy_secret(sys.stdin.readline().rstrip("\\n"))
print(copy.backend, flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def screen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[desktop.Xvfb]:
    desktop.require(desktop.Xvfb, "xclip")
    with desktop.Xvfb(workdir=tmp_path_factory.mktemp("xvfb")) as server:
        yield server


@pytest.fixture
def display(screen: desktop.Xvfb, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This process on the X screen only; every copy made here is cleared at the end."""
    desktop.apply_env(monkeypatch, screen)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    yield screen.display
    for copy in _copies:
        copy.clear()
    _copies.clear()


_copies: list[SecretCopy] = []


def copy(text: str) -> SecretCopy:
    made = copy_secret(text)
    _copies.append(made)
    return made


def paste(display: str, target: str) -> bytes | None:
    """What ``xclip -o`` gets for ``target`` from the CLIPBOARD; None when nobody gives it."""
    result = subprocess.run(
        ["xclip", "-o", "-selection", "clipboard", "-t", target],
        env={**os.environ, "DISPLAY": display}, stdin=subprocess.DEVNULL, capture_output=True,
        timeout=desktop.TOOL_TIMEOUT, check=False,
    )  # fmt: skip
    return result.stdout if result.returncode == 0 else None


def test_a_client_sees_the_text_targets_and_the_secret_hint(display: str) -> None:
    made = copy(TOKEN)
    assert (made.backend, made.marks, made.holds()) == ("x11", ("x-kde-passwordManagerHint",), True)
    targets = (paste(display, "TARGETS") or b"").decode().split()
    assert TEXT_TARGETS | {"TARGETS", "x-kde-passwordManagerHint"} <= set(targets)
    assert paste(display, "x-kde-passwordManagerHint") == b"secret"
    assert paste(display, "UTF8_STRING") == TOKEN.encode()
    for target in TEXT_TARGETS:
        assert paste(display, target) == TOKEN.encode(), target
    assert paste(display, "image/png") is None  # what we do not offer is refused, not faked


def test_clear_takes_the_token_off_the_clipboard(display: str) -> None:
    made = copy(TOKEN)
    assert paste(display, "UTF8_STRING") == TOKEN.encode()
    assert made.clear() is True
    assert not made.holds()
    assert not desktop.owns_selection(display, "CLIPBOARD")
    assert paste(display, "UTF8_STRING") is None
    assert made.clear() is True  # the first answer, again


def test_what_another_client_copies_later_is_never_cleared(display: str) -> None:
    made = copy(TOKEN)
    other = subprocess.Popen(
        ["xclip", "-selection", "clipboard", "-quiet"],  # -quiet: in the foreground, ours to end
        env={**os.environ, "DISPLAY": display}, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert other.stdin is not None
        other.stdin.write(b"someone else's text")
        other.stdin.close()
        wait_for(lambda: not made.holds(), "our owner to see the SelectionClear")
        assert made.clear() is False
        assert paste(display, "UTF8_STRING") == b"someone else's text"
    finally:
        other.terminate()
        other.wait(timeout=desktop.STOP_TIMEOUT)


def test_a_copy_replaces_the_previous_one(display: str) -> None:
    first = copy(TOKEN)
    second = copy(TOKEN[::-1])
    wait_for(lambda: not first.holds(), "the first owner to let go")
    assert first.clear() is False
    assert paste(display, "UTF8_STRING") == TOKEN[::-1].encode()
    assert second.clear() is True
    assert paste(display, "UTF8_STRING") is None


def test_data_too_large_for_one_property_is_refused_and_the_rest_still_served(display: str) -> None:
    """INCR is not spoken (a token never needs it): the text target is refused, cleanly."""
    copy("x" * 300_000)  # over 65535 * 4 bytes, the core protocol's largest request
    assert paste(display, "UTF8_STRING") is None
    assert paste(display, "x-kde-passwordManagerHint") == b"secret"


def test_an_unreachable_display_is_a_clipboard_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":4095")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(ClipboardError, match="cannot connect to the X display"):
        copy_secret(TOKEN)


# -- ICCCM corners, asked the way toolkits ask -------------------------------------------------------------------
class Requestor:
    """A minimal selection requestor on its own connection: ConvertSelection, wait for SelectionNotify, read."""

    def __init__(self, display: str) -> None:
        import Xlib.display
        from Xlib import X

        self.display: Any = Xlib.display.Display(display)
        self.window: Any = self.display.screen().root.create_window(0, 0, 1, 1, 0, X.CopyFromParent)
        self.clipboard = self.atom("CLIPBOARD")

    def atom(self, name: str) -> int:
        return int(self.display.intern_atom(name))

    def ask(self, target: str, prop: str | None = "_QWEN_TEST") -> int:
        """The property the owner's SelectionNotify names (X.NONE when it refused)."""
        from Xlib import X

        self.window.convert_selection(self.clipboard, self.atom(target), self.atom(prop) if prop else X.NONE, 0)
        self.display.flush()
        deadline = time.monotonic() + desktop.TOOL_TIMEOUT
        while time.monotonic() < deadline:
            while self.display.pending_events():
                event = self.display.next_event()
                if event.type == X.SelectionNotify and event.target == self.atom(target):
                    return int(event.property)
            select.select([self.display], [], [], max(0.0, deadline - time.monotonic()))
        pytest.fail(f"no SelectionNotify for {target} in {desktop.TOOL_TIMEOUT} s")

    def read(self, prop: int) -> tuple[str, int, Any]:
        """(type name, format, value) of our window's property ``prop``."""
        from Xlib import X

        found = self.window.get_full_property(prop, X.AnyPropertyType)
        assert found is not None
        return str(self.display.get_atom_name(found.property_type)), int(found.format), found.value

    def close(self) -> None:
        self.display.close()


@pytest.fixture
def requestor(display: str) -> Iterator[Requestor]:
    client = Requestor(display)
    yield client
    client.close()


def test_multiple_converts_each_pair_and_marks_the_refused_one(display: str, requestor: Requestor) -> None:
    from Xlib import X

    copy(TOKEN)
    pairs = [
        requestor.atom("UTF8_STRING"), requestor.atom("_QWEN_A"),
        requestor.atom("x-kde-passwordManagerHint"), requestor.atom("_QWEN_B"),
        requestor.atom("image/png"), requestor.atom("_QWEN_C"),
    ]  # fmt: skip
    requestor.window.change_property(requestor.atom("_QWEN_TEST"), requestor.atom("ATOM_PAIR"), 32, pairs)
    assert requestor.ask("MULTIPLE") == requestor.atom("_QWEN_TEST")
    kind, fmt, answered = requestor.read(requestor.atom("_QWEN_TEST"))
    assert (kind, fmt) == ("ATOM_PAIR", 32)
    assert list(answered) == [*pairs[:5], X.NONE]  # image/png refused: its property replaced by None
    assert requestor.read(requestor.atom("_QWEN_A")) == ("UTF8_STRING", 8, TOKEN.encode())
    assert requestor.read(requestor.atom("_QWEN_B")) == ("x-kde-passwordManagerHint", 8, b"secret")


def test_timestamp_targets_and_an_obsolete_client_without_a_property(display: str, requestor: Requestor) -> None:
    from Xlib import X

    copy(TOKEN)
    requestor.ask("TIMESTAMP")
    kind, fmt, value = requestor.read(requestor.atom("_QWEN_TEST"))
    assert (kind, fmt, len(value)) == ("INTEGER", 32, 1)
    assert value[0] > 0
    requestor.ask("TARGETS")
    kind, fmt, atoms = requestor.read(requestor.atom("_QWEN_TEST"))
    assert (kind, fmt) == ("ATOM", 32)
    assert {str(requestor.display.get_atom_name(atom)) for atom in atoms} >= TEXT_TARGETS | {"MULTIPLE"}
    # ICCCM 2.2: a requestor that names no property gets the target's name as the property.
    assert requestor.ask("STRING", prop=None) == requestor.atom("STRING")
    assert requestor.read(requestor.atom("STRING")) == ("STRING", 8, TOKEN.encode())
    assert requestor.ask("image/png") == X.NONE


# -- the process that copied dies ---------------------------------------------------------------------------------
def test_after_kill_9_of_the_process_that_copied_nothing_serves_the_token(display: str) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER_SCRIPT], cwd=ROOT, env=dict(os.environ),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert owner.stdin is not None and owner.stdout is not None
        owner.stdin.write(TOKEN + "\n")
        owner.stdin.flush()
        assert owner.stdout.readline().strip() == "x11", owner.stderr.read() if owner.stderr else ""
        assert paste(display, "UTF8_STRING") == TOKEN.encode()
        assert paste(display, "x-kde-passwordManagerHint") == b"secret"
        owner.send_signal(signal.SIGKILL)
        assert owner.wait(timeout=desktop.STOP_TIMEOUT) == -signal.SIGKILL
        wait_for(lambda: not desktop.owns_selection(display, "CLIPBOARD"), "the X server to drop the dead owner")
        assert paste(display, "UTF8_STRING") is None
        assert paste(display, "TARGETS") is None
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(timeout=desktop.STOP_TIMEOUT)
        for stream in (owner.stdin, owner.stdout, owner.stderr):
            if stream is not None:
                stream.close()
