"""What the tray shows, without a display: the title, the menu built from state, the notification policy."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from tests.helpers import NOW, FakeClock, make_service
from tray_app.config import Settings
from tray_app.demo import DEMO_BANNER
from tray_app.engine import EngineEvent, Status, most_urgent
from tray_app.errors import BlockedError, InvalidTokenError, NetworkError, QwenTrayError, RefreshError
from tray_app.paths import AppPaths
from tray_app.policy import DAY, TokenState
from tray_app.simulator import Behaviour, QwenSimulator
from tray_app.state import LastError, State
from tray_app.timefmt import format_duration, format_local
from tray_app.token import TokenClaims
from tray_app.view import (
    TOOLTIP_ACCOUNTS,
    MenuEntry,
    NoticePolicy,
    RemovalGuard,
    fit_title,
    menu_entries,
    menu_header,
    retry_header,
    tray_title,
)

ALICE = State(email="alice@example.com", name="Alice")


def status(state: TokenState, days_left: float | None = 4.2, record: State = ALICE) -> Status:
    claims = None if days_left is None else TokenClaims("t", int(NOW + days_left * DAY), "u-1234567890")
    due = None if claims is None else claims.expires_at - 3 * DAY
    return Status(state=state, claims=claims, record=record, now=NOW, due_at=due)


def enabled_actions(entries: tuple[MenuEntry, ...]) -> list[str]:
    return [entry.action for entry in entries if entry.action and entry.enabled]


@pytest.mark.parametrize(
    ("state", "days_left", "expected"),
    [
        (TokenState.OK, 4.2, ["alice@example.com", "4 d 4 h left", "until"]),
        (TokenState.EXPIRING, 0.5, ["alice@example.com", "12 h 0 min left"]),
        (TokenState.BLOCKED, 2, ["2 d 0 h left", "open chat.qwen.ai in a browser"]),
        (TokenState.INVALID, 3, ["rejected", "paste a new token"]),
        (TokenState.EXPIRED, -1, ["expired", "paste a new token"]),
        (TokenState.MISSING, None, ["none stored", "Paste new token"]),
    ],
)
def test_the_title_says_who_how_long_or_what_to_do(
    state: TokenState, days_left: float | None, expected: list[str]
) -> None:
    title = tray_title(status(state, days_left))
    assert title.startswith("Qwen token · ")
    for words in expected:
        assert words in title


def test_the_title_falls_back_to_the_account_id_without_an_email() -> None:
    assert "account u-123456" in tray_title(status(TokenState.OK, record=State()))


def test_the_menu_for_a_good_token() -> None:
    entries = menu_entries(status(TokenState.OK), Settings())
    header = entries[0]
    assert (header.enabled, header.action) == (False, None)
    assert "alice@example.com" in header.label
    assert enabled_actions(entries) == [
        "copy",
        "paste",
        "import",
        "refresh",
        "open_site",
        "how_to",
        "toggle_notify",
        "toggle_clear_clipboard",
        "toggle_recover",
        "toggle_autostart",
        "open_logs",
        "quit",
    ]
    defaults = [entry.action for entry in entries if entry.default]
    assert defaults == ["copy"]  # what a left click does where the tray has a default action
    assert entries[-1].action == "quit"


def test_the_demo_banner_leads_the_menu_header() -> None:
    """Trays without tooltips (AppIndicator) show only the menu: the DEMO mark must be in it."""
    header = menu_entries(status(TokenState.OK), Settings(), banner=DEMO_BANNER)[0]
    assert header.label.startswith("DEMO · alice@example.com: 4 d 4 h left")
    assert (header.enabled, header.action) == (False, None)
    assert not menu_entries(status(TokenState.OK), Settings())[0].label.startswith("DEMO")


@pytest.mark.parametrize(
    ("behaviour", "headline"),
    [
        (Behaviour("rate_limited", retry_after="43200"), "Refresh postponed (rate limited)"),
        (Behaviour("server_error", status=502), "Last refresh failed (server)"),
        (Behaviour("captcha_html"), "Refresh blocked by the site's firewall"),
    ],
    ids=["rate-limited", "server", "blocked"],
)
def test_after_a_failed_refresh_the_menu_says_when_it_retries(
    server: QwenSimulator, clock: FakeClock, app_paths: AppPaths, behaviour: Behaviour, headline: str
) -> None:
    service = make_service(server, clock, app_paths)
    account = server.add_account(email="alice@example.com")
    service.set_token(server.issue_token(account, expires_at=int(clock.now + 2 * DAY)), verify=False)
    assert retry_header(service.status()) is None  # amber, due, not tried yet: no retry to speak of
    server.queue(*[behaviour] * 3)
    with pytest.raises(RefreshError):
        service.refresh()
    after = service.status()
    assert after.due_at is not None
    wait = format_duration(after.due_at - clock.now)
    entries = menu_entries(after, Settings())
    assert entries[0].label == menu_header(after)  # the account and time left, as always
    assert (entries[1].label, entries[1].enabled, entries[1].action) == (
        f"{headline}: retry at {format_local(after.due_at)} (in {wait})",
        False,
        None,
    )
    assert entries[2].is_separator
    if behaviour.name == "rate_limited":
        assert wait == "12 h 0 min"
    clock.advance(after.due_at - clock.now)
    assert retry_header(service.status()) == f"{headline}: retrying now"


@pytest.mark.parametrize(
    ("state", "days_left", "copy", "refresh"),
    [
        (TokenState.MISSING, None, False, False),
        (TokenState.INVALID, 3, True, False),
        (TokenState.EXPIRED, -1, True, False),
        (TokenState.BLOCKED, 2, True, True),
        (TokenState.EXPIRING, 1, True, True),
    ],
)
def test_copy_and_refresh_are_offered_only_when_they_can_work(
    state: TokenState, days_left: float | None, copy: bool, refresh: bool
) -> None:
    actions = enabled_actions(menu_entries(status(state, days_left), Settings()))
    assert ("copy" in actions) is copy
    assert ("refresh" in actions) is refresh
    assert "paste" in actions  # always: it is how a dead token is replaced


def test_the_toggles_show_the_settings() -> None:
    on = {e.action: e for e in menu_entries(status(TokenState.OK), Settings())}
    off = {
        e.action: e
        for e in menu_entries(status(TokenState.OK), Settings(notify_after_refresh=False, clear_clipboard_after=0))
    }
    assert (on["toggle_notify"].checked, off["toggle_notify"].checked) == (True, False)
    assert (on["toggle_clear_clipboard"].checked, off["toggle_clear_clipboard"].checked) == (True, False)
    assert "30 s" in on["toggle_clear_clipboard"].label
    assert on["toggle_autostart"].checked is False
    at_login = {e.action: e for e in menu_entries(status(TokenState.OK), Settings(), start_at_login=True)}
    assert at_login["toggle_autostart"].checked is True


# -- notifications -------------------------------------------------------------------------------------


def event(
    kind: str, state: TokenState = TokenState.OK, error: QwenTrayError | None = None, **kw: object
) -> EngineEvent:
    return EngineEvent(kind, status(state, **kw), error)  # type: ignore[arg-type]


def test_good_news_is_notified_unless_switched_off() -> None:
    policy = NoticePolicy()
    refreshed = policy.notice_for(event("refreshed"), now=NOW, notify_after_refresh=True)
    assert refreshed is not None
    assert "refreshed" in refreshed.title
    assert "alice@example.com" in refreshed.body
    assert policy.notice_for(event("refreshed"), now=NOW + 1, notify_after_refresh=True) is not None
    assert policy.notice_for(event("refreshed"), now=NOW + 2, notify_after_refresh=False) is None
    accepted = policy.notice_for(event("token_set"), now=NOW, notify_after_refresh=False)
    assert accepted is not None
    assert "accepted" in accepted.title


def test_a_rejected_token_is_urgent_and_says_how_to_paste_a_new_one() -> None:
    notice = NoticePolicy().notice_for(
        event("refresh_failed", TokenState.INVALID, InvalidTokenError("chat.qwen.ai rejected the token (HTTP 401).")),
        now=NOW,
        notify_after_refresh=True,
    )
    assert notice is not None
    assert notice.urgent
    assert "copy(localStorage.getItem('token'))" in notice.body
    assert "HTTP 401" in notice.body


@pytest.mark.parametrize(
    ("behaviours", "title", "wait"),
    [
        ([Behaviour("rate_limited", retry_after="43200")], "Qwen token refresh postponed", "12 h 0 min"),
        (["drop"] * 3, "Qwen token refresh failed", "45 s"),  # the first backoff: half-jittered 1 min
    ],
    ids=["rate-limited", "network"],
)
def test_a_refresh_failure_notice_says_when_it_retries_in_words(
    server: QwenSimulator,
    clock: FakeClock,
    app_paths: AppPaths,
    behaviours: list[str | Behaviour],
    title: str,
    wait: str,
) -> None:
    """From the engine's real event: a wait the server asked for is not "failed", and no raw seconds."""
    service = make_service(server, clock, app_paths)
    events: list[EngineEvent] = []
    service.subscribe(events.append)
    account = server.add_account(email="alice@example.com")
    service.set_token(server.issue_token(account, expires_at=int(clock.now + 2 * DAY + 23.5 * 3600)), verify=False)
    server.queue(*behaviours)
    with pytest.raises(RefreshError):
        service.refresh()
    notice = NoticePolicy().notice_for(events[-1], now=clock.now, notify_after_refresh=True)
    assert notice is not None
    assert notice.title == title
    retry_at = service.status().due_at
    assert retry_at is not None
    assert f" Will retry at {format_local(retry_at)} (in {wait}). The token has 2 d 23 h left." in notice.body
    assert notice.body.lower().count("retry") == 1, notice.body  # not the client's "will retry" as well
    assert not re.search(r"\d{3,} s\b", notice.body), notice.body


