"""The simulated chat.qwen.ai, checked over the wire with the standard library's own HTTP clients.

Only ``http.client`` and ``urllib.request`` talk to it here, so a bug in qwen-tray's client cannot hide a bug
in the simulator. Tokens are verified with an HS256 check written in this file, not the simulator's.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from tray_app.simulator import (
    AUTHS_PATH,
    REDIRECT_LOCATION,
    Account,
    Behaviour,
    QwenSimulator,
    TokenRejected,
    sign_token,
)

SECRET = b"test-secret-for-the-simulator"
LIFETIME = 7 * 86400
START = 1_760_000_000.0


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[QwenSimulator]:
    with QwenSimulator(secret=SECRET, clock=clock, token_lifetime=LIFETIME) as simulator:
        yield simulator


@pytest.fixture
def account(sim: QwenSimulator) -> Account:
    return sim.add_account(email="alice@example.com", name="Alice")


def connect(sim: QwenSimulator, timeout: float = 5.0) -> http.client.HTTPConnection:
    url = urlsplit(sim.base_url)
    assert url.hostname is not None
    return http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)


def get(sim: QwenSimulator, token: str | None = None, path: str = AUTHS_PATH, method: str = "GET") -> Reply:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    conn = connect(sim)
    try:
        conn.request(method, path, headers=headers)
        with conn.getresponse() as response:
            return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_hs256(token: str, secret: bytes = SECRET) -> dict[str, Any]:
    """An independent HS256 check: the payload if the signature is right, else AssertionError."""
    header, payload, signature = token.split(".")
    expected = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(b64decode(signature), expected), "bad signature"
    assert json.loads(b64decode(header)) == {"alg": "HS256", "typ": "JWT"}
    decoded = json.loads(b64decode(payload))
    assert isinstance(decoded, dict)
    return decoded


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for another thread to reach a state (not for simulated time to pass)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        threading.Event().wait(0.005)


# -- the ok flow -----------------------------------------------------------------------------------------


def test_ok_returns_a_new_signed_token_with_a_fresh_expiry(
    sim: QwenSimulator, clock: FakeClock, account: Account
) -> None:
    old = sim.issue_token(account)
    clock.now += 3600

    url = f"{sim.base_url}{AUTHS_PATH}"
    assert url.startswith("http://127.0.0.1:")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {old}"})  # noqa: S310 - checked above
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - loopback http only
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        raw = response.read()
        assert int(response.headers["Content-Length"]) == len(raw)
    body = json.loads(raw)

    assert set(body) == {
        "id",
        "email",
        "name",
        "role",
        "profile_image_url",
        "token",
        "token_type",
        "expires_at",
        "permissions",
    }
    assert (body["id"], body["email"], body["name"]) == (account.user_id, "alice@example.com", "Alice")
    assert body["token_type"] == "Bearer"
    assert body["token"] != old
    payload = verify_hs256(body["token"])
    expected_exp = int(START + 3600 + LIFETIME)
    assert payload == {
        "id": account.user_id,
        "last_password_change": account.last_password_change,
        "exp": expected_exp,
    }
    assert body["expires_at"] == expected_exp
    assert isinstance(body["permissions"], dict)


def test_issued_token_has_exactly_the_real_claims(sim: QwenSimulator, account: Account) -> None:
    payload = verify_hs256(sim.issue_token(account))
    assert set(payload) == {"id", "last_password_change", "exp"}
    assert payload["exp"] == int(START + LIFETIME)
    assert verify_hs256(sim.issue_token(account, expires_at=123))["exp"] == 123


def test_a_refreshed_token_refreshes_in_turn(sim: QwenSimulator, clock: FakeClock, account: Account) -> None:
    token = sim.issue_token(account)
    for _ in range(3):
        clock.now += 86400
        reply = get(sim, token)
        assert reply.status == 200
        token = reply.json()["token"]
    assert verify_hs256(token)["exp"] == int(START + 3 * 86400 + LIFETIME)


def test_the_old_token_stays_valid_until_its_own_expiry(sim: QwenSimulator, clock: FakeClock, account: Account) -> None:
    old = sim.issue_token(account)
    assert get(sim, old).status == 200
    assert get(sim, old).status == 200
    clock.now += LIFETIME
    assert get(sim, old).status == 401


def test_each_simulator_has_its_own_default_secret() -> None:
    assert QwenSimulator().secret != QwenSimulator().secret


# -- rejections ------------------------------------------------------------------------------------------


def test_path_without_trailing_slash_is_401_and_other_paths_404(sim: QwenSimulator, account: Account) -> None:
    token = sim.issue_token(account)
    sim.queue("forbidden")

    assert get(sim, token, path="/api/v1/auths").status == 401
    missing = get(sim, token, path="/api/v1/users/")
    assert missing.status == 404
    assert missing.json() == {"detail": "Not Found"}
    assert get(sim, token, method="POST").status == 405

    assert sim.pending == (Behaviour("forbidden"),), "only GET /api/v1/auths/ consumes the queue"


@pytest.mark.parametrize(
    ("make_token", "detail"),
    [
        pytest.param(lambda sim, acc: None, "Not authenticated", id="no-header"),
        pytest.param(lambda sim, acc: "not-a-jwt", "Invalid token", id="not-a-jwt"),
        pytest.param(
            lambda sim, acc: sign_token({"id": acc.user_id, "last_password_change": 0, "exp": 2**40}, b"other"),
            "Invalid token",
            id="bad-signature",
        ),
        pytest.param(lambda sim, acc: sim.issue_token(acc)[:-2] + "AA", "Invalid token", id="tampered"),
        pytest.param(
            lambda sim, acc: sign_token({"id": acc.user_id, "last_password_change": 0}, SECRET),
            "Invalid token",
            id="no-exp",
        ),
        pytest.param(lambda sim, acc: sim.issue_token(acc, expires_at=int(START) - 1), "Token expired", id="expired"),
        pytest.param(
            lambda sim, acc: sim.issue_token(Account("ghost", "g@example.com", "Ghost", 0)),
            "User not found",
            id="unknown-account",
        ),
    ],
)
def test_bad_tokens_get_401(
    sim: QwenSimulator,
    account: Account,
    make_token: Callable[[QwenSimulator, Account], str | None],
    detail: str,
) -> None:
    reply = get(sim, make_token(sim, account))
    assert reply.status == 401
    assert reply.json() == {"detail": detail}


def test_a_token_expires_when_the_clock_passes_exp(sim: QwenSimulator, clock: FakeClock, account: Account) -> None:
    token = sim.issue_token(account)
    clock.now += LIFETIME - 1
    assert get(sim, token).status == 200
    clock.now += 1
    assert get(sim, token).json() == {"detail": "Token expired"}


def test_revoke_rejects_earlier_tokens_but_not_later_ones(sim: QwenSimulator, account: Account) -> None:
    before = sim.issue_token(account)
    sim.revoke(account)
    after = sim.issue_token(account)

    rejected = get(sim, before)
    assert rejected.status == 401
    assert "revoked" in rejected.json()["detail"]
    assert get(sim, after).status == 200
    with pytest.raises(TokenRejected):
        sim.verify_token(before)
    assert sim.verify_token(after).user_id == account.user_id


# -- behaviours ------------------------------------------------------------------------------------------


def test_queued_behaviours_answer_once_each_in_order_then_ok(sim: QwenSimulator, account: Account) -> None:
    token = sim.issue_token(account)
    sim.queue("unauthorized", Behaviour("forbidden"), "server_error")

    assert [get(sim, token).status for _ in range(4)] == [401, 403, 500, 200]
    assert sim.pending == ()


def test_wrapped_carries_the_ok_body_in_data(sim: QwenSimulator, account: Account) -> None:
    sim.queue("wrapped")
    body = get(sim, sim.issue_token(account)).json()

    assert body["success"] is True
    assert isinstance(body["request_id"], str)
    assert body["request_id"]
    data = body["data"]
    assert data["id"] == account.user_id
    assert verify_hs256(data["token"])["exp"] == data["expires_at"] == int(START + LIFETIME)


def test_rate_limited_sends_retry_after(sim: QwenSimulator, account: Account) -> None:
    sim.queue(Behaviour("rate_limited", retry_after="120"), "rate_limited")
    token = sim.issue_token(account)

    first = get(sim, token)
    assert first.status == 429
    assert first.headers["Retry-After"] == "120"
    second = get(sim, token)
    assert second.status == 429
    assert second.headers["Retry-After"] is None


def test_captcha_page_is_html_with_status_200(sim: QwenSimulator, account: Account) -> None:
    sim.queue("captcha_html")
    reply = get(sim, sim.issue_token(account))

    assert reply.status == 200
    assert reply.headers.get_content_type() == "text/html"
    page = reply.body.decode("utf-8")
    assert "captcha" in page
    assert "punish" in page


def test_redirect_points_at_another_origin_with_an_empty_body(sim: QwenSimulator, account: Account) -> None:
    sim.queue("redirect")
    reply = get(sim, sim.issue_token(account))

    assert reply.status == 302
    assert reply.headers["Location"] == REDIRECT_LOCATION
    assert urlsplit(REDIRECT_LOCATION).netloc != urlsplit(sim.base_url).netloc
    assert reply.headers["Content-Length"] == "0"
    assert reply.body == b""


@pytest.mark.parametrize(
    ("behaviour", "status", "content_type"),
    [
        (Behaviour("success_false"), 200, "application/json"),
        (Behaviour("server_error", status=503), 503, "application/json"),
        (Behaviour("gateway_html"), 504, "text/html"),
        (Behaviour("waf_json"), 200, "application/json"),
        (Behaviour("not_json"), 200, "application/json"),
        (Behaviour("huge", size=300_000), 200, "application/json"),
    ],
    ids=lambda value: value.name if isinstance(value, Behaviour) else None,
)
def test_failure_pages_have_their_status_type_and_length(
    sim: QwenSimulator, account: Account, behaviour: Behaviour, status: int, content_type: str
) -> None:
    sim.queue(behaviour)
    reply = get(sim, sim.issue_token(account))

    assert reply.status == status
    assert reply.headers.get_content_type() == content_type
    assert int(reply.headers["Content-Length"]) == len(reply.body)
    if behaviour.name == "huge":
        assert len(reply.body) == 300_000
        assert reply.body.startswith(b'{"')
    if behaviour.name == "not_json":
        assert reply.body == b"<<not json>>"
    if behaviour.name == "success_false":
        assert reply.json()["success"] is False
        assert reply.json()["data"]["code"] == "Unauthorized"
    if behaviour.name == "waf_json":
        assert reply.json()["ret"][0] == "FAIL_SYS_USER_VALIDATE"
        assert "punish" in reply.json()["data"]["url"]


def test_broken_token_bodies(sim: QwenSimulator, clock: FakeClock, account: Account) -> None:
    presented = sim.issue_token(account, expires_at=int(START) + 5 * 86400)
    sim.queue("no_token", "token_not_jwt", "expired_token", "other_account", "earlier_expiry")

    assert "token" not in get(sim, presented).json()
    assert get(sim, presented).json()["token"] == "not-a-jwt"
    assert verify_hs256(get(sim, presented).json()["token"])["exp"] == int(START) - 60
    other = get(sim, presented).json()
    assert other["id"] == account.user_id
    other_id = verify_hs256(other["token"])["id"]
    assert other_id != account.user_id
    assert other_id in {known.user_id for known in sim.accounts}
    earlier = get(sim, presented).json()
    assert verify_hs256(earlier["token"])["exp"] == earlier["expires_at"] == int(START) + 5 * 86400 - 3600


def test_stop_returns_at_once_while_a_long_stall_is_pending(clock: FakeClock) -> None:
    sim = QwenSimulator(secret=SECRET, clock=clock).start()
    try:
        token = sim.issue_token(sim.add_account())
        sim.queue(Behaviour("stall", seconds=30))
        conn = connect(sim, timeout=60)
        try:
            conn.request("GET", AUTHS_PATH, headers={"Authorization": f"Bearer {token}"})
            wait_until(lambda: sim.pending == () and len(sim.requests) == 1)

            started = time.monotonic()
            sim.stop()
            assert time.monotonic() - started < 2.0

            with pytest.raises(ConnectionError):
                conn.getresponse()
        finally:
            conn.close()
    finally:
        sim.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("qwen-simulator")]


def test_a_short_stall_then_answers_ok(sim: QwenSimulator, account: Account) -> None:
    sim.queue(Behaviour("stall", seconds=0.05))
    started = time.monotonic()
    reply = get(sim, sim.issue_token(account))
    assert reply.status == 200
    assert time.monotonic() - started >= 0.05


def test_drop_closes_the_connection_without_an_answer(sim: QwenSimulator, account: Account) -> None:
    sim.queue("drop")
    with pytest.raises(ConnectionError):
        get(sim, sim.issue_token(account))
    assert get(sim, sim.issue_token(account)).status == 200


def test_a_client_that_leaves_a_huge_body_early_does_not_hurt_the_server(sim: QwenSimulator, account: Account) -> None:
    sim.queue("huge")  # the default 64 MiB
    conn = connect(sim)
    try:
        conn.request("GET", AUTHS_PATH, headers={"Authorization": f"Bearer {sim.issue_token(account)}"})
        with conn.getresponse() as response:
            assert response.headers["Content-Length"] == str(64 * 1024 * 1024)
            assert response.read(1024).startswith(b'{"')
    finally:
        conn.close()
    assert get(sim, sim.issue_token(account)).status == 200


def test_unknown_behaviours_are_refused() -> None:
    with pytest.raises(ValueError, match="Unknown behaviour"):
        Behaviour("teapot")
    with pytest.raises(ValueError, match="Unknown behaviour"):
        QwenSimulator().queue("ok", "teapot")


# -- records, lifecycle, logging --------------------------------------------------------------------------


def test_every_request_is_recorded_with_lower_case_headers(
    sim: QwenSimulator, clock: FakeClock, account: Account
) -> None:
    token = sim.issue_token(account)
    get(sim, token)
    clock.now += 10
    get(sim, None, path="/nowhere")

    assert [(r.method, r.path, r.time) for r in sim.requests] == [
        ("GET", AUTHS_PATH, START),
        ("GET", "/nowhere", START + 10),
    ]
    first = sim.requests[0]
    assert first.headers["authorization"] == f"Bearer {token}"
    assert first.bearer_token == token
    assert all(key == key.lower() for key in first.headers)
    assert token not in repr(first)


def test_refresh_requests_in_flight_are_counted_and_the_most_at_once_kept(sim: QwenSimulator, account: Account) -> None:
    """Load tests bound a client's concurrent refreshes by this count, so it must see real overlap."""
    token = sim.issue_token(account)
    sim.refresh_delay = 0.5
    replies: list[Reply] = []
    threads = [threading.Thread(target=lambda: replies.append(get(sim, token))) for _ in range(3)]
    for thread in threads:
        thread.start()
    wait_until(lambda: sim.in_flight == 3)
    assert get(sim, token, path="/elsewhere").status == 404  # not a refresh: not counted
    assert (sim.in_flight, sim.max_in_flight) == (3, 3)
    for thread in threads:
        thread.join(5)
    wait_until(lambda: len(sim.answers) == 3)  # recorded just after the answer is written
    assert [reply.status for reply in replies] == [200, 200, 200]
    assert (sim.in_flight, sim.max_in_flight) == (0, 3)
    assert [answer.status for answer in sim.answers] == [200, 200, 200]
    assert sim.refreshed == (account.user_id,) * 3


