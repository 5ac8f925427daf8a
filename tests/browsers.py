"""Real browsers signed in to a stand-in chat.qwen.ai, for testing the token importers (issue 9).

* ``FakeQwenSite``: a loopback HTTPS server for ``chat.qwen.ai`` (a throwaway CA and a server
  certificate made at fixture time in the test's folder). ``GET /?visit=ID`` serves a page whose
  script stores the visit's JWT in ``localStorage['token']`` (or removes it, or first writes many other
  keys), while the answer sets the ``token`` cookie; the script then POSTs ``/ran`` so the harness
  knows the page did its work (and what it read back). Listens on 127.0.0.1 only, on a free port
  (or ``port=443``, as root).
* ``ChromiumProfile``: ``/usr/bin/chromium --headless=new`` on ``<home>/.config/chromium``, driven
  over ``--remote-debugging-pipe`` and closed with ``Browser.close`` (a SIGTERM loses cookies).
  ``--host-resolver-rules`` sends chat.qwen.ai to the site and makes every other name unknown.
* ``FirefoxProfile``: a profile made and registered in ``<home>/.mozilla/firefox/profiles.ini`` by
  Firefox itself (``-CreateProfile``), the test CA in its NSS database, ``firefox-esr --headless
  --marionette``, driven and quit over Marionette; optionally the page opens in a container tab.
  ``network.dns.localDomains`` + ``network.socket.forcePort`` send chat.qwen.ai to the site; every
  other host goes to a loopback "proxy" that refuses connections.
* Helpers to look into profiles (raw bytes, copies of sqlite databases with their ``-wal``) and to
  damage them (cut the newest ``.log``/``.ldb`` in half, make a file unreadable) for negative tests.

What the browsers write (Chromium 156, Firefox ESR 153, seen with this harness):

* Chromium: ``Local Storage/leveldb/000003.log`` holds ``_https://chat.qwen.ai\0\x01token`` →
  ``\x01`` + the JWT, uncompressed. Small logs are reused across runs, so older values (and deletion
  records) stay in the same ``.log``; a log bigger than the write buffer (``writes=200``: 3 MiB) is
  turned into a ``.ldb`` table (snappy blocks) at the next start. While it runs, Chromium commits a
  page's writes ~5 s later, then at most about once a minute; at once when no page of the origin is
  open. The ``Cookies`` row is ``v10``-encrypted (``--password-store=basic``).
* Firefox: ``storage/default/https+++chat.qwen.ai/ls/data.sqlite`` (``^userContextId=N`` for a
  container) in rollback-journal mode: a running Firefox writes a page's change into the file itself
  ~5 s later (never a ``-wal``). ``cookies.sqlite`` is in WAL mode: the cookie is in
  ``cookies.sqlite-wal`` within seconds and in ``cookies.sqlite`` after the quit.

Each browser is a ``tests.desktop.Service``: ``visit_and_close()`` for a browser that ran and was
closed cleanly, or a context manager that leaves it running while the test reads its profile::

    with FakeQwenSite(tmp_path) as site:
        ChromiumProfile(home, site).visit_and_close(token)
        with FirefoxProfile(home, site) as firefox:
            firefox.visit(token)
            ...  # read the running browser's profile

Browsers run in a session of their own (``setsid``); ``stop()`` quits them through their protocol,
waits, then ends whatever is left in that session, so ``stray_processes(browser)`` is empty after it.
Logs go to ``<home>/.browser-test-logs``. Every wait is bounded and generous: CI has 2 shared cores.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import secrets
import selectors
import shutil
import socket
import sqlite3
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from tests.desktop import Service, ServiceError, _drain_session, pid_alive, stray_processes

HOST = "chat.qwen.ai"
ORIGIN = f"https://{HOST}"
LOOPBACK = "127.0.0.1"

#: Start a browser until it answers its protocol.
START_TIMEOUT = 60.0
#: Load the page and run its script (a "many writes" visit writes megabytes).
VISIT_TIMEOUT = 60.0
#: A clean quit, before the harness falls back to signals.
QUIT_TIMEOUT = 30.0
#: One protocol call.
CALL_TIMEOUT = 30.0
POLL = 0.05

#: Cookie lifetime the site sets, as in the notes (7 days).
COOKIE_MAX_AGE = 604800

#: Default size of one "many writes" value: 200 of them are ~3 MiB, well under the 10 MiB quota.
FILLER_SIZE = 16 * 1024

FIREFOX_PROFILE_ROOT = Path(".mozilla/firefox")
#: Where browsers get their TMPDIR (see ``_Browser.tmpdir``).
SHORT_TMP = Path("/tmp")  # noqa: S108
CHROMIUM_USER_DATA = Path(".config/chromium")


class BrowserError(ServiceError):
    """A browser or the site did not do what the harness asked, in time."""


def _browser_env(home: Path, tmpdir: Path) -> dict[str, str]:
    """An environment that keeps a browser inside ``home``: no desktop, no session bus, no proxy."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key in ("PATH", "LANG", "LC_ALL", "TZ") or key.startswith("LC_")
    }
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_STATE_HOME=str(home / ".local/state"),
        TMPDIR=str(tmpdir),
        # No session bus (nothing to autolaunch either); no X or Wayland: both browsers run headless.
        DBUS_SESSION_BUS_ADDRESS=f"unix:path={home / '.no-session-bus'}",
        NO_AT_BRIDGE="1",
    )
    return env


# -- the site -------------------------------------------------------------------------------------------------
def make_certificates(directory: Path, host: str = HOST) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for ``host`` signed by it: (ca.pem, server.pem, server-key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before, not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=2)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "qwen-tray test CA (throwaway)")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


