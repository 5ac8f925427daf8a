"""The ``qwen-tray`` command line: ``main(argv) -> exit code``, one place that turns errors into one line.

Exit codes: 0 done, 1 failed (one line on stderr says why), 2 usage error. Subcommands import what they
need when they run, so ``qwen-tray token`` (the hot path scripts call) never loads httpx, PIL or pystray.

What a person reads is in their language (:mod:`tray_app.i18n`); JSON, ``autostart status``, state names
and exit codes are not. The parser is built on every run, ``token`` included, so nothing is translated
while it is built: help strings are English literals marked with :func:`N_`, and the parser translates
its help, usage and errors (argparse's own words too) only when it prints them. ``token`` loads no
catalog unless it fails.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn

from tray_app import __version__
from tray_app.config import STORAGE_KINDS, Settings, load_settings
from tray_app.errors import BrowserError, QwenTrayError, StorageError, TokenFormatError
from tray_app.i18n import N_, _, local, ngettext, set_language, tr
from tray_app.paths import APP_NAME, AppPaths
from tray_app.store import CURRENT, FileStore, KeyringStore, TokenStore
from tray_app.timefmt import format_duration, format_left, format_utc
from tray_app.token import MAX_PASTE_CHARS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from _typeshed import SupportsWrite

    from tray_app.engine import Status, TokenService
    from tray_app.state import State


EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

DEMO_PROFILE = "qwen-tray-demo"

DEFAULT_TRAY_WAIT = 30.0

#: A failed refresh's kind in words (English here, translated where shown).
KIND_WORDS = {
    # TRANSLATORS: the kinds of failed refresh, leading an error line ("network: Cannot reach …").
    "invalid": N_("invalid"),
    "expired": N_("expired"),
    "blocked": N_("blocked"),
    "rate_limited": N_("rate limited"),
    "server": N_("server"),
    "network": N_("network"),
    "bad_response": N_("bad response"),
}

#: What to do about a state, under ``status`` (English here, translated where shown).
REMEDY = {
    "missing": N_(
        "Paste a token: copy(localStorage.getItem('token')) in chat.qwen.ai's DevTools console, "
        "then `qwen-tray set-token`."
    ),
    "invalid": N_("chat.qwen.ai rejected the token: paste a new one with `qwen-tray set-token`."),
    "expired": N_("The token expired: paste a new one with `qwen-tray set-token`."),
    "blocked": N_("The site's firewall stopped the last refresh: open chat.qwen.ai in a browser; retrying later."),
}

#: argparse's own words that our command line can show, for the catalog: argparse looks them up through
#: its module's ``_`` and ``ngettext``, which :func:`argparse_speaks_ours` points at ours while our parser
#: prints or parses (the others it has are for programmers' mistakes, or options we do not have).
ARGPARSE_WORDS = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("show program's version number and exit"),
    N_("the following arguments are required: %s"),
    N_("one of the arguments %s is required"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("invalid %(type)s value: %(value)r"),
    N_("unrecognized arguments: %s"),
    N_("expected one argument"),
    N_("expected at most one argument"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("ignored explicit argument %r"),
    N_("not allowed with argument %s"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("%(prog)s: error: %(message)s\n"),
)

log = logging.getLogger("tray_app.cli")


@contextmanager
def argparse_speaks_ours() -> Iterator[None]:
    """While inside: argparse's own words (``usage: ``, ``the following arguments are required: %s``…)
    come from our catalog. argparse binds gettext's functions to its module globals ``_`` and
    ``ngettext`` and calls them only when it prints or reports an error, so swapping them here loads no
    catalog on a successful parse. Nested uses are fine; the originals are put back on the way out."""
    from tray_app import i18n

    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]
    argparse._, argparse.ngettext = i18n._, i18n.ngettext  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved  # type: ignore[attr-defined]


class HelpFormatter(argparse.HelpFormatter):
    """Translates, as it formats, what was put into the parser in English: help strings, the description
    and the group titles (argparse made "options" and "positional arguments" before any language was
    chosen)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help
        return _(help_text) if help_text and help_text is not argparse.SUPPRESS else help_text

    def add_text(self, text: str | None) -> None:
        super().add_text(_(text) if text and text is not argparse.SUPPRESS else text)

    def start_section(self, heading: str | None) -> None:
        super().start_section(_(heading) if heading else heading)


