"""The one call qwen-tray makes: ``GET {base}/api/v1/auths/``, which answers the account and a new token.

:func:`interpret_response` and :func:`check_new_token` are pure (status, headers, bytes in; a Session
or one of our errors out); :class:`QwenClient` is the thin httpx edge around them. Redirects are never
followed, so the Authorization header never leaves the origin we were given.
"""

from __future__ import annotations

import functools
import json
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from tray_app import __version__
from tray_app.config import check_base_url
from tray_app.errors import (
    BadResponseError,
    BlockedError,
    InvalidTokenError,
    NetworkError,
    RateLimitedError,
    ServerError,
    TokenFormatError,
)
from tray_app.i18n import tr
from tray_app.timefmt import format_utc
from tray_app.token import TokenClaims, decode_token, redact

AUTHS_PATH = "/api/v1/auths/"  # the trailing slash matters: the site answers 401 without it
#: A real answer is about 1 KB; read at most this much.
MAX_BODY_BYTES = 2 * 1024 * 1024
#: One attempt may take at most this long in all, however slowly the server trickles its answer.
ATTEMPT_DEADLINE = 8.0
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 "
    f"qwen-tray/{__version__}"
)
_FIREWALL_MARKERS = ("captcha", "punish", "rgv587", "fail_sys_user_validate", "x5secdata", "waf")
_AUTH_MARKERS = ("unauthorized", "login", "log in", "token", "expired", "forbidden", "auth")


@dataclass(frozen=True)
class Session:
    """What a successful call answered: the account and a token (``repr`` hides the token)."""

    user_id: str | None
    email: str | None
    name: str | None
    token: str
    expires_at: int | None

    def __repr__(self) -> str:
        return f"Session(user_id={self.user_id!r}, email={self.email!r}, expires_at={self.expires_at})"


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date), None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def interpret_response(status: int, headers: Mapping[str, str], body: bytes, *, now: float) -> Session:
    """Turn one HTTP answer into a Session, or raise the error kind that says what went wrong."""
    headers = {name.lower(): value for name, value in headers.items()}
    if 300 <= status < 400:
        target = _host_of(headers.get("location", ""))
        if target is None:
            raise BadResponseError(
                tr(
                    "chat.qwen.ai answered with a redirect (HTTP {status}) somewhere else; it was not followed. "
                    "If this persists, open chat.qwen.ai in a browser.",
                    status=status,
                )
            )
        raise BadResponseError(
            tr(
                "chat.qwen.ai answered with a redirect (HTTP {status}) to {target}; it was not followed. "
                "If this persists, open chat.qwen.ai in a browser.",
                status=status,
                target=target,
            )
        )
    if status in (401, 403):
        raise InvalidTokenError(
            tr(
                "chat.qwen.ai rejected the token (HTTP {status}): it expired or was revoked. "
                "Copy a new token from the browser.",
                status=status,
            )
        )
    if status == 429:
        retry_after = parse_retry_after(headers.get("retry-after"), now=now)
        raise RateLimitedError(tr("chat.qwen.ai is rate limiting us (HTTP 429)."), retry_after)
    if status >= 500:
        raise ServerError(tr("chat.qwen.ai had a server error (HTTP {status}).", status=status))
    if not 200 <= status < 300:
        raise BadResponseError(tr("chat.qwen.ai answered HTTP {status}; is base_url right?", status=status))
    text = body.decode("utf-8", errors="replace")
    if "html" in headers.get("content-type", "").lower() or _looks_like_html(text):
        raise BlockedError(
            tr(
                "chat.qwen.ai's firewall answered with a web page instead of the API (a captcha or block). "
                "The token is still good: open chat.qwen.ai in a browser, then retry."
            )
        )
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadResponseError(tr("chat.qwen.ai answered something that is not JSON.")) from exc
    if not isinstance(data, dict):
        raise BadResponseError(tr("chat.qwen.ai answered JSON that is not an object."))
    return _session_from_json(data)


