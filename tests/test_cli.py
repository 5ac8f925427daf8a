"""The installed ``qwen-tray`` console script, run in subprocesses against the loopback chat.qwen.ai.

Every call goes through :func:`qwen`, which gives stdin explicitly, bounds the run with a timeout and
checks that no traceback reached stderr. Tokens carry real-clock expiries because the subprocess reads
the wall clock; that is the only place the wall clock is used here (apart from one bounded wait for a
token to expire, and bounded polls while a daemon runs).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import select
import shlex
import signal
import socket
import stat
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from keyrings.alt.file import PlaintextKeyring

from tray_app import __version__
from tray_app.simulator import Account, Behaviour, QwenSimulator, sign_token
from tray_app.store import CURRENT, KEYRING_SERVICE, current_slot

QWEN_TRAY = Path(sys.executable).parent / "qwen-tray"
DAY = 86400
#: Refresh once fewer than this many days are left (the default setting).
REFRESH_BEFORE_DAYS = 3
TIMEOUT = 30.0
STATES = {"missing", "invalid", "expired", "blocked", "expiring", "ok"}
NO_KEYRING = re.compile(r"no (system )?keyring", re.IGNORECASE)
FILE_OPT_IN = re.compile(r"--storage file|storage = \"file\"")


# -- running the command line ------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def error_line(self) -> str:
        """The one line a refused or failed command writes on stderr (exit 1)."""
        assert self.returncode == 1, self
        lines = self.stderr.splitlines()
        assert len(lines) == 1, f"{self.args}: expected exactly one line on stderr, got {lines!r}"
        return lines[0]

    def json(self) -> dict[str, Any]:
        data = json.loads(self.stdout)
        assert isinstance(data, dict)
        return data


def qwen(env: dict[str, str], *args: str, stdin: str | bytes | None = None, timeout: float = TIMEOUT) -> Run:
    """Run the installed console script; ``stdin=None`` gives it /dev/null."""
    assert QWEN_TRAY.exists(), f"the console script is not installed at {QWEN_TRAY}"
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    extra: dict[str, Any] = {"stdin": subprocess.DEVNULL} if data is None else {"input": data}
    result = subprocess.run(
        [str(QWEN_TRAY), *args], capture_output=True, env=env, timeout=timeout, check=False, **extra
    )
    run = Run(
        args=args,
        returncode=result.returncode,
        stdout=result.stdout.decode("utf-8", "replace"),
        stderr=result.stderr.decode("utf-8", "replace"),
    )
    assert "Traceback" not in run.stderr, f"{args}: traceback on stderr:\n{run.stderr}"
    return run


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    assert QWEN_TRAY.exists()
    return subprocess.Popen(
        [str(QWEN_TRAY), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = TIMEOUT) -> Run:
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert "Traceback" not in stderr, f"traceback on stderr:\n{stderr}"
    args = tuple(str(arg) for arg in process.args[1:]) if isinstance(process.args, list) else ()
    return Run(args=args, returncode=process.returncode, stdout=stdout, stderr=stderr)


def cli_env(base_url: str, home: Path | None = None, **extra: str) -> dict[str, str]:
    """The isolated environment (from the autouse fixture), optionally with another home of its own."""
    env = dict(os.environ)
    env["QWEN_TRAY_BASE_URL"] = base_url
    if home is not None:
        env["HOME"] = str(home)
        for variable, folder in (
            ("XDG_CONFIG_HOME", "config"),
            ("XDG_STATE_HOME", "state"),
            ("XDG_DATA_HOME", "data"),
            ("XDG_CACHE_HOME", "cache"),
        ):
            (home / folder).mkdir(parents=True, exist_ok=True)
            env[variable] = str(home / folder)
    env.update(extra)
    return env


def app_dir(env: dict[str, str], kind: str) -> Path:
    return Path(env[f"XDG_{kind}_HOME"]) / "qwen-tray"


def write_config(env: dict[str, str], text: str) -> Path:
    path = app_dir(env, "CONFIG") / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def issue(server: QwenSimulator, account: Account, days: float) -> str:
    """A token signed by the simulator that expires ``days`` from now on the real clock."""
    return server.issue_token(account, expires_at=int(time.time() + days * DAY))


def expiry_of(token: str) -> int:
    """The ``exp`` claim, decoded here rather than with the code under test."""
    payload = token.split(".")[1]
    exp = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]
    assert isinstance(exp, int)
    return exp


def format_utc(unix_seconds: float) -> str:
    """How the CLI shows a moment: ``2026-12-01 14:00 UTC``."""
    return datetime.fromtimestamp(unix_seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def keyring_file(env: dict[str, str]) -> PlaintextKeyring:
    """The plain-file keyring (keyrings.alt, as the autouse fixture chose) of ``env``'s profile."""
    backend = PlaintextKeyring()
    backend.file_path = str(Path(env["XDG_DATA_HOME"]) / "python_keyring" / "keyring_pass.cfg")
    return backend


