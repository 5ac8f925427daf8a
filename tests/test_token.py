"""Tests for tray_app.token: digging a chat.qwen.ai JWT out of pasted text, and refusing the rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tray_app.errors import TokenFormatError
from tray_app.token import (
    MAX_PASTE_CHARS,
    TOKEN_SHAPE,
    TokenClaims,
    decode_token,
    extract_token,
    redact,
)

#: A fixed "current time" (2027-01-15); never the wall clock.
NOW = 1_800_000_000
EXP = NOW + 7 * 24 * 3600
USER_ID = "8f3c2a1e-5b7d-4c9a-a0e2-3d6f1b9c4e87"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def make_jwt(payload: Any, *, secret: bytes = b"not-the-server-key") -> str:
    """An HS256 JWT as chat.qwen.ai issues them (compact JSON, unpadded base64url)."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
    signing_input = f"{header}.{body}"
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def make_token(user_id: str = USER_ID, exp: int = EXP) -> str:
    return make_jwt({"id": user_id, "last_password_change": 1759815466, "exp": exp})


def jwt_with_payload_part(payload_part: str) -> str:
    """A token whose middle part is exactly ``payload_part`` (header and signature are real)."""
    header, _, signature = make_token().split(".")
    return f"{header}.{payload_part}.{signature}"


TOKEN = make_token()


# --- 1. accepted forms ------------------------------------------------------------------------------

AUTHS_RESPONSE = json.dumps(
    {
        "id": USER_ID,
        "email": "someone@example.com",
        "name": "Someone",
        "role": "user",
        "profile_image_url": "data:image/png;base64,iVBORw0KGgo=",
        "token": TOKEN,
        "token_type": "Bearer",
        "expires_at": EXP,
        "permissions": {"chat": {"file_upload": True}},
    },
    indent=2,
)

ACCEPTED = [
    pytest.param(TOKEN, id="bare"),
    pytest.param(f"Bearer {TOKEN}", id="Bearer"),
    pytest.param(f"bearer {TOKEN}", id="bearer-lowercase"),
    pytest.param(f"BEARER\t{TOKEN}", id="BEARER-tab"),
    pytest.param(f"Authorization: Bearer {TOKEN}", id="authorization-header"),
    pytest.param(f"authorization:Bearer {TOKEN}", id="authorization-header-no-space"),
    pytest.param(f'"{TOKEN}"', id="double-quotes"),
    pytest.param(f"'{TOKEN}'", id="single-quotes"),
    pytest.param(f"`{TOKEN}`", id="backticks"),
    pytest.param(f'"Bearer {TOKEN}"', id="quotes-around-bearer"),
    pytest.param(f"'Authorization: Bearer {TOKEN}'", id="quotes-around-authorization"),
    pytest.param(f'Bearer "{TOKEN}"', id="bearer-then-quotes"),
    pytest.param(f'" {TOKEN} "', id="spaces-inside-quotes"),
    pytest.param(f"   {TOKEN}   ", id="leading-trailing-spaces"),
    pytest.param(f"\t{TOKEN}\t", id="tabs"),
    pytest.param(f"\r\n{TOKEN}\r\n", id="crlf"),
    pytest.param(f"\n\n  {TOKEN}\n", id="newlines-and-spaces"),
    pytest.param(f"{TOKEN[:50]}\n{TOKEN[50:]}", id="line-break-inside-token"),
    pytest.param(f"{TOKEN[:40]}\r\n{TOKEN[40:80]}\r\n{TOKEN[80:]}\r\n", id="wrapped-terminal-crlf"),
    pytest.param(f"Bearer {TOKEN[:30]}\n  {TOKEN[30:]}", id="bearer-and-wrapped"),
    pytest.param(f"token={TOKEN}; ssxmod_itna=abc==; cna=xyz", id="cookie-first"),
    pytest.param(f"Cookie: token={TOKEN}; ssxmod_itna=abc==; cna=xyz", id="cookie-header-prefix"),
    pytest.param(f"cna=xyz; token={TOKEN}; ssxmod_itna=abc==", id="cookie-middle"),
    pytest.param(f"cna=xyz; ssxmod_itna=abc==; token={TOKEN}", id="cookie-last"),
    pytest.param(f"cna=xyz; token={TOKEN}", id="cookie-last-of-two"),
    pytest.param(f"x_token=nope; token={TOKEN}", id="cookie-with-lookalike-name"),
    pytest.param(json.dumps({"token": TOKEN}), id="json-object"),
    pytest.param(f'  {{"token": " {TOKEN} "}}\n', id="json-object-padded"),
    pytest.param(AUTHS_RESPONSE, id="auths-response"),
    pytest.param(json.dumps({"success": True, "data": {"token": TOKEN}}), id="wrapped-data-token"),
]


