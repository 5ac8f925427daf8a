"""Find the chat.qwen.ai token in the browsers of this user (issue 9): read-only, bounded, nothing decrypted.

The door — everything else in this package is detail::

    from tray_app.browsers import find_tokens, parse_browser_choice

    scan = find_tokens()                                        # every supported browser and profile
    scan = find_tokens(only=parse_browser_choice("firefox:work"))  # one browser, optionally one profile
    for candidate in scan.candidates:     # at most one per profile, the newest token first
        candidate.browser_name, candidate.profile_name, candidate.source   # "Google Chrome", "Work", "localStorage"
        candidate.claims    # TokenClaims (account id, expiry) if the token decodes; else candidate.problem says why
        candidate.token     # the token itself: never in repr() or str(), never logged
    scan.skipped          # one line per file or profile that could not be read, and why
    scan.searched         # every profile looked at ("Firefox / default-release"), for "nothing found in …"

- :func:`find_tokens` ``(*, platform=sys.platform, home=Path.home(), env=os.environ, only=None,
  limits=Limits(), clock=time.monotonic) -> Scan``: look through every profile of Chrome, Chromium, Edge,
  Brave, Vivaldi, Opera (localStorage, a LevelDB), Firefox and LibreWolf (localStorage, else the ``token``
  cookie); never raises for what it finds on disk.
- :func:`parse_browser_choice` ``(text) -> BrowserChoice``: ``BROWSER[:PROFILE]``, any case; raises
  :class:`~tray_app.errors.BrowserError` with one line naming the choices.
- :class:`Limits` ``(max_bytes_per_profile=128 MiB, max_seconds=10.0)``: bytes read from one profile, and
  the time the whole scan may take; a profile over either is skipped with the reason.
- :data:`BROWSERS`: browser id → display name, in the order they are searched.
- :class:`Candidate` fields: ``browser`` ("chrome"), ``browser_name`` ("Google Chrome Beta", "Chromium
  (snap)"), ``profile`` (what selects it: Chromium's folder "Profile 1", Firefox's profiles.ini Name),
  ``profile_name`` (what the browser shows), ``source`` ("localStorage" or "cookie"), ``location`` (the
  file), ``token``, ``claims``/``problem``; ``label`` is "Google Chrome / Work". ``dataclasses.asdict()``
  would include the token: do not log that.

"Newest": within a profile, LevelDB's highest sequence number (Chromium), or the JWT that expires last
(Firefox's containers and cookie); across profiles, candidates are sorted by expiry, latest first. A running
browser writes a moment after the page does (Chromium about 1 s, Firefox about 5 s): a token stored a
moment ago may not be on disk yet; then say "wait a minute or close the browser, then try again".

Only chat.qwen.ai's entries are looked up and returned. Chromium cookies are never read (they are
encrypted; undoing that is not ours to do). The profile is never written: Chromium's LevelDB is read in
place without its LOCK; Firefox's sqlite files are copied with their ``-wal`` into a private temporary
folder, opened read-only, and deleted.

For tests with real browser profiles: pass ``home=`` the browser's home and ``env=`` the environment it
ran with (``env={}`` means the defaults: ``~/.config`` on Linux, ``~/AppData/...`` on Windows; the test
suite's conftest points XDG_CONFIG_HOME at ``<home>/config``, so ``env=os.environ`` would look there), e.g.
``find_tokens(home=home, env={}, only=BrowserChoice("chromium"))``. The per-platform folder tables are pure
functions of (platform, home, env): :func:`tray_app.browsers.chromium.chromium_roots` and
:func:`tray_app.browsers.firefox.firefox_roots`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TypeVar

from tray_app.browsers import chromium, firefox
from tray_app.browsers._common import Budget, Found
from tray_app.browsers._places import BrowserRoot
from tray_app.browsers.leveldb import DEFAULT_MAX_BYTES, DEFAULT_SECONDS
from tray_app.errors import BrowserError, TokenFormatError
from tray_app.i18n import tr
from tray_app.token import TokenClaims, decode_token

__all__ = [
    "BROWSERS",
    "BrowserChoice",
    "Candidate",
    "Limits",
    "Scan",
    "find_tokens",
    "parse_browser_choice",
]

_P = TypeVar("_P")

#: Browser id → the name people know it by, in the order they are searched.
BROWSERS: dict[str, str] = {**chromium.BROWSERS, **firefox.BROWSERS}


@dataclass(frozen=True)
class BrowserChoice:
    """One browser (an id of :data:`BROWSERS`) and optionally one of its profiles, by folder/profile name
    or by the name the browser shows (compared case-insensitively)."""

    browser: str
    profile: str | None = None

    def matches(self, browser: str, profile_ids: tuple[str, ...]) -> bool:
        if browser != self.browser:
            return False
        return self.profile is None or self.profile.casefold() in {name.casefold() for name in profile_ids}


def parse_browser_choice(text: str) -> BrowserChoice:
    """``BROWSER[:PROFILE]`` (``"Firefox:default-release"``, ``"chrome:Profile 1"``, ``"brave"``)."""
    browser, colon, profile = text.strip().partition(":")
    browser = browser.strip().casefold()
    profile = profile.strip()
    if browser not in BROWSERS:
        choices = ", ".join(BROWSERS)
        shown = browser or text.strip()
        raise BrowserError(
            tr(
                "Unknown browser {browser}: use one of {choices}, optionally followed by :PROFILE.",
                browser=repr(shown),
                choices=choices,
            )
        )
    if colon and not profile:
        raise BrowserError(
            tr("No profile after '{browser}:': give a profile name, or just '{browser}'.", browser=browser)
        )
    return BrowserChoice(browser, profile or None)


@dataclass(frozen=True)
class Limits:
    """How much one scan may read: bytes from one profile, and seconds for the whole scan."""

    max_bytes_per_profile: int = DEFAULT_MAX_BYTES
    max_seconds: float = DEFAULT_SECONDS


@dataclass(frozen=True)
class Candidate:
    """A token found in one profile of one browser. ``claims`` is set when it decodes as a JWT, else
    ``problem`` says why not. ``repr``/``str`` never show the token."""

    browser: str
    browser_name: str
    profile: str
    profile_name: str
    source: str
    location: str
    token: str
    claims: TokenClaims | None
    problem: str | None

    @property
    def label(self) -> str:
        """ "Google Chrome / Work": which browser and profile, for a person."""
        return f"{self.browser_name} / {self.profile_name}"

    def __repr__(self) -> str:
        return (
            f"Candidate(browser={self.browser!r}, profile={self.profile!r}, profile_name={self.profile_name!r}, "
            f"source={self.source!r}, claims={self.claims!r}, problem={self.problem!r})"
        )

    __str__ = __repr__


@dataclass
class Scan:
    """What :func:`find_tokens` found (newest token first), what it could not read, and where it looked."""

    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    searched: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Profile:
    """One profile of either family, as the scan handles it."""

    root: BrowserRoot
    profile_id: str
    display_name: str
    path: Path
    read: Callable[[Budget, list[str]], Found | None]

    @property
    def label(self) -> str:
        return f"{self.root.name} / {self.display_name}"


def find_tokens(
    *,
    platform: str | None = None,
    home: PurePath | str | None = None,
    env: Mapping[str, str] | None = None,
    only: BrowserChoice | None = None,
    limits: Limits | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Scan:
    """Look through every profile of every supported browser (or only ``only``) for the chat.qwen.ai token.

    ``platform``, ``home`` and ``env`` default to this machine's (``sys.platform``, ``Path.home()``,
    ``os.environ``). Never raises for anything found on disk: what could not be read is in
    ``Scan.skipped``."""
    platform = sys.platform if platform is None else platform
    home = Path.home() if home is None else home
    env = os.environ if env is None else env
    limits = Limits() if limits is None else limits
    scan = Scan()
    budget = Budget.start(limits.max_bytes_per_profile, limits.max_seconds, clock)
    roots = chromium.chromium_roots(platform, home, env) + firefox.firefox_roots(platform, home, env)
    if only is not None:
        roots = [root for root in roots if root.browser == only.browser]
    profiles = _profiles(roots, scan)
    if only is not None:
        profiles = _choose(profiles, only, scan)
    found: list[tuple[_Profile, Found]] = []
    for index, profile in enumerate(profiles):
        if budget.expired():
            left = ", ".join(item.label for item in profiles[index:])
            scan.skipped.append(
                tr(
                    "not read, over the time limit of {seconds:g} s: {profiles}",
                    seconds=limits.max_seconds,
                    profiles=left,
                )
            )
            break
        scan.searched.append(profile.label)
        problems: list[str] = []
        try:
            token = profile.read(budget.sibling(), problems)
        except OSError as exc:
            problems.append(
                tr("{path}: cannot be read ({reason})", path=profile.path, reason=exc.strerror or type(exc).__name__)
            )
            token = None
        scan.skipped += [tr("{where}: {problem}", where=profile.label, problem=line) for line in problems]
        if token is not None:
            found.append((profile, token))
    scan.candidates = sorted((_candidate(profile, token) for profile, token in found), key=_newest_first)
    return scan


def _profiles(roots: list[BrowserRoot], scan: Scan) -> list[_Profile]:
    """Every profile under ``roots`` that exists, each real folder once (a root may be reached twice)."""
    profiles: list[_Profile] = []
    seen: set[str] = set()
    for root in roots:
        problems: list[str] = []
        try:
            if root.browser in firefox.BROWSERS:
                for fx in firefox.list_profiles(root, problems):
                    profiles.append(_Profile(root, fx.name, fx.name, fx.path, _bind(firefox.read_token, fx)))
            else:
                for cr in chromium.list_profiles(root, problems):
                    profiles.append(_Profile(root, cr.folder, cr.name, cr.path, _bind(chromium.read_token, cr)))
        except OSError as exc:
            problems.append(
                tr("{path}: cannot be listed ({reason})", path=root.path, reason=exc.strerror or type(exc).__name__)
            )
        scan.skipped += problems
    unique = []
    for profile in profiles:
        real = os.path.realpath(profile.path)
        if real not in seen:
            seen.add(real)
            unique.append(profile)
    return unique


def _bind(
    reader: Callable[[_P, Budget, list[str]], Found | None], profile: _P
) -> Callable[[Budget, list[str]], Found | None]:
    return lambda budget, problems: reader(profile, budget, problems)


def _choose(profiles: list[_Profile], only: BrowserChoice, scan: Scan) -> list[_Profile]:
    chosen = [item for item in profiles if only.matches(item.root.browser, (item.profile_id, item.display_name))]
    if not chosen:
        name = BROWSERS[only.browser]
        if not profiles:
            scan.skipped.append(tr("{browser}: no profiles found for this user", browser=name))
        else:
            names = ", ".join(sorted({item.display_name for item in profiles}))
            scan.skipped.append(
                tr(
                    "{browser} has no profile {profile} (its profiles: {profiles})",
                    browser=name,
                    profile=repr(only.profile),
                    profiles=names,
                )
            )
    return chosen


def _candidate(profile: _Profile, found: Found) -> Candidate:
    claims: TokenClaims | None = None
    problem: str | None = None
    try:
        claims = decode_token(found.token)
    except TokenFormatError as exc:
        problem = exc.message  # a Text: `browsers` shows it translated, `browsers --json` in English
    return Candidate(
        browser=profile.root.browser,
        browser_name=profile.root.name,
        profile=profile.profile_id,
        profile_name=profile.display_name,
        source=found.source,
        location=found.location,
        token=found.token,
        claims=claims,
        problem=problem,
    )


def _newest_first(candidate: Candidate) -> tuple[int, int]:
    return (0, -candidate.claims.expires_at) if candidate.claims else (1, 0)