def put(env: dict[str, str], token: str) -> None:
    """Setup: put ``token`` straight into the profile's keyring (no subprocess, no request)."""
    keyring_file(env).set_password(KEYRING_SERVICE, CURRENT, token)


def held(env: dict[str, str], account_id: str | None = None) -> str | None:
    """What the profile's keyring holds as the account's current token (the default account's, as the
    state file names it; release 0.1.0's one slot before an upgrade), read without the CLI."""
    if account_id is None:
        book = state_json(env)
        account_id = book.get("default") if "accounts" in book else None
    slot = CURRENT if account_id is None else current_slot(account_id)
    token: str | None = keyring_file(env).get_password(KEYRING_SERVICE, slot)
    return token


def state_json(env: dict[str, str]) -> dict[str, Any]:
    """The profile's state file as JSON ({} when there is none)."""
    try:
        data: dict[str, Any] = json.loads((app_dir(env, "STATE") / "state.json").read_text("utf-8"))
    except FileNotFoundError:
        return {}
    return data


def store(env: dict[str, str], token: str) -> None:
    """Store ``token`` through the CLI without asking the server (no request)."""
    run = qwen(env, "set-token", "--no-verify", stdin=token + "\n")
    assert run.returncode == 0, run


def stored(env: dict[str, str]) -> str | None:
    """What ``qwen-tray token`` prints (None when it fails)."""
    run = qwen(env, "token")
    return run.stdout.removesuffix("\n") if run.returncode == 0 else None