@dataclass
class Visit:
    """One planned page load: what the page stores, and what it reported back."""

    id: str
    #: Stored as ``localStorage['token']`` and set as the ``token`` cookie; None stores nothing.
    token: str | None
    #: Other keys ("filler-0000" …) written before the token, to make Chromium's LevelDB compact.
    writes: int = 0
    size: int = FILLER_SIZE
    #: ``localStorage.removeItem('token')`` (and an expired cookie) instead of storing a token.
    remove: bool = False
    #: A read-only visit that must read back this value (``check=True``): the harness's barrier.
    check: bool = False
    expect: str | None = None
    #: What the page POSTed to /ran: ``token`` (as read back), ``keys``, ``origin``, ``error``.
    report: dict[str, Any] = field(default_factory=dict)
    ran: threading.Event = field(default_factory=threading.Event, repr=False)
    #: ``time.monotonic()`` when the page reported.
    ran_at: float | None = None
    served: int = 0

    @property
    def url(self) -> str:
        return f"{ORIGIN}/?visit={self.id}"

    @property
    def expected(self) -> str | None:
        """What ``localStorage['token']`` holds after this visit (unknown, and unchecked, for a no-op visit)."""
        if self.check:
            return self.expect
        return None if self.remove else self.token

    @property
    def checked(self) -> bool:
        return self.check or self.remove or self.token is not None

    def problem(self) -> str | None:
        """Why the page did not do what was planned (None when it did)."""
        if not self.ran.is_set():
            return f"visit {self.id}: the page never reported (served {self.served} time(s))"
        if self.report.get("error"):
            return f"visit {self.id}: the page failed: {self.report['error']}"
        if self.report.get("origin") != ORIGIN:
            return f"visit {self.id}: the page ran in {self.report.get('origin')!r}, not {ORIGIN}"
        if self.checked and self.report.get("token") != self.expected:
            return f"visit {self.id}: the page read back {self.report.get('token')!r}, not {self.expected!r}"
        return None


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Qwen Chat (test stand-in)</title></head>
<body><p>Stand-in for chat.qwen.ai (qwen-tray tests).</p>
<script>
(async () => {
  const plan = __PLAN__;
  const report = {visit: plan.visit, origin: location.origin};
  try {
    if (plan.writes > 0) {
      const filler = "x".repeat(plan.size);
      for (let i = 0; i < plan.writes; i++) {
        localStorage.setItem("filler-" + String(i).padStart(4, "0"), plan.visit + ":" + i + ":" + filler);
      }
    }
    if (plan.remove) {
      localStorage.removeItem("token");
    } else if (plan.token !== null) {
      localStorage.setItem("token", plan.token);
    }
    report.token = localStorage.getItem("token");
    report.keys = localStorage.length;
  } catch (error) {
    report.error = String(error);
  }
  await fetch("/ran?visit=" + encodeURIComponent(plan.visit), {
    method: "POST", cache: "no-store", headers: {"Content-Type": "application/json"}, body: JSON.stringify(report),
  });
  document.title = "stored";
})();
</script>
</body></html>
"""


class _SiteServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, site: FakeQwenSite, address: tuple[str, int], context: ssl.SSLContext) -> None:
        self.site = site
        self.context = context
        super().__init__(address, _SiteHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(): a reverse lookup we neither need nor want.
        import socketserver

        socketserver.TCPServer.server_bind(self)
        host, port = self.socket.getsockname()[:2]
        self.server_name, self.server_port = str(host), int(port)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake happens here, in the request's thread: a client that never finishes it
        # cannot hold up the accept loop.
        request.settimeout(30.0)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as error:
            self.site._log(f"TLS handshake with {client_address} failed: {error}")
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        self.site._log(f"error answering {client_address}: {sys.exc_info()[1]!r}")


class _SiteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "qwen-stand-in"
    timeout = 30.0

    @property
    def site(self) -> FakeQwenSite:
        server = self.server
        assert isinstance(server, _SiteServer)
        return server.site

    def log_message(self, format: str, *args: Any) -> None:
        self.site._log(f"{self.address_string()} {format % args}")

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        visit_id = parse_qs(url.query).get("visit", [""])[0]
        self.site._record(self.command, self.path)
        if url.path != "/":
            self._answer(404, b"Not Found", "text/plain")
            return
        visit = self.site._visit(visit_id)
        if visit is None:
            self._answer(200, b"<!doctype html><title>Qwen Chat (test stand-in)</title>", "text/html")
            return
        visit.served += 1
        plan = {
            "visit": visit.id,
            "token": visit.token,
            "writes": visit.writes,
            "size": visit.size,
            "remove": visit.remove,
        }
        page = _PAGE.replace("__PLAN__", json.dumps(plan).replace("</", "<\\/")).encode()
        cookies = []
        if visit.remove:
            cookies.append("token=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure")
        elif visit.token is not None:
            cookies.append(f"token={visit.token}; Path=/; Max-Age={COOKIE_MAX_AGE}; HttpOnly; SameSite=Lax; Secure")
        self._answer(200, page, "text/html; charset=utf-8", cookies)

    def do_HEAD(self) -> None:
        self.site._record(self.command, self.path)
        self._answer(404, b"", "text/plain")

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        self.site._record(self.command, self.path)
        try:
            length = min(int(self.headers.get("Content-Length", "0")), 1 << 20)
        except ValueError:
            length = 0
        body = self.rfile.read(length) if length > 0 else b""
        visit = self.site._visit(parse_qs(url.query).get("visit", [""])[0])
        if url.path != "/ran" or visit is None:
            self._answer(404, b"Not Found", "text/plain")
            return
        try:
            report = json.loads(body or b"{}")
        except ValueError:
            report = {"error": f"unreadable report {body[:200]!r}"}
        visit.report = report if isinstance(report, dict) else {"error": f"odd report {report!r}"}
        self._answer(204, b"", "text/plain")
        visit.ran_at = time.monotonic()
        visit.ran.set()

    def _answer(self, status: int, body: bytes, content_type: str, cookies: list[str] | None = None) -> None:
        self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        for cookie in cookies or []:
            self.send_header("Set-Cookie", cookie)
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)


class FakeQwenSite:
    """A loopback HTTPS ``chat.qwen.ai`` with a CA made now, in ``workdir`` (a pytest ``tmp_path``).

    ``port=0`` picks a free port (Chromium maps the host to it with ``--host-resolver-rules``, Firefox
    with the ``network.socket.forcePort`` pref); ``port=443`` is the real one (needs root).
    """

    modules: ClassVar[tuple[str, ...]] = ("cryptography",)

    def __init__(self, workdir: os.PathLike[str] | str, port: int = 0) -> None:
        self.workdir = Path(workdir) / "qwen-site"
        self.requested_port = port
        #: The throwaway CA (PEM) a browser must trust, the server's certificate and key; made by start().
        self.ca_pem, self.cert_pem, self.key_pem = (
            self.workdir / name for name in ("ca.pem", "server.pem", "server-key.pem")
        )
        self.log_path = self.workdir / "site.log"
        self.requests: list[tuple[str, str]] = []
        self._visits: dict[str, Visit] = {}
        self._lock = threading.Lock()
        self._server: _SiteServer | None = None
        self._thread: threading.Thread | None = None
        self._log_file: IO[str] | None = None
        self._dead: socket.socket | None = None

    @classmethod
    def missing(cls) -> list[str]:
        import importlib.util

        return [f"python:{name}" for name in cls.modules if importlib.util.find_spec(name) is None]

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> FakeQwenSite:
        if self._server is not None:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("a", encoding="utf-8")
        self.ca_pem, self.cert_pem, self.key_pem = make_certificates(self.workdir)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_pem, self.key_pem)
        context.set_alpn_protocols(["http/1.1"])
        try:
            self._server = _SiteServer(self, (LOOPBACK, self.requested_port), context)
        except OSError as error:
            self._close_log()
            raise BrowserError(f"FakeQwenSite: cannot listen on {LOOPBACK}:{self.requested_port}: {error}") from error
        # A loopback port that is bound but never listens: connections to it are refused at once. Firefox
        # sends every host but chat.qwen.ai there as its proxy, so nothing it does leaves the machine.
        self._dead = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._dead.bind((LOOPBACK, 0))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        self._log(f"listening on {LOOPBACK}:{self.port}")
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._dead is not None:
            self._dead.close()
            self._dead = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> FakeQwenSite:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise BrowserError("FakeQwenSite is not running")
        return self._server.server_port

    @property
    def address(self) -> tuple[str, int]:
        """Where the server listens: always the loopback address."""
        if self._server is None:
            raise BrowserError("FakeQwenSite is not running")
        host, port = self._server.socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def dead_port(self) -> int:
        """A loopback port that refuses connections (bound, never listening) while the site runs."""
        if self._dead is None:
            raise BrowserError("FakeQwenSite is not running")
        return int(self._dead.getsockname()[1])

    @property
    def host_resolver_rules(self) -> str:
        """Chromium's ``--host-resolver-rules``: chat.qwen.ai is here, every other name does not exist."""
        return f"MAP {HOST} {LOOPBACK}:{self.port}, MAP * ~NOTFOUND"

    # -- visits ---------------------------------------------------------------------------------------------
    def plan(
        self,
        token: str | None,
        *,
        writes: int = 0,
        size: int = FILLER_SIZE,
        remove: bool = False,
        check: bool = False,
        expect: str | None = None,
    ) -> Visit:
        """Register what a page load of the returned visit's URL stores (or, ``check``: only reads back)."""
        if check and (token is not None or writes or remove):
            raise ValueError("a check visit stores nothing")
        visit = Visit(
            id=secrets.token_hex(6), token=token, writes=writes, size=size, remove=remove, check=check, expect=expect
        )
        with self._lock:
            self._visits[visit.id] = visit
        return visit

    def wait_ran(self, visit: Visit, timeout: float = VISIT_TIMEOUT, alive: Any = None) -> Visit:
        """Wait for the page's "script ran" POST (not whether it did what was planned: ``visit.problem()``)."""
        deadline = time.monotonic() + timeout
        while not visit.ran.wait(POLL):
            if alive is not None and not alive():
                raise BrowserError(f"the browser exited before the page of visit {visit.id} ran")
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out after {timeout:.0f} s: {visit.problem()}")
        return visit

    def _visit(self, visit_id: str) -> Visit | None:
        with self._lock:
            return self._visits.get(visit_id)

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def _log(self, line: str) -> None:
        with self._lock:
            if self._log_file is not None:
                self._log_file.write(f"{time.strftime('%H:%M:%S')} {line}\n")
                self._log_file.flush()