def test_the_same_trouble_is_not_repeated_within_the_quiet_period() -> None:
    policy = NoticePolicy(quiet_period=6 * 3600)
    failure = event("refresh_failed", TokenState.EXPIRING, NetworkError("Cannot reach chat.qwen.ai."), days_left=2)
    assert policy.notice_for(failure, now=NOW, notify_after_refresh=True) is not None
    assert policy.notice_for(failure, now=NOW + 60, notify_after_refresh=True) is None
    assert policy.notice_for(failure, now=NOW + 5 * 3600, notify_after_refresh=True) is None
    # Another kind of trouble is news.
    blocked = event("refresh_failed", TokenState.BLOCKED, BlockedError("captcha"), days_left=2)
    assert policy.notice_for(blocked, now=NOW + 61, notify_after_refresh=True) is not None
    # After the quiet period the same trouble is told again.
    assert policy.notice_for(failure, now=NOW + 6 * 3600 + 1, notify_after_refresh=True) is not None


def test_a_success_ends_the_quiet_period() -> None:
    policy = NoticePolicy()
    failure = event("refresh_failed", TokenState.EXPIRING, NetworkError("down"), days_left=2)
    assert policy.notice_for(failure, now=NOW, notify_after_refresh=True) is not None
    policy.notice_for(event("refreshed"), now=NOW + 10, notify_after_refresh=False)
    assert policy.notice_for(failure, now=NOW + 20, notify_after_refresh=True) is not None


