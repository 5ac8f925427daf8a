"""The pure decisions: state precedence, when to refresh, how long to back off."""

from __future__ import annotations

import itertools

import pytest

from tests.helpers import NOW
from tray_app.policy import (
    BACKOFF,
    CHECK_INTERVAL,
    DAY,
    MAX_RETRY_AFTER,
    TokenState,
    backoff_seconds,
    decide,
    next_start_at,
    quick_retry_pause,
    refresh_due_at,
    token_state,
    urgency,
)
from tray_app.state import LastError, State
from tray_app.token import TokenClaims


def claims(days_left: float) -> TokenClaims:
    return TokenClaims(token="t", expires_at=int(NOW + days_left * DAY), user_id="u1")


def blocked() -> State:
    return State(last_error=LastError("blocked", "captcha", NOW - 10))


@pytest.mark.parametrize(
    ("token", "record", "expected"),
    [
        (None, State(), TokenState.MISSING),
        (None, blocked(), TokenState.MISSING),
        (claims(5), State(rejected_exp=claims(5).expires_at), TokenState.INVALID),
        (claims(-1), State(rejected_exp=claims(-1).expires_at), TokenState.INVALID),
        (claims(-1), State(), TokenState.EXPIRED),
        (claims(0), State(), TokenState.EXPIRED),
        (claims(-1), blocked(), TokenState.EXPIRED),
        (claims(1), blocked(), TokenState.BLOCKED),
        (claims(6), blocked(), TokenState.BLOCKED),
        (claims(2.99), State(), TokenState.EXPIRING),
        (claims(3.01), State(), TokenState.OK),
        # The rejection belongs to one token: a new token (other exp) is not invalid.
        (claims(6), State(rejected_exp=claims(5).expires_at), TokenState.OK),
        # A failure other than blocked does not change the state.
        (claims(6), State(last_error=LastError("network", "x", NOW)), TokenState.OK),
    ],
    ids=[
        "missing",
        "missing-beats-blocked",
        "invalid",
        "invalid-beats-expired",
        "expired",
        "expired-at-exactly-now",
        "expired-beats-blocked",
        "blocked-beats-expiring",
        "blocked-beats-ok",
        "expiring",
        "ok",
        "rejection-is-per-token",
        "network-error-is-still-ok",
    ],
)
def test_token_state_precedence(token: TokenClaims | None, record: State, expected: TokenState) -> None:
    assert token_state(token, record, now=NOW, refresh_before_days=3) is expected


def test_usable_states_are_ok_expiring_blocked() -> None:
    assert {state for state in TokenState if state.usable} == {
        TokenState.OK,
        TokenState.EXPIRING,
        TokenState.BLOCKED,
    }


def test_refresh_is_due_refresh_before_days_ahead_of_expiry() -> None:
    token = claims(6)
    assert refresh_due_at(token, State(), now=NOW, refresh_before_days=3) == token.expires_at - 3 * DAY
    assert refresh_due_at(token, State(), now=NOW, refresh_before_days=1) == token.expires_at - DAY


@pytest.mark.parametrize("days", [-1, 0])
def test_nothing_is_due_for_an_expired_token(days: float) -> None:
    assert refresh_due_at(claims(days), State(), now=NOW, refresh_before_days=3) is None


def test_nothing_is_due_for_a_rejected_or_missing_token() -> None:
    token = claims(1)
    assert refresh_due_at(token, State(rejected_exp=token.expires_at), now=NOW, refresh_before_days=3) is None
    assert refresh_due_at(None, State(), now=NOW, refresh_before_days=3) is None


def test_backoff_delays_a_due_refresh() -> None:
    token = claims(1)
    record = State(retry_at=NOW + 600, failures=1)
    assert refresh_due_at(token, record, now=NOW, refresh_before_days=3) == NOW + 600
    assert decide(token, record, now=NOW, refresh_before_days=3).refresh is False
    assert decide(token, record, now=NOW + 600, refresh_before_days=3).refresh is True


def test_decide_refreshes_when_due_and_otherwise_looks_again_within_a_minute() -> None:
    assert decide(claims(2), State(), now=NOW, refresh_before_days=3).refresh is True
    later = decide(claims(6), State(), now=NOW, refresh_before_days=3)
    assert later.refresh is False
    assert later.wait == CHECK_INTERVAL


def test_decide_wakes_exactly_when_the_refresh_becomes_due() -> None:
    token = claims(3 + 10 / DAY)  # due in 10 seconds
    decision = decide(token, State(), now=NOW, refresh_before_days=3)
    assert decision.refresh is False
    assert decision.wait == pytest.approx(10, abs=1)


