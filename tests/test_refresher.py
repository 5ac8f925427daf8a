"""The refresher loop on a fake clock (no sleeping), and its real thread starting and stopping."""

from __future__ import annotations

import itertools
import logging
import sys
import threading
from pathlib import Path

import pytest

from tests import desktop
from tests.helpers import FakeClock, make_service
from tests.test_store import SILENT_SECRET_SERVICE
from tests.test_store import daemon as silent_daemon
from tray_app.config import Settings
from tray_app.engine import EngineEvent, TokenService
from tray_app.paths import AppPaths
from tray_app.policy import CHECK_INTERVAL, DAY, TokenState
from tray_app.refresher import Refresher
from tray_app.simulator import Account, Behaviour, QwenSimulator
from tray_app.state import StateFile
from tray_app.store import FileStore, KeyringStore


@pytest.fixture
def account(server: QwenSimulator) -> Account:
    return server.add_account()


@pytest.fixture
def service(server: QwenSimulator, clock: FakeClock, app_paths: AppPaths) -> TokenService:
    return make_service(server, clock, app_paths)


def run_for(refresher: Refresher, clock: FakeClock, seconds: float) -> list[float]:
    """Drive the loop as its thread would, jumping the clock over each wait."""
    waits = []
    end = clock.now + seconds
    while clock.now < end:
        wait = refresher.step()
        assert wait > 0 or refresher.service.status().due_at is not None, "the loop must never spin"
        waits.append(wait)
        clock.advance(max(wait, 0.001))
    return waits