# -- the browsers ---------------------------------------------------------------------------------------------
class _Browser(Service):
    """Common part of the two browsers: a session of their own, logs, timings, a clean quit."""

    def __init__(self, home: os.PathLike[str] | str, site: FakeQwenSite) -> None:
        super().__init__()
        self.home = Path(home)
        self.site = site
        self.log_dir = self.home / ".browser-test-logs"
        #: The browser's TMPDIR: short, under /tmp, because Chromium puts its singleton socket there (a
        #: Unix socket path has at most 107 bytes); made by start(), removed by stop().
        self.tmpdir: Path | None = None
        #: Seconds spent starting, in each visit, and quitting (for reports and slow-machine diagnosis).
        self.timings: dict[str, float] = {}
        self.visits: list[Visit] = []
        self.exit_code: int | None = None
        #: Why the last quit was not clean (None when it was).
        self.quit_problem: str | None = None

    @classmethod
    def missing(cls) -> list[str]:
        return [*super().missing(), *FakeQwenSite.missing()]

    def start(self) -> _Browser:
        if not self.running:
            self.exit_code = self.quit_problem = None
        super().start()
        return self

    def _fail(self, what: str) -> BrowserError:
        """A BrowserError with the tail of the browser's log."""
        return BrowserError(str(super()._fail(what)))

    def _env(self) -> dict[str, str]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.tmpdir is None:
            self.tmpdir = Path(tempfile.mkdtemp(prefix="qwen-browser-", dir=SHORT_TMP))
        return _browser_env(self.home, self.tmpdir)

    def _log_path(self, what: str) -> Path:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self.log_dir / f"{what}.log"

    def _main_alive(self) -> bool:
        return bool(self._procs) and self._procs[0].poll() is None

    def _timed(self, key: str, started: float) -> None:
        self.timings[key] = round(self.timings.get(key, 0.0) + time.monotonic() - started, 2)

    def visit(
        self,
        token: str | None,
        *,
        writes: int = 0,
        size: int = FILLER_SIZE,
        remove: bool = False,
        keep_open: bool = False,
        timeout: float = VISIT_TIMEOUT,
    ) -> Visit:
        """Open the site in the running browser; return once its script stored ``token`` (or removed it).

        ``token=None`` visits without storing anything; ``writes=N`` first stores N other keys of ``size``
        characters; ``remove=True`` removes the token (and expires the cookie). ``keep_open`` (Chromium)
        leaves the page open, as a person would: Chromium then writes on its own timers (see
        ``ChromiumProfile``); by default the page is closed, and Chromium commits within a second.
        Firefox keeps the page open until the next visit and writes ~5 s after the page did.
        """
        if not self._main_alive():
            raise BrowserError(f"{type(self).__name__} is not running")
        visit = self.site.plan(token, writes=writes, size=size, remove=remove)
        started = time.monotonic()
        handle = self._open(visit)
        try:
            self.site.wait_ran(visit, timeout, alive=self._main_alive)
            problem = visit.problem()
            if problem:
                raise BrowserError(problem)
            self._settle(visit, handle, started + timeout, keep_open=keep_open)
        except BrowserError as error:
            raise self._fail(str(error)) from None
        self._timed(f"visit {len(self.visits) + 1}", started)
        self.visits.append(visit)
        return visit

    def _open(self, visit: Visit) -> Any:
        """Load the visit's URL; return what ``_settle`` needs to find that page again."""
        raise NotImplementedError

    def _settle(self, visit: Visit, handle: Any, deadline: float, *, keep_open: bool) -> None:
        """After the page ran: whatever the browser needs so that a clean close keeps what it stored."""

    def visit_and_close(
        self, token: str | None, *, writes: int = 0, size: int = FILLER_SIZE, remove: bool = False
    ) -> Visit:
        """Start the browser, visit once, close it cleanly (its files are then final)."""
        with self:
            return self.visit(token, writes=writes, size=size, remove=remove)

    def _quit(self) -> None:
        """Ask the browser to quit through its protocol (best effort: stop() falls back to signals)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Quit cleanly, wait for the main process, then end whatever is left in its session."""
        if self._main_alive():
            started = time.monotonic()
            try:
                self._quit()
            except (OSError, ValueError, BrowserError) as error:
                self.quit_problem = f"{type(error).__name__}: {error}"
            proc = self._procs[0]
            try:
                self.exit_code = proc.wait(timeout=QUIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.quit_problem = self.quit_problem or f"still running {QUIT_TIMEOUT:.0f} s after the quit command"
            self._timed("quit", started)
        self._close_channel()
        super().stop()
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    @property
    def clean_exit(self) -> bool:
        """The browser quit through its protocol, by itself, with status 0."""
        return self.exit_code == 0 and self.quit_problem is None

    def _close_channel(self) -> None:
        pass

    def leftovers(self) -> list[int]:
        """Processes still alive in the browser's session, or anywhere with our home in their command line."""
        found = set(stray_processes(self))
        marker = os.fsencode(str(self.home))
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if marker in (entry / "cmdline").read_bytes() and pid_alive(int(entry.name)):
                    found.add(int(entry.name))
            except OSError:
                continue
        found.discard(os.getpid())
        return sorted(found)


# -- Chromium -------------------------------------------------------------------------------------------------
class _DevToolsPipe:
    """The DevTools protocol over ``--remote-debugging-pipe``: JSON messages ending in NUL, ours on fd 3."""

    def __init__(self, to_browser: int, from_browser: int) -> None:
        self.to_browser = to_browser
        self.from_browser = from_browser
        self._buffer = b""
        self._next_id = 0

    def send(self, method: str, params: dict[str, Any] | None = None) -> int:
        self._next_id += 1
        data = json.dumps({"id": self._next_id, "method": method, "params": params or {}}).encode() + b"\0"
        try:
            while data:
                written = os.write(self.to_browser, data)
                data = data[written:]
        except OSError as error:
            raise BrowserError(f"DevTools {method}: cannot write to the browser: {error}") from error
        return self._next_id

    def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = CALL_TIMEOUT) -> Any:
        message_id = self.send(method, params)
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.from_browser, selectors.EVENT_READ)
            while True:
                while b"\0" in self._buffer:
                    raw, self._buffer = self._buffer.split(b"\0", 1)
                    message = json.loads(raw)
                    if message.get("id") == message_id:
                        if "error" in message:
                            raise BrowserError(f"DevTools {method}: {message['error']}")
                        return message.get("result", {})
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BrowserError(f"DevTools {method}: no answer in {timeout:.0f} s")
                if selector.select(min(remaining, 1.0)):
                    chunk = os.read(self.from_browser, 1 << 16)
                    if not chunk:
                        raise BrowserError(f"DevTools {method}: the browser closed the pipe")
                    self._buffer += chunk

    def close(self) -> None:
        for fd in (self.to_browser, self.from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)


