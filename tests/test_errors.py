"""RefreshError.reason against the client's real messages: what happened, without a promise to retry."""

from __future__ import annotations

import json

import pytest

from tests.helpers import NOW
from tray_app.client import QwenClient, interpret_response
from tray_app.errors import NetworkError, RateLimitedError, RefreshError, ServerError
from tray_app.simulator import Behaviour, QwenSimulator


def answer(status: int, body: object, **headers: str) -> RefreshError:
    with pytest.raises(RefreshError) as caught:
        interpret_response(status, {"content-type": "application/json", **headers}, json.dumps(body).encode(), now=NOW)
    return caught.value


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (answer(429, {}, **{"retry-after": "43200"}), "chat.qwen.ai is rate limiting us (HTTP 429)."),
        (answer(429, {}), "chat.qwen.ai is rate limiting us (HTTP 429)."),
        (answer(502, {}), "chat.qwen.ai had a server error (HTTP 502)."),
        (
            answer(200, {"success": False, "data": {"code": "Busy", "details": "try later; busy"}}),
            "chat.qwen.ai refused the request (Busy try later; busy).",
        ),
    ],
    ids=["rate-limited", "rate-limited-no-header", "server-error", "success-false"],
)
def test_reason_drops_the_clients_promise_to_retry(error: RefreshError, reason: str) -> None:
    assert "retry" in error.message.lower()  # the client's message promises one (true for the refresher only)
    assert error.reason == reason


def test_reason_of_a_network_failure(server: QwenSimulator) -> None:
    token = server.issue_token(server.add_account())
    server.queue(Behaviour("stall"), "drop")
    for expected in ("did not answer within 0.2 s.", "Check the connection."):
        with QwenClient(server.base_url, deadline=0.2) as client, pytest.raises(NetworkError) as caught:
            client.fetch_session(token, now=NOW)
        assert "will retry" in caught.value.message
        assert caught.value.reason.endswith(expected), caught.value.reason
        assert "retry" not in caught.value.reason


def test_reason_leaves_other_messages_alone() -> None:
    for message in (
        "chat.qwen.ai answered HTTP 418; is base_url right?",
        "open chat.qwen.ai in a browser, then retry.",
    ):
        assert ServerError(message).reason == message


def test_restated_keeps_the_kind_and_the_details() -> None:
    error = RateLimitedError("chat.qwen.ai is rate limiting us (HTTP 429); waiting for 600 s before retrying.", 600.0)
    twin = error.restated("Wait 10 min.")
    assert (type(twin), twin.kind, twin.retry_after, twin.transient) == (RateLimitedError, "rate_limited", 600.0, True)
    assert (str(twin), twin.message, twin.args) == ("Wait 10 min.", "Wait 10 min.", ("Wait 10 min.",))
    assert error.message.endswith("before retrying.")  # the original is unchanged
