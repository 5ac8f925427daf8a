"""``qwen-tray demo``: the real app against the simulated chat.qwen.ai, with time running an hour a second.

A person watches a whole cycle in about two minutes: a fresh 7-day token (green, "7" … "4"), the
refresh falling due at 3 days left, one refusal from a rate-limiting server (amber, a notification),
the retry after its Retry-After, and the refreshed token (green again). Only the base URL, the clock
and the profile differ from the real thing: the client, engine, refresher and tray are the same code.
The demo keeps its own keyring entry, state and log (profile ``qwen-tray-demo``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from tray_app.config import Settings
from tray_app.engine import TokenService
from tray_app.simulator import Behaviour, QwenSimulator

DEMO_BANNER = "DEMO · "
#: Clock seconds per real second: an hour a second, so a 7-day token lasts under three minutes.
TIME_SCALE = 3600.0
#: The simulated server turns the first refresh away for this long (12 demo hours: 12 real seconds at
#: the default scale).
DEMO_RETRY_AFTER = 12 * 3600


class ScaledClock:
    """Unix time that starts now and runs ``scale`` times as fast as the real clock."""

    def __init__(self, scale: float, real: Callable[[], float] = time.time) -> None:
        self.scale = scale
        self._real = real
        self._start = real()

    def __call__(self) -> float:
        return self._start + (self._real() - self._start) * self.scale


class Demo:
    """The simulated world: a server on loopback sharing the fast clock, and the story it plays."""

    story = (
        "watch the icon count the days down (an hour a second), turn amber when the refresh is due and the "
        "server asks to wait, then go green with a fresh token. Quit from the menu, or with Ctrl+C here."
    )

    def __init__(self, time_scale: float = TIME_SCALE) -> None:
        self.time_scale = time_scale
        self.clock = ScaledClock(time_scale)
        self.server = QwenSimulator(clock=self.clock)

    def __enter__(self) -> Demo:
        self.server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.stop()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def settings(self, user_settings: Settings) -> Settings:
        """The user's settings, pointed at the simulator and without their hook (it is not their token)."""
        return replace(user_settings, base_url=self.server.base_url, on_refresh=None)

    def seed(self, service: TokenService) -> None:
        """Store a fresh demo token through the real set-token path, then line up the server's one refusal."""
        account = self.server.add_account(email="demo@example.com", name="Demo")
        service.set_token(self.server.issue_token(account))
        self.server.queue(Behaviour("rate_limited", retry_after=str(DEMO_RETRY_AFTER)))
