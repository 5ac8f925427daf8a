"""The refresh call: the pure answer interpreter, then the real httpx client against the loopback site.

Part one feeds :func:`interpret_response` plain status codes, header dicts and bytes (no network). Part two
runs the real :class:`QwenClient` over real sockets against :class:`QwenSimulator`, one queued failure at a
time. Part three proves the proxy environment variables are honoured through a forward proxy on loopback.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import tray_app.client as client_module
from tests.helpers import NOW, FakeClock
from tray_app.client import (
    AUTHS_PATH,
    MAX_BODY_BYTES,
    QwenClient,
    Session,
    check_new_token,
    interpret_response,
    parse_retry_after,
)
from tray_app.errors import (
    BadResponseError,
    BlockedError,
    ConfigError,
    InvalidTokenError,
    NetworkError,
    QwenTrayError,
    RateLimitedError,
    RefreshError,
    ServerError,
)
from tray_app.simulator import REDIRECT_LOCATION, Account, Behaviour, QwenSimulator, sign_token
from tray_app.token import TOKEN_SHAPE, TokenClaims, decode_token

SECRET = b"client-tests-secret"
USER_ID = "7f7f7f7f-1111-4222-8333-444444444444"
OTHER_ID = "0a0a0a0a-5555-4666-8777-888888888888"
DAY = 86400
NEW_EXP = int(NOW) + 7 * DAY
#: The token a good answer carries (signed like the real site's; the client cannot check the signature).
NEW_TOKEN = sign_token({"id": USER_ID, "last_password_change": 1, "exp": NEW_EXP}, SECRET)
#: The token we presented, a day older than the new one.
OLD_TOKEN = sign_token({"id": USER_ID, "last_password_change": 1, "exp": NEW_EXP - DAY}, SECRET)
JSON_HEADERS = {"content-type": "application/json"}
HTML_HEADERS = {"content-type": "text/html; charset=utf-8"}


def user_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": USER_ID,
        "email": "alice@example.com",
        "name": "Alice",
        "role": "user",
        "profile_image_url": "/user.png",
        "token": NEW_TOKEN,
        "token_type": "Bearer",
        "expires_at": NEW_EXP,
        "permissions": {"chat": {"edit": True}},
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not None}


def as_json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def assert_one_line_without_tokens(error: BaseException, *tokens: str) -> None:
    """Every message a person sees is one line and never shows a token."""
    message = str(error)
    assert message
    assert "\n" not in message
    assert "\r" not in message
    for token in (NEW_TOKEN, OLD_TOKEN, *tokens):
        assert token not in message
    assert not TOKEN_SHAPE.search(message)


# -- interpret_response: a pure table ------------------------------------------------------------------

GATEWAY_HTML = b"<html><head><title>504 Gateway Time-out</title></head><body><h1>504</h1></body></html>"
CAPTCHA_HTML = (
    b'<!DOCTYPE html>\n<html lang="zh-CN"><head><title>captcha</title></head>'
    b'<body><div id="nocaptcha" data-action="captcha"></div></body></html>'
)
WAF_JSON = {
    "ret": ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::哎哟喂,被挤爆啦,请稍后重试"],
    "data": {"url": "https://chat.qwen.ai/punish?x5secdata=xx&x5step=1&action=captcha"},
}

FAILURES: list[Any] = [
    pytest.param(
        200,
        JSON_HEADERS,
        as_json({"success": False, "data": {"code": "Unauthorized", "details": "Login expired, please log in again"}}),
        InvalidTokenError,
        id="success-false-auth-reason",
    ),
    pytest.param(
        200,
        JSON_HEADERS,
        as_json({"success": False, "message": "Your token has expired"}),
        InvalidTokenError,
        id="success-false-auth-reason-in-message",
    ),
    pytest.param(
        200,
        JSON_HEADERS,
        as_json({"success": False, "data": {"code": "InternalError", "details": "Service busy, try later"}}),
        ServerError,
        id="success-false-other-reason",
    ),
    pytest.param(
        200,
        JSON_HEADERS,
        as_json({"success": False, "request_id": "r-1"}),
        ServerError,
        id="success-false-no-reason",
    ),
    pytest.param(
        200,
        JSON_HEADERS,
        as_json({"success": False, "data": {"code": "Unauthorized", "details": f"bad token {NEW_TOKEN}"}}),
        InvalidTokenError,
        id="success-false-reason-quoting-a-token",
    ),
    pytest.param(401, JSON_HEADERS, as_json({"detail": "Not authenticated"}), InvalidTokenError, id="401"),
    pytest.param(401, {}, b"", InvalidTokenError, id="401-empty"),
    pytest.param(403, JSON_HEADERS, as_json({"detail": "Forbidden"}), InvalidTokenError, id="403"),
    *(
        pytest.param(status, JSON_HEADERS, as_json({"detail": "Server Error"}), ServerError, id=f"{status}-json")
        for status in (500, 502, 503, 504)
    ),
    *(
        pytest.param(status, HTML_HEADERS, GATEWAY_HTML, ServerError, id=f"{status}-html")
        for status in (500, 502, 503, 504)
    ),
    pytest.param(200, HTML_HEADERS, CAPTCHA_HTML, BlockedError, id="200-captcha-html"),
    pytest.param(200, JSON_HEADERS, b"\n  " + CAPTCHA_HTML, BlockedError, id="200-html-served-as-json"),
    pytest.param(200, {}, GATEWAY_HTML, BlockedError, id="200-html-without-content-type"),
    pytest.param(200, JSON_HEADERS, as_json(WAF_JSON), BlockedError, id="200-waf-json"),
    pytest.param(404, JSON_HEADERS, as_json({"detail": "Not Found"}), BadResponseError, id="404"),
    pytest.param(405, JSON_HEADERS, as_json({"detail": "Method Not Allowed"}), BadResponseError, id="405"),
    pytest.param(200, JSON_HEADERS, b"<<not json>>", BadResponseError, id="not-json"),
    pytest.param(200, JSON_HEADERS, b"", BadResponseError, id="empty-body"),
    pytest.param(200, JSON_HEADERS, b"\xff\xfe\x00garbage", BadResponseError, id="not-utf8"),
    pytest.param(200, JSON_HEADERS, as_json([user_body()]), BadResponseError, id="json-list"),
    pytest.param(200, JSON_HEADERS, b"null", BadResponseError, id="json-null"),
    pytest.param(200, JSON_HEADERS, as_json(f"{NEW_TOKEN}"), BadResponseError, id="json-string"),
    pytest.param(200, JSON_HEADERS, as_json(user_body(token=None)), BadResponseError, id="no-token"),
    pytest.param(200, JSON_HEADERS, as_json(user_body(token="")), BadResponseError, id="empty-token"),
    pytest.param(200, JSON_HEADERS, as_json(user_body(token=12345)), BadResponseError, id="token-not-a-string"),
    pytest.param(
        200,
        JSON_HEADERS,
        as_json({"success": True, "data": user_body(token=None)}),
        BadResponseError,
        id="wrapped-no-token",
    ),
]


@pytest.mark.parametrize(("status", "headers", "body", "kind"), FAILURES)
def test_interpret_response_failures(
    status: int, headers: dict[str, str], body: bytes, kind: type[RefreshError]
) -> None:
    with pytest.raises(RefreshError) as caught:
        interpret_response(status, headers, body, now=NOW)
    assert type(caught.value) is kind
    assert_one_line_without_tokens(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(user_body(), id="bare"),
        pytest.param({"success": True, "request_id": "r-1", "data": user_body()}, id="wrapped"),
    ],
)
def test_interpret_response_ok(body: dict[str, Any]) -> None:
    session = interpret_response(200, JSON_HEADERS, as_json(body), now=NOW)
    assert session == Session(
        user_id=USER_ID, email="alice@example.com", name="Alice", token=NEW_TOKEN, expires_at=NEW_EXP
    )
    assert NEW_TOKEN not in repr(session)


def test_interpret_response_tolerates_missing_and_odd_optional_fields() -> None:
    body = {"token": NEW_TOKEN, "expires_at": True, "email": "", "name": 5}
    session = interpret_response(200, {}, as_json(body), now=NOW)
    assert session == Session(user_id=None, email=None, name=None, token=NEW_TOKEN, expires_at=None)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        pytest.param("120", 120.0, id="seconds"),
        pytest.param(formatdate(NOW + 300, usegmt=True), 300.0, id="http-date"),
        pytest.param(None, None, id="absent"),
        pytest.param("whenever", None, id="unreadable"),
    ],
)
def test_interpret_response_429(retry_after: str | None, expected: float | None) -> None:
    headers = dict(JSON_HEADERS)
    if retry_after is not None:
        headers["retry-after"] = retry_after
    with pytest.raises(RateLimitedError) as caught:
        interpret_response(429, headers, as_json({"detail": "Too Many Requests"}), now=NOW)
    assert caught.value.retry_after == expected
    assert_one_line_without_tokens(caught.value)
    assert str(caught.value) == "chat.qwen.ai is rate limiting us (HTTP 429)."  # when to retry: the caller's to say


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_interpret_response_redirect_names_the_other_host(status: int) -> None:
    headers = {"location": f"https://evil.example:8443/login?next=/api/v1/auths/&t={NEW_TOKEN}"}
    with pytest.raises(BadResponseError) as caught:
        interpret_response(status, headers, b"", now=NOW)
    assert "evil.example:8443" in str(caught.value)
    assert f"HTTP {status}" in str(caught.value)
    assert_one_line_without_tokens(caught.value)


def test_interpret_response_redirect_without_location() -> None:
    with pytest.raises(BadResponseError, match="somewhere else"):
        interpret_response(302, {}, b"", now=NOW)


def test_interpret_response_success_false_with_a_multi_line_reason_is_one_line() -> None:
    body = {"success": False, "data": {"code": "InternalError", "details": "Service busy.\nPlease retry.\r\nBye"}}
    with pytest.raises(ServerError) as caught:
        interpret_response(200, JSON_HEADERS, as_json(body), now=NOW)
    assert_one_line_without_tokens(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"token": "%s", "expires_at": 1e400}' % NEW_TOKEN.encode(), id="expires-at-overflows"),
        pytest.param(b'{"token": "%s", "expires_at": NaN}' % NEW_TOKEN.encode(), id="expires-at-nan"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply-nested-json"),
    ],
)
def test_interpret_response_never_raises_anything_but_our_errors(body: bytes) -> None:
    """A broken answer is a BadResponseError (or a Session without expires_at), never a crash."""
    try:
        session = interpret_response(200, JSON_HEADERS, body, now=NOW)
    except QwenTrayError as error:
        assert isinstance(error, BadResponseError)
        assert_one_line_without_tokens(error)
    else:
        assert session.expires_at is None


def test_interpret_response_reads_header_names_in_any_case() -> None:
    """Header names are case-insensitive in HTTP; a plain dict as servers spell them must work too."""
    with pytest.raises(RateLimitedError) as caught:
        interpret_response(429, {"Retry-After": "120"}, b"", now=NOW)
    assert caught.value.retry_after == 120.0
    with pytest.raises(BadResponseError) as redirected:
        interpret_response(302, {"Location": "https://evil.example/"}, b"", now=NOW)
    assert "evil.example" in str(redirected.value)
    with pytest.raises(BlockedError):
        interpret_response(200, {"Content-Type": "text/html"}, b"Access denied by the firewall.", now=NOW)


# -- parse_retry_after ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, None, id="none"),
        pytest.param("", None, id="empty"),
        pytest.param("120", 120.0, id="seconds"),
        pytest.param("  7 ", 7.0, id="padded"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("-5", None, id="negative"),
        pytest.param("1.5", None, id="fraction"),
        pytest.param("soon", None, id="words"),
        pytest.param(formatdate(NOW + 90, usegmt=True), 90.0, id="future-date"),
        pytest.param(formatdate(NOW - 90, usegmt=True), 0.0, id="past-date"),
        pytest.param("Fri, 15 Jan 2027 08:02:00 -0000", None, id="date-without-zone"),
        pytest.param("Mon, 32 Jan 2027 00:00:00 GMT", None, id="impossible-date"),
        pytest.param("\u00b2", None, id="superscript-digit"),
        pytest.param("\u0661\u0662", None, id="arabic-indic-digits"),  # RFC 9110: ASCII digits only
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


# -- check_new_token -----------------------------------------------------------------------------------


def presented(token: str = OLD_TOKEN) -> TokenClaims:
    return decode_token(token)


def answered(token: str, user_id: str | None = USER_ID) -> Session:
    return Session(user_id=user_id, email="alice@example.com", name="Alice", token=token, expires_at=None)


def test_check_new_token_accepts_a_later_token_for_the_same_account() -> None:
    claims = check_new_token(answered(NEW_TOKEN), presented(), now=NOW)
    assert (claims.token, claims.user_id, claims.expires_at) == (NEW_TOKEN, USER_ID, NEW_EXP)


def test_check_new_token_accepts_the_same_expiry() -> None:
    same = sign_token({"id": USER_ID, "exp": NEW_EXP - DAY}, SECRET)
    assert check_new_token(answered(same), presented(), now=NOW).expires_at == NEW_EXP - DAY


@pytest.mark.parametrize(
    ("session", "message"),
    [
        pytest.param(answered("not-a-jwt"), "not a JWT", id="not-a-jwt"),
        pytest.param(answered("aaaaaaaa.bbbbbbbb.cccccccc"), "not a JWT", id="jwt-shaped-garbage"),
        pytest.param(answered(sign_token({"id": USER_ID, "exp": int(NOW) - 60}, SECRET)), "expired on", id="expired"),
        pytest.param(answered(sign_token({"id": USER_ID, "exp": int(NOW)}, SECRET)), "expired on", id="expires-now"),
        pytest.param(
            answered(sign_token({"id": OTHER_ID, "exp": NEW_EXP}, SECRET)), "another account", id="other-token-id"
        ),
        pytest.param(answered(NEW_TOKEN, user_id=OTHER_ID), "another account", id="other-body-id"),
        pytest.param(
            answered(sign_token({"exp": NEW_EXP}, SECRET), user_id=OTHER_ID),
            "another account",
            id="other-body-id-token-without-id",
        ),
        pytest.param(
            answered(sign_token({"id": USER_ID, "exp": NEW_EXP - DAY - 3600}, SECRET)),
            "expires sooner",
            id="earlier-expiry",
        ),
    ],
)
def test_check_new_token_refuses(session: Session, message: str) -> None:
    with pytest.raises(BadResponseError, match=message) as caught:
        check_new_token(session, presented(), now=NOW)
    assert_one_line_without_tokens(caught.value, session.token)


# -- the request the client builds (httpx.MockTransport) -----------------------------------------------


def mock_client(seen: list[httpx.Request], answer: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer(request)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_the_request_the_client_builds() -> None:
    seen: list[httpx.Request] = []
    http = mock_client(seen, lambda _: httpx.Response(200, json=user_body()))
    with QwenClient("https://chat.qwen.ai/", http=http) as client:
        session = client.fetch_session(OLD_TOKEN, now=NOW)
    assert http.is_closed
    assert session.token == NEW_TOKEN
    [request] = seen
    assert request.method == "GET"
    assert str(request.url) == "https://chat.qwen.ai/api/v1/auths/"
    assert request.url.path == "/api/v1/auths/" == AUTHS_PATH
    assert request.headers["authorization"] == f"Bearer {OLD_TOKEN}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/json"


def test_an_injected_http_client_still_sends_a_browser_user_agent() -> None:
    """``http=`` is there to share or fake the transport; what goes on the wire must not change."""
    seen: list[httpx.Request] = []
    http = mock_client(seen, lambda _: httpx.Response(401))
    with QwenClient("https://chat.qwen.ai", http=http) as client, pytest.raises(InvalidTokenError):
        client.fetch_session(OLD_TOKEN, now=NOW)
    user_agent = seen[0].headers["user-agent"]
    assert user_agent.startswith("Mozilla/5.0 ")
    assert "python-httpx" not in user_agent


def test_an_invalid_base_url_is_our_error_not_httpx_s() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        QwenClient("https://chat.qwen.ai:abc")


# -- the real client against the real simulator --------------------------------------------------------


@pytest.fixture
def account(server: QwenSimulator) -> Account:
    return server.add_account(email="alice@example.com", name="Alice")


@pytest.fixture
def token(server: QwenSimulator, account: Account) -> str:
    return server.issue_token(account)


@pytest.fixture
def client(server: QwenSimulator) -> Iterator[QwenClient]:
    with QwenClient(server.base_url) as qwen:
        yield qwen


class _CountingStream(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream, wire: Wire) -> None:
        self._inner = inner
        self._wire = wire

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._wire.bytes_read += len(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class Wire:
    """What the default client's transport really did: every URL it sent to and the body bytes it read."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.bytes_read = 0


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    """Spy on httpx's real transport (the one QwenClient builds), without changing what it does."""
    record = Wire()
    original = httpx.HTTPTransport.handle_request

    def spy(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        record.urls.append(str(request.url))
        response = original(self, request)
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _CountingStream(response.stream, record)
        return response

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", spy)
    return record


def test_ok_gives_a_verified_new_token_for_the_same_account(
    server: QwenSimulator, client: QwenClient, account: Account, token: str, clock: FakeClock
) -> None:
    clock.advance(DAY)  # the answer then carries a token a day younger than the one presented
    session = client.fetch_session(token, now=clock.now)
    assert session.token != token
    assert server.verify_token(session.token) == account
    new_claims = decode_token(session.token)
    assert session.expires_at == new_claims.expires_at == int(clock.now) + 7 * DAY
    assert (session.user_id, session.email, session.name) == (account.user_id, "alice@example.com", "Alice")
    assert check_new_token(session, decode_token(token), now=clock.now) == new_claims
    [request] = server.requests
    assert (request.method, request.path, request.bearer_token) == ("GET", AUTHS_PATH, token)
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"].startswith("Mozilla/5.0 ")
    assert "qwen-tray/" in request.headers["user-agent"]


def test_the_wrapped_answer_works_too(server: QwenSimulator, client: QwenClient, account: Account, token: str) -> None:
    server.queue("wrapped")
    session = client.fetch_session(token, now=server.clock())
    assert server.verify_token(session.token) == account


@pytest.mark.parametrize("base_suffix", ["", "/", "//"])
def test_the_base_url_gets_exactly_the_auths_path(server: QwenSimulator, token: str, base_suffix: str) -> None:
    with QwenClient(server.base_url + base_suffix) as qwen:
        qwen.fetch_session(token, now=server.clock())
    assert [request.path for request in server.requests] == [AUTHS_PATH]


@pytest.mark.parametrize(
    ("behaviour", "kind"),
    [
        pytest.param(Behaviour("unauthorized"), InvalidTokenError, id="unauthorized"),
        pytest.param(Behaviour("forbidden"), InvalidTokenError, id="forbidden"),
        pytest.param(Behaviour("success_false"), InvalidTokenError, id="success_false"),
        pytest.param(Behaviour("server_error"), ServerError, id="server_error"),
        pytest.param(Behaviour("server_error", status=503), ServerError, id="server_error-503"),
        pytest.param(Behaviour("gateway_html"), ServerError, id="gateway_html"),
        pytest.param(Behaviour("captcha_html"), BlockedError, id="captcha_html"),
        pytest.param(Behaviour("waf_json"), BlockedError, id="waf_json"),
        pytest.param(Behaviour("not_json"), BadResponseError, id="not_json"),
        pytest.param(Behaviour("no_token"), BadResponseError, id="no_token"),
        pytest.param(Behaviour("drop"), NetworkError, id="drop"),
    ],
)
def test_each_failure_raises_its_kind(
    server: QwenSimulator, client: QwenClient, token: str, behaviour: Behaviour, kind: type[RefreshError]
) -> None:
    server.queue(behaviour)
    with pytest.raises(RefreshError) as caught:
        client.fetch_session(token, now=server.clock())
    assert type(caught.value) is kind
    assert_one_line_without_tokens(caught.value, token)
    assert len(server.requests) == 1
    assert not server.pending


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("120", 120.0), (formatdate(NOW + 600, usegmt=True), 600.0), (None, None)],
    ids=["seconds", "http-date", "absent"],
)
def test_rate_limited_keeps_retry_after(
    server: QwenSimulator, client: QwenClient, token: str, retry_after: str | None, expected: float | None
) -> None:
    server.queue(Behaviour("rate_limited", retry_after=retry_after))
    with pytest.raises(RateLimitedError) as caught:
        client.fetch_session(token, now=NOW)
    assert caught.value.retry_after == expected
    assert_one_line_without_tokens(caught.value, token)


