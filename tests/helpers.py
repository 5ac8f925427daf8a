"""Small test helpers shared by several test files."""

from __future__ import annotations

#: A fixed "now" for pure tests (2027-01-15 08:00 UTC): never the wall clock.
NOW = 1_800_000_000.0


class FakeClock:
    """A clock tests move by hand; ``wait`` jumps time forward instead of sleeping."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def wait(self, seconds: float) -> bool:
        """Like ``Event.wait`` that times out at once: time moves, nothing stops us."""
        self.waits.append(seconds)
        self.now += seconds
        return False
