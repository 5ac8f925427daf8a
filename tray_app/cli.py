"""The ``qwen-tray`` command line: ``main(argv) -> exit code``, one place that turns errors into one line.

Exit codes: 0 done, 1 failed (one line on stderr says why), 2 usage error. Subcommands import what they
need when they run, so ``qwen-tray token`` (the hot path scripts call) never loads httpx, PIL or pystray.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn

from tray_app import __version__
from tray_app.config import STORAGE_KINDS, Settings, load_settings
from tray_app.errors import BrowserError, QwenTrayError, StorageError, TokenFormatError
from tray_app.paths import APP_NAME, AppPaths
from tray_app.store import CURRENT, FileStore, KeyringStore, TokenStore
from tray_app.timefmt import format_duration, format_left, format_utc
from tray_app.token import MAX_PASTE_CHARS

if TYPE_CHECKING:
    from tray_app.engine import Status, TokenService
    from tray_app.state import State

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

DEMO_PROFILE = "qwen-tray-demo"

DEFAULT_TRAY_WAIT = 30.0

KIND_WORDS = {
    "invalid": "invalid",
    "expired": "expired",
    "blocked": "blocked",
    "rate_limited": "rate limited",
    "server": "server",
    "network": "network",
    "bad_response": "bad response",
}

REMEDY = {
    "missing": "Paste a token: copy(localStorage.getItem('token')) in chat.qwen.ai's DevTools console, "
    "then `qwen-tray set-token`.",
    "invalid": "chat.qwen.ai rejected the token: paste a new one with `qwen-tray set-token`.",
    "expired": "The token expired: paste a new one with `qwen-tray set-token`.",
    "blocked": "The site's firewall stopped the last refresh: open chat.qwen.ai in a browser; retrying later.",
}

log = logging.getLogger("tray_app.cli")


class Parser(argparse.ArgumentParser):
    """argparse that never repeats a token someone typed on the command line by mistake."""

    def error(self, message: str) -> NoReturn:
        from tray_app.token import redact

        super().error(redact(message))


def add_global_options(parser: argparse.ArgumentParser) -> None:
    """-v and --storage, which work before the command and after it (``qwen-tray status --storage file``)."""
    parser.add_argument("-v", "--verbose", action="store_true", help="log more, and show tracebacks")
    parser.add_argument(
        "--storage",
        choices=STORAGE_KINDS,
        help='where the token lives: the OS "keyring" (default) or a plain 0600 "file" (opt-in)',
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="qwen-tray",
        description="Keeps a chat.qwen.ai web session token alive: tray icon, daemon and command line.",
    )
    parser.add_argument("--version", action="version", version=f"qwen-tray {__version__}")
    add_global_options(parser)
    # The same options after the command; SUPPRESS leaves what was given before the command alone.
    after = Parser(add_help=False, argument_default=argparse.SUPPRESS)
    add_global_options(after)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_parser = partial(commands.add_parser, parents=[after])

    status = add_parser("status", help="account, expiry, days left, state, last refresh and error")
    status.add_argument("--json", action="store_true", help="print JSON (a stable contract for scripts)")
    status_which = status.add_mutually_exclusive_group()
    status_which.add_argument("--all", action="store_true", help="every account (with --json: a list)")
    status_which.add_argument("--account", metavar="ACCOUNT", help="the account to show (email, id, or a prefix)")

    set_token = add_parser("set-token", help="store a token pasted on stdin (never from the command line)")
    source = set_token.add_mutually_exclusive_group()
    source.add_argument("--from-clipboard", action="store_true", help="read the token from the clipboard")
    source.add_argument(
        "--from-browser",
        nargs="?",
        const="",
        metavar="BROWSER[:PROFILE]",
        help="import the token from a browser signed in at chat.qwen.ai (chrome, chromium, edge, brave, "
        "vivaldi, opera, firefox, librewolf; a profile as the browser names it); none named: the best of all",
    )
    set_token.add_argument("--no-verify", action="store_true", help="store without asking chat.qwen.ai first")
    set_token.add_argument(
        "--account",
        metavar="ACCOUNT",
        help="refuse a token of any other account (email, id, or a prefix); with --from-browser: take this "
        "account's token",
    )

    token = add_parser("token", help="print the stored token and nothing else: export QWEN_TOKEN=$(qwen-tray token)")
    token_which = token.add_mutually_exclusive_group()
    token_which.add_argument("--all", action="store_true", help="every account's token, one a line, the default first")
    token_which.add_argument("--account", metavar="ACCOUNT", help="the account's token (email, id, or a prefix)")

    accounts = add_parser("accounts", help="list the accounts: email, id, state, days left, default (never a token)")
    accounts.add_argument("--json", action="store_true", help="print JSON (a stable contract for scripts)")
    use = add_parser("use", help="make an account the default (what `token`, the tray's click and the rest act on)")
    use.add_argument("account", metavar="ACCOUNT", help="an email or id, or enough of its start to be unambiguous")

    browsers = add_parser("browsers", help="list the chat.qwen.ai tokens found in browser profiles (never the token)")
    browsers.add_argument("--json", action="store_true", help="print JSON (a stable contract for scripts)")

    refresh = add_parser("refresh", help="refresh the token if it is due")
    refresh.add_argument("--force", action="store_true", help="refresh even if it is not due")
    refresh.add_argument("--json", action="store_true", help="print the outcome as JSON")
    refresh.add_argument("--account", metavar="ACCOUNT", help="the account to refresh (email, id, or a prefix)")

    tray = add_parser("tray", help="show the tray icon (the default when no command is given)")
    tray.add_argument(
        "--wait-for-tray",
        type=float,
        default=DEFAULT_TRAY_WAIT,
        metavar="SECONDS",
        help=f"how long to wait for the desktop's tray to appear, e.g. at login (default {DEFAULT_TRAY_WAIT:g})",
    )
    demo = add_parser("demo", help="the tray against a simulated chat.qwen.ai, an hour a second: no account needed")
    demo.add_argument(
        "--wait-for-tray", type=float, default=DEFAULT_TRAY_WAIT, metavar="SECONDS", help=argparse.SUPPRESS
    )
    demo.add_argument("--time-scale", type=float, default=None, help=argparse.SUPPRESS)  # tests run it faster
    autostart = add_parser("autostart", help="start the tray at login: enable, disable, or status")
    autostart.add_argument("action", choices=("enable", "disable", "status"))
    add_parser("daemon", help="keep the token alive without a tray icon, until SIGINT/SIGTERM")
    forget = add_parser("forget", help="delete an account: its token, the previous one, and its state")
    forget_which = forget.add_mutually_exclusive_group()
    forget_which.add_argument("--all", action="store_true", help="every account, and all state")
    forget_which.add_argument("--account", metavar="ACCOUNT", help="the account to forget (email, id, or a prefix)")
    return parser


class App:
    """What every command needs: paths, settings and the store, built once from the arguments."""

    def __init__(self, args: argparse.Namespace, profile: str = APP_NAME) -> None:
        self.args = args
        self.paths = AppPaths.for_profile(profile)
        self.settings: Settings = load_settings(self.paths.config_file, os.environ)
        storage = args.storage or self.settings.storage
        self.store: TokenStore
        if storage == "file":
            self.store = FileStore(self.paths.token_file)
        else:
            self.store = KeyringStore(service=profile, timeout=self.settings.keyring_timeout)

    def exclusive(self) -> AbstractContextManager[object]:
        """The lock every change of the accounts holds (for a first run's upgrade, outside the engine)."""
        from tray_app.engine import REFRESH_LOCK_TIMEOUT
        from tray_app.locks import refresh_lock

        return refresh_lock(self.paths.refresh_lock).acquire(timeout=REFRESH_LOCK_TIMEOUT)

    def service(
        self, *, wait: Callable[[float], bool] | None = None, clock: Callable[[], float] | None = None
    ) -> TokenService:
        from tray_app.engine import TokenService
        from tray_app.state import StateFile

        return TokenService(
            settings=self.settings,
            store=self.store,
            state_file=StateFile(self.paths.state_file),
            refresh_lock_path=self.paths.refresh_lock,
            wait=wait,
            clock=clock or time.time,
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "tray"])
    try:
        if args.command == "token":
            return cmd_token(App(args))
        app = App(args, profile=DEMO_PROFILE if args.command == "demo" else APP_NAME)
        from tray_app.logs import setup_logging

        # The daemon narrates on stderr; one-shot commands print their own one line (the log file
        # still gets everything).
        chatty = logging.INFO if args.command == "daemon" else logging.ERROR
        setup_logging(app.paths.log_file, verbose=args.verbose, console_level=chatty)
        handler = COMMANDS[args.command]
        return handler(app)
    except QwenTrayError as exc:
        print(f"qwen-tray: {describe_error(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.verbose:
            raise
        print(f"qwen-tray: unexpected error: {exc!r} (run with --verbose for details)", file=sys.stderr)
        return EXIT_FAILED


def describe_error(exc: QwenTrayError) -> str:
    """One line: the kind in words for refresh failures, then the message."""
    words = KIND_WORDS.get(exc.kind)
    line = f"{words}: {exc.message}" if words else exc.message
    return " ".join(line.split())


def cmd_token(app: App) -> int:
    """The hot path scripts call: the state file for which account, then one keyring read (two for
    ``--all`` with two accounts...); nothing else is imported."""
    from tray_app.accounts import account_label, open_book, resolve_account
    from tray_app.state import StateFile
    from tray_app.store import current_slot

    book = open_book(app.store, StateFile(app.paths.state_file), exclusive=app.exclusive)
    if app.args.all:
        ids = sorted(book.ids, key=lambda each: each != book.default)  # the default first, then as added
        tokens = {each: app.store.get(current_slot(each)) for each in ids}
        sys.stdout.write("".join(token + "\n" for token in tokens.values() if token is not None))
        missing = [account_label(each, book.get(each)) for each, token in tokens.items() if token is None]
        if not ids:
            print("qwen-tray: no token is stored; paste one with `qwen-tray set-token`.", file=sys.stderr)
        elif missing:
            print(f"qwen-tray: no token is stored for {', '.join(missing)}.", file=sys.stderr)
        return EXIT_FAILED if not ids or missing else EXIT_OK
    if not book.accounts:
        print("qwen-tray: no token is stored; paste one with `qwen-tray set-token`.", file=sys.stderr)
        return EXIT_FAILED
    token = app.store.get(current_slot(resolve_account(book, app.args.account)))
    if token is None:
        print("qwen-tray: no token is stored for that account; paste one with `qwen-tray set-token`.", file=sys.stderr)
        return EXIT_FAILED
    sys.stdout.write(token + "\n")
    return EXIT_OK


def cmd_status(app: App) -> int:
    service = app.service()
    if app.args.all:
        return status_of_all(app, service)
    try:
        status = service.status(app.args.account)
    except StorageError as exc:
        if not app.args.json:
            raise
        print(json.dumps(service.unknown_status_json(exc), indent=2))  # scripts still get an object
        print(f"qwen-tray: {describe_error(exc)}", file=sys.stderr)
        return EXIT_FAILED
    if app.args.json:
        print(json.dumps(status.to_json(), indent=2))
    else:
        print(format_status(status, app.store.description))
    return EXIT_OK if status.state.usable else EXIT_FAILED


def status_of_all(app: App, service: TokenService) -> int:
    """``status --all``: every account, its token read and checked; exit 0 only if every one is usable."""
    statuses = [service.status(account_id) for account_id in service.book().ids]
    if app.args.json:
        print(json.dumps([{**s.to_json(), "default": s.is_default} for s in statuses], indent=2))
    elif not statuses:
        print(format_status(service.status(), app.store.description))
    else:
        print("\n\n".join(format_status(s, app.store.description) for s in statuses))
    return EXIT_OK if statuses and all(s.state.usable for s in statuses) else EXIT_FAILED


def cmd_accounts(app: App) -> int:
    """The accounts, from the state file (no keyring read): email, id, state, days left, default."""
    service = app.service()
    statuses = service.statuses()
    if app.args.json:
        rows = [
            {
                "id": s.account_id,
                "email": s.record.email,
                "name": s.record.name,
                "state": s.state.value,
                "expires_at": s.claims.expires_at if s.claims else None,
                "days_left": None if s.days_left is None else round(s.days_left, 4),
                "default": s.is_default,
            }
            for s in statuses
        ]
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not statuses:
        print("No accounts yet: paste a token with `qwen-tray set-token`.")
        return EXIT_OK
    for s in statuses:
        left = format_left(s.claims.expires_at - s.now) if s.claims else "expiry unknown"
        mark = "*" if s.is_default else " "
        print(f"{mark} {s.record.email or '(email unknown)'}  id {s.account_id}  {s.state.value}, {left}")
    print("(* the default account: `qwen-tray use ACCOUNT` changes it)")
    return EXIT_OK


def cmd_use(app: App) -> int:
    status = app.service().use(app.args.account)
    print(f"The default account is now {status.label} (id {status.account_id}).")
    return EXIT_OK


def format_status(status: Status, where: str) -> str:
    record = status.record
    claims = status.claims
    lines = [f"State:        {status.state.value}"]
    if claims is not None:
        lines.append(f"Account:      {account_words(record) or 'unknown'} (id {claims.user_id or 'unknown'})")
        lines.append(f"Expires:      {format_utc(claims.expires_at)} ({format_left(claims.expires_at - status.now)})")
    if record.last_refresh is not None:
        lines.append(f"Last refresh: {format_utc(record.last_refresh)}")
    if status.due_at is not None:
        lines.append(f"Next refresh: {format_utc(max(status.due_at, status.now))}")
    if record.last_error is not None:
        error = record.last_error
        lines.append(f"Last error:   {error.kind} at {format_utc(error.at)}: {error.message}")
    lines.append(f"Stored in:    {where}")
    remedy = REMEDY.get(status.state.value)
    if remedy:
        lines.append(remedy)
    return "\n".join(lines)


def account_words(record: State) -> str:
    """``Alice <alice@example.com>``, or as much of it as is known ("" if nothing)."""
    return " ".join(part for part in (record.name, f"<{record.email}>" if record.email else None) if part)


def read_pasted_text(app: App) -> str:
    """The pasted token text: from the clipboard, a hidden prompt on a terminal, or piped stdin."""
    if app.args.from_clipboard:
        from tray_app.clipboard import read_clipboard

        return read_clipboard()
    if sys.stdin is None:
        raise TokenFormatError("Nothing to read: pipe the token on stdin or use --from-clipboard.")
    if sys.stdin.isatty():
        import getpass

        try:
            return getpass.getpass("Paste the token from chat.qwen.ai (input hidden), then Enter: ")
        except EOFError:  # Ctrl+D: nothing was pasted, which extract_token says in its own words
            return ""
    data = sys.stdin.buffer.read(MAX_PASTE_CHARS * 4 + 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TokenFormatError("Refused: the pasted text is not UTF-8 text, so it holds no token.") from exc


def cmd_set_token(app: App) -> int:
    if app.args.from_browser is not None:
        return import_from_browser(app, app.args.from_browser)
    text = read_pasted_text(app)
    service = app.service()
    known = service.book().ids
    status = service.set_token(text, verify=not app.args.no_verify, account=app.args.account)
    assert status.claims is not None  # noqa: S101 - set_token just stored it
    record = status.record
    who = account_words(record)
    checked = "checked with chat.qwen.ai" if not app.args.no_verify else "not checked with the server"
    if known and status.account_id not in known:
        print(f"Added {who or status.label} as a new account ({len(known) + 1} accounts now).")
    print(f"Token stored ({checked}) for {who or 'account ' + str(status.claims.user_id)}.")
    print(f"It expires {format_utc(status.claims.expires_at)} ({format_left(status.claims.expires_at - status.now)}).")
    print(f"It is kept in {app.store.description}.")
    return EXIT_OK


def import_from_browser(app: App, choice_text: str) -> int:
    """``set-token --from-browser [BROWSER[:PROFILE]]``: the best candidate, checked, stored if fresher."""
    from tray_app.browsers import parse_browser_choice

    if app.args.no_verify:
        raise BrowserError("--from-browser always checks the token with chat.qwen.ai; leave out --no-verify.")
    choice = parse_browser_choice(choice_text) if choice_text else None
    service = app.service()
    known = service.book().ids
    outcome = service.import_from_browser(choice, account=app.args.account)
    status = outcome.status
    assert status.claims is not None  # noqa: S101 - a token is stored either way
    who = account_words(status.record) or f"account {status.claims.user_id}"
    left = f"{format_utc(status.claims.expires_at)} ({format_left(status.claims.expires_at - status.now)})"
    if not outcome.stored:
        print(f"Up to date: the token in {outcome.source} is not newer than the stored one ({who}, expires {left}).")
        return EXIT_OK
    if known and outcome.status.account_id not in known:
        print(f"Added {who} as a new account ({len(known) + 1} accounts now).")
    print(f"Token imported from {outcome.source} (checked with chat.qwen.ai) for {who}.")
    print(f"It expires {left}.")
    print(f"It is kept in {app.store.description}.")
    return EXIT_OK


def cmd_browsers(app: App) -> int:
    """What the browsers hold for chat.qwen.ai: browser, profile, account, expiry; never a token."""
    service = app.service()
    scan = service.browser_scan()
    book = service.state_file.load()  # the emails we know (no keyring read)
    rows: list[dict[str, Any]] = []
    for candidate in scan.candidates:
        claims = candidate.claims
        record = book.get(claims.user_id) if book is not None and claims is not None and claims.user_id else None
        rows.append(
            {
                "browser": candidate.browser,
                "browser_name": candidate.browser_name,
                "profile": candidate.profile,
                "profile_name": candidate.profile_name,
                "source": candidate.source,
                "user_id": claims.user_id if claims else None,
                "email": record.email if record is not None else None,
                "expires_at": claims.expires_at if claims else None,
                "problem": candidate.problem,
            }
        )
    if app.args.json:
        print(json.dumps({"found": rows, "searched": scan.searched, "skipped": scan.skipped}, indent=2))
        return EXIT_OK
    if not rows:
        looked = ", ".join(scan.searched) or "no browser profile found"
        print(f"No chat.qwen.ai token in the browsers (looked in: {looked}).")
    for row in rows:
        account = row["email"] or (f"account {row['user_id']}" if row["user_id"] else "not a token")
        expires = (
            f"expires {format_utc(row['expires_at'])}"
            if row["expires_at"] is not None
            else f"unusable: {row['problem']}"
        )
        print(f"{row['browser_name']} / {row['profile_name']}: {account}, {expires} ({row['source']})")
    for reason in scan.skipped:
        print(f"  skipped: {reason}", file=sys.stderr)
    return EXIT_OK


def cmd_refresh(app: App) -> int:
    from tray_app.errors import RefreshError

    service = app.service()
    try:
        outcome = service.refresh(app.args.account, force=app.args.force)
    except RefreshError as exc:
        status = service.status(app.args.account)
        if app.args.json:
            failed = status.to_json()
            failed.update(refreshed=False, error={"kind": exc.kind, "message": exc.message})
            print(json.dumps(failed, indent=2))
        if exc.transient and status.due_at is not None:
            wait = format_duration(status.due_at - status.now)
            later = f"A running daemon or tray tries again at {format_utc(status.due_at)} (in {wait})."
            raise exc.restated(f"{exc.message} {later}") from exc
        raise
    status = outcome.status
    if app.args.json:
        print(json.dumps({"refreshed": outcome.refreshed, **status.to_json()}, indent=2))
    elif outcome.refreshed and status.claims is not None:
        left = format_left(status.claims.expires_at - status.now)
        print(f"Refreshed: the token now expires {format_utc(status.claims.expires_at)} ({left}).")
    elif status.claims is not None and status.due_at is not None:
        print(
            f"Not due: the token is good until {format_utc(status.claims.expires_at)}; "
            f"a refresh is due from {format_utc(status.due_at)}. Use --force to refresh now."
        )
    return EXIT_OK


def cmd_daemon(app: App) -> int:
    import signal
    import threading

    from tray_app.locks import hold_instance_lock
    from tray_app.refresher import Refresher

    # No keyring at all will not change while we run: say so and exit (a service manager shows it). A
    # locked or slow one may come back: the refresher says so once and keeps trying.
    app.store.check_exists()
    lock = hold_instance_lock(app.paths.instance_lock)
    stop = threading.Event()
    service = app.service(wait=stop.wait)
    refresher = Refresher(service, stop_event=stop)

    def on_signal(signum: int, _frame: object) -> None:
        log.info("Stopping on %s.", signal.Signals(signum).name)
        refresher.stop(timeout=0)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    log.info(
        "qwen-tray %s daemon started (pid %d); the token is in %s.", __version__, os.getpid(), app.store.description
    )
    refresher.start()
    try:
        while not stop.wait(3600):
            pass
    finally:
        refresher.stop()
        lock.release()
        log.info("qwen-tray daemon stopped.")
    return EXIT_OK


def cmd_tray(app: App) -> int:
    from tray_app.tray import run_tray

    return run_tray(lambda wait: app.service(wait=wait), app.paths, wait_for_tray_seconds=app.args.wait_for_tray)


def cmd_demo(app: App) -> int:
    """The whole app against a simulated chat.qwen.ai whose clock runs an hour a second (see demo.py)."""
    from tray_app.demo import DEMO_BANNER, TIME_SCALE, Demo
    from tray_app.errors import StorageError
    from tray_app.tray import run_tray

    try:
        app.store.get(CURRENT)
    except StorageError as exc:  # the demo's token is not worth a keyring: fall back, and say so
        app.store = FileStore(app.paths.token_file)
        print(f"qwen-tray demo: {exc} Using {app.store.description} for the demo.", file=sys.stderr)
    with Demo(time_scale=app.args.time_scale or TIME_SCALE) as demo:
        app.settings = demo.settings(app.settings)
        demo.seed(app.service(clock=demo.clock))
        print(f"qwen-tray demo: a simulated chat.qwen.ai on {demo.base_url}; {demo.story}", file=sys.stderr)
        return run_tray(
            lambda wait: app.service(wait=wait, clock=demo.clock),
            app.paths,
            wait_for_tray_seconds=app.args.wait_for_tray,
            time_scale=demo.time_scale,
            title_prefix=DEMO_BANNER,
        )


def gui_main() -> int:
    """``qwen-tray-gui``: the same program, installed as a GUI script so Windows opens no console window
    for the tray (which is what runs when no command is given)."""
    return main()


def cmd_autostart(app: App) -> int:
    """`status` prints `enabled` or `disabled`; the others say what they did and where."""
    from tray_app.autostart import autostart_for

    entry = autostart_for()
    action = app.args.action
    if action == "enable":
        entry.enable()
        print(f"Enabled: the tray starts at login ({entry.describe()}).")
    elif action == "disable":
        removed = entry.disable()
        print(f"Disabled: removed {entry.describe()}." if removed else "Disabled (it was not enabled).")
    else:
        print("enabled" if entry.is_enabled() else "disabled")
    return EXIT_OK


def cmd_forget(app: App) -> int:
    service = app.service()
    if app.args.all:
        if service.forget_all():
            print("Forgot every account: their tokens, the previous ones, and the state.")
        else:
            print(f"Nothing to forget: no token is stored in {app.store.description}.")
        return EXIT_OK
    book = service.book()
    if not book.accounts and app.args.account is None:
        if service.forget_all():  # what an interrupted upgrade may have left
            print("Forgot the stored token, the previous one, and the state.")
        else:
            print(f"Nothing to forget: no token is stored in {app.store.description}.")
        return EXIT_OK
    from tray_app.accounts import account_label

    account_id = service.resolve(app.args.account)
    label = account_label(account_id, book.get(account_id))
    service.forget(account_id)
    left = service.book()
    if not left.accounts:
        print(f"Forgot {label}: its token, the previous one, and the state.")
    else:
        default = account_label(left.default or "", left.get(left.default or ""))
        print(f"Forgot {label}: its token and the previous one. {len(left.accounts)} left; the default is {default}.")
    return EXIT_OK


COMMANDS = {
    "status": cmd_status,
    "accounts": cmd_accounts,
    "use": cmd_use,
    "set-token": cmd_set_token,
    "browsers": cmd_browsers,
    "refresh": cmd_refresh,
    "daemon": cmd_daemon,
    "tray": cmd_tray,
    "demo": cmd_demo,
    "autostart": cmd_autostart,
    "forget": cmd_forget,
}


if __name__ == "__main__":
    sys.exit(main())