@pytest.mark.parametrize("behaviour", ["token_not_jwt", "expired_token", "other_account", "earlier_expiry"])
def test_unusable_new_tokens_are_refused_by_check_new_token(
    server: QwenSimulator, client: QwenClient, token: str, behaviour: str
) -> None:
    server.queue(behaviour)
    session = client.fetch_session(token, now=server.clock())
    with pytest.raises(BadResponseError) as caught:
        check_new_token(session, decode_token(token), now=server.clock())
    assert_one_line_without_tokens(caught.value, token, session.token)


def test_a_redirect_is_not_followed(server: QwenSimulator, client: QwenClient, token: str, wire: Wire) -> None:
    server.queue("redirect")
    with pytest.raises(BadResponseError) as caught:
        client.fetch_session(token, now=server.clock())
    target = urlsplit(REDIRECT_LOCATION).netloc
    assert target in str(caught.value)
    assert_one_line_without_tokens(caught.value, token)
    assert len(server.requests) == 1
    assert wire.urls == [server.base_url + AUTHS_PATH]  # nothing was sent to the Location


def test_a_huge_answer_is_refused_without_reading_it(
    server: QwenSimulator, client: QwenClient, token: str, wire: Wire
) -> None:
    server.queue(Behaviour("huge"))  # 64 MiB
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(BadResponseError) as caught:
            client.fetch_session(token, now=server.clock())
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 5.0
    assert MAX_BODY_BYTES < wire.bytes_read <= MAX_BODY_BYTES + 1024 * 1024
    assert peak < 16 * 1024 * 1024
    assert_one_line_without_tokens(caught.value, token)


