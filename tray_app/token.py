"""What a pasted string holds: the bare chat.qwen.ai JWT, its account id and expiry (pure, stdlib only).

People paste tokens with clutter: ``Bearer …``, quotes, a whole cookie header, a JSON object, line
breaks. :func:`extract_token` digs the JWT out of all of those and refuses anything else with one line
that says what is wrong. We cannot verify the signature (the key is the server's), so only the payload
is decoded, for ``id`` (the account) and ``exp``; a pasted token must carry both, as chat.qwen.ai's do.

This module is on the hot path of ``qwen-tray token``: keep it to the standard library (and call ``tr()``
only to refuse: a translation catalog is loaded on first use).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

from tray_app.errors import TokenFormatError
from tray_app.i18n import tr
from tray_app.timefmt import format_utc

#: Pasted text longer than this is refused before any parsing (a real token is about 200 bytes).
MAX_PASTE_CHARS = 16 * 1024

#: Anything shaped like a JWT, for redacting logs and messages.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")

_BASE64URL_PART = re.compile(r"[A-Za-z0-9_-]+")
_COOKIE_TOKEN = re.compile(r"(?:^|[;\s])token=([^;\s]*)")
#: One cookie of a Cookie header: a name (RFC 6265 token characters), "=", and a value up to the next ";".
_COOKIE = r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)=([^;]*)"
_COOKIE_HEADER = re.compile(rf"{_COOKIE}(?:;\s*{_COOKIE})*;?")
_PREFIX = re.compile(r"^(?:(?:cookie|authorization)\s*:\s*)?(?:bearer(?:\s+|$))?", re.IGNORECASE)
_QUOTES = "\"'`"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class TokenClaims:
    """A token with the two claims we rely on. ``repr`` never shows the token itself."""

    token: str
    expires_at: int
    user_id: str | None

    def __repr__(self) -> str:
        return f"TokenClaims(user_id={self.user_id!r}, expires_at={self.expires_at})"


@dataclass(frozen=True)
class KnownExpiry:
    """What the state file remembers of an account's token (never the token): enough to decide when to
    refresh and what the icon shows, without reading the keyring."""

    expires_at: int
    user_id: str | None


#: What decisions need of a token: its expiry and account, from the token itself or the state file.
TokenFacts = TokenClaims | KnownExpiry


def decode_token(token: str) -> TokenClaims:
    """Decode a bare JWT's payload for ``id`` and ``exp``; raise TokenFormatError if it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        if len(parts) == 1:
            raise TokenFormatError(
                tr("Not a token: a chat.qwen.ai token has three parts separated by dots, this text has no dots.")
            )
        raise TokenFormatError(
            tr(
                "Not a token: a chat.qwen.ai token has three parts separated by dots, this has {count}.",
                count=len(parts),
            )
        )
    if not all(_BASE64URL_PART.fullmatch(part) for part in parts):
        raise TokenFormatError(
            tr(
                "Not a token: it has characters that cannot be in a token "
                "(only letters, digits, - and _ between the dots)."
            )
        )
    payload_part = parts[1]
    try:
        raw = base64.urlsafe_b64decode(payload_part + "=" * (-len(payload_part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenFormatError(tr("Not a token: its middle part is not base64url.")) from exc
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise TokenFormatError(tr("Not a token: its middle part does not decode to JSON.")) from exc
    if not isinstance(payload, dict):
        raise TokenFormatError(tr("Not a token: its payload is not a JSON object."))
    exp = payload.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, (int, float)) or not 0 < exp < 2**40:
        raise TokenFormatError(tr("Not a chat.qwen.ai token: it carries no expiry time ('exp')."))
    user_id = payload.get("id")
    return TokenClaims(
        token=token,
        expires_at=int(exp),
        user_id=user_id if isinstance(user_id, str) and user_id.strip() else None,
    )


def extract_token(text: str, *, now: float) -> TokenClaims:
    """Find the token in pasted ``text``; check it names an account and has not expired at ``now`` (unix
    seconds). A JWT without an ``id`` is some other site's: chat.qwen.ai's always carry one."""
    claims = decode_token(_find_candidate(text))
    if claims.user_id is None:
        raise TokenFormatError(tr("Not a chat.qwen.ai token: it names no account (no 'id')."))
    if claims.expires_at <= now:
        raise TokenFormatError(
            tr(
                "This token expired on {date}; copy a fresh one from chat.qwen.ai.",
                date=format_utc(claims.expires_at),
            )
        )
    return claims


def _find_candidate(text: str) -> str:
    """Strip the clutter people paste around a token and return what should be the bare JWT."""
    if len(text) > MAX_PASTE_CHARS:
        raise TokenFormatError(
            tr(
                "Refused: the pasted text is {count} characters; a token is far shorter (at most {limit} are read).",
                count=len(text),
                limit=MAX_PASTE_CHARS,
            )
        )
    if _CONTROL.search(text) or "\ufffd" in text:
        raise TokenFormatError(tr("Refused: the pasted text holds binary data, not a token."))
    candidate = text.strip()
    if not candidate:
        raise TokenFormatError(tr("Nothing was pasted: the text is empty."))
    if candidate.startswith("{"):
        return _token_from_json(candidate)
    candidate = _strip_quotes(candidate)
    candidate = _PREFIX.sub("", candidate, count=1).strip()
    cookie = _COOKIE_TOKEN.search(candidate)
    if cookie:
        candidate = cookie.group(1)
    elif _is_cookie_header(candidate):
        raise TokenFormatError(tr("Refused: the pasted cookie header has no 'token' cookie."))
    candidate = _strip_quotes(candidate)
    candidate = _WHITESPACE.sub("", candidate)
    if not candidate:
        raise TokenFormatError(tr("Nothing was pasted but quotes, spaces or a prefix."))
    return candidate


def _is_cookie_header(text: str) -> bool:
    """``name=value; other=value``: cookies, at least one with a value. Base64 text ends in "=" padding,
    which also reads as a cookie with an empty value ("SGVsbG8=", "SGVsbA=="): that is not a cookie header."""
    if not _COOKIE_HEADER.fullmatch(text):
        return False
    values = (value for _name, value in re.findall(_COOKIE, text))
    return any(value.strip("= ") for value in values)


def _strip_quotes(text: str) -> str:
    while len(text) >= 2 and text[0] == text[-1] and text[0] in _QUOTES:
        text = text[1:-1].strip()
    return text


def _token_from_json(text: str) -> str:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise TokenFormatError(tr("Refused: the pasted text starts like JSON but is not valid JSON.")) from exc
    for holder in (data, data.get("data") if isinstance(data, dict) else None):
        if isinstance(holder, dict) and isinstance(holder.get("token"), str):
            token: str = holder["token"].strip()
            return token
    raise TokenFormatError(tr('Refused: the pasted JSON has no "token" field.'))


def redact(text: str) -> str:
    """Replace anything token-shaped in ``text`` so it can be logged or shown."""
    return TOKEN_SHAPE.sub("[token]", text)