def _host_of(url: str) -> str | None:
    """host[:port] of a URL, without any user:password part."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    return f"{host}:{port}" if port else host


def _looks_like_html(text: str) -> bool:
    """A web page served with a JSON content type (firewalls do that)."""
    head = text.lstrip()[:1024].lower()
    return head.startswith("<") and ("<html" in head or "<!doctype" in head)


def _session_from_json(data: dict[str, Any]) -> Session:
    flat = json.dumps(data, ensure_ascii=False).lower()
    if "ret" in data and any(marker in flat for marker in _FIREWALL_MARKERS):
        raise BlockedError(
            tr(
                "chat.qwen.ai's firewall answered with a captcha request (a captcha or block). "
                "The token is still good: open chat.qwen.ai in a browser, then retry."
            )
        )
    if data.get("success") is False:
        detail = data["data"] if isinstance(data.get("data"), dict) else {}
        raw = " ".join(str(detail.get(key, "")) for key in ("code", "details")).strip()
        raw = " ".join((raw or str(data.get("message", ""))).split())[:200]
        reason = redact(raw) or tr("no reason given")
        if any(marker in raw.lower() for marker in _AUTH_MARKERS):
            raise InvalidTokenError(
                tr("chat.qwen.ai rejected the token ({reason}). Copy a new token from the browser.", reason=reason)
            )
        raise ServerError(tr("chat.qwen.ai refused the request ({reason}).", reason=reason))
    if data.get("success") is True and isinstance(data.get("data"), dict):
        data = data["data"]
    token = data.get("token")
    if not isinstance(token, str) or not token:
        raise BadResponseError(tr("chat.qwen.ai answered without a token."))
    return Session(
        user_id=_text(data.get("id")),
        email=_text(data.get("email")),
        name=_text(data.get("name")),
        token=token,
        expires_at=_unix_time(data.get("expires_at")),
    )


def _unix_time(value: object) -> int | None:
    """A plausible unix time, or None (NaN, infinities, booleans and absurd numbers are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not 0 < value < 2**40:  # also False for NaN
        return None
    return int(value)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def check_new_token(session: Session, presented: TokenClaims, *, now: float) -> TokenClaims:
    """Accept the answered token only if it is a live JWT for the same account, lasting at least as long."""
    try:
        claims = decode_token(session.token)
    except TokenFormatError as exc:
        raise BadResponseError(tr("chat.qwen.ai answered a token that is not a JWT; the old token was kept.")) from exc
    if claims.expires_at <= now:
        raise BadResponseError(
            tr(
                "chat.qwen.ai answered a token that expired on {moment}; the old one was kept.",
                moment=format_utc(claims.expires_at),
            )
        )
    account_ids = {claims.user_id, session.user_id} - {None}
    if presented.user_id is not None and account_ids - {presented.user_id}:
        raise BadResponseError(tr("chat.qwen.ai answered a token for another account; the old token was kept."))
    if claims.expires_at < presented.expires_at:
        raise BadResponseError(
            tr("chat.qwen.ai answered a token that expires sooner than the current one; the old token was kept.")
        )
    return claims


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context (the CA bundle loaded once) for every client: a refresher with many accounts makes
    a client per refresh, and loading the bundle each time cost a third of a refresh's CPU."""
    return httpx.create_ssl_context()


class QwenClient:
    """Calls ``GET {base_url}/api/v1/auths/``. Pass ``http`` to share or fake the transport; the
    browser User-Agent, the no-redirect rule and the timeouts apply to every request either way."""

    def __init__(self, base_url: str, *, http: httpx.Client | None = None, deadline: float | None = None) -> None:
        self.base_url = check_base_url(base_url)
        self.deadline = ATTEMPT_DEADLINE if deadline is None else deadline
        self._timeout = httpx.Timeout(self.deadline, connect=min(5.0, self.deadline))
        self._http = http or httpx.Client(verify=_tls_context())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> QwenClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def fetch_session(self, token: str, *, now: float) -> Session:
        """One attempt, within ``deadline`` seconds in all: the account and a fresh token for ``token``.

        httpx bounds each read, not the whole exchange, so a server trickling its headers a byte at a
        time could hold us for ever; the exchange runs on a helper thread we stop waiting for.
        """
        host = _host_of(self.base_url) or self.base_url
        outcome: list[tuple[int, httpx.Headers, bytes]] = []
        failure: list[Exception] = []
        finished = threading.Event()

        def exchange() -> None:
            try:
                outcome.append(self._exchange(token))
            except Exception as exc:  # noqa: BLE001 - handed to the waiting thread below, not dropped
                failure.append(exc)
            finally:
                finished.set()

        threading.Thread(target=exchange, name="qwen-tray-http", daemon=True).start()
        if not finished.wait(self.deadline):
            raise NetworkError(
                tr("chat.qwen.ai ({host}) did not answer within {seconds:g} s.", host=host, seconds=self.deadline)
            )
        if failure:
            error = failure[0]
            if isinstance(error, httpx.TimeoutException):
                raise NetworkError(tr("chat.qwen.ai ({host}) did not answer in time.", host=host)) from error
            if isinstance(error, httpx.TransportError):
                reason = " ".join(str(error).split()) or type(error).__name__
                raise NetworkError(
                    tr("Cannot reach {host}: {reason}. Check the connection.", host=host, reason=redact(reason))
                ) from error
            raise error
        status, headers, body = outcome[0]
        return interpret_response(status, headers, body, now=now)

    def _exchange(self, token: str) -> tuple[int, httpx.Headers, bytes]:
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        url = self.base_url + AUTHS_PATH
        with self._http.stream("GET", url, headers=headers, follow_redirects=False, timeout=self._timeout) as response:
            return response.status_code, response.headers, _read_capped(response)


def _read_capped(response: httpx.Response) -> bytes:
    """Read at most MAX_BODY_BYTES instead of whatever the server sends."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BadResponseError(
                tr("chat.qwen.ai's answer is over {size} MB; not read.", size=MAX_BODY_BYTES // 1024 // 1024)
            )
        chunks.append(chunk)
    return b"".join(chunks)