@pytest.mark.parametrize("text", ACCEPTED)
def test_accepted_forms_return_the_bare_token(text: str) -> None:
    claims = extract_token(text, now=NOW)
    assert claims == TokenClaims(token=TOKEN, expires_at=EXP, user_id=USER_ID)
    assert claims.token == TOKEN
    assert claims.expires_at == EXP
    assert claims.user_id == USER_ID


def test_expires_one_second_after_now_is_accepted() -> None:
    token = make_token(exp=NOW + 1)
    assert extract_token(token, now=NOW).expires_at == NOW + 1


def test_paste_of_exactly_the_limit_is_read() -> None:
    text = TOKEN.center(MAX_PASTE_CHARS)
    assert len(text) == MAX_PASTE_CHARS
    assert extract_token(text, now=NOW).token == TOKEN


def test_decode_token_reads_id_and_exp_without_checking_expiry() -> None:
    expired = make_token(exp=NOW - 10)
    assert decode_token(expired) == TokenClaims(token=expired, expires_at=NOW - 10, user_id=USER_ID)


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"exp": EXP}, id="no-id"),
        pytest.param({"exp": EXP, "id": ""}, id="empty-id"),
        pytest.param({"exp": EXP, "id": "  "}, id="blank-id"),
        pytest.param({"exp": EXP, "id": 42}, id="int-id"),
        pytest.param({"exp": EXP, "id": None}, id="null-id"),
        pytest.param({"exp": EXP, "sub": USER_ID}, id="another-claim-names-the-user"),
    ],
)
def test_a_pasted_jwt_without_an_account_id_is_not_a_chat_qwen_ai_token(payload: dict[str, Any]) -> None:
    """chat.qwen.ai's tokens always carry the account's ``id`` (shared/qwen-auth-api.md); a JWT without one
    is some other site's, and storing it would only fail later "for account None"."""
    token = make_jwt(payload)
    assert decode_token(token) == TokenClaims(token=token, expires_at=EXP, user_id=None)  # what a server answered
    for text in (token, f"Bearer {token}", json.dumps({"token": token})):
        with pytest.raises(TokenFormatError) as caught:
            extract_token(text, now=NOW)
        assert str(caught.value) == "Not a chat.qwen.ai token: it names no account (no 'id')."


# --- 2. refusals ------------------------------------------------------------------------------------

REFUSED = [
    pytest.param("", "empty", id="empty"),
    pytest.param("   \t\r\n  ", "empty", id="whitespace-only"),
    pytest.param('""', "quotes", id="just-double-quotes"),
    pytest.param("''", "quotes", id="just-single-quotes"),
    pytest.param("` `", "quotes", id="just-backticks"),
    pytest.param("Bearer ", "prefix", id="bearer-alone"),
    pytest.param("Authorization: Bearer ", "prefix", id="authorization-bearer-alone"),
    pytest.param('"Bearer "', "prefix", id="quoted-bearer-alone"),
    pytest.param("eyJhbGciOiJIUzI1NiJ9", "three parts separated by dots, this text has no dots", id="one-part"),
    pytest.param("eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9", "this has 2", id="two-parts"),
    pytest.param(TOKEN + ".extra", "this has 4", id="four-parts"),
    pytest.param(jwt_with_payload_part("eyJleHAiOjE4!MDAwMDAwMDB9"), "characters", id="payload-has-bang"),
    pytest.param(jwt_with_payload_part("eyJleHAiOjE4M"), "base64url", id="payload-bad-base64-length"),
    pytest.param(jwt_with_payload_part(_b64url(b"just some words")), "JSON", id="payload-base64url-not-json"),
    pytest.param(jwt_with_payload_part(_b64url(b"\xff\xfe\x00\xd8")), "JSON", id="payload-not-utf8"),
    pytest.param(make_jwt([1, 2, 3]), "object", id="payload-is-list"),
    pytest.param(make_jwt("exp"), "object", id="payload-is-string"),
    pytest.param(make_jwt({"id": USER_ID}), "exp", id="no-exp"),
    pytest.param(make_jwt({"id": USER_ID, "exp": str(EXP)}), "exp", id="exp-string"),
    pytest.param(make_jwt({"id": USER_ID, "exp": True}), "exp", id="exp-bool"),
    pytest.param(make_jwt({"id": USER_ID, "exp": None}), "exp", id="exp-null"),
    pytest.param(make_jwt({"id": USER_ID, "exp": 0}), "exp", id="exp-zero"),
    pytest.param(make_jwt({"id": USER_ID, "exp": 2**40}), "exp", id="exp-absurd"),
    pytest.param(make_token(exp=NOW - 3600), "expired", id="expired"),
    pytest.param(make_token(exp=NOW), "expired", id="expired-exactly-now"),
    pytest.param(" " * MAX_PASTE_CHARS + TOKEN, str(MAX_PASTE_CHARS), id="over-16KiB"),
    pytest.param("x" * (MAX_PASTE_CHARS + 1), str(MAX_PASTE_CHARS), id="one-over-16KiB"),
    pytest.param("\x00", "binary", id="nul"),
    pytest.param("\x00\x01\x02", "binary", id="binary-junk"),
    pytest.param(TOKEN + "\x00", "binary", id="token-then-nul"),
    pytest.param("\ufffd\ufffdPNG", "binary", id="replacement-chars"),
    pytest.param('{"token": ', "not valid JSON", id="json-truncated"),
    pytest.param("{'token': 'x'}", "not valid JSON", id="json-single-quoted"),
    pytest.param('{"access_token": "' + TOKEN + '"}', '"token" field', id="json-without-token"),
    pytest.param('{"token": 123}', '"token" field', id="json-token-not-string"),
    pytest.param('{"data": {"user": "x"}}', '"token" field', id="json-data-without-token"),
    pytest.param("ssxmod_itna=abc==; cna=xyz", "cookie", id="cookie-without-token"),
    pytest.param("Cookie: ssxmod_itna=abc==; cna=xyz", "cookie", id="cookie-header-without-token"),
    pytest.param("cna=xyz", "cookie", id="one-cookie-without-token"),
    pytest.param("cna=xyz;", "cookie", id="one-cookie-and-semicolon"),
]