def test_expiry_is_notified_once_through_either_path() -> None:
    policy = NoticePolicy()
    expired = policy.notice_for(
        event("state_changed", TokenState.EXPIRED, days_left=-0.01), now=NOW, notify_after_refresh=True
    )
    assert expired is not None
    assert expired.urgent
    rejected = event("refresh_failed", TokenState.INVALID, InvalidTokenError("401"), days_left=-0.01)
    assert policy.notice_for(rejected, now=NOW + 5, notify_after_refresh=True) is None  # same news: dead token


def test_a_token_about_to_expire_without_a_refresh_warns_before_expiry() -> None:
    policy = NoticePolicy()
    stuck = State(email="a@b.c", last_error=LastError("blocked", "captcha", NOW - 60))
    warning = policy.notice_for(
        event("checked", TokenState.BLOCKED, days_left=0.4, record=stuck), now=NOW, notify_after_refresh=True
    )
    assert warning is not None
    assert "expires soon" in warning.title
    assert "blocked" in warning.body
    fine = event("checked", TokenState.OK, days_left=5)
    assert policy.notice_for(fine, now=NOW, notify_after_refresh=True) is None
    healthy_but_close = event("checked", TokenState.EXPIRING, days_left=0.4)  # no failure yet: it will refresh
    assert policy.notice_for(healthy_but_close, now=NOW, notify_after_refresh=True) is None


