"""The secret copy on a pure Wayland desktop (headless sway as ``nobody``; the app side as root, as in
``desktop.SwayWaybar``'s docstring): ``wl-paste`` reads the token as text; clear() empties the clipboard; a
later copy by someone else is untouched; ``kill -9`` of the process that copied ends its wl-copy too.

It also pins what wl-clipboard 2.1 cannot do (one MIME type per process), which is why no secret mark is
offered on Wayland: if a newer wl-copy serves several types, that test fails and says so.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import desktop
from tests.helpers import wait_for
from tray_app.clipboard import SecretCopy, copy_secret
from tray_app.clipboard.wayland import WaylandCopy
from tray_app.errors import ClipboardError

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6IjEyMyIsImV4cCI6MTgwMDAwMDAwMH0.c2lnbmF0dXJlLV8"
TEXT_TYPES = {"text/plain", "text/plain;charset=utf-8", "TEXT", "STRING", "UTF8_STRING"}
HINT = "x-kde-passwordManagerHint"
ROOT = Path(__file__).resolve().parent.parent

#: A process that copies the token (read from stdin), says which wl-copy serves it, and waits to be killed.
OWNER_SCRIPT = """
import sys
from tray_app.clipboard import copy_secret
copy = copy_secret(sys.stdin.readline().rstrip("\\n"))
print(copy.backend, copy.pid, flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[desktop.SwayWaybar]:
    desktop.require(desktop.SwayWaybar)
    with desktop.SwayWaybar(tmp_path_factory.mktemp("sway")) as running:
        yield running


_copies: list[SecretCopy] = []


@pytest.fixture
def wayland(session: desktop.SwayWaybar, monkeypatch: pytest.MonkeyPatch) -> Iterator[desktop.SwayWaybar]:
    """This process on sway only (no DISPLAY); every copy made here is cleared at the end."""
    desktop.apply_env(monkeypatch, session)
    monkeypatch.delenv("DISPLAY", raising=False)
    yield session
    for made in _copies:
        made.clear()
    _copies.clear()


def copy(text: str) -> WaylandCopy:
    made = copy_secret(text)
    assert isinstance(made, WaylandCopy)
    _copies.append(made)
    return made


def wl_pid(made: WaylandCopy) -> int:
    assert made.pid is not None
    return made.pid


def offered_types(session: desktop.SwayWaybar) -> list[str]:
    """``wl-paste --list-types``: the MIME types the clipboard's owner offers ([] when nobody does)."""
    result = subprocess.run(
        ["wl-paste", "--list-types"], env={"PATH": os.environ.get("PATH", os.defpath), **session.environment},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=desktop.TOOL_TIMEOUT, check=False,
    )  # fmt: skip
    return result.stdout.split("\n")[:-1] if result.returncode == 0 else []


def test_wl_paste_reads_the_token_as_text_with_no_secret_mark(wayland: desktop.SwayWaybar) -> None:
    made = copy(TOKEN)
    assert (made.backend, made.marks, made.holds()) == ("wayland", (), True)
    wait_for(lambda: wayland.clipboard() == TOKEN, "the token on the Wayland clipboard", detail=wayland.clipboard)
    assert set(offered_types(wayland)) == TEXT_TYPES  # said plainly: the hint is not among them


def test_wl_copy_2_1_cannot_offer_the_hint_beside_the_text(wayland: desktop.SwayWaybar) -> None:
    """One MIME type per wl-copy: --type twice keeps the last, and a second wl-copy replaces the first."""
    env = {"PATH": os.environ.get("PATH", os.defpath), **wayland.environment}
    both = ["wl-copy", "--foreground", "--type", "text/plain", "--type", HINT]
    first = subprocess.Popen(both, env=env, stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
    second: subprocess.Popen[bytes] | None = None
    try:
        assert first.stdin is not None
        first.stdin.write(b"secret")
        first.stdin.close()
        wait_for(
            lambda: offered_types(wayland) == [HINT], "wl-copy's one type", detail=lambda: str(offered_types(wayland))
        )
        hint_only = ["wl-copy", "--foreground", "--type", HINT]
        second = subprocess.Popen(hint_only, env=env, stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert second.stdin is not None
        second.stdin.write(b"secret")
        second.stdin.close()
        wait_for(lambda: first.poll() is not None, "the first wl-copy to be replaced, not joined")
        assert offered_types(wayland) == [HINT]
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=desktop.STOP_TIMEOUT)


def test_clear_empties_the_clipboard_and_ends_wl_copy(wayland: desktop.SwayWaybar) -> None:
    made = copy(TOKEN)
    wait_for(lambda: wayland.clipboard() == TOKEN, "the token on the Wayland clipboard")
    assert made.clear() is True
    assert not made.holds()
    assert not desktop.pid_alive(wl_pid(made))
    wait_for(lambda: wayland.clipboard() == "", "the compositor to drop our offer", detail=wayland.clipboard)
    assert made.clear() is True  # the first answer, again


def test_what_another_client_copies_later_is_never_cleared(wayland: desktop.SwayWaybar) -> None:
    made = copy(TOKEN)
    wait_for(lambda: wayland.clipboard() == TOKEN, "the token on the Wayland clipboard")
    wayland.copy("someone else's text")
    wait_for(lambda: not made.holds(), "our wl-copy to end when replaced")
    assert made.clear() is False
    assert wayland.clipboard() == "someone else's text"


def test_the_copy_outlives_the_thread_that_made_it(wayland: desktop.SwayWaybar) -> None:
    """PR_SET_PDEATHSIG fires when the *thread* that forked ends: the tray copies from worker threads."""
    made: list[WaylandCopy] = []
    native: list[int] = []

    def copy_and_end() -> None:
        native.append(threading.get_native_id())
        made.append(copy(TOKEN))

    worker = threading.Thread(target=copy_and_end, name="test-short-lived-copier")
    worker.start()
    worker.join(timeout=desktop.TOOL_TIMEOUT)
    wait_for(lambda: not Path(f"/proc/self/task/{native[0]}").exists(), "the copying thread to be gone from the kernel")
    assert desktop.pid_alive(wl_pid(made[0]))
    assert made[0].holds()
    assert wayland.clipboard() == TOKEN


def test_after_kill_9_of_the_process_that_copied_nothing_serves_the_token(wayland: desktop.SwayWaybar) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER_SCRIPT], cwd=ROOT, env=dict(os.environ),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert owner.stdin is not None and owner.stdout is not None
        owner.stdin.write(TOKEN + "\n")
        owner.stdin.flush()
        said = owner.stdout.readline().split()
        assert said[:1] == ["wayland"], owner.stderr.read() if owner.stderr else ""
        wl_copy = int(said[1])
        wait_for(lambda: wayland.clipboard() == TOKEN, "the token on the Wayland clipboard")
        owner.send_signal(signal.SIGKILL)
        assert owner.wait(timeout=desktop.STOP_TIMEOUT) == -signal.SIGKILL
        wait_for(lambda: not desktop.pid_alive(wl_copy), "the kernel to kill wl-copy with its parent")
        wait_for(lambda: wayland.clipboard() == "", "nothing on the clipboard", detail=wayland.clipboard)
        assert offered_types(wayland) == []
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(timeout=desktop.STOP_TIMEOUT)
        for stream in (owner.stdin, owner.stdout, owner.stderr):
            if stream is not None:
                stream.close()


def test_a_wl_copy_that_cannot_reach_the_compositor_is_a_clipboard_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """wl-copy fails within milliseconds; copy_secret says so in wl-copy's words (never the token's)."""
    desktop.require("wl-copy")
    monkeypatch.setenv("WAYLAND_DISPLAY", str(tmp_path / "no-compositor-here"))
    monkeypatch.delenv("DISPLAY", raising=False)
    with pytest.raises(ClipboardError, match="Failed to connect to a Wayland server") as caught:
        copy_secret(TOKEN)
    assert TOKEN not in str(caught.value)