def test_the_most_in_flight_can_be_measured_afresh(sim: QwenSimulator, account: Account) -> None:
    token = sim.issue_token(account)
    assert get(sim, token).status == 200
    wait_until(lambda: sim.in_flight == 0)
    assert sim.max_in_flight == 1
    sim.reset_max_in_flight()
    assert sim.max_in_flight == 0


def test_a_refresh_delay_holds_every_refresh_answer(account: Account) -> None:
    with QwenSimulator(refresh_delay=0.2) as slow:
        slow.add_account(user_id=account.user_id)
        started = time.monotonic()
        assert get(slow, slow.issue_token(account)).status == 200
        assert time.monotonic() - started >= 0.2
        started = time.monotonic()
        assert get(slow, None, path="/elsewhere").status == 404
        assert time.monotonic() - started < 0.2


def test_answers_record_how_each_refresh_ended_and_which_ones_worked(
    sim: QwenSimulator, clock: FakeClock, account: Account
) -> None:
    token = sim.issue_token(account)
    sim.queue(Behaviour("rate_limited", retry_after="7"), "no_token", "wrapped", "drop", "other_account")
    for each in range(1, 7):
        clock.now += 1
        with contextlib.suppress(http.client.HTTPException, ConnectionError):  # "drop" closes unanswered
            get(sim, token if each < 6 else "not-a-token")
        wait_until(lambda n=each: len(sim.answers) == n)  # recorded just after the answer is written
    assert [(answer.time, answer.status) for answer in sim.answers] == [
        (START + 1, 429),
        (START + 2, 200),
        (START + 3, 200),
        (START + 4, None),
        (START + 5, 200),
        (START + 6, 401),
    ]
    # Only "wrapped" gave the account a new token of its own.
    assert [answer.issued_to for answer in sim.answers] == [None, None, account.user_id, None, None, None]
    assert sim.refreshed == (account.user_id,)


def test_lifecycle(clock: FakeClock) -> None:
    sim = QwenSimulator(clock=clock)
    with pytest.raises(RuntimeError):
        _ = sim.base_url
    sim.stop()  # before start: nothing to do
    with sim:
        assert sim.base_url.startswith("http://127.0.0.1:")
        assert not sim.base_url.endswith("/")
        assert any(t.name == "qwen-simulator" and t.daemon for t in threading.enumerate())
        with pytest.raises(RuntimeError):
            sim.start()
    sim.stop()  # twice: still fine
    with pytest.raises(RuntimeError):
        sim.start()


def test_tokens_never_reach_the_log(sim: QwenSimulator, account: Account, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tray_app.simulator")
    token = sim.issue_token(account)
    new = get(sim, token).json()["token"]
    get(sim, None, path=f"/api/v1/auths/?token={token}")

    assert caplog.records, "the simulator logs its requests at debug level"
    assert token not in caplog.text
    assert new not in caplog.text
