"""Every error qwen-tray raises on purpose, each with a message a person can act on.

    QwenTrayError                 base: ``kind`` names it, ``str(err)`` is one line for a person
    ├── TokenFormatError          pasted text holds no usable token            kind "input"
    ├── ConfigError               config.toml or a setting is wrong            kind "config"
    ├── StorageError              keyring / file store trouble                 kind "storage"
    │   └── NoKeyringError        no keyring at all here: waiting will not help kind "storage"
    ├── AlreadyRunningError       another daemon/tray, or refresh, holds a lock kind "locked"
    ├── NoTokenError              nothing is stored yet                        kind "missing"
    ├── AccountError              --account names no account, or several       kind "account"
    ├── ClipboardError            no clipboard mechanism, or it failed         kind "clipboard"
    ├── BrowserError              a browser choice that names no known browser kind "browser"
    └── RefreshError              chat.qwen.ai did not give us a new token
        ├── InvalidTokenError     401/403: only a new token from the browser   kind "invalid"
        │   └── ExpiredTokenError its exp has passed; same remedy              kind "expired"
        ├── BlockedError          firewall / captcha page; token still good    kind "blocked"
        ├── RateLimitedError      429; ``retry_after`` seconds if the server said  kind "rate_limited"
        ├── ServerError           5xx, gateway pages                           kind "server"
        ├── NetworkError          refused, DNS, TLS, timeout                   kind "network"
        └── BadResponseError      answer without a usable, matching token      kind "bad_response"

Lower-level errors (httpx, keyring, OSError) are translated at the edge with ``raise … from exc``.

A RefreshError says what happened, never that anyone will retry: whether anyone does, and when,
depends on who asked (the refresher does; nothing retries a paste), so the engine and the CLI say that.

Messages are English (``str(error)``, for logs); one made with :func:`tray_app.i18n.tr` also carries
its translation, which :attr:`QwenTrayError.local` gives a person.
"""

from __future__ import annotations

import copy
from typing import TypeVar

_E = TypeVar("_E", bound="QwenTrayError")


class QwenTrayError(Exception):
    """Base of everything qwen-tray raises on purpose."""

    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    @property
    def local(self) -> str:
        """The message in the user's language (the English one when it was not made translatable)."""
        from tray_app.i18n import local

        return str(local(self.message))

    def restated(self: _E, message: str) -> _E:
        """The same error (class, kind and details such as ``retry_after``) saying ``message`` instead:
        for the caller that knows what happens next. Raise it ``from`` the original."""
        twin = copy.copy(self)
        twin.message = message
        twin.args = (message,)
        return twin


class TokenFormatError(QwenTrayError):
    """The pasted text does not hold a usable chat.qwen.ai token."""

    kind = "input"


class ConfigError(QwenTrayError):
    """A setting (config file, environment variable or flag) is wrong."""

    kind = "config"


class StorageError(QwenTrayError):
    """The token could not be read from or written to its store."""

    kind = "storage"


class NoKeyringError(StorageError):
    """No keyring exists here at all (keyring found no backend). Unlike a locked or slow keyring, this
    does not change while the process runs: a daemon says so and exits."""


class AlreadyRunningError(QwenTrayError):
    """Another qwen-tray daemon or tray is already keeping the token alive."""

    kind = "locked"


class NoTokenError(QwenTrayError):
    """No token is stored yet."""

    kind = "missing"

    def __init__(self, message: str | None = None) -> None:
        if message is None:
            from tray_app.i18n import tr

            message = tr("No token is stored yet: paste one with `qwen-tray set-token`.")
        super().__init__(message)


class AccountError(QwenTrayError):
    """An account selector (``--account``) that names no account we keep, or more than one."""

    kind = "account"


class ClipboardError(QwenTrayError):
    """The clipboard cannot be read or written (on Linux: no xclip, xsel or wl-clipboard)."""

    kind = "clipboard"


class BrowserError(QwenTrayError):
    """Importing from the browser cannot go on: a browser named wrongly (``BROWSER[:PROFILE]``), no token
    found in any profile, or several accounts found and none chosen."""

    kind = "browser"


class RefreshError(QwenTrayError):
    """chat.qwen.ai did not give us a new token; subclasses say why."""

    kind = "refresh"
    #: Worth retrying automatically (with backoff): the token itself may still be good.
    transient = True


class InvalidTokenError(RefreshError):
    """The server rejected the token (401/403): only a new token from the browser helps."""

    kind = "invalid"
    transient = False


class ExpiredTokenError(InvalidTokenError):
    """The stored token's own expiry has passed: no refresh can revive it."""

    kind = "expired"


class BlockedError(RefreshError):
    """The site's firewall or captcha answered instead of the API; the token is still good."""

    kind = "blocked"


class RateLimitedError(RefreshError):
    """The server said 429 Too Many Requests."""

    kind = "rate_limited"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServerError(RefreshError):
    """The server failed (5xx or a gateway page)."""

    kind = "server"


class NetworkError(RefreshError):
    """chat.qwen.ai could not be reached: refused, DNS, TLS or a timeout."""

    kind = "network"


class BadResponseError(RefreshError):
    """The server answered, but not with a usable token for this account."""

    kind = "bad_response"
