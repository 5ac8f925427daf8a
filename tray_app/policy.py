"""When to refresh, how long to back off, what state the token is in: plain functions of plain values.

Nothing here reads a clock, sleeps, or touches the network; the refresher and the CLI pass ``now`` in.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tray_app.state import State
from tray_app.token import TokenFacts

DAY = 86400.0

#: With recovery from the browser on, the browsers are looked at no more often than this while the
#: token is dead or dying (reading profiles costs disk reads; a browser writes its token within a minute).
RECOVERY_INTERVAL = 5 * 60.0

#: The refresher looks at the wall clock at least this often, so a laptop waking from a week of sleep
#: notices at once. A look costs no network call unless a refresh is due.
CHECK_INTERVAL = 60.0


class TokenState(str, enum.Enum):
    """The token's state, listed in order of precedence."""

    UNKNOWN = "unknown"  # the store could not be read (no keyring, or one locked or not answering)
    MISSING = "missing"  # none stored
    INVALID = "invalid"  # the server said 401/403 for it
    EXPIRED = "expired"  # its exp has passed
    BLOCKED = "blocked"  # the last refresh was stopped by the site's firewall/captcha
    EXPIRING = "expiring"  # fewer than refresh_before_days left
    OK = "ok"

    @property
    def usable(self) -> bool:
        """The token still works for other tools (status exits 0)."""
        return self in (TokenState.OK, TokenState.EXPIRING, TokenState.BLOCKED)


def token_state(claims: TokenFacts | None, state: State, *, now: float, refresh_before_days: float) -> TokenState:
    if claims is None:
        return TokenState.MISSING
    if state.rejected_exp == claims.expires_at:
        return TokenState.INVALID
    if claims.expires_at <= now:
        return TokenState.EXPIRED
    if state.last_error is not None and state.last_error.kind == "blocked":
        return TokenState.BLOCKED
    if claims.expires_at - now < refresh_before_days * DAY:
        return TokenState.EXPIRING
    return TokenState.OK


def refresh_due_at(claims: TokenFacts | None, state: State, *, now: float, refresh_before_days: float) -> float | None:
    """When the next automatic refresh should run; None when only a new token from the browser helps."""
    kind = token_state(claims, state, now=now, refresh_before_days=refresh_before_days)
    if claims is None or kind in (TokenState.MISSING, TokenState.INVALID, TokenState.EXPIRED):
        return None
    due = claims.expires_at - refresh_before_days * DAY
    if state.retry_at is not None:
        due = max(due, state.retry_at)
    return due


@dataclass(frozen=True)
class Decision:
    """What the refresher should do now: refresh, or look again in ``wait`` seconds."""

    refresh: bool
    wait: float


def decide(claims: TokenFacts | None, state: State, *, now: float, refresh_before_days: float) -> Decision:
    due = refresh_due_at(claims, state, now=now, refresh_before_days=refresh_before_days)
    if due is not None and due <= now:
        return Decision(refresh=True, wait=0.0)
    until_due = CHECK_INTERVAL if due is None else due - now
    return Decision(refresh=False, wait=min(CHECK_INTERVAL, until_due))


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff for one kind of failure: ``base * 2**(n-1)`` capped, with jitter."""

    base: float
    cap: float


#: Network, server and odd answers clear up in minutes; rate limits take longer; a firewall block may
#: need a person to open the site in a browser, so retrying it every few seconds only makes it worse.
BACKOFF = {
    "network": Backoff(base=60, cap=3600),
    "server": Backoff(base=60, cap=3600),
    "bad_response": Backoff(base=300, cap=6 * 3600),
    "rate_limited": Backoff(base=300, cap=2 * 3600),
    "blocked": Backoff(base=2 * 3600, cap=12 * 3600),
}

#: A Retry-After beyond this is treated as this (a broken header must not silence us for a month).
MAX_RETRY_AFTER = DAY


def backoff_seconds(kind: str, failures: int, *, retry_after: float | None = None, jitter: float = 0.5) -> float:
    """Seconds to wait after the ``failures``-th consecutive failure of ``kind``.

    ``jitter`` in [0, 1) spreads retries of many machines apart: the delay is between half and all of
    the exponential step. A rate limit waits at least the server's Retry-After.
    """
    rule = BACKOFF.get(kind, BACKOFF["server"])
    step = min(rule.cap, rule.base * 2.0 ** max(0, failures - 1))
    delay = step * (0.5 + 0.5 * min(max(jitter, 0.0), 1.0))
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


#: Pauses between the attempts of one command-line refresh (three attempts within about ten seconds).
QUICK_RETRY_PAUSES = (1.0, 3.0)
#: A quick retry waits for a Retry-After up to this; a longer one ends the attempt.
QUICK_RETRY_AFTER_LIMIT = 6.0


def quick_retry_pause(kind: str, attempt: int, retry_after: float | None) -> float | None:
    """Pause before attempt ``attempt + 1`` of one refresh, or None to stop trying now."""
    if attempt > len(QUICK_RETRY_PAUSES) or kind not in ("network", "server", "rate_limited"):
        return None
    pause = QUICK_RETRY_PAUSES[attempt - 1]
    if retry_after is not None:
        if retry_after > QUICK_RETRY_AFTER_LIMIT:
            return None
        pause = max(pause, retry_after)
    return pause


def recovery_due(
    state: TokenState, claims: TokenFacts | None, record: State, *, now: float, last_look: float | None
) -> bool:
    """Whether to look in the browsers for a newer token of our account: ours is rejected or expired, or
    has under a day left while refreshing keeps failing; and the last look is long enough ago."""
    dead = state in (TokenState.INVALID, TokenState.EXPIRED)
    dying = (
        state in (TokenState.EXPIRING, TokenState.BLOCKED)
        and claims is not None
        and claims.expires_at - now < DAY
        and record.last_error is not None
    )
    return (dead or dying) and (last_look is None or now - last_look >= RECOVERY_INTERVAL)


_PRECEDENCE = {state: order for order, state in enumerate(TokenState)}


def urgency(state: TokenState, expires_at: float | None) -> tuple[int, float]:
    """A sort key putting the account that most needs a person first: the worst state (in the order
    :class:`TokenState` lists them), then the least time left."""
    return _PRECEDENCE[state], float("inf") if expires_at is None else expires_at


def next_start_at(
    now: float,
    *,
    last_start: float | None,
    in_flight: int,
    max_in_flight: int,
    per_second: float,
    paused_until: float | None,
) -> float | None:
    """The pacing slot of the next automatic refresh: ``1/per_second`` after the last slot, not before a
    server-wide pause (a 429) ends; None while ``max_in_flight`` are on the wire. It may start when its
    slot is not in the future; slots follow each other, not the moments refreshes actually started, so a
    refresher that looks a little late keeps the pace (it catches up at most one slot, never a burst)."""
    if in_flight >= max_in_flight:
        return None
    interval = 1.0 / per_second
    start = now if last_start is None else max(last_start + interval, now - interval)
    if paused_until is not None:
        start = max(start, paused_until)
    return start