@pytest.fixture
def short_deadline(monkeypatch: pytest.MonkeyPatch) -> float:
    """The client's deadline, cut so a stall costs a second; clients built after this use it."""
    monkeypatch.setattr(client_module, "ATTEMPT_DEADLINE", 0.5)
    return 0.5


def test_a_stall_longer_than_the_deadline_is_a_network_error(
    server: QwenSimulator, token: str, short_deadline: float
) -> None:
    server.queue(Behaviour("stall"))  # until the simulator stops
    with QwenClient(server.base_url) as qwen:
        started = time.monotonic()
        with pytest.raises(NetworkError) as caught:
            qwen.fetch_session(token, now=server.clock())
        elapsed = time.monotonic() - started
    assert short_deadline <= elapsed < short_deadline + 1.5
    assert_one_line_without_tokens(caught.value, token)


def test_connection_refused_is_a_network_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with QwenClient(f"http://127.0.0.1:{port}") as qwen, pytest.raises(NetworkError) as caught:
        qwen.fetch_session(OLD_TOKEN, now=NOW)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert_one_line_without_tokens(caught.value)


# -- a server that trickles its answer -----------------------------------------------------------------


class Trickler:
    """A one-connection server: writes ``head`` at once, ``drip`` a byte every ``interval``, then ``tail``."""

    def __init__(self, head: bytes, drip: bytes, interval: float, tail: bytes = b"") -> None:
        self.head, self.drip, self.interval, self.tail = head, drip, interval, tail
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(5.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="trickler", daemon=True)
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> Trickler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self._listener.close()

    def _serve(self) -> None:
        try:
            connection, _ = self._listener.accept()
        except OSError:
            return
        with connection:
            try:
                connection.recv(65536)
                connection.sendall(self.head)
                for byte in self.drip:
                    if self._stop.wait(self.interval):
                        return
                    connection.sendall(bytes([byte]))
                connection.sendall(self.tail)
            except OSError:
                return  # the client gave up, as it should


