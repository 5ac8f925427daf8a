"""How much `qwen-tray token` costs next to the least a script could do: import keyring and read it.

Goal: ratio <= 1.5. Both read the same real Secret Service (gnome-keyring on a private D-Bus, started
here) or, where gnome-keyring is not installed, keyrings.alt's file backend.
Run: .venv/bin/python benchmarks/token_latency.py [runs]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _args import positional

from tests import desktop

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6ImJlbmNoIiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2lnbmF0dXJlLWJlbmNobWFyaw"
BARE_KEYRING = "import keyring; keyring.get_password('qwen-tray', 'token')"


def median_seconds(argv: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    runs = positional(__doc__, 1, 15, int)
    qwen_tray = shutil.which("qwen-tray", path=str(Path(sys.executable).parent))
    if qwen_tray is None:
        print("qwen-tray is not installed next to this Python; run `pip install -e .` first.")
        return 1
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="qwen-bench-")))
        env = dict(os.environ)
        if not desktop.GnomeKeyring.missing():
            bus = stack.enter_context(desktop.SessionBus(workdir))
            stack.enter_context(desktop.GnomeKeyring(bus, workdir))
            env = desktop.env_for(bus, base=env)
            env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.SecretService.Keyring"
            backend = "gnome-keyring (Secret Service)"
        else:
            env.update(XDG_DATA_HOME=str(workdir), PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring")
            backend = "keyrings.alt plain file"
        env.update(XDG_CONFIG_HOME=str(workdir / "config"), XDG_STATE_HOME=str(workdir / "state"))
        subprocess.run(
            [qwen_tray, "set-token", "--no-verify"],
            input=TOKEN.encode(),
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        median_seconds([qwen_tray, "token"], env, 2)  # warm the page cache for both
        median_seconds([sys.executable, "-c", BARE_KEYRING], env, 2)
        ours = median_seconds([qwen_tray, "token"], env, runs)
        bare = median_seconds([sys.executable, "-c", BARE_KEYRING], env, runs)
    print(f"backend: {backend}; median of {runs} runs each")
    print(f"qwen-tray token:              {ours * 1000:7.1f} ms")
    print(f"python -c 'keyring.get_...':  {bare * 1000:7.1f} ms")
    print(f"ratio: {ours / bare:.2f} (goal <= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