def status(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    run = qwen(env, "status", "--json")
    data = run.json()
    assert data["state"] in STATES
    return run.returncode, data


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def log_text(env: dict[str, str]) -> str:
    folder = app_dir(env, "STATE") / "log"
    return "".join(path.read_text("utf-8", "replace") for path in sorted(folder.rglob("*")) if path.is_file())


def assert_log_clean(env: dict[str, str], tokens: list[str]) -> None:
    """The log exists, and no token (nor its signature) is in any file of the log folder."""
    text = log_text(env)
    assert text, "no log was written, so this check would prove nothing"
    for token in tokens:
        assert token not in text
        assert token.rsplit(".", 1)[1] not in text


@pytest.fixture
def env(live_server: QwenSimulator) -> dict[str, str]:
    return cli_env(live_server.base_url)


@pytest.fixture
def account(live_server: QwenSimulator) -> Account:
    return live_server.add_account(email="alice@example.com", name="Alice")


# -- usage -------------------------------------------------------------------------------------------


def test_version_and_usage_errors(env: dict[str, str]) -> None:
    run = qwen(env, "--version")
    assert (run.returncode, run.stdout.strip()) == (0, f"qwen-tray {__version__}")
    # No command means the tray; with no display it says so at once and points at the daemon.
    headless = {name: value for name, value in env.items() if name not in ("DISPLAY", "WAYLAND_DISPLAY")}
    bare = qwen(headless, timeout=20)
    assert bare.returncode == 1, bare
    assert "qwen-tray daemon" in bare.stderr
    assert qwen(env, "--no-such-flag").returncode == 2
    assert qwen(env, "status", "--no-such-flag").returncode == 2


# -- status ------------------------------------------------------------------------------------------


def test_status_reports_every_state_with_its_exit_code(
    env: dict[str, str], live_server: QwenSimulator, account: Account, tmp_path: Path
) -> None:
    # A second profile whose token expires in a few seconds, checked at the end (the one real wait).
    soon_env = cli_env(live_server.base_url, tmp_path / "soon")
    soon = live_server.issue_token(account, expires_at=int(time.time()) + 3)
    store(soon_env, soon)

    code, data = status(env)
    assert (code, data["state"]) == (1, "missing")
    assert {"state", "user_id", "email", "name", "expires_at", "days_left", "last_refresh", "last_error"} <= set(data)
    human = qwen(env, "status")
    assert human.returncode == 1
    assert "missing" in human.stdout
    assert "qwen-tray set-token" in human.stdout.splitlines()[-1]  # the remedy

    six_days = issue(live_server, account, 6)
    assert qwen(env, "set-token", stdin=six_days).returncode == 0
    code, data = status(env)
    assert (code, data["state"]) == (0, "ok")
    assert (data["user_id"], data["email"], data["name"]) == (account.user_id, "alice@example.com", "Alice")
    assert isinstance(data["expires_at"], int)
    assert data["expires_at"] == expiry_of(six_days)
    assert isinstance(data["days_left"], float)
    assert 5.9 < data["days_left"] <= 6
    assert data["last_error"] is None
    human = qwen(env, "status")
    assert human.returncode == 0
    assert "alice@example.com" in human.stdout
    assert account.user_id in human.stdout
    assert format_utc(expiry_of(six_days)) in human.stdout

    store(env, issue(live_server, account, 1))
    code, data = status(env)
    assert (code, data["state"]) == (0, "expiring")
    assert 0.9 < data["days_left"] <= 1

    live_server.queue("unauthorized")
    run = qwen(env, "refresh")
    assert (run.returncode, "qwen-tray: invalid" in run.stderr) == (1, True), run
    code, data = status(env)
    assert (code, data["state"]) == (1, "invalid")
    assert data["last_error"]["kind"] == "invalid"

    assert qwen(env, "set-token", stdin=issue(live_server, account, 6)).returncode == 0
    live_server.queue("captcha_html")
    run = qwen(env, "refresh", "--force")
    assert (run.returncode, "qwen-tray: blocked" in run.stderr) == (1, True), run
    code, data = status(env)
    assert (code, data["state"]) == (0, "blocked")
    assert data["last_error"]["kind"] == "blocked"
    assert not live_server.pending

    remaining = expiry_of(soon) + 0.05 - time.time()
    assert remaining <= 4
    if remaining > 0:
        time.sleep(remaining)
    code, data = status(soon_env)
    assert (code, data["state"]) == (1, "expired")
    assert data["days_left"] <= 0


# -- set-token ---------------------------------------------------------------------------------------


def test_set_token_never_takes_the_token_from_argv(env: dict[str, str], live_server: QwenSimulator) -> None:
    token = issue(live_server, live_server.add_account(), 6)
    assert qwen(env, "set-token", token).returncode == 2
    assert qwen(env, "set-token", "--no-verify", token).returncode == 2
    assert stored(env) is None
    assert live_server.requests == []


@pytest.mark.parametrize(
    "paste",
    [
        "Bearer {token}\n",
        "Cookie: theme=dark; token={token}; lang=en\n",
        '{{"token": "{token}", "email": "alice@example.com"}}',
    ],
    ids=["bearer", "cookie-header", "json"],
)
def test_set_token_digs_the_token_out_checks_it_and_stores_it_as_pasted(
    paste: str, env: dict[str, str], live_server: QwenSimulator, account: Account
) -> None:
    token = issue(live_server, account, 5)
    run = qwen(env, "set-token", stdin=paste.format(token=token))
    assert run.returncode == 0, run
    assert [request.bearer_token for request in live_server.requests] == [token]
    assert "alice@example.com" in run.stdout
    assert format_utc(expiry_of(token)) in run.stdout
    assert token not in run.stdout + run.stderr
    assert stored(env) == token  # as pasted, not the new token the server answered


def test_set_token_no_verify_makes_no_request(
    env: dict[str, str], live_server: QwenSimulator, account: Account
) -> None:
    token = issue(live_server, account, 5)
    run = qwen(env, "set-token", "--no-verify", stdin=f"Bearer {token}\n")
    assert run.returncode == 0, run
    assert format_utc(expiry_of(token)) in run.stdout
    assert live_server.requests == []
    assert stored(env) == token


def test_set_token_refusals_leave_the_stored_token_alone(
    env: dict[str, str], live_server: QwenSimulator, account: Account
) -> None:
    good = issue(live_server, account, 6)
    assert qwen(env, "set-token", stdin=good).returncode == 0

    def other(days: float) -> str:  # a valid token that a refusal gone wrong would store
        return issue(live_server, account, days)

    expired = live_server.issue_token(account, expires_at=int(time.time()) - 3600)
    refusals: list[tuple[str, bytes, int]] = [
        ("junk", b"hello, this is not a token\n", 0),
        ("expired", f"Bearer {expired}\n".encode(), 0),
        ("server 401", f"{other(5.1)}\n".encode(), 1),
        ("empty", b"", 0),
        ("not utf-8", b"\xff\xfe" + other(5.2).encode() + b"\xc3\x28\n", 0),
        ("20 KiB", (other(5.3) + " " * (20 * 1024)).encode(), 0),
    ]
    lines = {}
    for name, paste, requests in refusals:
        if name == "server 401":
            live_server.queue("unauthorized")
        before = len(live_server.requests)
        run = qwen(env, "set-token", stdin=paste)
        assert run.returncode == 1, (name, run)
        assert len(live_server.requests) - before == requests, name
        assert held(env) == good, f"the refused paste ({name}) changed the stored token"
        lines[name] = run.stderr.splitlines()
    assert not live_server.pending
    assert stored(env) == good
    assert "invalid" in "".join(lines["server 401"])
    assert {name: len(text) for name, text in lines.items()} == dict.fromkeys(lines, 1), lines


@pytest.mark.parametrize("verify", [[], ["--no-verify"]], ids=["checked", "no-verify"])
def test_set_token_says_what_was_pasted_when_it_is_not_a_chat_qwen_ai_token(
    verify: list[str], env: dict[str, str], live_server: QwenSimulator, account: Account
) -> None:
    good = issue(live_server, account, 6)
    put(env, good)
    no_account = sign_token({"exp": int(time.time()) + 6 * DAY}, live_server.secret)  # a JWT of some other site
    base64_text = base64.b64encode(b"some random secret, not a token").decode()
    for paste, says in (
        (no_account, "qwen-tray: Not a chat.qwen.ai token: it names no account (no 'id')."),
        (
            base64_text,
            "qwen-tray: Not a token: a chat.qwen.ai token has three parts separated by dots, this text has no dots.",
        ),
    ):
        run = qwen(env, "set-token", *verify, stdin=paste + "\n")
        assert run.error_line() == says
        assert run.stdout == ""
    assert held(env) == good
    assert live_server.requests == []


def read_until(fd: int, marker: bytes, timeout: float = TIMEOUT) -> bytes:
    """What a terminal shows, up to and including ``marker`` (bounded by ``timeout``)."""
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"timed out waiting for {marker!r} on the terminal; saw {seen!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            seen += os.read(fd, 1024)
    return seen


def test_ctrl_d_at_the_prompt_is_nothing_pasted(
    env: dict[str, str], live_server: QwenSimulator, account: Account
) -> None:
    good = issue(live_server, account, 6)
    put(env, good)
    terminal, user_side = os.openpty()
    try:
        process = subprocess.Popen(
            [str(QWEN_TRAY), "set-token"],
            stdin=user_side,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
            # The pty becomes its controlling terminal, so the prompt opens /dev/tty as it does for a person.
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),  # noqa: PLW1509 - no threads in this child yet
        )
        os.close(user_side)
        try:
            read_until(terminal, b"Paste the token")
            os.write(terminal, b"\x04")  # Ctrl+D on an empty line: end of input
            stdout, stderr = process.communicate(timeout=TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    finally:
        os.close(terminal)
    run = Run(("set-token",), process.returncode, stdout.decode(), stderr.decode())
    assert run.error_line() == "qwen-tray: Nothing was pasted: the text is empty."
    assert run.stdout == ""
    assert held(env) == good
    assert live_server.requests == []


# -- token -------------------------------------------------------------------------------------------


def test_token_prints_only_the_token(env: dict[str, str], live_server: QwenSimulator, account: Account) -> None:
    run = qwen(env, "token")
    assert (run.returncode, run.stdout) == (1, "")
    assert run.stderr.strip()

    token = issue(live_server, account, 6)
    put(env, token)
    run = qwen(env, "token")
    assert (run.returncode, run.stdout) == (0, token + "\n")
    substituted = subprocess.run(
        ["bash", "-c", 'printf "%s" "$("$0" token)"', str(QWEN_TRAY)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
    )
    assert (substituted.returncode, substituted.stdout) == (0, token)


def test_token_path_does_not_import_httpx_pil_or_pystray(
    env: dict[str, str], live_server: QwenSimulator, account: Account, tmp_path: Path
) -> None:
    token = issue(live_server, account, 6)
    put(env, token)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "tray_app.cli", "token"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=TIMEOUT,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, token + "\n"), result.stderr[-2000:]
    imported = {
        line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")
    }
    assert "tray_app.store" in imported, "importtime output was not parsed"
    heavy = sorted(name for name in imported if name.split(".")[0] in {"httpx", "PIL", "pystray"})
    assert heavy == []


# -- refresh -----------------------------------------------------------------------------------------


def test_refresh_when_not_due_asks_nothing_and_says_when(
    env: dict[str, str], live_server: QwenSimulator, account: Account
) -> None:
    token = issue(live_server, account, 6)
    put(env, token)
    run = qwen(env, "refresh")
    assert run.returncode == 0, run
    assert format_utc(expiry_of(token) - REFRESH_BEFORE_DAYS * DAY) in run.stdout
    run = qwen(env, "refresh", "--json")
    assert run.returncode == 0, run
    assert run.json()["refreshed"] is False
    assert live_server.requests == []
    assert held(env) == token

    run = qwen(env, "refresh", "--force", "--json")
    assert run.returncode == 0, run
    data = run.json()
    assert data["refreshed"] is True
    assert [request.bearer_token for request in live_server.requests] == [token]
    new = held(env)
    assert new not in (None, token)
    assert data["expires_at"] == expiry_of(new or "")
    assert data["state"] == "ok"


def test_refresh_when_due_stores_a_new_token(env: dict[str, str], live_server: QwenSimulator, account: Account) -> None:
    token = issue(live_server, account, 1)
    put(env, token)
    run = qwen(env, "refresh")
    assert run.returncode == 0, run
    assert [request.bearer_token for request in live_server.requests] == [token]
    new = stored(env)
    assert new not in (None, token)
    code, data = status(env)
    assert (code, data["state"]) == (0, "ok")
    assert 6.99 < data["days_left"] <= 7
    assert data["expires_at"] == expiry_of(new or "")
    assert data["email"] == "alice@example.com"
    assert isinstance(data["last_refresh"], (int, float))
    assert abs(data["last_refresh"] - time.time()) < 60
    assert format_utc(data["expires_at"]) in run.stdout


@pytest.mark.parametrize(
    ("behaviour", "word"),
    [
        ("unauthorized", "invalid"),
        ("captcha_html", "blocked"),
        (Behaviour("rate_limited", retry_after="600"), "rate limited"),
        ("other_account", "bad response"),
    ],
    ids=["unauthorized", "captcha", "rate-limited", "other-account"],
)
def test_refresh_failures_say_which_kind_in_one_line_and_keep_the_token(
    behaviour: str | Behaviour, word: str, env: dict[str, str], live_server: QwenSimulator, account: Account
) -> None:
    token = issue(live_server, account, 1)
    put(env, token)
    live_server.queue(behaviour)
    run = qwen(env, "refresh")
    assert run.returncode == 1, run
    assert f"qwen-tray: {word}: " in run.stderr
    assert len(live_server.requests) == 1  # no quick retry for these
    assert held(env) == token
    assert word in run.error_line()


def test_a_rate_limited_refresh_says_when_in_words(
    env: dict[str, str], live_server: QwenSimulator, account: Account
) -> None:
    put(env, issue(live_server, account, 1))
    live_server.queue(Behaviour("rate_limited", retry_after="43200"))
    line = qwen(env, "refresh").error_line()
    assert line.startswith("qwen-tray: rate limited: chat.qwen.ai is rate limiting us (HTTP 429). "), line
    assert re.search(r"A running daemon or tray tries again at .+ UTC \(in 1[12] h \d+ min\)\.$", line), line
    assert "43200" not in line
    assert "before retrying" not in line


def test_a_paste_that_cannot_be_checked_is_dropped_and_says_what_to_do(
    live_server: QwenSimulator, account: Account, tmp_path: Path
) -> None:
    """Nothing retries a paste: the line must not say "will retry" (and no request reached any server)."""
    offline = cli_env(f"http://127.0.0.1:{closed_port()}", tmp_path / "offline")
    line = qwen(offline, "set-token", stdin=issue(live_server, account, 6)).error_line()
    assert line.startswith("qwen-tray: network: Could not check the token with chat.qwen.ai: Cannot reach "), line
    assert line.endswith(
        "Nothing was stored; try again when online, or store it unchecked with `qwen-tray set-token --no-verify`."
    ), line
    assert "retry" not in line.lower()
    assert held(offline) is None
    assert not (app_dir(offline, "STATE") / "state.json").exists()


def test_refresh_failure_as_json(env: dict[str, str], live_server: QwenSimulator, account: Account) -> None:
    token = issue(live_server, account, 1)
    put(env, token)
    live_server.queue("unauthorized")
    run = qwen(env, "refresh", "--json")
    assert run.returncode == 1, run
    data = run.json()
    assert data["refreshed"] is False
    assert data["error"]["kind"] == "invalid"
    assert data["state"] == "invalid"
    assert held(env) == token
    assert "invalid" in run.error_line()


def test_refresh_quick_retries_server_errors_network_failures_and_transient_trouble(
    env: dict[str, str], live_server: QwenSimulator, account: Account, tmp_path: Path
) -> None:
    """Three slow cases (their retries pause 1 s and 3 s) run side by side, each in its own profile."""
    failing = issue(live_server, account, 1)
    put(env, failing)
    live_server.queue("server_error", "server_error", "server_error")

    offline_env = cli_env(f"http://127.0.0.1:{closed_port()}", tmp_path / "offline")
    offline = issue(live_server, account, 1.1)
    put(offline_env, offline)

    with QwenSimulator() as flaky_server:
        flaky_env = cli_env(flaky_server.base_url, tmp_path / "flaky")
        flaky = issue(flaky_server, flaky_server.add_account(), 1)
        put(flaky_env, flaky)
        flaky_server.queue("server_error")

        processes = [start(env, "refresh"), start(offline_env, "refresh"), start(flaky_env, "refresh")]
        try:
            server_run, network_run, flaky_run = (finish(process) for process in processes)
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    finish(process)
        assert flaky_run.returncode == 0, flaky_run
        assert len(flaky_server.requests) == 2
        assert held(flaky_env) not in (None, flaky)

    assert server_run.returncode == 1, server_run
    assert "qwen-tray: server: " in server_run.stderr
    assert len(live_server.requests) == 3
    assert not live_server.pending
    assert held(env) == failing

    assert network_run.returncode == 1, network_run
    assert "qwen-tray: network: " in network_run.stderr
    assert held(offline_env) == offline

    assert "server" in server_run.error_line()
    assert "network" in network_run.error_line()


# -- forget ------------------------------------------------------------------------------------------


def test_forget_deletes_the_token(env: dict[str, str], live_server: QwenSimulator, account: Account) -> None:
    put(env, issue(live_server, account, 6))
    assert qwen(env, "status").returncode == 0
    assert qwen(env, "forget").returncode == 0
    assert held(env) is None
    run = qwen(env, "token")
    assert (run.returncode, run.stdout) == (1, "")
    code, data = status(env)
    assert (code, data["state"]) == (1, "missing")


# -- storage and configuration -----------------------------------------------------------------------


def test_file_store_by_flag_and_by_config(
    env: dict[str, str], live_server: QwenSimulator, account: Account, tmp_path: Path
) -> None:
    """Where the file is, is said once, when the token is stored; no other command repeats it on stderr
    (``$(qwen-tray token)`` in a script, a cron job's mail)."""
    token_file = app_dir(env, "STATE") / "token.json"
    token = issue(live_server, account, 6)
    run = qwen(env, "--storage", "file", "set-token", stdin=token)
    assert run.returncode == 0, run
    assert str(token_file) in run.stdout
    assert run.stderr == ""
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token in token_file.read_text("utf-8")
    for args in (["status"], ["status", "--json"], ["refresh"], ["token"]):
        run = qwen(env, "--storage", "file", *args)
        assert run.returncode == 0, run
        assert run.stderr == "", args
    assert run.stdout == token + "\n"
    assert str(token_file) in qwen(env, "--storage", "file", "status").stdout  # asked for: "Stored in:"
    assert stored(env) is None  # the keyring was never used

    config_env = cli_env(live_server.base_url, tmp_path / "by-config")
    config_file = app_dir(config_env, "STATE") / "token.json"
    write_config(config_env, 'storage = "file"\n')
    run = qwen(config_env, "set-token", "--no-verify", stdin=token)
    assert run.returncode == 0, run
    assert str(config_file) in run.stdout
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    run = qwen(config_env, "token")
    assert (run.returncode, run.stdout, run.stderr) == (0, token + "\n", "")
    assert qwen(config_env, "--storage", "keyring", "token").returncode == 1
    run = qwen(config_env, "forget")
    assert (run.returncode, run.stderr) == (0, ""), run
    assert "Forgot" in run.stdout
    assert not config_file.exists()


def test_global_options_work_after_the_command_too(
    env: dict[str, str], live_server: QwenSimulator, account: Account
) -> None:
    token_file = app_dir(env, "STATE") / "token.json"
    token = issue(live_server, account, 6)
    run = qwen(env, "set-token", "--no-verify", "--storage", "file", stdin=token)
    assert run.returncode == 0, run
    assert token in token_file.read_text("utf-8")
    assert held(env) is None  # not the keyring
    run = qwen(env, "token", "--storage", "file")
    assert (run.returncode, run.stdout) == (0, token + "\n")
    run = qwen(env, "status", "--json", "--storage=file", "-v")
    assert (run.returncode, run.json()["state"]) == (0, "ok")
    # After the command wins over before it, as a later option does.
    assert qwen(env, "--storage", "keyring", "token", "--storage", "file").stdout == token + "\n"
    assert qwen(env, "--storage", "file", "token").stdout == token + "\n"
    assert qwen(env, "token").returncode == 1  # the default is still the keyring
    assert qwen(env, "status", "--storage", "cloud").returncode == 2


def test_status_json_is_an_object_even_when_the_keyring_is_unavailable(
    env: dict[str, str], live_server: QwenSimulator, account: Account
) -> None:
    put(env, issue(live_server, account, 6))
    assert qwen(env, "refresh", "--force").returncode == 0  # the state file now knows the account
    _code, usable = status(env)
    no_keyring = {**env, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    run = qwen(no_keyring, "status", "--json")
    assert run.returncode == 1
    data = run.json()
    assert set(data) == set(usable)  # the same contract, every key present
    assert data["state"] == "unknown"
    assert data["last_error"]["kind"] == "storage"
    assert NO_KEYRING.search(data["last_error"]["message"])
    assert abs(data["last_error"]["at"] - time.time()) < 60
    assert (data["user_id"], data["expires_at"], data["days_left"], data["next_refresh_at"]) == (None,) * 4
    assert (data["email"], data["last_refresh"]) == (usable["email"], usable["last_refresh"])
    assert NO_KEYRING.search(run.error_line())


def test_forget_with_nothing_stored_says_so(env: dict[str, str], live_server: QwenSimulator, account: Account) -> None:
    run = qwen(env, "forget")
    assert (run.returncode, run.stderr) == (0, ""), run
    assert run.stdout.startswith("Nothing to forget: no token is stored")
    assert "Forgot" not in run.stdout
    put(env, issue(live_server, account, 6))
    assert qwen(env, "forget").stdout.startswith(f"Forgot account {account.user_id[:8]}: its token")
    assert qwen(env, "forget").stdout.startswith("Nothing to forget")


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ('colour = "blue"\n', "colour"),
        ("refresh_before_days = -1\n", "refresh_before_days"),
        ('storage = "cloud"\n', "storage"),
        ('storage = "file\n', "config.toml"),
    ],
    ids=["unknown-key", "bad-number", "bad-storage", "invalid-toml"],
)
def test_a_bad_config_is_one_line_naming_the_problem(config: str, named: str, env: dict[str, str]) -> None:
    path = write_config(env, config)
    for args in (["status"], ["token"]):
        line = qwen(env, *args).error_line()
        assert named in line
        assert str(path) in line


