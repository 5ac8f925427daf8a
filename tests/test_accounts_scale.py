"""Many accounts under one real ``qwen-tray daemon`` (issue 10), against the loopback chat.qwen.ai.

A hundred accounts on the file store fall due at once: each must be refreshed exactly once, none lost,
and never more refreshes on the wire than ``max_refreshes_in_flight``; a SIGKILL in the middle must leave
every account with a token the server accepts; a 429 must pause every account until its Retry-After.
The simulator answers each refresh after a short delay so concurrent refreshes overlap measurably; it
counts how many it is answering at once. benchmarks/accounts_scale.py runs the same at 1,000 accounts
and uses the helpers here.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

import pytest

from tray_app.accounts import save_book
from tray_app.simulator import Behaviour, QwenSimulator, TokenRejected
from tray_app.state import Account, Book, State, StateFile
from tray_app.store import FileStore, current_slot

QWEN_TRAY = Path(sys.executable).parent / "qwen-tray"
DAY = 86400
#: Accounts in the CI version (the benchmark runs 1,000).
ACCOUNTS = 100
TIMEOUT = 60.0
#: Variables that would send the daemon's requests elsewhere than the loopback simulator.
PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy")


# -- a profile, its accounts and its daemon (the benchmark uses these too) ------------------------------


class Profile:
    """A throwaway qwen-tray profile (its own HOME and XDG folders) using the file store, pointed at
    ``base_url``; the daemon and the CLI run in it as subprocesses."""

    def __init__(self, root: Path, base_url: str) -> None:
        self.root = root
        env = {key: value for key, value in os.environ.items() if key not in PROXY_VARIABLES}
        env = {key: value for key, value in env.items() if not key.startswith("QWEN_TRAY_")}
        env.update(HOME=str(root), QWEN_TRAY_BASE_URL=base_url, NO_PROXY="127.0.0.1,localhost")
        for variable, folder in (
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_STATE_HOME", "state"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_CACHE_HOME", "cache"),
        ):
            (root / folder).mkdir(parents=True, exist_ok=True)
            env[variable] = str(root / folder)
        self.env = env
        self.state_dir = root / "state" / "qwen-tray"
        self.config_file = root / "config" / "qwen-tray" / "config.toml"
        self.store = FileStore(self.state_dir / "token.json")
        self.state_file = StateFile(self.state_dir / "state.json")

    def configure(self, *, refresh_before_days: float, in_flight: int, per_second: float) -> None:
        """Write config.toml: the file store and these settings (read when a daemon starts)."""
        self.config_file.parent.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            'storage = "file"\n'
            f"refresh_before_days = {refresh_before_days}\n"
            f"max_refreshes_in_flight = {in_flight}\n"
            f"max_refreshes_per_second = {per_second}\n",
            encoding="utf-8",
        )

    def seed(self, server: QwenSimulator, count: int, *, expires_at: int) -> list[str]:
        """Give the profile ``count`` new accounts whose tokens (signed by ``server``) expire at
        ``expires_at``; returns their ids. Written with the project's own store and book functions, as
        ``set-token --no-verify`` would leave them, but in seconds rather than a process per account."""
        ids = []
        for number in range(count):
            account = server.add_account(email=f"user{number}@example.com", name=f"User {number}")
            self.store.set(server.issue_token(account, expires_at=expires_at), current_slot(account.user_id))
            ids.append(account.user_id)
        book = Book(accounts=tuple(Account(each, State(expires_at=expires_at)) for each in ids), default=ids[0])
        save_book(self.store, self.state_file, book, before=None)
        return ids

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the installed console script in this profile."""
        return subprocess.run(
            [str(QWEN_TRAY), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def stored_expiries(self) -> dict[str, int]:
        """Each account's stored token's ``exp``, read straight from the token file (cheap to poll)."""
        book = self.state_file.load()
        assert book is not None, "the state file is missing"
        expiries = {}
        for account_id in book.ids:
            token = self.store.get(current_slot(account_id))
            if token is not None:
                expiries[account_id] = expiry_of(token)
        return expiries

    def accepted_tokens(self, server: QwenSimulator, ids: list[str]) -> dict[str, int]:
        """What ``qwen-tray token --all`` prints, checked: one token per account, each accepted by the
        server (TokenRejected fails the test) and of the account it is stored for. Returns each
        account's token expiry."""
        run = self.cli("token", "--all")
        assert run.returncode == 0, run.stderr
        tokens = run.stdout.split()
        expiries = {}
        for token in tokens:
            try:
                account = server.verify_token(token)
            except TokenRejected as rejected:
                pytest.fail(f"a stored token is not accepted: {rejected.detail}")
            expiries[account.user_id] = expiry_of(token)
        assert len(tokens) == len(ids), f"{len(ids) - len(tokens)} account(s) have no token"
        assert sorted(expiries) == sorted(ids), "the tokens are not one per account"
        return expiries


def expiry_of(token: str) -> int:
    """The ``exp`` claim, decoded here rather than with the code under test."""
    payload = token.split(".")[1]
    exp = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]
    assert isinstance(exp, int)
    return exp


class Daemon:
    """``qwen-tray daemon`` running in ``profile``, its output in a file (a pipe could fill and block
    it); killed on leaving the ``with`` if still running."""

    def __init__(self, profile: Profile, name: str = "daemon") -> None:
        assert QWEN_TRAY.exists(), f"the console script is not installed at {QWEN_TRAY}"
        self.log_path = profile.root / f"{name}.log"
        self._log: IO[str] = self.log_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [str(QWEN_TRAY), "daemon"],
            env=profile.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_ticks(self) -> int:
        """utime + stime in clock ticks (/proc/PID/stat fields 14 and 15)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def memory_kib(self, field: str = "VmRSS") -> int:
        """A /proc/PID/status figure in KiB: VmRSS (resident now) or VmHWM (the most resident)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise LookupError(field)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = TIMEOUT) -> int:
        """SIGTERM, as a service manager stops it; its exit code (it finishes what is on the wire)."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._log.close()
        return code

    def kill(self) -> None:
        """SIGKILL: a crash at whatever moment this is."""
        self.process.kill()
        self.process.wait(TIMEOUT)
        self._log.close()

    def __enter__(self) -> Daemon:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT)
        self._log.close()


def wait_until(check: object, what: str, timeout: float = TIMEOUT, daemon: Daemon | None = None) -> None:
    """Poll ``check()`` until true; fail after ``timeout`` seconds, showing the daemon's output."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if daemon is not None and daemon.process.poll() is not None:
            pytest.fail(f"the daemon exited ({daemon.process.returncode}) before {what}\n{daemon.output()[-3000:]}")
        if time.monotonic() > deadline:
            tail = daemon.output()[-3000:] if daemon is not None else ""
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}\n{tail}")
        time.sleep(0.05)