class Parser(argparse.ArgumentParser):
    """argparse that never repeats a token someone typed on the command line by mistake, and that
    speaks the user's language when it prints help, usage or an error (never while it is built)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        with argparse_speaks_ours():
            return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        with argparse_speaks_ours():
            return super().format_usage()

    def format_help(self) -> str:
        with argparse_speaks_ours():
            return super().format_help()

    def print_usage(self, file: SupportsWrite[str] | None = None) -> None:
        with argparse_speaks_ours():
            super().print_usage(file)

    def print_help(self, file: SupportsWrite[str] | None = None) -> None:
        with argparse_speaks_ours():
            super().print_help(file)

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        with argparse_speaks_ours():
            return super().parse_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        from tray_app.token import redact

        with argparse_speaks_ours():
            super().error(redact(message))


def add_global_options(parser: argparse.ArgumentParser) -> None:
    """-v and --storage, which work before the command and after it (``qwen-tray status --storage file``)."""
    parser.add_argument("-v", "--verbose", action="store_true", help=N_("log more, and show tracebacks"))
    parser.add_argument(
        "--storage",
        choices=STORAGE_KINDS,
        help=N_('where the token lives: the OS "keyring" (default) or a plain 0600 "file" (opt-in)'),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="qwen-tray",
        description=N_("Keeps a chat.qwen.ai web session token alive: tray icon, daemon and command line."),
    )
    parser.add_argument("--version", action="version", version=f"qwen-tray {__version__}")
    add_global_options(parser)
    # The same options after the command; SUPPRESS leaves what was given before the command alone.
    after = Parser(add_help=False, argument_default=argparse.SUPPRESS)
    add_global_options(after)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_parser = partial(commands.add_parser, parents=[after])

    status = add_parser("status", help=N_("account, expiry, days left, state, last refresh and error"))
    status.add_argument("--json", action="store_true", help=N_("print JSON (a stable contract for scripts)"))
    status_which = status.add_mutually_exclusive_group()
    status_which.add_argument("--all", action="store_true", help=N_("every account (with --json: a list)"))
    status_which.add_argument("--account", metavar="ACCOUNT", help=N_("the account to show (email, id, or a prefix)"))

    set_token = add_parser("set-token", help=N_("store a token pasted on stdin (never from the command line)"))
    source = set_token.add_mutually_exclusive_group()
    source.add_argument("--from-clipboard", action="store_true", help=N_("read the token from the clipboard"))
    source.add_argument(
        "--from-browser",
        nargs="?",
        const="",
        metavar="BROWSER[:PROFILE]",
        help=N_(
            "import the token from a browser signed in at chat.qwen.ai (chrome, chromium, edge, brave, "
            "vivaldi, opera, firefox, librewolf; a profile as the browser names it); none named: the best of all"
        ),
    )
    set_token.add_argument("--no-verify", action="store_true", help=N_("store without asking chat.qwen.ai first"))
    set_token.add_argument(
        "--account",
        metavar="ACCOUNT",
        help=N_(
            "refuse a token of any other account (email, id, or a prefix); with --from-browser: take this "
            "account's token"
        ),
    )

    token = add_parser(
        "token", help=N_("print the stored token and nothing else: export QWEN_TOKEN=$(qwen-tray token)")
    )
    token_which = token.add_mutually_exclusive_group()
    token_which.add_argument(
        "--all", action="store_true", help=N_("every account's token, one a line, the default first")
    )
    token_which.add_argument("--account", metavar="ACCOUNT", help=N_("the account's token (email, id, or a prefix)"))

    accounts = add_parser(
        "accounts", help=N_("list the accounts: email, id, state, days left, default (never a token)")
    )
    accounts.add_argument("--json", action="store_true", help=N_("print JSON (a stable contract for scripts)"))
    use = add_parser("use", help=N_("make an account the default (what `token`, the tray's click and the rest act on)"))
    use.add_argument("account", metavar="ACCOUNT", help=N_("an email or id, or enough of its start to be unambiguous"))

    browsers = add_parser(
        "browsers", help=N_("list the chat.qwen.ai tokens found in browser profiles (never the token)")
    )
    browsers.add_argument("--json", action="store_true", help=N_("print JSON (a stable contract for scripts)"))

    refresh = add_parser("refresh", help=N_("refresh the token if it is due"))
    refresh.add_argument("--force", action="store_true", help=N_("refresh even if it is not due"))
    refresh.add_argument("--json", action="store_true", help=N_("print the outcome as JSON"))
    refresh.add_argument("--account", metavar="ACCOUNT", help=N_("the account to refresh (email, id, or a prefix)"))

    tray = add_parser("tray", help=N_("show the tray icon (the default when no command is given)"))
    tray.add_argument(
        "--wait-for-tray",
        type=float,
        default=DEFAULT_TRAY_WAIT,
        metavar="SECONDS",
        help=N_("how long to wait for the desktop's tray to appear, e.g. at login (default %(default)g)"),
    )
    demo = add_parser("demo", help=N_("the tray against a simulated chat.qwen.ai, an hour a second: no account needed"))
    demo.add_argument(
        "--wait-for-tray", type=float, default=DEFAULT_TRAY_WAIT, metavar="SECONDS", help=argparse.SUPPRESS
    )
    demo.add_argument("--time-scale", type=float, default=None, help=argparse.SUPPRESS)  # tests run it faster
    autostart = add_parser("autostart", help=N_("start the tray at login: enable, disable, or status"))
    autostart.add_argument("action", choices=("enable", "disable", "status"))
    add_parser("daemon", help=N_("keep the token alive without a tray icon, until SIGINT/SIGTERM"))
    forget = add_parser("forget", help=N_("delete an account: its token, the previous one, and its state"))
    forget_which = forget.add_mutually_exclusive_group()
    forget_which.add_argument("--all", action="store_true", help=N_("every account, and all state"))
    forget_which.add_argument("--account", metavar="ACCOUNT", help=N_("the account to forget (email, id, or a prefix)"))
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
        app = App(args, profile=DEMO_PROFILE if args.command == "demo" else APP_NAME)
        set_language(app.settings.language)  # chosen, and its catalog loaded, only when first needed
        if args.command == "token":
            return cmd_token(app)
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
        words = _("unexpected error: {error} (run with --verbose for details)").format(error=repr(exc))
        print(f"qwen-tray: {words}", file=sys.stderr)
        return EXIT_FAILED


def describe_error(exc: QwenTrayError) -> str:
    """One line, in the user's language: the kind in words for refresh failures, then the message."""
    words = KIND_WORDS.get(exc.kind)
    # TRANSLATORS: an error line: {kind} is the kind of failure ("network"), {message} what happened.
    line = _("{kind}: {message}").format(kind=_(words), message=exc.local) if words else exc.local
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
            print("qwen-tray: " + _("no token is stored; paste one with `qwen-tray set-token`."), file=sys.stderr)
        elif missing:
            words = _("no token is stored for {accounts}.").format(accounts=", ".join(map(str, map(local, missing))))
            print(f"qwen-tray: {words}", file=sys.stderr)
        return EXIT_FAILED if not ids or missing else EXIT_OK
    if not book.accounts:
        print("qwen-tray: " + _("no token is stored; paste one with `qwen-tray set-token`."), file=sys.stderr)
        return EXIT_FAILED
    account_id = resolve_account(book, app.args.account)
    token = app.store.get(current_slot(account_id))
    if token is None:
        words = _("no token is stored for {account}; paste one with `qwen-tray set-token`.").format(
            account=local(account_label(account_id, book.get(account_id)))
        )
        print(f"qwen-tray: {words}", file=sys.stderr)
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
        print(_("No accounts yet: paste a token with `qwen-tray set-token`."))
        return EXIT_OK
    for s in statuses:
        left = local(format_left(s.claims.expires_at - s.now)) if s.claims else _("expiry unknown")
        mark = "*" if s.is_default else " "
        # TRANSLATORS: one account a line: {state} is a state name kept in English for scripts ("ok",
        # "expiring"…), {left} the time left ("6 d 0 h left").
        line = _("{email}  id {id}  {state}, {left}").format(
            email=s.record.email or _("(email unknown)"), id=s.account_id, state=s.state.value, left=left
        )
        print(f"{mark} {line}")
    print(_("(* the default account: `qwen-tray use ACCOUNT` changes it)"))
    return EXIT_OK