def test_no_notice_ever_contains_the_token() -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6ImEiLCJleHAiOjE4MDAwMDAwMDB9.c2lnbmF0dXJlLWFhYWFh"
    record = State(email="a@b.c", last_error=LastError("network", "x", NOW))
    claims = TokenClaims(token, int(NOW + 0.5 * DAY), "a")
    for kind, state in [("refreshed", TokenState.OK), ("token_set", TokenState.OK), ("checked", TokenState.EXPIRING)]:
        notice = NoticePolicy().notice_for(
            EngineEvent(kind, Status(state, claims, record, NOW, None)), now=NOW, notify_after_refresh=True
        )
        assert notice is not None
        assert token not in notice.title + notice.body


def test_a_keyring_in_trouble_says_why_and_offers_retry() -> None:
    trouble = Status(TokenState.UNKNOWN, None, ALICE, NOW, None, problem="The keyring is locked: unlock it.")
    assert tray_title(trouble) == "Qwen token · cannot read the token · The keyring is locked: unlock it."
    assert menu_header(trouble) == "Cannot read the token from the keyring"
    entries = menu_entries(trouble, Settings())
    assert enabled_actions(entries)[:3] == ["paste", "import", "retry"], "Copy is disabled: nothing can be read"
    assert next(entry.action for entry in entries if entry.action) == "copy", "Copy token stays first"
    assert entries[-1].action == "quit"
    assert "retry" not in enabled_actions(menu_entries(status(TokenState.OK), Settings()))
    notice = NoticePolicy().notice_for(EngineEvent("state_changed", trouble), now=NOW, notify_after_refresh=True)
    assert notice is not None and notice.urgent
    assert "The keyring is locked" in notice.body and "Retry" in notice.body


# -- several accounts ------------------------------------------------------------------------------------

BOB = State(email="bob@example.com")


def account(state: TokenState, days_left: float, record: State, account_id: str, *, is_default: bool = False) -> Status:
    base = status(state, days_left, record)
    return replace(base, account_id=account_id, is_default=is_default)


def two_accounts() -> tuple[Status, Status]:
    alice = account(TokenState.OK, 6, ALICE, "alice-id", is_default=True)
    bob = account(TokenState.EXPIRING, 0.8, BOB, "bob-id")
    return alice, bob


def test_one_account_looks_exactly_as_before() -> None:
    alone = account(TokenState.OK, 4.2, ALICE, "alice-id", is_default=True)
    assert menu_entries(alone, Settings(), statuses=(alone,)) == menu_entries(alone, Settings())
    assert tray_title(alone, (alone,)) == tray_title(alone)
    assert all(not entry.children for entry in menu_entries(alone, Settings(), statuses=(alone,)))


def test_the_title_names_the_most_urgent_then_every_account() -> None:
    alice, bob = two_accounts()
    urgent = most_urgent((alice, bob))
    assert urgent is bob
    lines = tray_title(bob, (alice, bob)).split("\n")
    assert lines[0].startswith("Qwen token · bob@example.com · 19 h 12 min left")
    assert lines[0].endswith("the most urgent of 2 accounts")
    assert lines[1:] == ["alice@example.com (default): 6 d 0 h left", "bob@example.com: 19 h 12 min left"]


def test_a_long_list_of_accounts_keeps_the_tooltip_short() -> None:
    many = tuple(account(TokenState.OK, 5, State(email=f"u{i}@x.org"), f"id-{i}", is_default=i == 0) for i in range(12))
    lines = tray_title(many[0], many).split("\n")
    assert len(lines) == 1 + TOOLTIP_ACCOUNTS + 1
    assert lines[-1] == "… and 4 more (see the menu)"