# -- the tests ------------------------------------------------------------------------------------------


@pytest.fixture
def slow_server() -> Iterator[QwenSimulator]:
    """chat.qwen.ai on the real clock, each refresh answered after 0.2 s: refreshes overlap."""
    with QwenSimulator(refresh_delay=0.2) as simulator:
        yield simulator


def test_a_hundred_accounts_due_at_once_are_each_refreshed_once_within_the_in_flight_bound(
    slow_server: QwenSimulator, tmp_path: Path
) -> None:
    # Pacing allows 100 starts a second, so only the bound of 3 in flight holds the daemon back: without
    # it about 20 would overlap; run one at a time (no concurrency), it would never reach 2.
    profile = Profile(tmp_path, slow_server.base_url)
    profile.configure(refresh_before_days=3, in_flight=3, per_second=100)
    seeded_exp = int(time.time() + 2 * DAY)
    ids = profile.seed(slow_server, ACCOUNTS, expires_at=seeded_exp)

    with Daemon(profile) as daemon:
        wait_until(lambda: len(set(slow_server.refreshed)) == ACCOUNTS, "every account refreshed", daemon=daemon)
        time.sleep(0.5)  # room for a wrong second refresh of any of them to show
        assert daemon.stop() == 0
        assert "Traceback" not in daemon.output()

    refreshed = Counter(slow_server.refreshed)
    assert sorted(refreshed) == sorted(ids)
    assert set(refreshed.values()) == {1}, "an account was refreshed more than once"
    assert len(slow_server.requests) == ACCOUNTS, "a request that did not refresh anything"
    assert 2 <= slow_server.max_in_flight <= 3, f"{slow_server.max_in_flight} refreshes were on the wire at once"
    expiries = profile.accepted_tokens(slow_server, ids)
    assert all(exp > seeded_exp for exp in expiries.values()), "a refreshed token was not stored"