class ConnectionCounter:
    """A TCP listener that counts connections and closes them: stands in for a proxy."""

    def __init__(self) -> None:
        self.count = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.count += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()


@pytest.fixture
def proxy() -> Iterator[ConnectionCounter]:
    counter = ConnectionCounter()
    yield counter
    counter.close()


def test_plain_http_to_another_host_is_refused_without_connecting(
    env: dict[str, str], live_server: QwenSimulator, account: Account, proxy: ConnectionCounter
) -> None:
    token = issue(live_server, account, 1)
    put(env, token)
    proxies = {name: proxy.url for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")}

    # Control: an allowed https base URL for a non-loopback host does go out, through the "proxy".
    allowed = start(cli_env("https://chat.example.invalid", **proxies), "refresh")
    try:
        deadline = time.monotonic() + 10
        while proxy.count == 0 and time.monotonic() < deadline and allowed.poll() is None:
            time.sleep(0.02)
    finally:
        allowed.kill()
        finish(allowed)
    assert proxy.count > 0, "the proxy stand-in saw nothing, so the check below would prove nothing"

    proxy.count = 0
    plain = cli_env("http://chat.example.invalid", **proxies)
    for args, stdin in ((["refresh", "--force"], None), (["set-token"], token), (["status"], None)):
        line = qwen(plain, *args, stdin=stdin).error_line()
        assert "https" in line and "required" in line, line
    assert proxy.count == 0
    assert live_server.requests == []
    assert held(env) == token


def test_no_keyring_says_so_and_how_to_opt_in_to_the_file_store(
    env: dict[str, str], live_server: QwenSimulator, account: Account
) -> None:
    no_keyring = {**env, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    token = issue(live_server, account, 6)
    for args, stdin in ((["status"], None), (["token"], None), (["set-token"], token)):
        run = qwen(no_keyring, *args, stdin=stdin)
        line = run.error_line()
        assert NO_KEYRING.search(line), line
        assert FILE_OPT_IN.search(line), line
        assert run.stdout == ""


# -- the on_refresh hook and the log -----------------------------------------------------------------

HOOK_SCRIPT = """\
import json, os, sys
from pathlib import Path

Path(sys.argv[1]).write_text(json.dumps({
    "stdin": sys.stdin.read(),
    "argv": sys.argv,
    "expires_at": os.environ.get("QWEN_TRAY_EXPIRES_AT"),
    "environ": dict(os.environ),
}))
"""

FAILING_HOOK = """\
import sys

sys.stdin.read()
print("hook is broken", file=sys.stderr)
sys.exit(3)
"""


def hook_config(script: Path, *args: Path) -> str:
    command = shlex.join([sys.executable, str(script), *map(str, args)])
    return f"on_refresh = {json.dumps(command)}\n"


def test_hook_gets_the_new_token_on_stdin_only(
    env: dict[str, str], live_server: QwenSimulator, account: Account, tmp_path: Path
) -> None:
    script, seen = tmp_path / "hook.py", tmp_path / "seen.json"
    script.write_text(HOOK_SCRIPT, encoding="utf-8")
    write_config(env, hook_config(script, seen))
    old = issue(live_server, account, 1)
    put(env, old)

    run = qwen(env, "refresh")
    assert run.returncode == 0, run
    new = stored(env)
    assert new is not None
    assert new != old
    record = json.loads(seen.read_text("utf-8"))
    assert record["stdin"].strip() == new
    assert all(new not in arg for arg in record["argv"])
    leaked = sorted(name for name, value in record["environ"].items() if new in value or old in value)
    assert leaked == []
    assert record["expires_at"] == str(expiry_of(new))
    assert_log_clean(env, [old, new])


def test_a_failing_hook_does_not_undo_the_refresh(
    env: dict[str, str], live_server: QwenSimulator, account: Account, tmp_path: Path
) -> None:
    script = tmp_path / "broken_hook.py"
    script.write_text(FAILING_HOOK, encoding="utf-8")
    old = issue(live_server, account, 1)
    put(env, old)
    write_config(env, hook_config(script))
    run = qwen(env, "refresh")
    assert run.returncode == 0, run
    new = held(env)
    assert new not in (None, old)
    log = log_text(env)
    assert "exited 3" in log
    assert "hook is broken" in log
    assert_log_clean(env, [old, new or ""])


def test_the_log_never_holds_a_token(env: dict[str, str], live_server: QwenSimulator, account: Account) -> None:
    first = issue(live_server, account, 1)
    expired = live_server.issue_token(account, expires_at=int(time.time()) - 60)
    assert qwen(env, "set-token", stdin=f"Bearer {first}").returncode == 0
    assert qwen(env, "set-token", stdin=expired).returncode == 1
    assert qwen(env, "-v", "refresh").returncode == 0
    second = held(env)
    assert second not in (None, first)
    live_server.queue("other_account")
    assert qwen(env, "-v", "refresh", "--force").returncode == 1
    live_server.queue("unauthorized")
    assert qwen(env, "refresh", "--force").returncode == 1
    assert held(env) == second
    assert_log_clean(env, [first, expired, second or ""])
    state = (app_dir(env, "STATE") / "state.json").read_text("utf-8")
    assert all(token not in state for token in (first, expired, second or ""))


# -- the daemon --------------------------------------------------------------------------------------


def last_refresh(env: dict[str, str]) -> float | None:
    """The default account's, from the state file (written atomically, after the new token is stored)."""
    book = state_json(env)
    for account in book.get("accounts", []):
        if account["id"] == book.get("default"):
            value: float | None = account.get("last_refresh")
            return value
    return None


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_daemon_refreshes_holds_the_lock_and_stops_on_signals(
    env: dict[str, str], live_server: QwenSimulator, account: Account
) -> None:
    old = issue(live_server, account, 1)
    put(env, old)
    first = start(env, "daemon")
    try:
        wait_for(lambda: len(live_server.requests) > 0 or first.poll() is not None, 10, "the daemon's refresh")
        assert first.poll() is None
        assert live_server.requests[0].bearer_token == old
        wait_for(lambda: last_refresh(env) is not None, 10, "the refresh to be recorded")
        assert held(env) not in (None, old)

        second = qwen(env, "daemon", timeout=15)
        assert "already running" in second.error_line()

        first.send_signal(signal.SIGTERM)
        ended = finish(first, timeout=5)
    finally:
        if first.poll() is None:
            first.kill()
            finish(first)
    assert ended.returncode == 0, ended
    assert len(live_server.requests) == 1
    assert held(env) not in (None, old)

    again = start(env, "daemon")
    try:
        marker = f"(pid {again.pid})"
        wait_for(lambda: marker in log_text(env) or again.poll() is not None, 10, "the second daemon to start")
        assert again.poll() is None, "a daemon could not start after the first one stopped"
        start_line = next(line for line in log_text(env).splitlines() if marker in line)
        keyring_file = Path(env["XDG_DATA_HOME"]) / "python_keyring" / "keyring_pass.cfg"
        assert f"the token is in the keyring file {keyring_file} (keyrings.alt" in start_line
        again.send_signal(signal.SIGINT)
        ended = finish(again, timeout=5)
    finally:
        if again.poll() is None:
            again.kill()
            finish(again)
    assert ended.returncode == 0, ended


def test_daemon_without_any_keyring_says_so_and_exits_at_once(env: dict[str, str]) -> None:
    """No keyring at all does not come back while the daemon runs: it must not idle looking healthy."""
    no_keyring = {**env, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    started = time.monotonic()
    run = qwen(no_keyring, "daemon", timeout=15)
    assert time.monotonic() - started < 10
    line = run.error_line()  # exit 1, one line
    assert NO_KEYRING.search(line), line
    assert FILE_OPT_IN.search(line), line
    assert "(fail)" not in log_text(no_keyring)


# -- the real Secret Service -------------------------------------------------------------------------


def test_secret_service_round_trip(
    use_secret_service: dict[str, str], live_server: QwenSimulator, account: Account
) -> None:
    env = {**use_secret_service, "QWEN_TRAY_BASE_URL": live_server.base_url}
    token = issue(live_server, account, 6)
    run = qwen(env, "set-token", stdin=f"Bearer {token}\n")
    assert run.returncode == 0, run
    assert "Stored in:    the desktop keyring (Secret Service)" in qwen(env, "status").stdout
    run = qwen(env, "token")
    assert (run.returncode, run.stdout) == (0, token + "\n")
    code, data = status(env)
    assert (code, data["state"]) == (0, "ok")


def test_autostart_enable_status_disable_round_trip(env: dict[str, str]) -> None:
    entry = Path(env["XDG_CONFIG_HOME"]) / "autostart" / "qwen-tray.desktop"
    assert qwen(env, "autostart", "status").stdout.strip() == "disabled"
    enabled = qwen(env, "autostart", "enable")
    assert enabled.returncode == 0, enabled.stderr
    assert str(entry) in enabled.stdout
    assert entry.is_file()
    assert f"Exec={QWEN_TRAY} tray --wait-for-tray 60" in entry.read_text()
    assert qwen(env, "autostart", "status").stdout.strip() == "enabled"
    assert qwen(env, "autostart", "disable").returncode == 0
    assert not entry.exists()
    assert qwen(env, "autostart", "status").stdout.strip() == "disabled"
    assert qwen(env, "autostart", "sideways").returncode == 2
