"""The engine against the loopback chat.qwen.ai and a real keyring backend, on a fake clock."""

from __future__ import annotations

import re

import pytest

from tests.helpers import FakeClock, make_service
from tray_app.engine import EngineEvent, TokenService
from tray_app.errors import (
    BadResponseError,
    BlockedError,
    ExpiredTokenError,
    InvalidTokenError,
    NetworkError,
    NoTokenError,
    RateLimitedError,
    RefreshError,
    ServerError,
    StorageError,
    TokenFormatError,
)
from tray_app.paths import AppPaths
from tray_app.policy import DAY, TokenState
from tray_app.simulator import Account, Behaviour, QwenSimulator
from tray_app.store import FileStore, current_slot, previous_slot, replace_token
from tray_app.timefmt import format_duration, format_utc


@pytest.fixture
def account(server: QwenSimulator) -> Account:
    return server.add_account(email="alice@example.com", name="Alice")


@pytest.fixture
def events() -> list[EngineEvent]:
    return []


@pytest.fixture
def service(server: QwenSimulator, clock: FakeClock, app_paths: AppPaths, events: list[EngineEvent]) -> TokenService:
    engine = make_service(server, clock, app_paths)
    engine.subscribe(events.append)
    return engine


def stored(service: TokenService, account: Account, *, previous: bool = False) -> str | None:
    """The account's current (or previous) token in the store."""
    slot = previous_slot(account.user_id) if previous else current_slot(account.user_id)
    return service.store.get(slot)


def token_with_days(server: QwenSimulator, account: Account, clock: FakeClock, days: float) -> str:
    return server.issue_token(account, expires_at=int(clock.now + days * DAY))


# -- set-token ----------------------------------------------------------------------------------------


def test_set_token_checks_with_the_server_and_stores_the_token_as_pasted(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock, events: list[EngineEvent]
) -> None:
    token = token_with_days(server, account, clock, 5)
    status = service.set_token(f"  Bearer {token}\n")
    assert stored(service, account) == token  # not the new one the server handed back
    assert len(server.requests) == 1
    assert server.requests[0].bearer_token == token
    assert status.state is TokenState.OK
    assert (status.record.email, status.record.name) == ("alice@example.com", "Alice")
    assert status.claims is not None
    assert status.claims.user_id == account.user_id
    assert [event.kind for event in events] == ["token_set"]


def test_set_token_without_verify_makes_no_request(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    token = token_with_days(server, account, clock, 5)
    service.set_token(token, verify=False)
    assert stored(service, account) == token
    assert server.requests == []


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        ("unauthorized", InvalidTokenError),
        ("captcha_html", BlockedError),
        ("drop", NetworkError),
    ],
)
def test_a_refused_paste_changes_nothing(
    service: TokenService,
    server: QwenSimulator,
    account: Account,
    clock: FakeClock,
    behaviour: str,
    error: type[Exception],
) -> None:
    kept = token_with_days(server, account, clock, 5)
    service.set_token(kept)
    before = service.state_file.path.read_bytes()
    server.queue(*[behaviour] * 3)
    with pytest.raises(error):
        service.set_token(token_with_days(server, account, clock, 6))
    with pytest.raises(TokenFormatError):
        service.set_token("this is not a token")
    assert stored(service, account) == kept
    assert service.state_file.path.read_bytes() == before


#: Words that promise an automatic retry: nothing retries a paste, and what retries a refresh is said
#: by whoever knows (the tray's notification, the CLI's line, the log).
RETRY_PROMISE = re.compile(r"will retry|before retrying", re.IGNORECASE)


