"""The client's real messages say what happened and never promise a retry (whether one comes depends on
who asked: the refresher retries, nothing retries a paste); restated errors keep their kind."""

from __future__ import annotations

import json

import pytest

from tests.helpers import NOW
from tray_app.client import QwenClient, interpret_response
from tray_app.errors import NetworkError, RateLimitedError, RefreshError
from tray_app.simulator import Behaviour, QwenSimulator


def answer(status: int, body: object, **headers: str) -> RefreshError:
    with pytest.raises(RefreshError) as caught:
        interpret_response(status, {"content-type": "application/json", **headers}, json.dumps(body).encode(), now=NOW)
    return caught.value


@pytest.mark.parametrize(
    ("error", "message"),
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
def test_the_client_says_what_happened_and_promises_nothing(error: RefreshError, message: str) -> None:
    assert error.message == message
    assert "retry" not in error.message.lower()


def test_a_network_failure_says_what_happened(server: QwenSimulator) -> None:
    token = server.issue_token(server.add_account())
    server.queue(Behaviour("stall"), "drop")
    for expected in ("did not answer", "Check the connection."):
        with QwenClient(server.base_url, deadline=0.2) as client, pytest.raises(NetworkError) as caught:
            client.fetch_session(token, now=NOW)
        assert expected in caught.value.message, caught.value.message
        assert "retry" not in caught.value.message


def test_restated_keeps_the_kind_and_the_details() -> None:
    error = RateLimitedError("chat.qwen.ai is rate limiting us (HTTP 429).", 600.0)
    twin = error.restated("Wait 10 min.")
    assert (type(twin), twin.kind, twin.retry_after, twin.transient) == (RateLimitedError, "rate_limited", 600.0, True)
    assert (str(twin), twin.message, twin.args) == ("Wait 10 min.", "Wait 10 min.", ("Wait 10 min.",))
    assert error.message == "chat.qwen.ai is rate limiting us (HTTP 429)."  # the original is unchanged