@pytest.mark.parametrize(("text", "word"), REFUSED)
def test_refusals_have_a_one_line_message(text: str, word: str) -> None:
    with pytest.raises(TokenFormatError) as excinfo:
        extract_token(text, now=NOW)
    message = str(excinfo.value)
    assert message.strip()
    assert "\n" not in message
    assert "\r" not in message
    assert word.lower() in message.lower(), message
    assert excinfo.value.kind == "input"


BASE64_100 = base64.b64encode(b"a longer secret!" * 6 + b"1234").decode()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(base64.b64encode(b"hello world").decode(), id="one-padding-char"),
        pytest.param(base64.b64encode(b"hell").decode(), id="two-padding-chars"),
        pytest.param(base64.b64encode(bytes(range(248, 256))).decode(), id="plus-slash-and-padding"),
        pytest.param(BASE64_100[:40] + "\r\n" + BASE64_100[40:], id="wrapped"),
        pytest.param(base64.urlsafe_b64encode(b"\xfb" * 31).decode(), id="urlsafe"),
        pytest.param(f'"{base64.b64encode(b"quoted!").decode()}"', id="quoted"),
    ],
)
def test_pasted_base64_is_not_a_token_and_not_a_cookie_header(text: str) -> None:
    assert "=" in text  # what used to make it "a cookie header"
    with pytest.raises(TokenFormatError) as caught:
        extract_token(text, now=NOW)
    message = str(caught.value)
    assert "cookie" not in message.lower(), message
    assert "three parts separated by dots" in message


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=96), st.sampled_from([base64.b64encode, base64.urlsafe_b64encode]))
def test_no_base64_text_is_called_a_cookie_header(raw: bytes, encode: Any) -> None:
    with pytest.raises(TokenFormatError) as caught:
        extract_token(encode(raw).decode("ascii"), now=NOW)
    assert "cookie" not in str(caught.value).lower()


def test_refusal_of_an_expired_token_does_not_show_the_token() -> None:
    token = make_token(exp=NOW - 1)
    with pytest.raises(TokenFormatError) as excinfo:
        extract_token(f"Bearer {token}", now=NOW)
    assert token not in str(excinfo.value)
    assert "2027-01-15" in str(excinfo.value)


_DEEP = 5000


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"token": ' + "[" * _DEEP + "]" * _DEEP + "}", id="pasted-json"),
        pytest.param(jwt_with_payload_part(_b64url(b"[" * _DEEP + b"]" * _DEEP)), id="payload"),
    ],
)
def test_deeply_nested_json_is_refused_not_a_crash(text: str) -> None:
    # Both fit in the 16 KiB that is read, so they must end in TokenFormatError like any other junk.
    assert len(text) <= MAX_PASTE_CHARS
    with pytest.raises(TokenFormatError):
        extract_token(text, now=NOW)


# --- 3. properties ----------------------------------------------------------------------------------

_junk_text = st.one_of(
    st.text(),
    st.binary().map(lambda raw: raw.decode("latin-1")),
    st.text(alphabet="{}[]\":,.;= \t\n'`-_abcdeyJtokenBearer0123456789"),
    st.builds(
        lambda before, after: before + TOKEN + after,
        st.text(max_size=20),
        st.text(max_size=20),
    ),
)


