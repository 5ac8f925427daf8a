"""Importing the token from a browser, and recovering by itself: the decisions as pure tables, then the
engine and the refresher against the loopback chat.qwen.ai with a browser profile written on disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import NOW, FakeClock, make_service
from tray_app.browsers import parse_browser_choice
from tray_app.browsers.simulated import write_simulated_firefox
from tray_app.config import Settings
from tray_app.engine import EngineEvent, TokenService, at_least_as_fresh, choose_candidate
from tray_app.errors import BrowserError, InvalidTokenError
from tray_app.paths import AppPaths
from tray_app.policy import DAY, RECOVERY_INTERVAL, TokenState, recovery_due
from tray_app.refresher import Refresher
from tray_app.simulator import QwenSimulator
from tray_app.state import LastError, State
from tray_app.token import TokenClaims


def claims(user: str, days: float, token: str | None = None) -> TokenClaims:
    return TokenClaims(token or f"{user}-{days}", int(NOW + days * DAY), user)


@dataclass
class Found:
    """A browser candidate as the readers return it (the fields choose_candidate looks at)."""

    label: str
    claims: TokenClaims | None


def test_the_freshest_token_of_the_account_we_hold_wins() -> None:
    found = [Found("Chrome / Default", claims("bob", 6)), Found("Firefox / a", claims("alice", 2)),
             Found("Firefox / b", claims("alice", 5))]  # fmt: skip
    assert choose_candidate(found, claims("alice", 1), now=NOW).label == "Firefox / b"


def test_with_nothing_held_one_account_is_taken_and_several_must_be_chosen() -> None:
    one = [Found("Firefox / a", claims("alice", 2)), Found("Chrome / x", claims("alice", 4))]
    assert choose_candidate(one, None, now=NOW).label == "Chrome / x"
    several = [Found("Firefox / a", claims("alice", 2)), Found("Chrome / x", claims("bob-1234567", 4))]
    with pytest.raises(BrowserError, match=r"2 accounts.*Chrome / x.*Firefox / a.*BROWSER:PROFILE"):
        choose_candidate(several, None, now=NOW)
    with pytest.raises(BrowserError, match="2 accounts"):
        choose_candidate(several, claims("carol", 3), now=NOW)


def test_expired_and_undecodable_candidates_are_passed_over() -> None:
    with pytest.raises(BrowserError, match=r"sign in at chat.qwen.ai in your browser; if you just did, close"):
        choose_candidate([Found("Firefox / a", claims("alice", -1)), Found("Chrome / b", None)], None, now=NOW)


@pytest.mark.parametrize(
    ("candidate", "held", "state", "allowed"),
    [
        (claims("alice", 5), None, None, True),
        (claims("alice", 5), claims("bob", 6), TokenState.OK, True),  # another account: like a paste
        (claims("alice", 5), claims("alice", 6), TokenState.OK, False),  # an older token from a stale profile
        (claims("alice", 6), claims("alice", 5), TokenState.OK, True),
        (claims("alice", 5, "same"), claims("alice", 5, "same"), TokenState.OK, False),  # already stored
        (claims("alice", 4), claims("alice", 5), TokenState.INVALID, True),  # ours is dead: any other may work
        (claims("alice", 4), claims("alice", -1), TokenState.EXPIRED, True),
    ],
    ids=["nothing-held", "other-account", "older", "newer", "same-token", "ours-rejected", "ours-expired"],
)
def test_what_an_import_may_replace(
    candidate: TokenClaims, held: TokenClaims | None, state: TokenState | None, allowed: bool
) -> None:
    assert at_least_as_fresh(candidate, held, state) is allowed


FAILED = State(last_error=LastError("network", "down", NOW))


@pytest.mark.parametrize(
    ("state", "days_left", "record", "last_look", "due"),
    [
        (TokenState.INVALID, 3, State(), None, True),
        (TokenState.EXPIRED, -1, State(), None, True),
        (TokenState.EXPIRING, 0.5, FAILED, None, True),
        (TokenState.EXPIRING, 0.5, State(), None, False),  # not failing: the refresh will see to it
        (TokenState.EXPIRING, 2, FAILED, None, False),  # more than a day left
        (TokenState.OK, 5, State(), None, False),
        (TokenState.INVALID, 3, State(), NOW - 60, False),  # looked a minute ago
        (TokenState.INVALID, 3, State(), NOW - RECOVERY_INTERVAL, True),
    ],
    ids=["rejected", "expired", "dying-and-failing", "dying-not-failing", "not-dying", "ok", "just-looked", "again"],
)
def test_when_to_look_in_the_browsers(
    state: TokenState, days_left: float, record: State, last_look: float | None, due: bool
) -> None:
    assert recovery_due(state, claims("alice", days_left), record, now=NOW, last_look=last_look) is due


# -- the engine and the refresher, for real ----------------------------------------------------------------


@pytest.fixture
def browser_home(tmp_path: Path) -> Path:
    return tmp_path / "browser-home"


@pytest.fixture
def service(server: QwenSimulator, clock: FakeClock, app_paths: AppPaths, browser_home: Path) -> TokenService:
    return make_service(server, clock, app_paths, browser_home=str(browser_home), recover_from_browser=True)


def test_import_checks_and_stores_the_browser_token(
    service: TokenService, server: QwenSimulator, clock: FakeClock, browser_home: Path
) -> None:
    account = server.add_account(email="alice@example.com")
    token = server.issue_token(account, expires_at=int(clock.now + 6 * DAY))
    write_simulated_firefox(browser_home, token)
    events: list[EngineEvent] = []
    service.subscribe(events.append)
    outcome = service.import_from_browser()
    assert outcome.stored
    assert outcome.source == "Firefox / demo"
    assert service.token() == token
    assert service.status().record.email == "alice@example.com", "checked with chat.qwen.ai"
    assert [(event.kind, event.source) for event in events] == [("imported", "Firefox / demo")]


def test_an_older_browser_token_never_replaces_a_good_one(
    service: TokenService, server: QwenSimulator, clock: FakeClock, browser_home: Path
) -> None:
    account = server.add_account()
    newer = server.issue_token(account, expires_at=int(clock.now + 6 * DAY))
    service.set_token(newer)
    write_simulated_firefox(browser_home, server.issue_token(account, expires_at=int(clock.now + 4 * DAY)))
    asked = len(server.requests)
    outcome = service.import_from_browser()
    assert not outcome.stored
    assert service.token() == newer
    assert len(server.requests) == asked, "no network call for a token that would not be stored"


def test_nothing_in_the_browsers_says_what_to_do(service: TokenService, browser_home: Path) -> None:
    browser_home.mkdir()
    with pytest.raises(BrowserError, match=r"No chat.qwen.ai token was found in the browsers.*close the browser"):
        service.import_from_browser()


def test_a_rejected_token_heals_itself_from_the_browser_once_per_interval(
    service: TokenService, server: QwenSimulator, clock: FakeClock, browser_home: Path
) -> None:
    account = server.add_account(email="alice@example.com")
    old = server.issue_token(account, expires_at=int(clock.now + 2 * DAY))
    service.set_token(old)
    server.queue("unauthorized")
    with pytest.raises(InvalidTokenError):
        service.refresh(force=True)
    assert service.status().state is TokenState.INVALID
    refresher = Refresher(service)
    events: list[EngineEvent] = []
    service.subscribe(events.append)

    refresher.step()  # dead, recovery on, no browser token: one look, no network call
    asked = len(server.requests)
    fresh = server.issue_token(account, expires_at=int(clock.now + 7 * DAY))
    write_simulated_firefox(browser_home, fresh)
    clock.advance(60)
    refresher.step()  # a minute later: too soon to look again
    assert service.token() == old
    assert len(server.requests) == asked
    clock.advance(RECOVERY_INTERVAL)
    refresher.step()
    assert service.token() == fresh
    assert service.status().state is TokenState.OK
    assert [event.source for event in events if event.kind == "recovered"] == ["Firefox / demo"]


def test_recovery_is_off_by_default() -> None:
    assert Settings().recover_from_browser is False


def test_the_same_dead_token_in_the_browser_says_sign_in_again(
    service: TokenService, server: QwenSimulator, clock: FakeClock, browser_home: Path
) -> None:
    account = server.add_account()
    dead = server.issue_token(account, expires_at=int(clock.now + 2 * DAY))
    service.set_token(dead)
    server.queue("unauthorized")
    with pytest.raises(InvalidTokenError):
        service.refresh(force=True)
    write_simulated_firefox(browser_home, dead)
    with pytest.raises(BrowserError, match=r"holds the same token, which no longer works: sign in at chat.qwen.ai"):
        service.import_from_browser()
    assert service.token() == dead


def two_firefox_profiles(home: Path, tokens: dict[str, str]) -> None:
    """One Firefox with a profile per name, each signed in with its token."""
    folders = [write_simulated_firefox(home, token, profile=name) for name, token in tokens.items()]
    (home / ".mozilla" / "firefox" / "profiles.ini").write_text(
        "".join(
            f"[Profile{n}]\nName={name}\nIsRelative=1\nPath={folder.name}\n\n"
            for n, (name, folder) in enumerate(zip(tokens, folders, strict=True))
        )
        + "[General]\nStartWithLastProfile=1\nVersion=2\n"
    )


def test_with_several_accounts_an_import_adds_an_account_or_takes_the_named_ones_token(
    service: TokenService, server: QwenSimulator, clock: FakeClock, browser_home: Path
) -> None:
    alice, bob, carol = (server.add_account(email=f"{name}@example.com") for name in ("alice", "bob", "carol"))
    alices = server.issue_token(alice, expires_at=int(clock.now + 6 * DAY))
    service.set_token(alices)
    service.set_token(server.issue_token(bob, expires_at=int(clock.now + 3 * DAY)))
    newer_bob = server.issue_token(bob, expires_at=int(clock.now + 6.5 * DAY))
    carols = server.issue_token(carol, expires_at=int(clock.now + 6 * DAY))
    two_firefox_profiles(browser_home, {"bob": newer_bob, "carol": carols})

    outcome = service.import_from_browser(account="bob@")
    assert (outcome.stored, outcome.source) == (True, "Firefox / bob")
    assert (service.token("bob@"), service.token()) == (newer_bob, alices), "bob's replaced, alice's untouched"

    with pytest.raises(BrowserError, match=r"2 accounts.*BROWSER:PROFILE"):
        service.import_from_browser()  # neither is the default account's: a person must choose
    with pytest.raises(BrowserError, match=r"No browser holds a token of alice@example\.com"):
        service.import_from_browser(account="alice")

    added = service.import_from_browser(parse_browser_choice("firefox:carol"))
    assert added.stored and added.status.account_id == carol.user_id
    book = service.book()
    assert (book.ids, book.default) == ((alice.user_id, bob.user_id, carol.user_id), alice.user_id)
    assert service.token("carol") == carols


def test_recovery_heals_the_rejected_account_and_leaves_the_others_alone(
    service: TokenService, server: QwenSimulator, clock: FakeClock, browser_home: Path
) -> None:
    alice, bob = server.add_account(email="alice@example.com"), server.add_account(email="bob@example.com")
    alices = server.issue_token(alice, expires_at=int(clock.now + 6 * DAY))
    service.set_token(alices)
    service.set_token(server.issue_token(bob, expires_at=int(clock.now + 2 * DAY)))
    server.queue("unauthorized")
    with pytest.raises(InvalidTokenError):
        service.refresh("bob", force=True)
    fresh = server.issue_token(bob, expires_at=int(clock.now + 7 * DAY))
    two_firefox_profiles(browser_home, {"bob": fresh, "alice": server.issue_token(alice, expires_at=int(clock.now))})

    Refresher(service).step()

    assert service.token("bob") == fresh
    assert service.token("alice") == alices, "alice's is good: nothing to recover"
    assert [s.state for s in service.statuses()] == [TokenState.OK, TokenState.OK]