def test_a_body_trickled_past_the_deadline_is_a_network_error(short_deadline: float) -> None:
    body = as_json(user_body())
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    with Trickler(head, body, 0.05) as trickler, QwenClient(trickler.base_url) as qwen:
        started = time.monotonic()
        with pytest.raises(NetworkError):
            qwen.fetch_session(OLD_TOKEN, now=NOW)
        assert time.monotonic() - started < short_deadline + 1.0


def test_headers_trickled_past_the_deadline_are_a_network_error(short_deadline: float) -> None:
    """ATTEMPT_DEADLINE bounds the whole attempt "however the server trickles", headers included."""
    body = as_json(user_body())
    drip = b"X-Slow: " + b"a" * 25 + b"\r\n"  # 35 bytes: 1.75 s in all, never a pause near the read timeout
    tail = b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    with Trickler(b"HTTP/1.1 200 OK\r\n", drip, 0.05, tail) as trickler, QwenClient(trickler.base_url) as qwen:
        started = time.monotonic()
        outcome: object
        try:
            outcome = qwen.fetch_session(OLD_TOKEN, now=NOW)
        except NetworkError as error:
            outcome = error
        elapsed = time.monotonic() - started
    assert isinstance(outcome, NetworkError), f"got {outcome!r} after {elapsed:.1f} s"
    assert elapsed < short_deadline + 1.0