def test_with_several_accounts_the_top_acts_on_the_default_and_each_has_a_submenu() -> None:
    alice, bob = two_accounts()
    entries = menu_entries(bob, Settings(), statuses=(alice, bob))
    assert entries[0].label.startswith("alice@example.com (default): 6 d 0 h left")
    top = [(e.label, e.action, e.account) for e in entries[2:6]]
    assert top == [
        ("Copy token", "copy", None),
        ("Paste new token", "paste", None),
        ("Import from browser", "import", None),
        ("Refresh now", "refresh", None),
    ], "the order a keyboard user (and the tests) know, acting on the default"
    assert next(e.action for e in entries if e.action and e.enabled) == "copy"
    assert [e.action for e in entries if e.default] == ["copy"]
    assert entries[-1].action == "quit"
    submenus = [e for e in entries if e.children]
    assert [e.label for e in submenus] == [
        "alice@example.com (default): 6 d 0 h left",
        "bob@example.com: 19 h 12 min left",
    ]
    assert entries.index(submenus[0]) == 7 and entries[6].is_separator, "after Refresh now, a section of its own"
    assert entries[9].is_separator and entries[10].action == "open_site"
    for submenu, who in zip(submenus, ("alice-id", "bob-id"), strict=True):
        assert [(c.label, c.action, c.account) for c in submenu.children] == [
            ("Copy token", "copy", who),
            ("Refresh now", "refresh", who),
            ("Make default", "use", who),
            ("Remove", "remove", who),
        ]
        assert not any(c.default for c in submenu.children), "a left click copies the default's token only"
    make_default = {s.children[2].account: s.children[2] for s in submenus}
    assert (make_default["alice-id"].enabled, make_default["alice-id"].checked) == (False, True)
    assert (make_default["bob-id"].enabled, make_default["bob-id"].checked) == (True, False)


def test_an_armed_remove_says_the_next_click_removes() -> None:
    alice, bob = two_accounts()
    entries = menu_entries(bob, Settings(), statuses=(alice, bob), armed=frozenset({"bob-id"}))
    removes = {e.children[3].account: e.children[3].label for e in entries if e.children}
    assert removes == {"alice-id": "Remove", "bob-id": "Remove: click again to confirm"}


def test_a_dead_account_offers_no_copy_or_refresh_in_its_submenu() -> None:
    alice = account(TokenState.OK, 6, ALICE, "alice-id", is_default=True)
    dead = account(TokenState.INVALID, 3, BOB, "bob-id")
    entries = menu_entries(dead, Settings(), statuses=(alice, dead))
    bob = next(e for e in entries if e.children and e.label.startswith("bob"))
    assert bob.label == "bob@example.com: rejected"
    assert [c.action for c in bob.children if c.enabled] == ["copy", "use", "remove"]
    assert tray_title(dead, (alice, dead)).startswith("Qwen token · bob@example.com · rejected by chat.qwen.ai")


def test_remove_needs_a_second_click_within_the_window() -> None:
    guard = RemovalGuard(window=30)
    assert guard.click("bob", 100.0) is False
    assert guard.armed(110.0) == frozenset({"bob"})
    assert guard.next_expiry(110.0) == 20
    assert guard.click("alice", 111.0) is False, "arming another account does not remove either"
    assert guard.click("bob", 125.0) is True
    assert guard.armed(126.0) == frozenset({"alice"})
    assert guard.click("alice", 142.0) is False, "too late: armed again, not removed"
    assert guard.armed(200.0) == frozenset()
    assert guard.next_expiry(200.0) is None


def test_trouble_is_named_and_kept_quiet_per_account() -> None:
    policy = NoticePolicy()
    alice, bob = two_accounts()
    down = NetworkError("Cannot reach chat.qwen.ai.")
    first = policy.notice_for(
        EngineEvent("refresh_failed", alice, down), now=NOW, notify_after_refresh=True, name_account=True
    )
    assert first is not None and first.body.startswith("alice@example.com: Cannot reach")
    other = policy.notice_for(
        EngineEvent("refresh_failed", bob, down), now=NOW + 1, notify_after_refresh=True, name_account=True
    )
    assert other is not None and other.body.startswith("bob@example.com: "), "another account's trouble is news"
    assert policy.notice_for(EngineEvent("refresh_failed", bob, down), now=NOW + 2, notify_after_refresh=True) is None
    policy.notice_for(EngineEvent("refreshed", alice), now=NOW + 3, notify_after_refresh=False)
    assert policy.notice_for(EngineEvent("refresh_failed", alice, down), now=NOW + 4, notify_after_refresh=True)
    assert policy.notice_for(EngineEvent("refresh_failed", bob, down), now=NOW + 5, notify_after_refresh=True) is None


def test_a_long_title_is_cut_at_whole_lines_for_windows() -> None:
    alice, bob = two_accounts()
    title = tray_title(bob, (alice, bob))
    assert len(title) > 127
    fitted = fit_title(title, 127)
    assert fitted == title.split("\n")[0]
    assert fit_title("x" * 200, 127) == "x" * 126 + "…"
    assert fit_title("short", 127) == "short"