@settings(max_examples=300, deadline=None)
@given(_junk_text)
def test_any_text_gives_claims_or_token_format_error(text: str) -> None:
    try:
        result = extract_token(text, now=NOW)
    except TokenFormatError as exc:
        assert str(exc).strip()
        assert "\n" not in str(exc)
    else:
        assert isinstance(result, TokenClaims)


_future_exp = st.integers(min_value=NOW + 1, max_value=2**40 - 1)
_whitespace = st.text(alphabet=" \t\r\n", max_size=6)


@st.composite
def _wrapped_tokens(draw: st.DrawFn) -> tuple[str, str, str, int]:
    """A real token in some mix of prefix, quotes, whitespace and a line break: (text, token, id, exp)."""
    user = str(draw(st.uuids()))
    exp = draw(_future_exp)
    token = make_token(user, exp)
    prefix = draw(st.sampled_from(["", "Bearer ", "bearer  ", "Authorization: Bearer "]))
    quote = draw(st.sampled_from(["", '"', "'", "`"]))
    before, after, inner_before, inner_after = (draw(_whitespace) for _ in range(4))
    wrap_at = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=len(token) - 1)))
    body = token if wrap_at is None else f"{token[:wrap_at]}\n{token[wrap_at:]}"
    if draw(st.booleans()):  # quotes around the prefix too
        text = f"{before}{quote}{inner_before}{prefix}{body}{inner_after}{quote}{after}"
    else:
        text = f"{before}{prefix}{quote}{inner_before}{body}{inner_after}{quote}{after}"
    return text, token, user, exp


@settings(max_examples=200, deadline=None)
@given(_wrapped_tokens())
def test_wrapped_token_comes_back_exactly(case: tuple[str, str, str, int]) -> None:
    text, token, user, exp = case
    claims = extract_token(text, now=NOW)
    assert claims.token == token
    assert claims.expires_at == exp
    assert claims.user_id == user


_json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_json_value = st.one_of(_json_scalar, st.lists(_json_scalar, max_size=3))


@settings(max_examples=200, deadline=None)
@given(exp=_future_exp, extra=st.dictionaries(st.text(max_size=10), _json_value, max_size=6))
def test_decode_token_returns_exp_whatever_the_other_claims(exp: int, extra: dict[str, Any]) -> None:
    token = make_jwt({**extra, "id": USER_ID, "exp": exp})
    claims = decode_token(token)
    assert claims.expires_at == exp
    assert claims.token == token
    assert extract_token(token, now=NOW).expires_at == exp


@settings(max_examples=100, deadline=None)
@given(user=st.uuids(), exp=_future_exp)
def test_repr_never_shows_the_token(user: uuid.UUID, exp: int) -> None:
    token = make_token(str(user), exp)
    claims = extract_token(token, now=NOW)
    for shown in (repr(claims), str(claims), f"{claims}", repr([claims])):
        assert token not in shown
        assert token.split(".")[2] not in shown
    assert str(user) in repr(claims)


# --- 4. redact and TOKEN_SHAPE ----------------------------------------------------------------------


def test_redact_replaces_a_token_in_a_log_line() -> None:
    line = f"2027-01-15 08:00:00 INFO refresh sent Authorization: Bearer {TOKEN} (attempt 1)"
    redacted = redact(line)
    assert TOKEN not in redacted
    assert redacted == "2027-01-15 08:00:00 INFO refresh sent Authorization: Bearer [token] (attempt 1)"


def test_redact_replaces_every_token() -> None:
    other = make_token("00000000-0000-4000-8000-000000000000", EXP + 1)
    assert redact(f"old={TOKEN} new={other}") == "old=[token] new=[token]"


@pytest.mark.parametrize(
    "line",
    [
        "",
        "qwen-tray 1.2.3 started; config at ~/.config/qwen-tray/config.toml",
        "POST https://chat.qwen.ai/api/v1/auths/ -> 200 in 0.31 s",
        "token expires 2027-01-22 08:00 UTC (in 7 days)",
        "a.b.c and example.co.uk and 10.0.0.1",
    ],
)
def test_redact_leaves_ordinary_text_alone(line: str) -> None:
    assert redact(line) == line


@settings(max_examples=100, deadline=None)
@given(user=st.uuids(), exp=_future_exp)
def test_token_shape_matches_real_tokens(user: uuid.UUID, exp: int) -> None:
    token = make_token(str(user), exp)
    assert TOKEN_SHAPE.fullmatch(token)
    assert redact(f"[{token}]") == "[[token]]"
