"""A simulated chat.qwen.ai on loopback, for the test suite and ``qwen-tray demo``.

chat.qwen.ai cannot be reached from our machines, and a real account must never be used in tests, so this
server speaks the refresh protocol (``GET /api/v1/auths/`` with ``Authorization: Bearer <jwt>``, answering a
new token) with HS256 tokens signed by a per-instance secret. Every failure the real site is known to produce
(401, 429, firewall captcha pages, gateway timeouts, wrapped or malformed bodies, stalls, dropped connections)
can be queued as a :class:`Behaviour`, so clients are tested over the wire rather than against mocks.

Time comes from an injectable ``clock`` so tests move it instead of sleeping. Standard library only, so
``qwen-tray demo`` needs nothing extra. Tokens never reach the log: they are shown as a short fingerprint.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import re
import secrets
import socket
import socketserver
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "AUTHS_PATH",
    "BEHAVIOURS",
    "DEFAULT_HUGE_SIZE",
    "REDIRECT_LOCATION",
    "Account",
    "Behaviour",
    "QwenSimulator",
    "RecordedAnswer",
    "RecordedRequest",
    "TokenRejected",
    "sign_token",
]

logger = logging.getLogger(__name__)

#: The refresh endpoint; the real site answers 401 to the same path without the trailing slash.
AUTHS_PATH = "/api/v1/auths/"
#: Where the "redirect" behaviour points: another origin, which a client must not follow with the token.
REDIRECT_LOCATION = "http://127.0.0.2:9/api/v1/auths/"
#: Body size of the "huge" behaviour when ``Behaviour.size`` is 0: far more than any real answer.
DEFAULT_HUGE_SIZE = 64 * 1024 * 1024

#: Behaviours whose answer is (a variant of) the 200 body that carries a new token.
_TOKEN_BODY_BEHAVIOURS = frozenset(
    [
        "ok",
        "stall",
        "wrapped",
        "no_token",
        "token_not_jwt",
        "expired_token",
        "other_account",
        "earlier_expiry",
    ],
)
#: Behaviours whose 200 body carries a good new token of the presented account: a refresh that worked.
_REFRESHING_BEHAVIOURS = frozenset(["ok", "stall", "wrapped", "earlier_expiry"])
#: Every behaviour name :meth:`QwenSimulator.queue` accepts.
BEHAVIOURS = _TOKEN_BODY_BEHAVIOURS | frozenset(
    {
        "unauthorized",
        "forbidden",
        "success_false",
        "rate_limited",
        "server_error",
        "gateway_html",
        "captcha_html",
        "waf_json",
        "redirect",
        "huge",
        "not_json",
        "drop",
    }
)

_JSON = "application/json"
_NOT_A_JWT = "not-a-jwt"
_HTML = "text/html; charset=utf-8"
_CHUNK = 64 * 1024
_MAX_REQUEST_BODY = 1024 * 1024
_POLL_INTERVAL = 0.05  # how fast serve_forever notices shutdown(), so stop() is prompt
_STOP_JOIN_SECONDS = 2.0
_JWT_HEADER = {"alg": "HS256", "typ": "JWT"}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
_BEARER = re.compile(r"\s*bearer\s+(\S+)\s*", re.IGNORECASE)
_SENSITIVE_HEADERS = frozenset({"authorization", "cookie"})

_PERMISSIONS: dict[str, dict[str, bool]] = {
    "workspace": {"models": False, "knowledge": False, "prompts": False, "tools": False},
    "chat": {"controls": True, "file_upload": True, "delete": True, "edit": True, "temporary": True},
    "features": {"web_search": True, "image_generation": True, "code_interpreter": True},
}

_WAF_JSON: dict[str, Any] = {
    "ret": ["FAIL_SYS_USER_VALIDATE", "RGV587_ERROR::SM::哎哟喂,被挤爆啦,请稍后重试"],
    "data": {"url": "https://chat.qwen.ai/punish?x5secdata=xx&x5step=1&action=captcha"},
}

_GATEWAY_HTML = """<html>
<head><title>504 Gateway Time-out</title></head>
<body>
<center><h1>504 Gateway Time-out</h1></center>
<hr><center>Tengine</center>
</body>
</html>
"""

_CAPTCHA_HTML = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>验证码拦截 - captcha</title>
</head>
<body>
<div id="nocaptcha" class="nc-container" data-action="captcha"></div>
<p>访问被拦截, 请完成验证后继续 (simulated Alibaba WAF punish page).</p>
<script>
window._config_ = {
  "action": "captcha",
  "url": "https://chat.qwen.ai/punish?x5secdata=xx&x5step=1&action=captcha",
  "NCAPPKEY": "simulated"
};
</script>
</body>
</html>
"""