# -- the proxy environment variables -------------------------------------------------------------------


class ForwardProxy(ThreadingHTTPServer):
    """A minimal HTTP forward proxy: relays absolute-URI GETs and records every one it relayed."""

    daemon_threads = True

    def __init__(self) -> None:
        self.relayed: list[tuple[str, dict[str, str]]] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        proxy = self.server
        assert isinstance(proxy, ForwardProxy)
        target = urlsplit(self.path)
        headers = {name: value for name, value in self.headers.items() if name.lower() != "proxy-connection"}
        proxy.relayed.append((self.path, {name.lower(): value for name, value in headers.items()}))
        if target.scheme != "http" or not target.hostname:
            self.send_error(400, "absolute http URI required")
            return
        upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=5.0)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            upstream.request("GET", path, headers=headers)
            reply = upstream.getresponse()
            body = reply.read()
            self.send_response(reply.status)
            for name, value in reply.getheaders():
                if name.lower() not in ("connection", "content-length", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        finally:
            upstream.close()
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def forward_proxy() -> Iterator[ForwardProxy]:
    proxy = ForwardProxy()
    thread = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(5.0)


def test_the_proxy_variables_are_honoured(
    server: QwenSimulator,
    account: Account,
    token: str,
    forward_proxy: ForwardProxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
    monkeypatch.setenv("http_proxy", forward_proxy.url)
    with QwenClient(server.base_url) as qwen:  # httpx reads the environment when the client is built
        session = qwen.fetch_session(token, now=server.clock())
    assert server.verify_token(session.token) == account
    [(uri, headers)] = forward_proxy.relayed
    assert uri == server.base_url + AUTHS_PATH  # absolute-form: it came through the proxy
    assert headers["authorization"] == f"Bearer {token}"
    [request] = server.requests
    assert request.bearer_token == token


def test_no_proxy_bypasses_the_proxy(
    server: QwenSimulator, token: str, forward_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", forward_proxy.url)
    monkeypatch.setenv("http_proxy", forward_proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    with QwenClient(server.base_url) as qwen:
        qwen.fetch_session(token, now=server.clock())
    assert forward_proxy.relayed == []
    assert len(server.requests) == 1
