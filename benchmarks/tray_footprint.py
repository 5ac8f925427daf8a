"""The tray's footprint next to the least a tray icon can cost: a minimal pystray icon on its gtk backend.

Goals (issue 7), each a ratio to the minimal pystray gtk icon measured in the same run:
- SNI path (lxqt-panel, a StatusNotifierItem host that also has an XEmbed tray for the baseline):
  RSS <= 1.0 and time-to-icon <= 1.0.
- gtk path (trayer, XEmbed only): RSS <= 1.3 and time-to-icon <= 1.5.
Time-to-icon: from starting the process to the icon being in the tray (the item registered with the
watcher, or the XEmbed window mapped). RSS: VmRSS two seconds after that, by when the token has been read
from the keyring (gnome-keyring, found as on a desktop, where it is installed). Medians of N runs, each a new
process in the same desktop session (a warm font cache, as on a real desktop); the first run of each
program in a fresh session is printed too.

Run: .venv/bin/python benchmarks/tray_footprint.py [runs]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _args import positional

from tests import desktop

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6ImJlbmNoIiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2lnbmF0dXJlLWJlbmNobWFyaw"
MINIMAL_ICON = """
import pystray
from PIL import Image
image = Image.new("RGBA", (64, 64), (0, 160, 0, 255))
pystray.Icon("minimal", image, "minimal", pystray.Menu(pystray.MenuItem("Quit", lambda icon: icon.stop()))).run()
"""
SETTLE = 2.0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def measure(argv: list[str], env: dict[str, str], shown: Callable[[int], bool]) -> tuple[float, int]:
    """(seconds to icon, RSS in KiB) of one run of ``argv``."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not shown(proc.pid):
            if proc.poll() is not None:
                raise RuntimeError(f"{argv} exited with {proc.returncode}: {proc.stderr.read().decode()[-800:]}")  # type: ignore[union-attr]
            if time.perf_counter() - start > 30:
                raise RuntimeError(f"{argv}: no icon within 30 s")
            time.sleep(0.005)
        seconds = time.perf_counter() - start
        time.sleep(SETTLE)
        return seconds, rss_kib(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def xembed_shown(display_name: str) -> Callable[[int], bool]:
    """A mapped window of ``pid`` (pystray's gtk icon sets _NET_WM_PID), looked for on one X connection
    kept open for every look: polling must not load the machine it measures."""
    import Xlib.display
    import Xlib.error
    import Xlib.X

    display = Xlib.display.Display(display_name)
    pid_atom = display.intern_atom("_NET_WM_PID")

    def windows(window: Any) -> Iterator[Any]:
        try:
            children = window.query_tree().children
        except Xlib.error.XError:
            return  # a window that went away while we looked
        for child in children:
            yield child
            yield from windows(child)

    def shown(pid: int) -> bool:
        for window in windows(display.screen().root):
            try:
                owner = window.get_full_property(pid_atom, Xlib.X.AnyPropertyType)
                if owner is None or owner.value[0] != pid:
                    continue
                if window.get_attributes().map_state == Xlib.X.IsViewable:
                    return True
            except Xlib.error.XError:
                continue  # a window that went away while we looked
        return False

    return shown


def sni_shown(bus: desktop.SessionBus) -> Callable[[int], bool]:
    """Our item among the watcher's, asked on one D-Bus connection kept open for every look."""
    from jeepney import DBusAddress, Properties

    connection = bus.connect()
    watcher = DBusAddress(desktop.WATCHER_PATH, bus_name=desktop.WATCHER_NAME, interface=desktop.WATCHER_NAME)

    def shown(pid: int) -> bool:
        reply = connection.send_and_get_reply(Properties(watcher).get("RegisteredStatusNotifierItems"), timeout=5)
        (_signature, items), = reply.body
        return any(f"-{pid}-" in item for item in items)

    return shown


def runs_of(argv: list[str], env: dict[str, str], shown: Callable[[int], bool], runs: int) -> tuple[float, float, str]:
    results = [measure(argv, env, shown) for _ in range(runs + 1)]
    first = results[0]
    warm = results[1:]
    seconds = statistics.median(s for s, _ in warm)
    rss = statistics.median(r for _, r in warm)
    return seconds, rss, f"first run {first[0]:.3f} s, {first[1] / 1024:.1f} MiB"


def main() -> int:
    runs = positional(__doc__, 1, 5, int)
    qwen_tray = shutil.which("qwen-tray", path=str(Path(sys.executable).parent))
    if qwen_tray is None:
        print("qwen-tray is not installed next to this Python; run `pip install -e .` first.")
        return 1
    missing = desktop.LxqtPanel.missing() + desktop.Trayer.missing() + desktop.Xvfb.missing()
    if missing:
        print("missing: " + ", ".join(missing))
        return 1
    minimal = [sys.executable, "-c", MINIMAL_ICON]
    app = [qwen_tray, "tray"]
    table = []
    for host_class, path in ((desktop.LxqtPanel, "sni"), (desktop.Trayer, "gtk")):
        with ExitStack() as stack:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qwen-bench-")))
            screen = stack.enter_context(desktop.Xvfb(workdir=workdir))
            bus = stack.enter_context(desktop.SessionBus(workdir))
            host = stack.enter_context(
                host_class(bus, screen, workdir) if host_class is desktop.LxqtPanel else host_class(screen, workdir)
            )
            env = desktop.env_for(bus, screen, host)
            env["TMPDIR"] = str(workdir)
            if desktop.GnomeKeyring.missing():  # a real desktop keyring where there is one, as people have
                env["PYTHON_KEYRING_BACKEND"] = "keyrings.alt.file.PlaintextKeyring"
            else:
                stack.enter_context(desktop.GnomeKeyring(bus, workdir))
                env.pop("PYTHON_KEYRING_BACKEND", None)
            subprocess.run([qwen_tray, "set-token", "--no-verify"], input=TOKEN.encode(), env=env, check=True,
                           capture_output=True)  # fmt: skip
            app_shown = sni_shown(bus) if path == "sni" else xembed_shown(screen.display)
            base_seconds, base_rss, base_first = runs_of(minimal, {**env, "PYSTRAY_BACKEND": "gtk"},
                                                         xembed_shown(screen.display), runs)  # fmt: skip
            seconds, rss, first = runs_of(app, env, app_shown, runs)
            table.append((path, host_class.__name__, base_seconds, base_rss, base_first, seconds, rss, first))
    goals = {"sni": (1.0, 1.0), "gtk": (1.3, 1.5)}
    for path, host_name, base_seconds, base_rss, base_first, seconds, rss, first in table:
        rss_goal, time_goal = goals[path]
        print(f"{path} path on {host_name} (medians of {runs} warm runs):")
        print(f"  minimal pystray gtk icon: {base_seconds:.3f} s to icon, {base_rss / 1024:.1f} MiB ({base_first})")
        print(f"  qwen-tray:                {seconds:.3f} s to icon, {rss / 1024:.1f} MiB ({first})")
        print(f"  RSS ratio {rss / base_rss:.2f} (goal <= {rss_goal}), "
              f"time-to-icon ratio {seconds / base_seconds:.2f} (goal <= {time_goal})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