@dataclass
class Account:
    """A chat.qwen.ai user; ``last_password_change`` is in every token and changes on :meth:`revoke`."""

    user_id: str
    email: str
    name: str
    last_password_change: int


@dataclass(frozen=True)
class Behaviour:
    """One queued answer to the next refresh request, so a test can ask for exactly one failure.

    ``status`` replaces the behaviour's usual status code and ``retry_after`` adds a ``Retry-After``
    header (both ignored by "drop"). ``seconds`` delays the answer, interruptibly; for "stall", 0 means
    "until the simulator stops", which then closes the connection unanswered. ``size`` is the body
    length for "huge" (0: :data:`DEFAULT_HUGE_SIZE`).
    """

    name: str
    status: int | None = None
    retry_after: str | None = None
    seconds: float = 0.0
    size: int = 0

    def __post_init__(self) -> None:
        if self.name not in BEHAVIOURS:
            raise ValueError(f"Unknown behaviour {self.name!r}; known: {', '.join(sorted(BEHAVIOURS))}.")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"Behaviour status must be an HTTP status code (100-599), not {self.status}.")
        if self.retry_after is not None and ("\r" in self.retry_after or "\n" in self.retry_after):
            raise ValueError("Behaviour retry_after must be a single header line.")
        if not (math.isfinite(self.seconds) and self.seconds >= 0):
            raise ValueError(f"Behaviour seconds must be a finite number >= 0, not {self.seconds}.")
        if self.size < 0:
            raise ValueError(f"Behaviour size must be >= 0, not {self.size}.")


@dataclass(frozen=True, repr=False)
class RecordedRequest:
    """One request as the simulator saw it; ``time`` is the simulator's clock. ``repr`` hides credentials."""

    method: str
    path: str
    headers: dict[str, str]
    time: float

    @property
    def bearer_token(self) -> str | None:
        """The token sent as ``Authorization: Bearer …``, or None."""
        match = _BEARER.fullmatch(self.headers.get("authorization", ""))
        return match.group(1) if match else None

    def __repr__(self) -> str:
        shown = {
            key: (f"<{len(value)} chars>" if key in _SENSITIVE_HEADERS else value)
            for key, value in self.headers.items()
        }
        fields = f"method={self.method!r}, path={self.path!r}, headers={shown!r}, time={self.time!r}"
        return f"RecordedRequest({fields})"


@dataclass(frozen=True)
class RecordedAnswer:
    """One refresh request's end as the simulator saw it, so load tests can check pacing and losses.

    ``time`` is the simulator's clock once the answer was written; ``status`` is None when the connection
    was closed unanswered ("drop", or a stop); ``issued_to`` is the account a new token of its own was
    issued to (a refresh that worked: "ok", "stall", "wrapped", "earlier_expiry"), else None.
    """

    time: float
    status: int | None
    issued_to: str | None = None


class TokenRejected(Exception):
    """A presented token is not accepted; ``detail`` is the 401 body's message."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def sign_token(payload: Mapping[str, object], secret: bytes) -> str:
    """Sign ``payload`` as an HS256 JWT; public so tests can craft odd tokens (no ``exp``, extra claims)."""
    signing_input = f"{_b64url(_compact(_JWT_HEADER))}.{_b64url(_compact(payload))}"
    signature = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def _compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(part: str) -> bytes:
    if not _BASE64URL.fullmatch(part):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _json_object(part: str) -> dict[str, Any]:
    """Decode one JWT part to a JSON object, raising ValueError for anything else."""
    try:
        value = json.loads(_b64url_decode(part))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("not a JSON object") from exc
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _unverified_exp(token: str | None) -> int | None:
    """The ``exp`` of a token whose signature we do not trust, for behaviours that only need a date."""
    parts = (token or "").split(".")
    if len(parts) != 3:
        return None
    try:
        exp = _json_object(parts[1]).get("exp")
    except ValueError:
        return None
    return exp if isinstance(exp, int) and not isinstance(exp, bool) else None


def _fingerprint(token: str | None) -> str:
    """A short, stable stand-in for a token in log lines: enough to correlate, useless to replay."""
    if not token:
        return "none"
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:12]


def _redact(text: str) -> str:
    return _TOKEN_SHAPE.sub("<token>", text)


@dataclass(frozen=True)
class _Answer:
    """What to send back; ``body`` may be a lazy stream (the "huge" behaviour) of exactly ``length`` bytes."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: Iterable[bytes]
    length: int
    #: The account a refreshed token of its own went to (see :class:`RecordedAnswer`).
    issued_to: str | None = None

    @classmethod
    def of(cls, status: int, content_type: str | None, payload: bytes) -> _Answer:
        headers = (("Content-Type", content_type),) if content_type else ()
        return cls(status, headers, (payload,), len(payload))

    @classmethod
    def json(cls, status: int, value: object) -> _Answer:
        return cls.of(status, _JSON, json.dumps(value, ensure_ascii=False).encode("utf-8"))

    @classmethod
    def detail(cls, status: int, detail: str) -> _Answer:
        return cls.json(status, {"detail": detail})


