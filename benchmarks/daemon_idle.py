"""What an idle `qwen-tray daemon` costs: CPU clock ticks over 20 s with a 6-day token, and requests.

Goal: <= 5 ticks (of 1/100 s) and no request. Runs the installed command against the loopback
simulator with keyrings.alt's file backend in a throwaway profile (Linux: reads /proc).
Run: .venv/bin/python benchmarks/daemon_idle.py [seconds]
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _args import positional

from tray_app.simulator import QwenSimulator

SETTLE_SECONDS = 3.0


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def main() -> int:
    seconds = positional(__doc__, 1, 20.0, float)
    qwen_tray = shutil.which("qwen-tray", path=str(Path(sys.executable).parent))
    if qwen_tray is None:
        print("qwen-tray is not installed next to this Python; run `pip install -e .` first.")
        return 1
    with tempfile.TemporaryDirectory(prefix="qwen-bench-") as workdir, QwenSimulator() as server:
        env = dict(os.environ)
        for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
            env[name] = str(Path(workdir) / name.lower())
        env.update(PYTHON_KEYRING_BACKEND="keyrings.alt.file.PlaintextKeyring", QWEN_TRAY_BASE_URL=server.base_url)
        token = server.issue_token(server.add_account(), expires_at=int(time.time() + 6 * 86400))
        subprocess.run([qwen_tray, "set-token", "--no-verify"], input=token.encode(), env=env, check=True)
        daemon = subprocess.Popen([qwen_tray, "daemon"], env=env, stderr=subprocess.DEVNULL)
        try:
            time.sleep(SETTLE_SECONDS)  # start-up (imports, first keyring read) is not idling
            before = cpu_ticks(daemon.pid)
            time.sleep(seconds)
            idle = cpu_ticks(daemon.pid) - before
        finally:
            daemon.send_signal(signal.SIGTERM)
            code = daemon.wait(10)
    hz = os.sysconf("SC_CLK_TCK")
    print(f"idle daemon over {seconds:g} s: {idle} clock ticks (1/{hz} s each; goal <= 5)")
    print(f"requests to the server: {len(server.requests)} (goal 0)")
    print(f"ratio to goal: {idle / 5:.2f}; daemon exit code after SIGTERM: {code}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