@pytest.mark.parametrize(
    ("behaviours", "error", "what_to_do"),
    [
        (["drop"] * 3, NetworkError, "try again when online"),
        (["server_error"] * 3, ServerError, "try again later"),
        ([Behaviour("rate_limited", retry_after="43200")], RateLimitedError, "try again in 12 h 0 min"),
        (["captcha_html"], BlockedError, "open chat.qwen.ai in a browser, then try again"),
    ],
    ids=["network", "server", "rate-limited", "blocked"],
)
def test_a_paste_that_cannot_be_checked_says_nothing_was_stored_and_what_to_do(
    service: TokenService,
    server: QwenSimulator,
    account: Account,
    clock: FakeClock,
    events: list[EngineEvent],
    behaviours: list[str | Behaviour],
    error: type[RefreshError],
    what_to_do: str,
) -> None:
    server.queue(*behaviours)
    with pytest.raises(error) as caught:
        service.set_token(token_with_days(server, account, clock, 6))
    message = str(caught.value)
    assert message.startswith("Could not check the token with chat.qwen.ai: "), message
    assert f"Nothing was stored; {what_to_do}, or store it unchecked with `qwen-tray set-token --no-verify`." in message
    assert not RETRY_PROMISE.search(message), message
    assert "still good" not in message  # the client's words for a stored token, not for a paste
    assert "43200" not in message
    assert "\n" not in message
    assert isinstance(caught.value.__cause__, error)  # the client's own error, kept as the cause
    assert stored(service, account) is None
    assert not service.state_file.path.exists()
    assert events == []
    assert not server.pending