def _huge_body(size: int) -> Iterator[bytes]:
    """Exactly ``size`` bytes of valid-looking JSON, produced chunk by chunk so memory stays flat."""
    head, tail = b'{"id": "huge", "padding": "', b'"}'
    if size < len(head) + len(tail):
        yield (head + tail)[:size]
        return
    yield head
    filler = b"x" * _CHUNK
    remaining = size - len(head) - len(tail)
    while remaining > 0:
        step = min(remaining, _CHUNK)
        yield filler[:step]
        remaining -= step
    yield tail


class QwenSimulator:
    """chat.qwen.ai's token refresh endpoint on a loopback port, with failures on demand.

    Use as a context manager, or :meth:`start` and :meth:`stop`. ``clock`` and ``token_lifetime`` may be
    changed at any time; the next request uses them.
    """

    def __init__(
        self,
        *,
        secret: bytes | None = None,
        token_lifetime: float = 7 * 86400,
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        refresh_delay: float = 0.0,
    ) -> None:
        self.secret: bytes = secret if secret is not None else secrets.token_bytes(32)
        self.token_lifetime = token_lifetime
        self.clock = clock
        #: Real seconds every refresh request waits before its behaviour (and its own ``seconds``), so
        #: concurrent refreshes overlap measurably, as they would over a real network.
        self.refresh_delay = refresh_delay
        self.requests: list[RecordedRequest] = []
        #: How each refresh request ended, in the order they ended.
        self.answers: list[RecordedAnswer] = []
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._lifecycle = threading.Lock()
        self._accounts: dict[str, Account] = {}
        self._queue: deque[Behaviour] = deque()
        self._in_flight = 0
        self._max_in_flight = 0
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._base_url: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> QwenSimulator:
        """Bind and serve on a daemon thread named "qwen-simulator"; returns self for chaining."""
        with self._lifecycle:
            if self._server is not None:
                raise RuntimeError("The simulator is already running.")
            if self._stopping.is_set():
                raise RuntimeError("A stopped simulator cannot be restarted; create a new one.")
            server = _Server((self._host, self._port), self)
            try:
                thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": _POLL_INTERVAL},
                    name="qwen-simulator",
                    daemon=True,
                )
                thread.start()
            except BaseException:
                server.server_close()
                raise
            self._server, self._thread = server, thread
            host = server.server_name
            netloc = f"[{host}]" if ":" in host else host
            self._base_url = f"http://{netloc}:{server.server_port}"
        logger.info("Simulated chat.qwen.ai listening on %s", self._base_url)
        return self

    def stop(self) -> None:
        """Stop serving at once: wake stalled requests, cut open connections, join the threads briefly."""
        with self._lifecycle:
            server, thread = self._server, self._thread
            if server is None or thread is None:
                return  # never started, or already stopped
            self._server = self._thread = None
            self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            active = list(self._connections.items())
        for connection, _ in active:
            with contextlib.suppress(OSError):  # already closed by its handler
                connection.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + _STOP_JOIN_SECONDS
        for worker in [thread, *(handler for _, handler in active)]:
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                logger.warning("Simulator thread %s is still running after stop()", worker.name)
        logger.info("Simulated chat.qwen.ai on %s stopped", self._base_url)

    def __enter__(self) -> QwenSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://host:port`` without a trailing slash; known once :meth:`start` has bound the port."""
        if self._base_url is None:
            raise RuntimeError("The simulator has no address until start() is called.")
        return self._base_url

    # -- accounts and tokens ---------------------------------------------------------------------------

    def add_account(
        self,
        email: str = "alice@example.com",
        name: str = "Alice",
        user_id: str | None = None,
    ) -> Account:
        """Register a user that tokens can be issued for (a random uuid4 id unless given)."""
        account = Account(
            user_id=user_id if user_id is not None else str(uuid.uuid4()),
            email=email,
            name=name,
            last_password_change=int(self.clock()),
        )
        with self._lock:
            if account.user_id in self._accounts:
                raise ValueError(f"An account with id {account.user_id!r} already exists.")
            self._accounts[account.user_id] = account
        return account

    @property
    def accounts(self) -> tuple[Account, ...]:
        """The registered accounts, in the order they were added (including ones made by "other_account")."""
        with self._lock:
            return tuple(self._accounts.values())

    def issue_token(self, account: Account, *, expires_at: int | None = None) -> str:
        """A token signed like the real site's; ``exp`` is clock() + token_lifetime unless given.

        An account that was never added still gets a token (the server then answers "User not found").
        """
        with self._lock:
            current = self._accounts.get(account.user_id, account)
            last_password_change = current.last_password_change
        exp = expires_at if expires_at is not None else int(self.clock() + self.token_lifetime)
        payload = {"id": account.user_id, "last_password_change": last_password_change, "exp": exp}
        return sign_token(payload, self.secret)

    def revoke(self, account: Account) -> None:
        """Invalidate every token of ``account`` issued so far, as a password change does."""
        with self._lock:
            current = self._accounts.get(account.user_id)
            if current is None:
                raise KeyError(f"No account with id {account.user_id!r}.")
            current.last_password_change = max(int(self.clock()), current.last_password_change + 1)
            account.last_password_change = current.last_password_change

    def verify_token(self, token: str) -> Account:
        """The account a token belongs to, or TokenRejected with the reason a 401 would give."""
        return self._verify(token)[0]

    def _verify(self, token: str) -> tuple[Account, int]:
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenRejected("Invalid token")
        try:
            header, payload = _json_object(parts[0]), _json_object(parts[1])
            signature = _b64url_decode(parts[2])
        except (binascii.Error, ValueError) as exc:
            raise TokenRejected("Invalid token") from exc
        if header.get("alg") != "HS256":
            raise TokenRejected("Invalid token")
        expected = hmac.new(self.secret, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(signature, expected):
            raise TokenRejected("Invalid token")
        exp, user_id = payload.get("exp"), payload.get("id")
        if not isinstance(exp, int) or isinstance(exp, bool) or not isinstance(user_id, str):
            raise TokenRejected("Invalid token")
        if exp <= self.clock():
            raise TokenRejected("Token expired")
        with self._lock:
            account = self._accounts.get(user_id)
            current_change = account.last_password_change if account else None
        if account is None:
            raise TokenRejected("User not found")
        if payload.get("last_password_change") != current_change:
            raise TokenRejected("Token revoked: the password was changed")
        return account, exp

    # -- behaviours and records ------------------------------------------------------------------------

    def queue(self, *behaviours: str | Behaviour) -> None:
        """Answer the next refresh requests with these, in order; afterwards answer "ok" again."""
        parsed = [b if isinstance(b, Behaviour) else Behaviour(b) for b in behaviours]
        with self._lock:
            self._queue.extend(parsed)

    @property
    def pending(self) -> tuple[Behaviour, ...]:
        """Queued behaviours not yet used, so a test can check every one was consumed."""
        with self._lock:
            return tuple(self._queue)

    def _next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._queue.popleft() if self._queue else Behaviour("ok")

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    @property
    def in_flight(self) -> int:
        """Refresh requests being answered right now (arrived, answer not yet fully written)."""
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most refresh requests that were being answered at once since start (or the last reset):
        what a client's bound on concurrent refreshes must keep at or below its setting."""
        with self._lock:
            return self._max_in_flight

    def reset_max_in_flight(self) -> None:
        """Start measuring :attr:`max_in_flight` afresh (from the requests in flight now)."""
        with self._lock:
            self._max_in_flight = self._in_flight

    @property
    def refreshed(self) -> tuple[str, ...]:
        """The accounts that got a new token of their own, once per refresh, in the order answered."""
        with self._lock:
            return tuple(answer.issued_to for answer in self.answers if answer.issued_to is not None)

    @contextlib.contextmanager
    def _refresh_in_flight(self) -> Iterator[list[_Answer | None]]:
        """Count one refresh request in flight while the handler answers it; record how it ended (the
        handler puts its answer in the yielded list once written)."""
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        written: list[_Answer | None] = []
        try:
            yield written
        finally:
            answer = written[0] if written else None
            ended = RecordedAnswer(
                time=self.clock(),
                status=None if answer is None else answer.status,
                issued_to=None if answer is None or answer.status != HTTPStatus.OK else answer.issued_to,
            )
            with self._lock:
                self._in_flight -= 1
                self.answers.append(ended)

    def _connection_opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections[connection] = threading.current_thread()

    def _connection_closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.pop(connection, None)

    # -- answers ---------------------------------------------------------------------------------------

    def _answer_auths(self, behaviour: Behaviour, token: str | None) -> _Answer:
        """The answer to a refresh request under ``behaviour``; pure apart from issuing tokens."""
        answer = self._base_answer(behaviour, token)
        if behaviour.status is not None:
            answer = replace(answer, status=behaviour.status)
        if behaviour.retry_after is not None:
            answer = replace(answer, headers=(*answer.headers, ("Retry-After", behaviour.retry_after)))
        return answer

    def _base_answer(self, behaviour: Behaviour, token: str | None) -> _Answer:
        name = behaviour.name
        if name in _TOKEN_BODY_BEHAVIOURS:
            return self._token_answer(name, token)
        if name == "server_error":
            status = behaviour.status or 500
            return _Answer.detail(status, _phrase(status))
        if name == "huge":
            size = behaviour.size or DEFAULT_HUGE_SIZE
            return _Answer(200, (("Content-Type", _JSON),), _huge_body(size), size)
        fixed = _FIXED_ANSWERS.get(name)
        if fixed is None:  # "drop" never gets here: the handler closes the connection instead
            raise ValueError(f"Behaviour {name!r} has no answer")
        return fixed()

    def _token_answer(self, name: str, token: str | None) -> _Answer:
        """The 200 body with a new token, or one of its broken variants."""
        stood_in = False
        try:
            account, presented_exp = self._verify(token or "")
        except TokenRejected as rejected:
            if name in {"ok", "stall"}:
                return _Answer.detail(401, "Not authenticated" if token is None else rejected.detail)
            # A queued variant answers even for a bad token, so tests get exactly what they queued.
            stood_in = True
            account = self._stand_in_account()
            presented_exp = _unverified_exp(token) or int(self.clock() + self.token_lifetime)
        exp = int(self.clock() + self.token_lifetime)
        token_account = account
        if name == "expired_token":
            exp = int(self.clock()) - 60
        elif name == "earlier_expiry":
            exp = presented_exp - 3600
        elif name == "other_account":
            token_account = self.add_account(email=f"other-{uuid.uuid4().hex[:8]}@example.com", name="Other")
        # Only a refresh that worked counts as one: a verified token, answered with a new token of its own.
        refreshed = not stood_in and name in _REFRESHING_BEHAVIOURS
        body: dict[str, Any] = {
            "id": account.user_id,
            "email": account.email,
            "name": account.name,
            "role": "user",
            "profile_image_url": "/user.png",
            "token": self.issue_token(token_account, expires_at=exp),
            "token_type": "Bearer",
            "expires_at": exp,
            "permissions": _PERMISSIONS,
        }
        if name == "no_token":
            del body["token"]
        elif name == "token_not_jwt":
            body["token"] = _NOT_A_JWT
        if name == "wrapped":
            answer = _Answer.json(200, {"success": True, "request_id": str(uuid.uuid4()), "data": body})
        else:
            answer = _Answer.json(200, body)
        return replace(answer, issued_to=account.user_id) if refreshed else answer

    def _stand_in_account(self) -> Account:
        with self._lock:
            first = next(iter(self._accounts.values()), None)
        return first if first is not None else self.add_account()


#: Answers that do not depend on the request or the simulator's state.
_FIXED_ANSWERS: dict[str, Callable[[], _Answer]] = {
    "unauthorized": lambda: _Answer.detail(
        401, "Your session has expired or the token is invalid. Please sign in again."
    ),
    "forbidden": lambda: _Answer.detail(403, "You do not have permission to access this resource."),
    "success_false": lambda: _Answer.json(
        200,
        {
            "success": False,
            "request_id": str(uuid.uuid4()),
            "data": {"code": "Unauthorized", "details": "Login expired, please log in again"},
        },
    ),
    "rate_limited": lambda: _Answer.detail(429, "Too Many Requests"),
    "gateway_html": lambda: _Answer.of(504, _HTML, _GATEWAY_HTML.encode("utf-8")),
    "captcha_html": lambda: _Answer.of(200, _HTML, _CAPTCHA_HTML.encode("utf-8")),
    "waf_json": lambda: _Answer.json(200, _WAF_JSON),
    "redirect": lambda: _Answer(302, (("Location", REDIRECT_LOCATION),), (), 0),
    "not_json": lambda: _Answer.of(200, _JSON, b"<<not json>>"),
}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its simulator, skips reverse DNS and logs instead of printing."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], simulator: QwenSimulator) -> None:
        self.simulator = simulator
        if _is_ipv6(address[0]):
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can leave the machine.
        socketserver.TCPServer.server_bind(self)
        host, port = self.socket.getsockname()[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="qwen-simulator-request",
            daemon=True,
        )
        thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            logger.debug("Simulator connection from %s ended: %s", client_address, error)
        else:
            logger.error("Simulator failed answering %s", client_address, exc_info=error)


def _is_ipv6(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).version == 6
    except ValueError:
        return False


class _Handler(BaseHTTPRequestHandler):
    """Reads one request, asks the simulator what to answer, writes it, and closes the connection."""

    protocol_version = "HTTP/1.1"
    server_version = "qwen-simulator"
    timeout = 30.0  # a client that connects and says nothing does not hold a thread forever

    @property
    def simulator(self) -> QwenSimulator:
        server = self.server
        if not isinstance(server, _Server):
            raise TypeError("_Handler only serves a QwenSimulator")
        return server.simulator

    def setup(self) -> None:
        super().setup()
        self.simulator._connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.simulator._connection_closed(self.connection)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("Simulator %s: %s", self.address_string(), _redact(format % args))

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _serve(self) -> None:
        self.close_connection = True
        simulator = self.simulator
        if simulator._stopping.is_set():
            return
        try:
            too_large = self._discard_body()
            headers: dict[str, str] = {}
            for name, value in self.headers.items():
                key = name.lower()
                headers[key] = f"{headers[key]}, {value}" if key in headers else value
            request = RecordedRequest(self.command, self.path, headers, simulator.clock())
            simulator._record(request)
            if too_large or urlsplit(request.path).path != AUTHS_PATH or request.method != "GET":
                answer = self._route(request, too_large=too_large)
                if answer is not None:
                    self._write(answer)
                return
            with simulator._refresh_in_flight() as written:
                answer = self._refresh(request)
                if answer is not None:
                    self._write(answer)
                    written.append(answer)
        except OSError as error:
            logger.debug("Simulator client %s went away: %s", self.address_string(), error)

    def _discard_body(self) -> bool:
        """Read any request body so closing the socket does not reset it; True if it is too large."""
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return True
        if length > _MAX_REQUEST_BODY:
            return True
        if length > 0:
            self.rfile.read(length)
        return False

    def _route(self, request: RecordedRequest, *, too_large: bool) -> _Answer | None:
        """None means: close the connection without answering."""
        path = urlsplit(request.path).path
        if too_large:
            return _Answer.detail(413, "Request Entity Too Large")
        if path == AUTHS_PATH.rstrip("/"):
            return _Answer.detail(401, "Not authenticated")
        if path != AUTHS_PATH:
            return _Answer.detail(404, "Not Found")
        if request.method != "GET":
            answer = _Answer.detail(405, "Method Not Allowed")
            return replace(answer, headers=(*answer.headers, ("Allow", "GET")))
        return self._refresh(request)

    def _refresh(self, request: RecordedRequest) -> _Answer | None:
        """Answer a refresh request with the next queued behaviour, after its delay."""
        simulator = self.simulator
        behaviour = simulator._next_behaviour()
        token = request.bearer_token
        logger.debug("Simulator refresh request, behaviour %s, token %s", behaviour.name, _fingerprint(token))
        delay: float | None = behaviour.seconds + simulator.refresh_delay
        if behaviour.name == "stall" and not behaviour.seconds:
            delay = None  # stall until stop()
        if (delay is None or delay > 0) and simulator._stopping.wait(delay):
            logger.debug("Simulator stopped while a request stalled; closing it unanswered")
            return None
        if behaviour.name == "drop":
            return None
        return simulator._answer_auths(behaviour, token)

    def _write(self, answer: _Answer) -> None:
        self.send_response(answer.status)
        for key, value in answer.headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(answer.length))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        for chunk in answer.body:
            if self.simulator._stopping.is_set():
                return
            self.wfile.write(chunk)