def _high_fd(fd: int) -> int:
    """``fd`` moved to the lowest free number >= 10 (close-on-exec, like every fd Python makes)."""
    import fcntl

    try:
        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    finally:
        os.close(fd)


class ChromiumProfile(_Browser):
    """A real Chromium profile ``<home>/.config/chromium/<profile_dir_name>``, signed in to the site.

    Profiles of one user-data-dir are used one after the other (Chromium hands a second launch on the
    same folder to the running one): ``ChromiumProfile(home, site)`` then ``ChromiumProfile(home, site,
    "Profile 1")`` gives two profiles, both named in ``Local State``.
    """

    executables = ("chromium",)
    _running_dirs: ClassVar[dict[Path, list[ChromiumProfile]]] = {}

    def __init__(self, home: os.PathLike[str] | str, site: FakeQwenSite, profile_dir_name: str = "Default") -> None:
        super().__init__(home, site)
        self.profile_dir_name = profile_dir_name
        self.user_data_dir = self.home / CHROMIUM_USER_DATA
        self.profile_dir = self.user_data_dir / profile_dir_name
        self.leveldb_dir = self.profile_dir / "Local Storage" / "leveldb"
        self.local_state = self.user_data_dir / "Local State"
        self.cookies_db = self.profile_dir / "Cookies"
        self._pipe: _DevToolsPipe | None = None
        self._open_pages: list[str] = []
        self._unsettled: Visit | None = None

    def argv(self) -> list[str]:
        return [
            shutil.which("chromium") or "/usr/bin/chromium",
            "--headless=new",
            "--no-sandbox",
            f"--user-data-dir={self.user_data_dir}",
            f"--profile-directory={self.profile_dir_name}",
            f"--host-resolver-rules={self.site.host_resolver_rules}",
            "--ignore-certificate-errors",
            "--password-store=basic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-quic",
            "--no-proxy-server",
            "--disable-dev-shm-usage",
            "--remote-debugging-pipe",
            "about:blank",
        ]

    def _start(self) -> None:
        started = time.monotonic()
        for other in list(self._running_dirs.get(self.user_data_dir, ())):
            if other is not self and other.running:
                raise BrowserError(
                    f"{other!r} already runs on {self.user_data_dir}: Chromium would hand this launch to it; "
                    "use the profiles of one user-data-dir one after the other"
                )
        self._running_dirs.setdefault(self.user_data_dir, []).append(self)
        self.user_data_dir.mkdir(parents=True, exist_ok=True)
        # Chromium reads commands on fd 3 and writes answers on fd 4. subprocess cannot place a pipe at a
        # given fd number, so bash does it just before exec (dash only knows single-digit fds); the pipes
        # are first moved to fds >= 10 so that moving them never closes fd 3 or 4 again.
        to_read, to_write = (_high_fd(fd) for fd in os.pipe())
        from_read, from_write = (_high_fd(fd) for fd in os.pipe())
        script = f'exec "$@" 3<&{to_read} 4>&{from_write} {to_read}<&- {from_write}>&-'
        log = self._log_path(f"chromium-{self.profile_dir_name.replace(' ', '_')}").open("a+b")
        self._logs.append(log)
        try:
            proc = subprocess.Popen(
                ["/bin/bash", "-c", script, "chromium", *self.argv()],
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.home,
                pass_fds=(to_read, from_write),
                start_new_session=True,
            )
        finally:
            os.close(to_read)
            os.close(from_write)
        self._procs.append(proc)
        self.pids.append(proc.pid)
        self._pipe = _DevToolsPipe(to_write, from_read)
        try:
            #: Browser.getVersion's answer (``product``, ``userAgent`` …).
            self.version: dict[str, Any] = self._pipe.call("Browser.getVersion", timeout=START_TIMEOUT)
        except BrowserError as error:
            raise self._fail(str(error)) from None
        self._timed("start", started)

    def _open(self, visit: Visit) -> str:
        assert self._pipe is not None
        return str(self._pipe.call("Target.createTarget", {"url": visit.url})["targetId"])

    def _settle(self, visit: Visit, handle: Any, deadline: float, *, keep_open: bool) -> None:
        if keep_open:
            self._open_pages.append(handle)
            self._unsettled = visit
            return
        assert self._pipe is not None
        self._pipe.call("Target.closeTarget", {"targetId": handle})
        self._barrier(visit, deadline)
        self._unsettled = None

    def _barrier(self, visit: Visit, deadline: float) -> None:
        """Read the value back from new pages until Chromium's storage service has what ``visit`` stored.

        A renderer sends its localStorage changes to the storage service (a process of its own)
        asynchronously: a browser closed right after a page wrote 3 MiB lost the last writes, token
        included, in 2 runs of 6. A new page gets the origin's data from the storage service, behind
        the writes already sent; once it reads what the visit stored, a clean close keeps it. (With
        no page of the origin left open, Chromium also commits to disk at once.)
        """
        assert self._pipe is not None
        if not visit.checked:
            return
        while True:
            check = self.site.plan(None, check=True, expect=visit.expected)
            target = self._open(check)
            self.site.wait_ran(check, max(deadline - time.monotonic(), 1.0), alive=self._main_alive)
            self._pipe.call("Target.closeTarget", {"targetId": target})
            if check.problem() is None:
                return
            if time.monotonic() > deadline:
                raise BrowserError(f"the storage service never had what the page stored: {check.problem()}")
            time.sleep(0.2)

    def _quit(self) -> None:
        if self._pipe is not None:
            # Pages left open: close them, and make sure the last visit's writes reached storage.
            for target in self._open_pages:
                with contextlib.suppress(BrowserError):
                    self._pipe.call("Target.closeTarget", {"targetId": target})
            self._open_pages.clear()
            visit, self._unsettled = self._unsettled, None
            try:
                if visit is not None:
                    self._barrier(visit, time.monotonic() + VISIT_TIMEOUT)
            finally:
                # The answer may never come: the browser is going away. Its exit is what stop() waits for.
                self._pipe.send("Browser.close")

    def _close_channel(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None
        with contextlib.suppress(ValueError, KeyError):
            self._running_dirs[self.user_data_dir].remove(self)

    # -- looking at the profile ----------------------------------------------------------------------------
    def leveldb_files(self, suffix: str = "") -> list[Path]:
        """Files in ``Local Storage/leveldb`` (only those ending in ``suffix``), oldest first by name."""
        if not self.leveldb_dir.is_dir():
            return []
        return sorted(p for p in self.leveldb_dir.iterdir() if p.is_file() and p.name.endswith(suffix))

    def files_with(self, needle: bytes) -> list[Path]:
        """The LevelDB files whose raw bytes contain ``needle`` (a ``.ldb`` block may be compressed)."""
        return files_containing(self.leveldb_dir, needle)

    def local_state_profiles(self) -> dict[str, Any]:
        """``Local State`` → ``profile.info_cache``: profile folder name → its entry (``name``, …)."""
        state = json.loads(self.local_state.read_text(encoding="utf-8"))
        cache = state.get("profile", {}).get("info_cache", {})
        return cache if isinstance(cache, dict) else {}


def chromium_value(token: str) -> bytes:
    """How Chromium stores a Latin-1 localStorage value on disk: ``\\x01`` then the bytes."""
    return b"\x01" + token.encode("latin-1")


def chromium_key(key: str = "token", origin: str = ORIGIN) -> bytes:
    """Chromium's LevelDB key for ``localStorage[key]`` of ``origin``."""
    return b"_" + origin.encode() + b"\x00\x01" + key.encode("latin-1")


# -- Firefox --------------------------------------------------------------------------------------------------
class _Marionette:
    """Marionette's protocol: ``len:[0, id, "Command", params]`` out, ``len:[1, id, error, result]`` back."""

    def __init__(self, port: int, timeout: float = CALL_TIMEOUT) -> None:
        self.sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
        self._buffer = b""
        self._next_id = 0
        self.hello = self._read(timeout)

    def _read(self, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            head, colon, rest = self._buffer.partition(b":")
            if colon:
                length = int(head)
                if len(rest) >= length:
                    self._buffer = rest[length:]
                    return json.loads(rest[:length])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"Marionette: no answer in {timeout:.0f} s")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError as error:
                raise BrowserError(f"Marionette: {error}") from error
            if not chunk:
                raise BrowserError("Marionette: the browser closed the connection")
            self._buffer += chunk

    def call(self, command: str, params: dict[str, Any] | None = None, timeout: float = CALL_TIMEOUT) -> Any:
        self._next_id += 1
        data = json.dumps([0, self._next_id, command, params or {}]).encode()
        try:
            self.sock.sendall(str(len(data)).encode() + b":" + data)
        except OSError as error:
            raise BrowserError(f"Marionette {command}: {error}") from error
        while True:
            message = self._read(timeout)
            if isinstance(message, list) and len(message) == 4 and message[0] == 1 and message[1] == self._next_id:
                if message[2]:
                    raise BrowserError(f"Marionette {command}: {message[2]}")
                return message[3]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


_OPEN_IN_CONTAINER = """
const [url, userContextId] = arguments;
const { ContextualIdentityService } = ChromeUtils.importESModule(
  "resource://gre/modules/ContextualIdentityService.sys.mjs"
);
if (!ContextualIdentityService.getPublicIdentityFromId(userContextId)) {
  return "no container with userContextId " + userContextId;
}
const tab = gBrowser.addTab(url, {
  userContextId,
  triggeringPrincipal: Services.scriptSecurityManager.createNullPrincipal({ userContextId }),
});
gBrowser.selectedTab = tab;
return tab.getAttribute("usercontextid");
"""


class FirefoxProfile(_Browser):
    """A real Firefox ESR profile, made and registered in ``profiles.ini`` by Firefox itself.

    ``container=N`` opens the site in a container tab (``userContextId=N``; Firefox's default
    containers are 1-4: Personal, Work, Banking, Shopping), through Marionette in the chrome context
    (``--remote-allow-system-access``). The site's port reaches Firefox through the
    ``network.socket.forcePort`` pref, so the origin stays ``https://chat.qwen.ai``.
    """

    executables = ("firefox-esr", "certutil")

    def __init__(
        self,
        home: os.PathLike[str] | str,
        site: FakeQwenSite,
        name: str = "default-release",
        container: int | None = None,
    ) -> None:
        super().__init__(home, site)
        self.profile_name = name
        self.container = container
        self.root = self.home / FIREFOX_PROFILE_ROOT
        self.profiles_ini = self.root / "profiles.ini"
        self.path: Path | None = None
        self._marionette: _Marionette | None = None

    # -- the profile ----------------------------------------------------------------------------------------
    def create(self) -> Path:
        """Make the profile (once): registered by ``firefox-esr -CreateProfile``, prefs, the test CA."""
        if self.path is not None:
            return self.path
        try:
            existing = self._registered_path()
            if existing is None:
                self.root.mkdir(parents=True, exist_ok=True)
                started = time.monotonic()
                output, status = self._run(["firefox-esr", "--headless", "-CreateProfile", self.profile_name])
                self._timed("create profile", started)
                self._log_path(f"firefox-{self.profile_name}-create").write_text(output)
                existing = self._registered_path()
                if status != 0 or existing is None:
                    raise BrowserError(f"firefox-esr -CreateProfile {self.profile_name} failed ({status}): {output}")
            existing.mkdir(parents=True, exist_ok=True)
            (existing / "user.js").write_text(self.user_js(), encoding="utf-8")
            if not (existing / "cert9.db").exists():
                self._certutil(existing, "-N", "--empty-password")
            self._certutil(existing, "-A", "-n", "qwen-tray-test-ca", "-t", "C,,", "-i", str(self.site.ca_pem))
        finally:
            if not self._procs and self.tmpdir is not None:
                shutil.rmtree(self.tmpdir, ignore_errors=True)
                self.tmpdir = None
        self.path = existing
        return existing

    def _run(self, argv: list[str]) -> tuple[str, int]:
        """Run a helper to its end in a session of its own (and end anything it left there)."""
        proc = subprocess.Popen(
            argv,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            output, _ = proc.communicate(timeout=START_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
        finally:
            _drain_session(proc.pid)
        return output.decode(errors="replace")[-4000:], proc.returncode

    def _certutil(self, profile: Path, *args: str) -> None:
        output, status = self._run(["certutil", *args, "-d", f"sql:{profile}"])
        if status != 0:
            raise BrowserError(f"certutil {' '.join(args)} failed ({status}): {output}")

    def _registered_path(self) -> Path | None:
        for section in read_profiles_ini(self.profiles_ini):
            if section.get("Name") == self.profile_name and "Path" in section:
                relative = section.get("IsRelative", "1") == "1"
                return self.root / section["Path"] if relative else Path(section["Path"])
        return None

    def user_js(self) -> str:
        """Prefs: chat.qwen.ai is the site on loopback; any other host goes to a refusing loopback proxy."""
        prefs: dict[str, Any] = {
            "network.dns.localDomains": HOST,
            "network.proxy.type": 1,
            "network.proxy.http": LOOPBACK,
            "network.proxy.http_port": self.site.dead_port,
            "network.proxy.ssl": LOOPBACK,
            "network.proxy.ssl_port": self.site.dead_port,
            "network.proxy.no_proxies_on": HOST,
            "network.proxy.allow_hijacking_localhost": True,
            "network.trr.mode": 5,
            "network.dns.disablePrefetch": True,
            "network.http.speculative-parallel-limit": 0,
            "network.captive-portal-service.enabled": False,
            "network.connectivity-service.enabled": False,
            "services.settings.server": "data:,#remote-settings-dummy/v1",
            "app.normandy.enabled": False,
            "app.normandy.api_url": "",
            "app.update.enabled": False,
            "messaging-system.rsexperimentloader.enabled": False,
            "browser.region.network.url": "",
            "browser.safebrowsing.update.enabled": False,
            "browser.shell.checkDefaultBrowser": False,
            "browser.startup.homepage_override.mstone": "ignore",
            "datareporting.policy.dataSubmissionEnabled": False,
            "datareporting.healthreport.uploadEnabled": False,
            "toolkit.telemetry.reportingpolicy.firstRun": False,
            "marionette.port": 0,
        }
        if self.site.port != 443:
            # The URL stays https://chat.qwen.ai/ (so does the origin); the connection goes to the site's port.
            prefs["network.socket.forcePort"] = f"443={self.site.port}"
        if self.container is not None:
            prefs["privacy.userContext.enabled"] = True
            prefs["privacy.userContext.ui.enabled"] = True
        return "".join(f"user_pref({json.dumps(key)}, {json.dumps(value)});\n" for key, value in prefs.items())

    # -- files ----------------------------------------------------------------------------------------------
    def _origin_dir(self) -> Path:
        assert self.path is not None
        suffix = "" if self.container is None else f"^userContextId={self.container}"
        return self.path / "storage" / "default" / f"https+++{HOST}{suffix}"

    @property
    def ls_db(self) -> Path:
        """``storage/default/https+++chat.qwen.ai[^userContextId=N]/ls/data.sqlite``."""
        return self._origin_dir() / "ls" / "data.sqlite"

    @property
    def cookies_db(self) -> Path:
        assert self.path is not None
        return self.path / "cookies.sqlite"

    # -- running --------------------------------------------------------------------------------------------
    def argv(self) -> list[str]:
        assert self.path is not None
        argv = ["firefox-esr", "--headless", "--no-remote", "--marionette", "--profile", str(self.path)]
        if self.container is not None:
            argv.append("--remote-allow-system-access")
        return [*argv, "about:blank"]

    def _start(self) -> None:
        started = time.monotonic()
        path = self.create()
        port_file = path / "MarionetteActivePort"
        port_file.unlink(missing_ok=True)
        env = self._env()
        env.update(MOZ_CRASHREPORTER_DISABLE="1", MOZ_HEADLESS="1")
        self._spawn(self.argv(), env=env, log=self._log_path(f"firefox-{self.profile_name}"), cwd=self.home)

        def port() -> int | None:
            with contextlib.suppress(OSError, ValueError):
                return int(port_file.read_text().strip()) or None
            return None

        marionette_port = self._wait_until(port, "MarionetteActivePort", START_TIMEOUT)
        self._marionette = _Marionette(marionette_port)
        self._marionette.call("WebDriver:NewSession", {"capabilities": {"alwaysMatch": {"pageLoadStrategy": "none"}}})
        self._timed("start", started)

    def _open(self, visit: Visit) -> None:
        assert self._marionette is not None
        if self.container is None:
            self._marionette.call("WebDriver:Navigate", {"url": visit.url})
            return
        self._marionette.call("Marionette:SetContext", {"value": "chrome"})
        try:
            answer = self._marionette.call(
                "WebDriver:ExecuteScript", {"script": _OPEN_IN_CONTAINER, "args": [visit.url, self.container]}
            )
        finally:
            self._marionette.call("Marionette:SetContext", {"value": "content"})
        if answer.get("value") != str(self.container):
            raise BrowserError(f"could not open a tab in container {self.container}: {answer!r}")

    def _quit(self) -> None:
        if self._marionette is not None:
            self._marionette.call("Marionette:Quit", {"flags": ["eAttemptQuit"]}, timeout=QUIT_TIMEOUT)

    def _close_channel(self) -> None:
        if self._marionette is not None:
            self._marionette.close()
            self._marionette = None


def read_profiles_ini(path: Path) -> list[dict[str, str]]:
    """The sections of a Firefox ``profiles.ini`` (each with ``__section__``), in file order."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    if path.exists():
        parser.read(path, encoding="utf-8")
    return [{"__section__": name, **parser[name]} for name in parser.sections()]


# -- looking into profiles ------------------------------------------------------------------------------------
def files_containing(directory: Path, needle: bytes) -> list[Path]:
    """Files directly in ``directory`` whose raw bytes contain ``needle``."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_file() and needle in p.read_bytes())


def copy_sqlite(path: Path, destination: Path) -> Path:
    """Copy a sqlite database with its ``-wal`` and ``-shm`` (as a reader must); return the copy's path."""
    destination.mkdir(parents=True, exist_ok=True)
    copy = destination / path.name
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            shutil.copyfile(source, copy.with_name(copy.name + suffix))
    return copy


@contextlib.contextmanager
def open_copy(path: Path, scratch: Path) -> Iterator[sqlite3.Connection]:
    """A connection to a fresh copy of ``path`` (with its ``-wal``) in ``scratch``; the live file is untouched."""
    copy = copy_sqlite(path, scratch / f"copy-{secrets.token_hex(4)}")
    connection = sqlite3.connect(copy)
    try:
        yield connection
    finally:
        connection.close()


def firefox_ls_value(row: tuple[Any, ...]) -> str:
    """Decode an LSNG ``data`` row's ``(value, conversion_type, compression_type)`` when uncompressed."""
    value, conversion_type, compression_type = row
    if compression_type != 0:
        raise ValueError("snappy-compressed LSNG value: not decoded by the harness")
    if isinstance(value, bytes):
        return value.decode("utf-8" if conversion_type == 1 else "utf-16-le")
    return str(value)


# -- damaging profiles ----------------------------------------------------------------------------------------
def newest_file(directory: Path, suffix: str) -> Path:
    """The most recently modified file in ``directory`` ending in ``suffix`` (e.g. ``.log``, ``.ldb``)."""
    candidates = [p for p in directory.iterdir() if p.is_file() and p.name.endswith(suffix)]
    if not candidates:
        raise FileNotFoundError(f"no *{suffix} in {directory}")
    return max(candidates, key=lambda p: (p.stat().st_mtime_ns, p.name))


def cut_in_half(path: Path) -> int:
    """Truncate ``path`` to half its size; return the new size."""
    size = path.stat().st_size // 2
    with path.open("r+b") as handle:
        handle.truncate(size)
    return size


def overwrite(path: Path, offset: int, data: bytes) -> None:
    """Overwrite bytes of ``path`` at ``offset`` (negative: from the end), e.g. to break a checksum."""
    with path.open("r+b") as handle:
        handle.seek(offset, os.SEEK_END if offset < 0 else os.SEEK_SET)
        handle.write(data)


def make_unreadable(path: Path) -> str:
    """Make opening ``path`` fail; return how. As root (tests here run as root) a ``chmod 000`` stops
    nothing, so the file is replaced by an empty directory of the same name (``IsADirectoryError``)."""
    if os.geteuid() != 0:
        path.chmod(0)
        return "chmod 000"
    path.unlink()
    path.mkdir()
    return "replaced by a directory"


def damage_newest(directory: Path, suffix: str) -> Path:
    """Cut the newest ``*suffix`` file of ``directory`` in half; return it."""
    target = newest_file(directory, suffix)
    cut_in_half(target)
    return target