def test_a_paste_the_server_rejects_says_nothing_was_stored(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    server.queue("unauthorized")
    with pytest.raises(InvalidTokenError) as caught:
        service.set_token(token_with_days(server, account, clock, 6))
    message = str(caught.value)
    assert "rejected the token (HTTP 401)" in message
    assert message.endswith(" Nothing was stored.")
    assert "--no-verify" not in message  # storing a rejected token unchecked would not help


def test_an_expired_paste_is_refused_without_a_request(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    with pytest.raises(TokenFormatError, match="expired"):
        service.set_token(token_with_days(server, account, clock, -1))
    assert server.requests == []
    assert stored(service, account) is None


def test_a_new_paste_clears_invalid_and_keeps_the_old_token_as_previous(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    old = token_with_days(server, account, clock, 1)
    service.set_token(old)
    server.queue("unauthorized")
    with pytest.raises(InvalidTokenError):
        service.refresh()
    assert service.status().state is TokenState.INVALID
    new = token_with_days(server, account, clock, 6)
    assert service.set_token(new).state is TokenState.OK
    assert (stored(service, account), stored(service, account, previous=True)) == (new, old)


# -- refresh ------------------------------------------------------------------------------------------


def test_refresh_when_not_due_makes_no_request(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    token = token_with_days(server, account, clock, 6)
    service.set_token(token, verify=False)
    outcome = service.refresh()
    assert outcome.refreshed is False
    assert outcome.status.due_at == pytest.approx(clock.now + 3 * DAY, abs=1)
    assert server.requests == []
    assert stored(service, account) == token


def test_refresh_when_due_replaces_the_token_and_keeps_the_previous(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock, events: list[EngineEvent]
) -> None:
    old = token_with_days(server, account, clock, 2)
    service.set_token(old, verify=False)
    clock.advance(3600)
    outcome = service.refresh()
    assert outcome.refreshed is True
    new = stored(service, account)
    assert new not in (None, old)
    assert stored(service, account, previous=True) == old
    assert server.verify_token(new).user_id == account.user_id  # type: ignore[arg-type]
    status = service.status()
    assert status.state is TokenState.OK
    assert status.days_left == pytest.approx(7, abs=0.01)
    assert status.record.last_refresh == clock.now
    assert status.record.email == "alice@example.com"
    assert [event.kind for event in events] == ["token_set", "refreshed"]


def test_forced_refresh_asks_even_when_not_due(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    service.set_token(token_with_days(server, account, clock, 6), verify=False)
    assert service.refresh(force=True).refreshed is True
    assert len(server.requests) == 1


def test_refresh_of_nothing_says_so(service: TokenService) -> None:
    with pytest.raises(NoTokenError, match="set-token"):
        service.refresh(force=True)


def test_expired_and_invalid_tokens_are_not_sent_unless_forced(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    service.set_token(token_with_days(server, account, clock, 1), verify=False)
    clock.advance(2 * DAY)
    with pytest.raises(ExpiredTokenError):
        service.refresh()
    assert server.requests == []
    with pytest.raises(InvalidTokenError):  # the server refuses the expired token when forced
        service.refresh(force=True)
    assert len(server.requests) == 1
    assert service.status().state is TokenState.INVALID


@pytest.mark.parametrize(
    ("behaviour", "error", "kind", "state"),
    [
        (Behaviour("unauthorized"), InvalidTokenError, "invalid", TokenState.INVALID),
        (Behaviour("forbidden"), InvalidTokenError, "invalid", TokenState.INVALID),
        (Behaviour("success_false"), InvalidTokenError, "invalid", TokenState.INVALID),
        (Behaviour("captcha_html"), BlockedError, "blocked", TokenState.BLOCKED),
        (Behaviour("waf_json"), BlockedError, "blocked", TokenState.BLOCKED),
        (Behaviour("rate_limited", retry_after="3600"), RateLimitedError, "rate_limited", TokenState.EXPIRING),
        (Behaviour("redirect"), BadResponseError, "bad_response", TokenState.EXPIRING),
        (Behaviour("not_json"), BadResponseError, "bad_response", TokenState.EXPIRING),
        (Behaviour("no_token"), BadResponseError, "bad_response", TokenState.EXPIRING),
        (Behaviour("token_not_jwt"), BadResponseError, "bad_response", TokenState.EXPIRING),
        (Behaviour("expired_token"), BadResponseError, "bad_response", TokenState.EXPIRING),
        (Behaviour("other_account"), BadResponseError, "bad_response", TokenState.EXPIRING),
        (Behaviour("earlier_expiry"), BadResponseError, "bad_response", TokenState.EXPIRING),
    ],
    ids=lambda value: value.name if isinstance(value, Behaviour) else None,
)
def test_a_failed_refresh_keeps_the_token_and_records_the_kind(
    service: TokenService,
    server: QwenSimulator,
    account: Account,
    clock: FakeClock,
    events: list[EngineEvent],
    behaviour: Behaviour,
    error: type[Exception],
    kind: str,
    state: TokenState,
) -> None:
    token = token_with_days(server, account, clock, 2)
    service.set_token(token, verify=False)
    server.queue(behaviour)
    with pytest.raises(error):
        service.refresh()
    assert len(server.requests) == 1  # none of these is retried at once
    assert stored(service, account) == token
    status = service.status()
    assert status.state is state
    assert status.record.last_error is not None
    assert status.record.last_error.kind == kind
    assert token not in status.record.last_error.message
    assert events[-1].kind == "refresh_failed"
    assert events[-1].error is not None
    assert events[-1].error.kind == kind
    if kind == "invalid":
        assert status.due_at is None  # only a new token helps: no automatic retries
    else:
        assert status.record.retry_at is not None
        assert status.record.retry_at > clock.now


def test_rate_limit_backoff_honours_retry_after(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    service.set_token(token_with_days(server, account, clock, 2), verify=False)
    server.queue(Behaviour("rate_limited", retry_after="7200"))
    with pytest.raises(RateLimitedError):
        service.refresh()
    assert service.status().record.retry_at == pytest.approx(clock.now + 7200)


@pytest.mark.parametrize(
    ("behaviours", "kind"),
    [
        (["drop"] * 3, "network"),
        (["server_error"] * 3, "server"),
        ([Behaviour("rate_limited", retry_after="43200")], "rate_limited"),
    ],
    ids=["network", "server", "rate-limited"],
)
def test_a_failed_refresh_says_what_happened_and_the_log_when_it_is_tried_again(
    service: TokenService,
    server: QwenSimulator,
    account: Account,
    clock: FakeClock,
    events: list[EngineEvent],
    caplog: pytest.LogCaptureFixture,
    behaviours: list[str | Behaviour],
    kind: str,
) -> None:
    """The error, the recorded last error and the event say what happened; the time of the next try is
    in the state (status shows it), and the log says it in words."""
    service.set_token(token_with_days(server, account, clock, 2), verify=False)
    server.queue(*behaviours)
    with pytest.raises(RefreshError) as caught:
        service.refresh()
    status = service.status()
    assert status.record.last_error is not None
    assert events[-1].error is caught.value
    for message in (str(caught.value), status.record.last_error.message):
        assert not RETRY_PROMISE.search(message), message
        assert "43200" not in message
    assert status.record.last_error.message == str(caught.value)
    assert status.record.retry_at is not None
    wait = format_duration(status.record.retry_at - clock.now)
    logged = [record.getMessage() for record in caplog.records if record.name == "tray_app.engine"]
    assert (
        f"Refresh of {status.label} failed ({kind}): {caught.value} "
        f"Next try due at {format_utc(status.record.retry_at)} (in {wait})."
        in logged
    )
    if kind == "rate_limited":
        assert wait == "12 h 0 min"


def test_transient_failures_get_two_quick_retries(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    old = token_with_days(server, account, clock, 2)
    service.set_token(old, verify=False)
    server.queue("server_error", "gateway_html")
    assert service.refresh().refreshed is True
    assert len(server.requests) == 3
    assert clock.waits == [1.0, 3.0]
    assert stored(service, account) != old


def test_three_transient_failures_give_up_with_the_last_kind(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    old = token_with_days(server, account, clock, 2)
    service.set_token(old, verify=False)
    server.queue("server_error", "drop", Behaviour("server_error", status=503))
    with pytest.raises(ServerError, match="503"):
        service.refresh()
    assert len(server.requests) == 3
    assert stored(service, account) == old
    record = service.status().record
    assert record.failures == 1
    # The second failure in a row backs off twice as long (jitter fixed at 0.5 -> 3/4 of the step).
    server.queue(*["server_error"] * 3)
    clock.advance(record.retry_at - clock.now)  # type: ignore[operator]
    with pytest.raises(ServerError):
        service.refresh()
    again = service.status().record
    assert again.failures == 2
    assert again.retry_at == pytest.approx(clock.now + 0.75 * 120)


def test_success_clears_the_failure_record(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    service.set_token(token_with_days(server, account, clock, 2), verify=False)
    server.queue("captcha_html")
    with pytest.raises(BlockedError):
        service.refresh()
    assert service.refresh(force=True).refreshed is True
    record = service.status().record
    assert (record.last_error, record.failures, record.retry_at) == (None, 0, None)
    assert service.status().state is TokenState.OK


def test_the_wrapped_answer_shape_refreshes_too(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    old = token_with_days(server, account, clock, 2)
    service.set_token(old, verify=False)
    server.queue("wrapped")
    assert service.refresh().refreshed is True
    assert stored(service, account) != old


def test_forget_deletes_both_tokens_and_the_state(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    service.set_token(token_with_days(server, account, clock, 2), verify=False)
    service.refresh()
    assert service.forget() is True
    assert (stored(service, account), stored(service, account, previous=True)) == (None, None)
    assert not service.state_file.path.exists()
    assert service.status().state is TokenState.MISSING
    assert service.forget() is False


def test_a_damaged_stored_token_is_a_storage_error(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    service.set_token(token_with_days(server, account, clock, 5), verify=False)
    service.store.set("garbage", current_slot(account.user_id))
    with pytest.raises(StorageError, match="damaged"):
        service.status()


# -- replacing a token is crash-safe -------------------------------------------------------------------


class MangledWrites(FileStore):
    """A real file store whose writes of the current slot land damaged, as a broken backend might."""

    def set(self, token: str, slot: str) -> None:
        super().set(token[:-1] if slot == current_slot("a") and token == "new" else token, slot)


def test_replace_token_restores_the_old_token_when_the_new_one_does_not_read_back(app_paths: AppPaths) -> None:
    store = MangledWrites(app_paths.token_file)
    store.set("old", current_slot("a"))
    with pytest.raises(StorageError, match="old one was kept"):
        replace_token(store, "a", "new")
    assert store.get(current_slot("a")) == "old"