def test_a_fresh_token_is_only_looked_at_once_a_minute(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    service.set_token(server.issue_token(account), verify=False)  # 7 days
    waits = run_for(Refresher(service), clock, 3600)
    assert server.requests == []
    assert max(waits) <= CHECK_INTERVAL
    assert len(waits) >= 60


def test_the_token_is_refreshed_once_when_due_and_kept_alive_for_weeks(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    service.set_token(server.issue_token(account), verify=False)
    refresher = Refresher(service)
    run_for(refresher, clock, 4 * DAY + 120)
    assert len(server.requests) == 1
    assert server.requests[0].time == pytest.approx(clock.now - 120, abs=CHECK_INTERVAL + 1)  # at 4 days
    run_for(refresher, clock, 30 * DAY)
    assert len(server.requests) == 8  # about every 4 days for a month
    status = service.status()
    assert status.state is TokenState.OK
    assert status.days_left is not None
    assert status.days_left > 3


def test_waking_from_a_long_sleep_refreshes_at_the_first_look(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    service.set_token(server.issue_token(account), verify=False)
    refresher = Refresher(service)
    refresher.step()
    clock.advance(6 * DAY)  # the laptop slept; no wait ran
    refresher.step()
    assert len(server.requests) == 1
    assert service.status().state is TokenState.OK


def test_failures_back_off_instead_of_hammering(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    service.set_token(server.issue_token(account, expires_at=int(clock.now + 2 * DAY)), verify=False)
    server.queue(*["server_error"] * 9)
    refresher = Refresher(service)
    run_for(refresher, clock, 300)
    # Three rounds of three quick attempts (1 s, then 3 s apart), with backoff between the rounds
    # (45 s, then 90 s: half-jittered 60 s and 120 s steps).
    assert len(server.requests) == 9
    starts = [request.time for request in server.requests[::3]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert gaps == pytest.approx([4 + 45, 4 + 90], abs=CHECK_INTERVAL + 1)
    run_for(refresher, clock, 600)
    assert len(server.requests) == 10  # the queue ran dry: the next retry succeeded
    assert service.status().state is TokenState.OK


def test_a_rejected_token_stops_automatic_refreshing(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    service.set_token(server.issue_token(account, expires_at=int(clock.now + 2 * DAY)), verify=False)
    server.queue("unauthorized")
    run_for(Refresher(service), clock, 2 * DAY)
    assert len(server.requests) == 1
    assert service.status().state is TokenState.INVALID


def test_state_changes_are_published_as_time_passes(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock
) -> None:
    service.set_token(server.issue_token(account, expires_at=int(clock.now + 4 * DAY)), verify=False)
    server.queue(*["captcha_html"] * 100)
    seen: list[EngineEvent] = []
    service.subscribe(seen.append)
    run_for(Refresher(service), clock, 5 * DAY)
    changes = [event.status.state for event in seen if event.kind == "state_changed"]
    assert changes == [TokenState.OK, TokenState.BLOCKED, TokenState.EXPIRED]
    assert any(event.kind == "refresh_failed" for event in seen)


def test_a_token_set_by_another_process_is_noticed(
    service: TokenService, server: QwenSimulator, account: Account, clock: FakeClock, app_paths: AppPaths
) -> None:
    refresher = Refresher(service)
    refresher.step()
    assert service.status().state is TokenState.MISSING
    other_process = make_service(server, clock, app_paths)
    other_process.set_token(server.issue_token(account, expires_at=int(clock.now + DAY)), verify=False)
    clock.advance(CHECK_INTERVAL)
    refresher.step()
    assert len(server.requests) == 1  # due at once, and refreshed by the running refresher


def test_the_thread_refreshes_on_request_and_stops_at_once(
    server: QwenSimulator, account: Account, app_paths: AppPaths
) -> None:
    real_clock = FakeClock()
    service = make_service(server, real_clock, app_paths)
    service.set_token(server.issue_token(account), verify=False)
    refreshed = threading.Event()
    service.subscribe(lambda event: refreshed.set() if event.kind == "refreshed" else None)
    refresher = Refresher(service)
    refresher.start()
    try:
        refresher.refresh_now()
        assert refreshed.wait(10), "a manual refresh ran on the refresher thread"
    finally:
        refresher.stop(timeout=5)
    assert refresher._thread is not None
    assert not refresher._thread.is_alive()
    assert len(server.requests) == 1


def test_a_keyring_that_stops_answering_is_reported_once_and_its_return_too(
    server: QwenSimulator,
    account: Account,
    clock: FakeClock,
    app_paths: AppPaths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A real Secret Service that takes the bus name and never answers (as one stuck on a prompt), then a
    real gnome-keyring in its place: the refresher says so once, keeps looking, and says when it works."""
    desktop.require(desktop.SessionBus, desktop.GnomeKeyring)
    with desktop.SessionBus(tmp_path) as bus:
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.address)
        monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.SecretService.Keyring")
        caplog.set_level(logging.DEBUG, logger="tray_app.refresher")
        with silent_daemon([sys.executable, "-c", SILENT_SECRET_SERVICE], desktop.env_for(bus)):
            bus.wait_for_name("org.freedesktop.secrets", timeout=10)
            service = TokenService(
                settings=Settings(base_url=server.base_url),
                store=KeyringStore(timeout=0.5),
                state_file=StateFile(app_paths.state_file),
                refresh_lock_path=app_paths.refresh_lock,
                clock=clock,
                wait=clock.wait,
            )
            events: list[EngineEvent] = []
            service.subscribe(events.append)
            refresher = Refresher(service)
            for _ in range(3):
                assert refresher.step() == CHECK_INTERVAL
                clock.advance(CHECK_INTERVAL)
        trouble = [event for event in events if event.kind == "state_changed"]
        assert [event.status.state for event in trouble] == [TokenState.UNKNOWN], "shown once, not every look"
        assert "did not answer within 0.5 s" in (trouble[0].status.problem or "")
        events.clear()
        said = [record for record in caplog.records if record.levelno >= logging.INFO]
        assert len(said) == 1, said
        assert said[0].levelno == logging.WARNING
        assert "did not answer within 0.5 s" in said[0].getMessage()
        assert "looks again every minute" in said[0].getMessage()

        caplog.clear()
        with desktop.GnomeKeyring(bus, tmp_path):
            service.set_token(server.issue_token(account), verify=False)
            refresher.step()
            refresher.step()
            service.forget_all()
        said = [record.getMessage() for record in caplog.records if record.levelno >= logging.INFO]
        assert [line for line in said if "works again" in line] == ["The desktop keyring (Secret Service) works again."]
        changes = [event.status.state for event in events if event.kind == "state_changed"]
        assert changes[0] is TokenState.OK, "the tray leaves its trouble state"
        assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


# -- several accounts: one schedule, paced, paused together by a rate limit ---------------------------


class CountingStore(FileStore):
    """Our real file store, counting reads: deciding what is due must not read every account's token."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.reads = 0

    def get(self, slot: str) -> str | None:
        self.reads += 1
        return super().get(slot)


def paced_service(
    server: QwenSimulator, clock: FakeClock, app_paths: AppPaths, *, per_second: float = 2.0
) -> TokenService:
    return make_service(
        server,
        clock,
        app_paths,
        store=CountingStore(app_paths.token_file),
        max_refreshes_in_flight=2,
        max_refreshes_per_second=per_second,
    )


def add_accounts(service: TokenService, server: QwenSimulator, clock: FakeClock, days: list[float]) -> list[Account]:
    people = [server.add_account(email=f"user{n}@example.com") for n in range(len(days))]
    for person, left in zip(people, days, strict=True):
        service.set_token(server.issue_token(person, expires_at=int(clock.now + left * DAY)), verify=False)
    return people


def refreshed_accounts(server: QwenSimulator) -> list[str]:
    return [server.verify_token(request.bearer_token or "").user_id for request in server.requests]


def test_idle_looks_read_no_token_whatever_the_number_of_accounts(
    server: QwenSimulator, clock: FakeClock, app_paths: AppPaths
) -> None:
    service = paced_service(server, clock, app_paths)
    add_accounts(service, server, clock, [6.0] * 20)
    store = service.store
    assert isinstance(store, CountingStore)
    store.reads = 0
    refresher = Refresher(service)
    refresher.step()
    first_look = store.reads
    assert first_look <= 1, "the first look reads the default account's token only (is the keyring working?)"
    run_for(refresher, clock, 3600)
    assert store.reads == first_look, "an hour of looks read no token"
    assert server.requests == []


def test_accounts_due_together_are_refreshed_one_by_one_at_the_paced_rate(
    server: QwenSimulator, clock: FakeClock, app_paths: AppPaths
) -> None:
    service = paced_service(server, clock, app_paths, per_second=2.0)
    people = add_accounts(service, server, clock, [2.0] * 5 + [6.0])
    start = clock.now
    run_for(Refresher(service), clock, 60)
    assert sorted(refreshed_accounts(server)) == sorted(p.user_id for p in people[:5]), "each due one, once"
    starts = [request.time - start for request in server.requests]
    assert starts == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0]), "two a second, not all at once"
    assert all(s.state is TokenState.OK for s in service.statuses())


def test_a_rate_limit_pauses_every_account_until_retry_after(
    server: QwenSimulator, clock: FakeClock, app_paths: AppPaths
) -> None:
    service = paced_service(server, clock, app_paths)
    people = add_accounts(service, server, clock, [2.0] * 4)
    server.queue(Behaviour("rate_limited", retry_after="600"))
    start = clock.now
    run_for(Refresher(service), clock, 3600)
    times = [request.time - start for request in server.requests]
    assert times[0] == 0.0
    assert all(later >= 600 for later in times[1:]), f"nothing reaches the server before Retry-After: {times}"
    assert sorted(set(refreshed_accounts(server))) == sorted(p.user_id for p in people)
    assert len(times) == 5, "the limited account once more, and each of the others once"


def test_each_account_changes_state_on_its_own_and_every_look_tells_the_most_urgent(
    server: QwenSimulator, clock: FakeClock, app_paths: AppPaths
) -> None:
    service = paced_service(server, clock, app_paths)
    calm, urgent = add_accounts(service, server, clock, [6.0, 2.0])
    server.queue("unauthorized")  # the due one is rejected
    events: list[EngineEvent] = []
    service.subscribe(events.append)
    run_for(Refresher(service), clock, 120)
    changes = [(e.status.account_id, e.status.state) for e in events if e.kind == "state_changed"]
    # The due one was refreshed (and rejected) at the first look, before any state was told.
    assert changes == [(calm.user_id, TokenState.OK), (urgent.user_id, TokenState.INVALID)]
    checked = [e for e in events if e.kind == "checked"][-1]
    assert checked.status.account_id == urgent.user_id
    assert [s.account_id for s in checked.statuses] == [calm.user_id, urgent.user_id]
    assert [s.state for s in checked.statuses] == [TokenState.OK, TokenState.INVALID]
    assert len(server.requests) == 1, "a rejected token is not tried again"


def test_refresh_now_refreshes_the_named_account_only(
    server: QwenSimulator, clock: FakeClock, app_paths: AppPaths
) -> None:
    service = paced_service(server, clock, app_paths)
    first, second = add_accounts(service, server, clock, [6.0, 6.0])
    refresher = Refresher(service)
    refresher.step()
    refresher.refresh_now(second.user_id)
    refresher.step()
    refresher.refresh_now()  # the default: the first added
    clock.advance(1)
    refresher.step()
    assert refreshed_accounts(server) == [second.user_id, first.user_id]