def cmd_use(app: App) -> int:
    status = app.service().use(app.args.account)
    print(
        _("The default account is now {account} (id {id}).").format(account=local(status.label), id=status.account_id)
    )
    return EXIT_OK


#: The labels of ``status`` (English here, translated where shown).
STATUS_LABELS = {
    # TRANSLATORS: the labels of `qwen-tray status`, one a line, followed by their values (aligned).
    "state": N_("State:"),
    "account": N_("Account:"),
    "expires": N_("Expires:"),
    "last_refresh": N_("Last refresh:"),
    "next_refresh": N_("Next refresh:"),
    "last_error": N_("Last error:"),
    "stored_in": N_("Stored in:"),
}


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal (Chinese characters take two)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def format_status(status: Status, where: str) -> str:
    """``status`` for a person: labels in their language, aligned; the state name stays English."""
    labels = {key: _(label) for key, label in STATUS_LABELS.items()}
    column = max(map(_width, labels.values())) + 1

    def line(key: str, value: str) -> str:
        label = labels[key]
        return label + " " * (column - _width(label)) + value

    record = status.record
    claims = status.claims
    unknown = _("unknown")
    lines = [line("state", status.state.value)]
    if claims is not None:
        who = _("{who} (id {id})").format(who=account_words(record) or unknown, id=claims.user_id or unknown)
        lines.append(line("account", who))
        left = local(format_left(claims.expires_at - status.now))
        lines.append(line("expires", _("{date} ({left})").format(date=format_utc(claims.expires_at), left=left)))
    if record.last_refresh is not None:
        lines.append(line("last_refresh", format_utc(record.last_refresh)))
    if status.due_at is not None:
        lines.append(line("next_refresh", format_utc(max(status.due_at, status.now))))
    if record.last_error is not None:
        error = record.last_error
        # TRANSLATORS: {kind} is the kind of failure, kept in English ("network"); {date} a UTC date.
        words = _("{kind} at {date}: {message}").format(
            kind=error.kind, date=format_utc(error.at), message=local(error.message)
        )
        lines.append(line("last_error", words))
    lines.append(line("stored_in", local(where)))
    remedy = REMEDY.get(status.state.value)
    if remedy:
        lines.append(_(remedy))
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
        raise TokenFormatError(tr("Nothing to read: pipe the token on stdin or use --from-clipboard."))
    if sys.stdin.isatty():
        import getpass

        try:
            return getpass.getpass(_("Paste the token from chat.qwen.ai (input hidden), then Enter: "))
        except EOFError:  # Ctrl+D: nothing was pasted, which extract_token says in its own words
            return ""
    data = sys.stdin.buffer.read(MAX_PASTE_CHARS * 4 + 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TokenFormatError(tr("Refused: the pasted text is not UTF-8 text, so it holds no token.")) from exc


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
    if known and status.account_id not in known:
        print(added_account(who or local(status.label), len(known) + 1))
    whose = who or _("account {id}").format(id=status.claims.user_id)
    if app.args.no_verify:
        print(_("Token stored (not checked with the server) for {account}.").format(account=whose))
    else:
        print(_("Token stored (checked with chat.qwen.ai) for {account}.").format(account=whose))
    left = local(format_left(status.claims.expires_at - status.now))
    print(_("It expires {date} ({left}).").format(date=format_utc(status.claims.expires_at), left=left))
    print(_("It is kept in {store}.").format(store=local(app.store.description)))
    return EXIT_OK


def added_account(who: str, count: int) -> str:
    """``Added alice as a new account (2 accounts now).``"""
    return ngettext(
        "Added {account} as a new account ({n} account now).",
        "Added {account} as a new account ({n} accounts now).",
        count,
    ).format(account=who, n=count)


def import_from_browser(app: App, choice_text: str) -> int:
    """``set-token --from-browser [BROWSER[:PROFILE]]``: the best candidate, checked, stored if fresher."""
    from tray_app.browsers import parse_browser_choice

    if app.args.no_verify:
        raise BrowserError(tr("--from-browser always checks the token with chat.qwen.ai; leave out --no-verify."))
    choice = parse_browser_choice(choice_text) if choice_text else None
    service = app.service()
    known = service.book().ids
    outcome = service.import_from_browser(choice, account=app.args.account)
    status = outcome.status
    assert status.claims is not None  # noqa: S101 - a token is stored either way
    who = account_words(status.record) or _("account {id}").format(id=status.claims.user_id)
    date = format_utc(status.claims.expires_at)
    left = local(format_left(status.claims.expires_at - status.now))
    if not outcome.stored:
        # TRANSLATORS: {source} names a browser profile ("Firefox / default"); {date} is a UTC date, {left}
        # the time left ("6 d 0 h left").
        words = _(
            "Up to date: the token in {source} is not newer than the stored one ({account}, expires {date} ({left}))."
        )
        print(words.format(source=outcome.source, account=who, date=date, left=left))
        return EXIT_OK
    if known and outcome.status.account_id not in known:
        print(added_account(who, len(known) + 1))
    words = _("Token imported from {source} (checked with chat.qwen.ai) for {account}.")
    print(words.format(source=outcome.source, account=who))
    print(_("It expires {date} ({left}).").format(date=date, left=left))
    print(_("It is kept in {store}.").format(store=local(app.store.description)))
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
        looked = ", ".join(scan.searched) or _("no browser profile found")
        print(_("No chat.qwen.ai token in the browsers (looked in: {browsers}).").format(browsers=looked))
    for row in rows:
        if row["email"]:
            account = row["email"]
        elif row["user_id"]:
            account = _("account {id}").format(id=row["user_id"])
        else:
            account = _("not a token")
        expires = (
            _("expires {date}").format(date=format_utc(row["expires_at"]))
            if row["expires_at"] is not None
            else _("unusable: {problem}").format(problem=local(row["problem"]))
        )
        # TRANSLATORS: one token found in a browser: "Firefox / default: alice@example.com, expires 2026-12-01
        # 14:00 UTC (cookies.sqlite)".
        words = _("{browser} / {profile}: {account}, {expires} ({source})")
        print(
            words.format(
                browser=row["browser_name"],
                profile=row["profile_name"],
                account=account,
                expires=expires,
                source=row["source"],
            )
        )
    for reason in scan.skipped:
        print("  " + _("skipped: {reason}").format(reason=local(reason)), file=sys.stderr)
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
            # TRANSLATORS: {message} says why the refresh failed; {date} is a UTC date, {duration} a
            # duration ("12 h 0 min").
            later = tr(
                "{message} A running daemon or tray tries again at {date} (in {duration}).",
                message=exc.message,
                date=format_utc(status.due_at),
                duration=format_duration(status.due_at - status.now),
            )
            raise exc.restated(later) from exc
        raise
    status = outcome.status
    if app.args.json:
        print(json.dumps({"refreshed": outcome.refreshed, **status.to_json()}, indent=2))
    elif outcome.refreshed and status.claims is not None:
        left = local(format_left(status.claims.expires_at - status.now))
        words = _("Refreshed: the token now expires {date} ({left}).")
        print(words.format(date=format_utc(status.claims.expires_at), left=left))
    elif status.claims is not None and status.due_at is not None:
        words = _("Not due: the token is good until {date}; a refresh is due from {due}. Use --force to refresh now.")
        print(words.format(date=format_utc(status.claims.expires_at), due=format_utc(status.due_at)))
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
    from tray_app.demo import TIME_SCALE, Demo, demo_banner
    from tray_app.errors import StorageError
    from tray_app.tray import run_tray

    try:
        app.store.get(CURRENT)
    except StorageError as exc:  # the demo's token is not worth a keyring: fall back, and say so
        app.store = FileStore(app.paths.token_file)
        words = _("{problem} Using {store} for the demo.").format(problem=exc.local, store=local(app.store.description))
        print(f"qwen-tray demo: {words}", file=sys.stderr)
    with Demo(time_scale=app.args.time_scale or TIME_SCALE) as demo:
        app.settings = demo.settings(app.settings)
        demo.seed(app.service(clock=demo.clock))
        words = _("a simulated chat.qwen.ai on {url}; {story}").format(url=demo.base_url, story=demo.story)
        print(f"qwen-tray demo: {words}", file=sys.stderr)
        return run_tray(
            lambda wait: app.service(wait=wait, clock=demo.clock),
            app.paths,
            wait_for_tray_seconds=app.args.wait_for_tray,
            time_scale=demo.time_scale,
            title_prefix=demo_banner(),
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
        print(_("Enabled: the tray starts at login ({where}).").format(where=local(entry.describe())))
    elif action == "disable":
        removed = entry.disable()
        if removed:
            print(_("Disabled: removed {where}.").format(where=local(entry.describe())))
        else:
            print(_("Disabled (it was not enabled)."))
    else:
        print("enabled" if entry.is_enabled() else "disabled")  # for scripts: never translated
    return EXIT_OK


def cmd_forget(app: App) -> int:
    service = app.service()
    if app.args.all:
        if service.forget_all():
            print(_("Forgot every account: their tokens, the previous ones, and the state."))
        else:
            print(_("Nothing to forget: no token is stored in {store}.").format(store=local(app.store.description)))
        return EXIT_OK
    book = service.book()
    if not book.accounts and app.args.account is None:
        if service.forget_all():  # what an interrupted upgrade may have left
            print(_("Forgot the stored token, the previous one, and the state."))
        else:
            print(_("Nothing to forget: no token is stored in {store}.").format(store=local(app.store.description)))
        return EXIT_OK
    from tray_app.accounts import account_label

    account_id = service.resolve(app.args.account)
    label = local(account_label(account_id, book.get(account_id)))
    service.forget(account_id)
    left = service.book()
    if not left.accounts:
        print(_("Forgot {account}: its token, the previous one, and the state.").format(account=label))
    else:
        default = local(account_label(left.default or "", left.get(left.default or "")))
        count = len(left.accounts)
        words = ngettext(
            "Forgot {account}: its token and the previous one. {n} left; the default is {default}.",
            "Forgot {account}: its token and the previous one. {n} left; the default is {default}.",
            count,
        )
        print(words.format(account=label, n=count, default=default))
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