def test_a_crash_in_the_middle_loses_no_account_and_a_restart_finishes_the_rest(
    tmp_path: Path,
) -> None:
    with QwenSimulator(refresh_delay=0.05) as server:
        profile = Profile(tmp_path, server.base_url)
        profile.configure(refresh_before_days=3, in_flight=4, per_second=100)
        seeded_exp = int(time.time() + 2 * DAY)
        ids = profile.seed(server, ACCOUNTS, expires_at=seeded_exp)

        with Daemon(profile, "first") as daemon:
            wait_until(lambda: len(server.refreshed) >= ACCOUNTS // 3, "a third refreshed", daemon=daemon)
            daemon.kill()  # refreshes are on the wire and being stored right now
        answered = len(server.refreshed)
        assert answered < ACCOUNTS, "all were refreshed before the crash: nothing was tested"

        # Every account still has a token the server accepts (its old one or its new one), and status
        # reads them all as usable.
        expiries = profile.accepted_tokens(server, ids)
        stored_new = sum(exp > seeded_exp for exp in expiries.values())
        assert 0 < stored_new <= answered
        status = profile.cli("status", "--all", "--json")
        assert status.returncode == 0, status.stdout + status.stderr

        def left() -> list[str]:
            return [each for each, exp in profile.stored_expiries().items() if exp <= seeded_exp]

        with Daemon(profile, "restarted") as daemon:
            try:
                wait_until(lambda: not left(), "every account refreshed after the restart", daemon=daemon)
            except BaseException:
                book = profile.state_file.load()
                records = [(each, book.get(each) if book else None) for each in left()]
                print(f"not refreshed: {records}; paused_until {book.paused_until if book else None}")
                raise
            assert daemon.stop() == 0
            assert "Traceback" not in daemon.output()

        final = profile.accepted_tokens(server, ids)
        assert all(exp > seeded_exp for exp in final.values())
        # Accounts whose new token was stored before the crash are not refreshed again; only those
        # answered but not yet stored (at most the 4 in flight) may be.
        assert len(server.refreshed) - ACCOUNTS <= answered - stored_new <= 4
        assert Counter(server.refreshed).most_common(1)[0][1] <= 2


def test_a_rate_limit_pauses_every_account_until_retry_after(tmp_path: Path) -> None:
    retry_after = 3.0
    count = 40
    with QwenSimulator(refresh_delay=0.1) as server:
        profile = Profile(tmp_path, server.base_url)
        profile.configure(refresh_before_days=3, in_flight=3, per_second=50)
        seeded_exp = int(time.time() + 2 * DAY)
        ids = profile.seed(server, count, expires_at=seeded_exp)
        server.queue(*["ok"] * 10, Behaviour("rate_limited", retry_after=f"{retry_after:g}"))

        with Daemon(profile) as daemon:
            wait_until(lambda: len(set(server.refreshed)) == count, "every account refreshed", daemon=daemon)
            assert daemon.stop() == 0
        limited = [answer.time for answer in server.answers if answer.status == 429]
        assert len(limited) == 1
        # Requests the daemon had sent before the 429 reached it may still arrive just after it; none
        # may start later until Retry-After has passed.
        grace = 0.3
        early = [
            request.time - limited[0]
            for request in server.requests
            if limited[0] + grace < request.time < limited[0] + retry_after
        ]
        assert early == [], f"{len(early)} request(s) came during the pause, at {[round(e, 2) for e in early]} s"
        later = [request.time for request in server.requests if request.time >= limited[0] + retry_after]
        assert later, "nothing was refreshed after the pause"
        assert sorted(profile.accepted_tokens(server, ids)) == sorted(ids)
        assert all(exp > seeded_exp for exp in profile.stored_expiries().values())
