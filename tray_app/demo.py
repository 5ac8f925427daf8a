"""``qwen-tray demo``: the real app against the simulated chat.qwen.ai, with time running an hour a second.

A person watches a whole cycle in a few minutes: a fresh 7-day token (green, "7" … "4"), the
refresh falling due at 3 days left, one refusal from a rate-limiting server (amber, a notification),
the retry after its Retry-After, and the refreshed token (green again); at the next refresh the server
rejects the token (grey, "!"), and recovery from the browser heals it from the demo's own simulated
browser profile (green, "recovered"). Only the base URL, the clock, the browser folder and the profile
differ from the real thing: the client, engine, refresher, browser reader and tray are the same code.
The demo keeps its own keyring entry, state and log (profile ``qwen-tray-demo``), and never reads the
person's real browsers.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tray_app.browsers.simulated import write_simulated_firefox
from tray_app.config import Settings
from tray_app.engine import TokenService
from tray_app.i18n import _
from tray_app.simulator import Behaviour, QwenSimulator

#: What leads the tray's title and menu header in the demo (English; :func:`demo_banner` translates).
DEMO_BANNER = "DEMO · "


def demo_banner() -> str:
    """:data:`DEMO_BANNER` in the user's language."""
    # TRANSLATORS: leads the tray's tooltip and menu header while the demo runs ("DEMO · alice@…").
    return _("DEMO · ")


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

    @property
    def story(self) -> str:
        """What the person is about to watch, in their language (printed when the demo starts)."""
        return _(
            "watch the icon count the days down (an hour a second), turn amber when the refresh is due and the "
            "server asks to wait, then go green with a fresh token; at the next refresh the server rejects it "
            "(grey), and recovery from the browser heals it from a simulated browser profile. Quit from the "
            "menu, or with Ctrl+C here."
        )

    def __init__(self, time_scale: float = TIME_SCALE) -> None:
        self.time_scale = time_scale
        self.clock = ScaledClock(time_scale)
        self.server = QwenSimulator(clock=self.clock)
        self.browser_home: Path | None = None

    def __enter__(self) -> Demo:
        self.browser_home = Path(tempfile.mkdtemp(prefix="qwen-tray-demo-browser-"))
        self.server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.stop()
        if self.browser_home is not None:
            shutil.rmtree(self.browser_home, ignore_errors=True)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def settings(self, user_settings: Settings) -> Settings:
        """The user's settings, pointed at the simulator and the simulated browser, without their hook (it is
        not their token), with recovery from the browser on."""
        return replace(
            user_settings,
            base_url=self.server.base_url,
            on_refresh=None,
            browser_home=str(self.browser_home),
            recover_from_browser=True,
        )

    def seed(self, service: TokenService) -> None:
        """Store a fresh demo token through the real set-token path, then line up the server's one refusal."""
        account = self.server.add_account(email="demo@example.com", name="Demo")
        service.set_token(self.server.issue_token(account))
        self.server.queue(Behaviour("rate_limited", retry_after=str(DEMO_RETRY_AFTER)))
        self.server.queue(Behaviour("ok"))
        self.server.queue(Behaviour("unauthorized"))  # the next refresh: the token is rejected
        # The person's browser, signed in later than any token the demo refreshes to.
        assert self.browser_home is not None  # noqa: S101 - seeded inside the context
        browser_token = self.server.issue_token(account, expires_at=int(self.clock() + 30 * 86400))
        write_simulated_firefox(self.browser_home, browser_token)
