"""What many accounts cost one `qwen-tray daemon` (issue 10): 1,000 accounts on the file store, against
the loopback simulator (each refresh answered after a simulated round trip).

(a) idle with fresh tokens: goal <= 5 clock ticks of CPU per 20 s, and no request;
(b) all due at once: every one refreshed, none lost, never more in flight than the bound, and wall time
    (first request to last answer) within 1.2x of what the pacing allows;
(c) resident memory (VmRSS) with 1,000 accounts within 1.2x of that with one, both idle.
The accounts are written with the project's own store and book functions (tests/test_accounts_scale.py);
the daemon is the installed command. Linux only (reads /proc).
Run: .venv/bin/python benchmarks/accounts_scale.py [accounts] [idle seconds]
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _args import positional

from tests.test_accounts_scale import QWEN_TRAY, Daemon, Profile, expiry_of
from tray_app.simulator import QwenSimulator, TokenRejected

DAY = 86400
#: Start-up (imports, the first look at every account) is not idling.
SETTLE_SECONDS = 5.0
#: (b)'s settings: a bound and a pace that make 1,000 refreshes take about a minute.
IN_FLIGHT = 8
PER_SECOND = 20.0
#: The simulated round trip of one refresh; 8 in flight at 0.3 s allow ~27 a second, so the pace binds.
ROUND_TRIP = 0.3


def verdict(ok: bool) -> str:
    return "ok" if ok else "NOT MET"


def idle(daemons: dict[str, Daemon], seconds: float) -> dict[str, tuple[int, int]]:
    """CPU ticks over ``seconds`` after settling, and VmRSS (KiB) at the end, of each daemon at once."""
    time.sleep(SETTLE_SECONDS)
    before = {name: daemon.cpu_ticks() for name, daemon in daemons.items()}
    time.sleep(seconds)
    return {name: (daemon.cpu_ticks() - before[name], daemon.memory_kib()) for name, daemon in daemons.items()}


def stored_tokens(profile: Profile, server: QwenSimulator, seeded_exp: int) -> tuple[int, int, int]:
    """From `qwen-tray token --all`: (accounts with a token the server accepts, of which refreshed,
    tokens printed)."""
    run = profile.cli("token", "--all")
    tokens = run.stdout.split() if run.returncode == 0 else []
    accepted: dict[str, int] = {}
    for token in tokens:
        try:
            accepted[server.verify_token(token).user_id] = expiry_of(token)
        except TokenRejected:
            continue
    return len(accepted), sum(exp > seeded_exp for exp in accepted.values()), len(tokens)


@dataclass
class Due:
    """What (b) saw."""

    allowed: float
    wall: float = 0.0
    requests: int = 0
    refreshed: int = 0
    accepted: int = 0
    fresh: int = 0
    printed: int = 0
    max_in_flight: int = 0
    busy_ticks: int = 0
    peak_kib: int = 0
    code: int | None = None


def all_due(server: QwenSimulator, many: Profile, count: int, seeded_exp: int) -> Due:
    """(b): refresh_before_days 3 makes every account (two days left) due at once."""
    many.configure(refresh_before_days=3, in_flight=IN_FLIGHT, per_second=PER_SECOND)
    server.refresh_delay = ROUND_TRIP
    server.reset_max_in_flight()
    earlier = len(server.requests)
    due = Due(allowed=max((count - 1) / PER_SECOND, (math.ceil(count / IN_FLIGHT) - 1) * ROUND_TRIP) + ROUND_TRIP)
    deadline = time.monotonic() + max(6 * due.allowed, 60.0)
    with Daemon(many, "due") as daemon:
        while len(set(server.refreshed)) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        due.busy_ticks = daemon.cpu_ticks()
        due.peak_kib = daemon.memory_kib("VmHWM")
        due.code = daemon.stop()
    requests = server.requests[earlier:]
    due.requests = len(requests)
    if requests and server.answers:
        due.wall = server.answers[-1].time - requests[0].time
    due.refreshed = len(set(server.refreshed))
    due.max_in_flight = server.max_in_flight
    due.accepted, due.fresh, due.printed = stored_tokens(many, server, seeded_exp)
    return due


def main() -> int:
    count = positional(__doc__, 1, 1000, int)
    seconds = positional(__doc__, 2, 20.0, float)
    if not QWEN_TRAY.exists():
        print("qwen-tray is not installed next to this Python; run `pip install -e .` first.")
        return 1
    with tempfile.TemporaryDirectory(prefix="qwen-bench-") as workdir, QwenSimulator() as server:
        many = Profile(Path(workdir) / "many", server.base_url)
        one = Profile(Path(workdir) / "one", server.base_url)
        seeded_exp = int(time.time() + 2 * DAY)
        started = time.perf_counter()
        many.seed(server, count, expires_at=seeded_exp)
        one.seed(server, 1, expires_at=seeded_exp)
        print(f"seeded {count} accounts on the file store in {time.perf_counter() - started:.1f} s")
        # (a) and (c): two days left and refresh_before_days 1: nothing is due.
        for profile in (many, one):
            profile.configure(refresh_before_days=1, in_flight=IN_FLIGHT, per_second=PER_SECOND)
        with Daemon(many, "idle-many") as daemon_many, Daemon(one, "idle-one") as daemon_one:
            figures = idle({"many": daemon_many, "one": daemon_one}, seconds)
            daemon_many.stop()
            daemon_one.stop()
        idle_requests = len(server.requests)
        due = all_due(server, many, count, seeded_exp)
    report(count, seconds, figures, idle_requests, due)
    return 0


def report(count: int, seconds: float, figures: dict[str, tuple[int, int]], idle_requests: int, due: Due) -> None:
    hz = os.sysconf("SC_CLK_TCK")
    goal_ticks = 5 * seconds / 20.0
    (ticks, rss_many), (ticks_one, rss_one) = figures["many"], figures["one"]
    idle_ok = ticks <= goal_ticks and not idle_requests
    print(f"(a) idle daemon, {count} accounts with fresh tokens, over {seconds:g} s:")
    print(f"    {ticks} clock ticks (1/{hz} s each; goal <= {goal_ticks:g}); with one account: {ticks_one}")
    print(f"    requests to the server: {idle_requests} (goal 0)")
    print(f"    ratio to goal: {ticks / goal_ticks:.2f} (goal <= 1): {verdict(idle_ok)}")
    print(f"(b) {count} accounts due at once; max_refreshes_in_flight {IN_FLIGHT}, max_refreshes_per_second")
    print(f"    {PER_SECOND:g}, each refresh answered after {ROUND_TRIP:g} s:")
    print(f"    refreshed at the server: {due.refreshed} of {count} accounts, in {due.requests} requests")
    print(
        f"    stored afterwards (`token --all`): {due.printed} tokens, {due.accepted} accepted, {due.fresh} refreshed"
    )
    lost = count - due.fresh
    print(f"    lost: {lost} (goal 0): {verdict(lost == 0 and due.accepted == count)}")
    bound_ok = due.max_in_flight <= IN_FLIGHT
    print(f"    most in flight at once: {due.max_in_flight} (bound {IN_FLIGHT}): {verdict(bound_ok)}")
    print(f"    wall time, first request to last answer: {due.wall:.1f} s; the pacing allows {due.allowed:.1f} s")
    pace_ok = due.wall <= 1.2 * due.allowed and due.refreshed == count
    print(f"    ratio: {due.wall / due.allowed:.2f} (goal <= 1.2): {verdict(pace_ok)}")
    print(f"    daemon CPU meanwhile: {due.busy_ticks / hz:.1f} s; peak VmHWM {due.peak_kib / 1024:.1f} MiB")
    print(f"    daemon exit code after SIGTERM: {due.code}")
    print(f"(c) VmRSS idle: {rss_many / 1024:.1f} MiB with {count} accounts, {rss_one / 1024:.1f} MiB with one")
    print(f"    ratio: {rss_many / rss_one:.2f} (goal <= 1.2): {verdict(rss_many <= 1.2 * rss_one)}")


if __name__ == "__main__":
    sys.exit(main())