def test_decide_keeps_watching_a_dead_token_without_refreshing() -> None:
    decision = decide(claims(-1), State(), now=NOW, refresh_before_days=3)
    assert decision == decide(None, State(), now=NOW, refresh_before_days=3)
    assert decision.refresh is False
    assert decision.wait == CHECK_INTERVAL


@pytest.mark.parametrize("kind", sorted(BACKOFF))
def test_backoff_grows_exponentially_up_to_its_cap(kind: str) -> None:
    rule = BACKOFF[kind]
    delays = [backoff_seconds(kind, n, jitter=1.0) for n in range(1, 30)]
    assert delays[0] == rule.base
    assert delays[1] == 2 * rule.base
    assert all(a <= b for a, b in itertools.pairwise(delays))
    assert delays[-1] == rule.cap


@pytest.mark.parametrize("jitter", [0.0, 0.3, 0.999])
def test_jitter_keeps_at_least_half_the_step(jitter: float) -> None:
    delay = backoff_seconds("network", 3, jitter=jitter)
    assert 0.5 * 240 <= delay <= 240


def test_blocked_backs_off_for_hours_not_seconds() -> None:
    assert backoff_seconds("blocked", 1, jitter=0.0) >= 3600


def test_rate_limit_waits_at_least_retry_after() -> None:
    assert backoff_seconds("rate_limited", 1, retry_after=5000, jitter=0.0) == 5000
    assert backoff_seconds("rate_limited", 1, retry_after=1, jitter=1.0) == BACKOFF["rate_limited"].base
    assert backoff_seconds("rate_limited", 1, retry_after=10**9, jitter=0.0) == MAX_RETRY_AFTER


@pytest.mark.parametrize(
    ("kind", "attempt", "retry_after", "expected"),
    [
        ("network", 1, None, 1.0),
        ("network", 2, None, 3.0),
        ("network", 3, None, None),  # three attempts in all
        ("server", 1, None, 1.0),
        ("rate_limited", 1, 4.0, 4.0),
        ("rate_limited", 1, 60.0, None),  # too long to wait at a prompt
        ("invalid", 1, None, None),
        ("blocked", 1, None, None),
        ("bad_response", 1, None, None),
    ],
)
def test_quick_retries(kind: str, attempt: int, retry_after: float | None, expected: float | None) -> None:
    assert quick_retry_pause(kind, attempt, retry_after) == expected
    total = sum(p for p in (quick_retry_pause("network", n, None) for n in (1, 2)) if p)
    assert total <= 10


# -- pacing several accounts ---------------------------------------------------------------------------


def pace(now: float, last: float | None, *, in_flight: int = 0, paused: float | None = None) -> float | None:
    return next_start_at(
        now, last_start=last, in_flight=in_flight, max_in_flight=4, per_second=2.0, paused_until=paused
    )


def test_refreshes_start_half_a_second_apart_at_two_a_second() -> None:
    assert pace(NOW, None) == NOW
    assert pace(NOW, NOW) == NOW + 0.5, "the next slot, in the future: wait for it"
    assert pace(NOW + 0.5, NOW) == NOW + 0.5


def test_a_late_look_keeps_the_pace_but_never_bursts() -> None:
    assert pace(NOW + 0.6, NOW) == NOW + 0.5, "a tenth late: the slot stands, so lateness does not add up"
    assert pace(NOW + 10, NOW) == NOW + 9.5, "ten seconds late: one slot caught up, not twenty"
    assert pace(NOW + 10, NOW + 9.5) == NOW + 10.0
    assert pace(NOW + 10, NOW + 10.0) == NOW + 10.5


def test_a_full_wire_or_a_rate_limit_holds_every_start() -> None:
    assert pace(NOW, None, in_flight=4) is None
    assert pace(NOW, None, in_flight=3) == NOW
    assert pace(NOW, NOW - 5, paused=NOW + 600) == NOW + 600


def test_the_most_urgent_account_is_the_worst_state_then_the_least_time_left() -> None:
    keys = {
        "rejected": urgency(TokenState.INVALID, NOW + 5 * DAY),
        "expired": urgency(TokenState.EXPIRED, NOW - DAY),
        "expiring soon": urgency(TokenState.EXPIRING, NOW + 0.5 * DAY),
        "expiring later": urgency(TokenState.EXPIRING, NOW + 2 * DAY),
        "ok": urgency(TokenState.OK, NOW + 6 * DAY),
        "ok, expiry unknown": urgency(TokenState.OK, None),
    }
    assert sorted(keys, key=keys.__getitem__) == list(keys)
