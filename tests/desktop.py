"""Real desktop services for tests: a private D-Bus, gnome-keyring, Xvfb and dunst.

Plain module (not a conftest). Each service is a context manager with ``start()``/``stop()``;
it records the PIDs it starts (``pids``) and stops exactly those: SIGTERM, wait, then SIGKILL.
Every file a service writes (config, sockets, logs, keyrings, HOME, XDG dirs) lives in the
``workdir`` the caller passes, normally a pytest ``tmp_path``. Xvfb's socket and lock file are
the exception: X clients look for them in ``/tmp/.X11-unix`` and ``/tmp``.

Typical use (``tests`` is a package)::

    from tests.desktop import GnomeKeyring, SessionBus, env_for

    with SessionBus(tmp_path) as bus, GnomeKeyring(bus, tmp_path) as keyring_daemon:
        subprocess.run([...], env=env_for(bus, keyring_daemon), check=True)

Each daemon runs in its own session (``setsid``), so ``stray_processes(service)`` can list anything
it left behind. Services still running when the interpreter exits are stopped by an atexit hook.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import selectors
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any, ClassVar

STOP_TIMEOUT = 3.0
POLL_INTERVAL = 0.02
# sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_UNIX_PATH = 107

# Where X servers and clients meet: fixed paths, not temporary files of ours.
X11_SOCKET_DIR = Path("/tmp/.X11-unix")  # noqa: S108
X11_LOCK_DIR = Path("/tmp")  # noqa: S108

NOTIFICATIONS_NAME = "org.freedesktop.Notifications"
SECRETS_NAME = "org.freedesktop.secrets"

_RUNNING: set[Service] = set()


class ServiceError(RuntimeError):
    """A service did not start (or did not become ready) in time."""


def is_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def isolated_dirs(workdir: os.PathLike[str] | str) -> dict[str, str]:
    """HOME and XDG_* directories inside ``workdir`` (created; XDG_RUNTIME_DIR is mode 0700)."""
    base = Path(workdir)
    dirs = {
        "HOME": base / "home",
        "XDG_CONFIG_HOME": base / "xdg-config",
        "XDG_DATA_HOME": base / "xdg-data",
        "XDG_CACHE_HOME": base / "xdg-cache",
        "XDG_STATE_HOME": base / "xdg-state",
        "XDG_RUNTIME_DIR": base / "xdg-runtime",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    dirs["XDG_RUNTIME_DIR"].chmod(0o700)
    return {name: str(path) for name, path in dirs.items()}


def _check_unix_path(path: Path) -> None:
    if len(os.fsencode(path)) > MAX_UNIX_PATH:
        raise ServiceError(f"Unix socket path too long ({len(str(path))} > {MAX_UNIX_PATH}): {path}")


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _session_members(session_ids: Iterable[int]) -> list[int]:
    wanted = set(session_ids)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # After the command: state ppid pgrp session ...
        if fields[0] != "Z" and int(fields[3]) in wanted:
            found.append(int(entry.name))
    return sorted(found)


def stray_processes(*services: Service) -> list[int]:
    """Live processes in the sessions of the given services' PIDs (each daemon is a session leader)."""
    return _session_members(pid for service in services for pid in service.pids)


def _connect_unix(path: Path, timeout: float) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        return None
    return sock


class Service:
    """Base class: start()/stop(), exact PID bookkeeping, context manager, logs in a file."""

    executables: ClassVar[tuple[str, ...]] = ()
    modules: ClassVar[tuple[str, ...]] = ()
    needs: ClassVar[tuple[type[Service], ...]] = ()
    start_timeout: float = 5.0

    def __init__(self) -> None:
        self.pids: list[int] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    # -- availability -------------------------------------------------------------------------------------
    @classmethod
    def missing(cls) -> list[str]:
        """Executables (and ``python:module``s) this service needs that are not available here."""
        absent: list[str] = []
        for dependency in cls.needs:
            absent += [name for name in dependency.missing() if name not in absent]
        absent += [name for name in cls.executables if shutil.which(name) is None and name not in absent]
        absent += [f"python:{name}" for name in cls.modules if importlib.util.find_spec(name) is None]
        return absent

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> Service:
        if self.running:
            return self
        _RUNNING.add(self)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop exactly the processes this service started, newest first. Idempotent."""
        for proc in reversed(self._procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                try:
                    proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    proc.wait(timeout=STOP_TIMEOUT)
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self._procs.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()
        _RUNNING.discard(self)

    @property
    def running(self) -> bool:
        return bool(self._procs) and all(proc.poll() is None for proc in self._procs)

    @property
    def pid(self) -> int:
        if not self.pids:
            raise ServiceError(f"{type(self).__name__} was never started")
        return self.pids[-1]

    @property
    def environment(self) -> dict[str, str]:
        return {}

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} pids={self.pids} running={self.running}>"

    # -- helpers for subclasses ---------------------------------------------------------------------------
    def _spawn(
        self,
        argv: list[str],
        *,
        env: Mapping[str, str],
        log: Path | None,
        stdin: int | None = subprocess.DEVNULL,
        stdout: int | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        # The log is a file (never an undrained pipe); an anonymous temporary file when there is no workdir.
        # Kept open for the life of the process; closed in stop().
        log_file: IO[bytes] = log.open("a+b") if log is not None else tempfile.TemporaryFile()  # noqa: SIM115
        self._logs.append(log_file)
        proc = subprocess.Popen(
            argv,
            env=dict(env),
            stdin=stdin,
            stdout=log_file if stdout is None else stdout,
            stderr=log_file,
            cwd=cwd,
            start_new_session=True,
        )
        self._procs.append(proc)
        self.pids.append(proc.pid)
        return proc

    def _log_tail(self, limit: int = 2000) -> str:
        if not self._logs:
            return ""
        log = self._logs[-1]
        log.flush()
        log.seek(0)
        return log.read().decode(errors="replace")[-limit:]

    def _fail(self, what: str) -> ServiceError:
        proc = self._procs[-1] if self._procs else None
        status = "" if proc is None or proc.poll() is None else f" (exited with {proc.returncode})"
        return ServiceError(f"{type(self).__name__}: {what}{status}\n--- log ---\n{self._log_tail()}")

    def _wait_until(self, ready: Any, what: str, timeout: float) -> Any:
        """Poll ``ready()`` until it returns a truthy value; fail early if our process died."""
        deadline = time.monotonic() + timeout
        while True:
            result = ready()
            if result:
                return result
            if self._procs and self._procs[-1].poll() is not None:
                raise self._fail(f"exited while waiting for {what}")
            if time.monotonic() >= deadline:
                raise self._fail(f"timed out after {timeout:.1f} s waiting for {what}")
            time.sleep(POLL_INTERVAL)


class SessionBus(Service):
    """A private session ``dbus-daemon`` listening on ``<workdir>/bus``, with no service directories.

    Nothing can be D-Bus-activated on it, so no stray dunst, keyring prompt or at-spi bus can appear.
    """

    executables = ("dbus-daemon",)

    def __init__(self, workdir: os.PathLike[str] | str) -> None:
        super().__init__()
        self.workdir = Path(workdir)
        self.socket_path = self.workdir / "bus"
        self.config_path = self.workdir / "session-bus.conf"
        self.address = f"unix:path={self.socket_path}"
        self.dirs = isolated_dirs(self.workdir)

    def config(self) -> str:
        # Same policy as the stock session.conf; no <servicedir>, no <standard_session_servicedirs/>,
        # no <include>s (an included file could add service directories).
        return f"""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>{self.address}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""

    def _start(self) -> None:
        _check_unix_path(self.socket_path)
        self.socket_path.unlink(missing_ok=True)
        self.config_path.write_text(self.config())
        env = {**os.environ, **self.dirs, "NO_AT_BRIDGE": "1"}
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        proc = self._spawn(
            ["dbus-daemon", "--nofork", "--print-address", f"--config-file={self.config_path}"],
            env=env,
            log=self.workdir / "dbus-daemon.log",
            stdout=subprocess.PIPE,
            cwd=self.workdir,
        )
        assert proc.stdout is not None
        printed = self._read_line(proc.stdout, self.start_timeout)
        if not printed.startswith(self.address):
            raise self._fail(f"printed an unexpected address {printed!r}")
        self.printed_address = printed  # includes ",guid=..."
        self._wait_until(self._accepts, "the bus socket to accept connections", self.start_timeout)

    def _read_line(self, stream: IO[bytes], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        data = b""
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            while not data.endswith(b"\n"):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._fail("timed out waiting for --print-address")
                if not selector.select(remaining):
                    continue
                chunk = os.read(stream.fileno(), 4096)
                if not chunk:
                    raise self._fail("closed stdout before printing its address")
                data += chunk
        return data.decode().strip()

    def _accepts(self) -> bool:
        sock = _connect_unix(self.socket_path, timeout=1.0)
        if sock is None:
            return False
        sock.close()
        return True

    @property
    def environment(self) -> dict[str, str]:
        return {"DBUS_SESSION_BUS_ADDRESS": self.address, "NO_AT_BRIDGE": "1", **self.dirs}

    # -- small D-Bus client helpers (jeepney) --------------------------------------------------------------
    def connect(self, timeout: float = 2.0) -> Any:
        """A blocking jeepney connection to this bus; use it as a context manager to close it."""
        from jeepney.io.blocking import open_dbus_connection

        return open_dbus_connection(bus=self.address, auth_timeout=timeout)

    def call(self, message: Any, timeout: float = 2.0) -> tuple[Any, ...]:
        """Send one method call on a fresh connection and return the unwrapped reply body."""
        from jeepney.wrappers import unwrap_msg

        with self.connect(timeout) as conn:
            return unwrap_msg(conn.send_and_get_reply(message, timeout=timeout))

    def name_has_owner(self, name: str, timeout: float = 2.0) -> bool:
        from jeepney.bus_messages import message_bus

        return bool(self.call(message_bus.NameHasOwner(name), timeout)[0])

    def wait_for_name(self, name: str, timeout: float = 5.0, owner: Service | None = None) -> None:
        """Poll until ``name`` is owned on this bus (failing early if ``owner``'s process died)."""
        (owner or self)._wait_until(lambda: self.name_has_owner(name), f"{name} on the bus", timeout)


class GnomeKeyring(Service):
    """``gnome-keyring-daemon --foreground --unlock --components=secrets`` on ``bus``.

    ``start()`` returns once the default collection (the login keyring) exists and is unlocked: the
    bus name appears earlier, and a write before that fails with "Prompt dismissed".
    """

    executables = ("gnome-keyring-daemon",)
    modules = ("jeepney",)
    needs = (SessionBus,)
    start_timeout = 10.0

    def __init__(self, bus: SessionBus, workdir: os.PathLike[str] | str, password: str = "test") -> None:  # noqa: S107
        super().__init__()
        self.bus = bus
        self.workdir = Path(workdir)
        self.password = password
        self.dirs = isolated_dirs(self.workdir)
        self.collection_path: str | None = None

    def _start(self) -> None:
        _check_unix_path(Path(self.dirs["XDG_RUNTIME_DIR"]) / "keyring" / "control")
        env = {**os.environ, **self.bus.environment, **self.dirs, "NO_AT_BRIDGE": "1"}
        for name in ("GNOME_KEYRING_CONTROL", "SSH_AUTH_SOCK", "DISPLAY", "WAYLAND_DISPLAY"):
            env.pop(name, None)
        proc = self._spawn(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            env=env,
            log=self.workdir / "gnome-keyring.log",
            stdin=subprocess.PIPE,
            cwd=self.workdir,
        )
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(self.password.encode())  # no trailing newline: it would be part of the password
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        self.collection_path = self._wait_until(
            self._unlocked_default_collection, "an unlocked default collection", self.start_timeout
        )

    def _unlocked_default_collection(self) -> str | None:
        from jeepney import DBusAddress, DBusErrorResponse, Properties, new_method_call

        service = DBusAddress(
            "/org/freedesktop/secrets", bus_name=SECRETS_NAME, interface="org.freedesktop.Secret.Service"
        )
        try:
            (path,) = self.bus.call(new_method_call(service, "ReadAlias", "s", ("default",)))
            if path == "/":
                return None
            collection = DBusAddress(path, bus_name=SECRETS_NAME, interface="org.freedesktop.Secret.Collection")
            ((_signature, locked),) = self.bus.call(Properties(collection).get("Locked"))
        except (DBusErrorResponse, TimeoutError):
            return None  # name not owned yet, object not exported yet, or a slow reply: poll again
        return None if locked else path

    @property
    def environment(self) -> dict[str, str]:
        return {**self.bus.environment, **self.dirs}


def _x11_lock(number: int) -> Path:
    return X11_LOCK_DIR / f".X{number}-lock"


def _free_display_number(start: int = 90, stop: int = 1000) -> int:
    for number in range(start, stop):
        if not (X11_SOCKET_DIR / f"X{number}").exists() and not _x11_lock(number).exists():
            return number
    raise ServiceError(f"no free X display number in {start}..{stop - 1}")


class Xvfb(Service):
    """``Xvfb :N -screen 0 1024x768x24 -nolisten tcp -noreset``; ``display`` is ``":N"``.

    With ``display_number=None`` a free number (no socket in /tmp/.X11-unix, no /tmp/.XN-lock) is
    picked, and the next one is tried if another server wins the race for it. Ready once the server
    answers an X11 connection handshake on its Unix socket. ``-noreset`` keeps the server from
    resetting when its last client (e.g. that handshake) disconnects.
    """

    executables = ("Xvfb",)
    attempts = 5

    def __init__(
        self,
        display_number: int | None = None,
        workdir: os.PathLike[str] | str | None = None,
        screen: str = "1024x768x24",
    ) -> None:
        super().__init__()
        self.requested = display_number
        self.display_number = display_number
        self.workdir = Path(workdir) if workdir is not None else None
        self.screen = screen

    @property
    def display(self) -> str:
        if self.display_number is None:
            raise ServiceError("Xvfb has no display number before start()")
        return f":{self.display_number}"

    @property
    def socket_path(self) -> Path:
        return X11_SOCKET_DIR / f"X{self.display_number}"

    def _start(self) -> None:
        log = self.workdir / "xvfb.log" if self.workdir is not None else None
        tries = 1 if self.requested is not None else self.attempts
        number = self.requested if self.requested is not None else _free_display_number()
        for attempt in range(tries):
            self.display_number = number
            proc = self._spawn(
                ["Xvfb", f":{number}", "-screen", "0", self.screen, "-nolisten", "tcp", "-noreset"],
                env={**os.environ},
                log=log,
                cwd=self.workdir,
            )
            try:
                self._wait_until(self._answers, f"display :{number} to answer", self.start_timeout)
            except ServiceError:
                if proc.poll() is None or attempt == tries - 1:
                    raise
                # Lost a race for this number (or it was taken meanwhile): forget that process, try another.
                self._procs.remove(proc)
                number = _free_display_number(number + 1)
                continue
            return

    def _answers(self) -> bool:
        # Our server owns the number only if the lock file names our PID.
        try:
            if int(_x11_lock(self.display_number or 0).read_text().strip()) != self.pid:
                return False
        except (FileNotFoundError, ValueError):
            return False
        sock = _connect_unix(self.socket_path, timeout=1.0)
        if sock is None:
            return False
        with sock:
            try:
                # X11 connection setup, little-endian, protocol 11.0, no authorization.
                sock.sendall(struct.pack("<cxHHHHxx", b"l", 11, 0, 0, 0))
                reply = sock.recv(8)
            except OSError:
                return False
        return reply[:1] == b"\x01"

    @property
    def environment(self) -> dict[str, str]:
        return {"DISPLAY": self.display}


class Dunst(Service):
    """``dunst`` on ``bus`` and ``display`` (an ``Xvfb`` or a ``":N"`` string).

    Ready once ``org.freedesktop.Notifications`` is owned on the bus. Its HOME/XDG dirs are the bus's
    (or ``workdir``'s), so no user dunstrc is read.
    """

    executables = ("dunst",)
    modules = ("jeepney",)
    needs = (SessionBus,)

    def __init__(self, bus: SessionBus, display: Xvfb | str, workdir: os.PathLike[str] | str | None = None) -> None:
        super().__init__()
        self.bus = bus
        self._display = display
        self.workdir = Path(workdir) if workdir is not None else bus.workdir
        self.dirs = isolated_dirs(self.workdir)

    @property
    def display(self) -> str:
        return self._display.display if isinstance(self._display, Xvfb) else self._display

    def _start(self) -> None:
        if self.bus.name_has_owner(NOTIFICATIONS_NAME):
            raise ServiceError(f"{NOTIFICATIONS_NAME} is already owned on {self.bus.address}")
        env = {**os.environ, **self.bus.environment, **self.dirs, "DISPLAY": self.display}
        env.pop("WAYLAND_DISPLAY", None)
        self._spawn(["dunst"], env=env, log=self.workdir / "dunst.log", cwd=self.workdir)
        self.bus.wait_for_name(NOTIFICATIONS_NAME, self.start_timeout, owner=self)

    @property
    def environment(self) -> dict[str, str]:
        return {**self.bus.environment, **self.dirs, "DISPLAY": self.display}


class Trayer(Service):
    """``trayer``, an XEmbed system tray (as in XFCE, MATE, LXQt panels), on ``display``.

    Ready once it owns the ``_NET_SYSTEM_TRAY_S0`` selection, i.e. icons can dock. A white panel 32 px
    high along the top edge, so a screenshot shows the icons on a known background.
    """

    executables = ("trayer",)
    modules = ("Xlib",)

    def __init__(self, display: Xvfb | str, workdir: os.PathLike[str] | str) -> None:
        super().__init__()
        self._display = display
        self.workdir = Path(workdir)

    @property
    def display(self) -> str:
        return self._display.display if isinstance(self._display, Xvfb) else self._display

    def _start(self) -> None:
        env = {**os.environ, "DISPLAY": self.display}
        env.pop("WAYLAND_DISPLAY", None)
        argv = [
            "trayer", "--edge", "top", "--align", "left", "--widthtype", "request", "--height", "32",
            "--SetDockType", "true", "--transparent", "false", "--tint", "0xffffff", "--iconspacing", "4",
        ]  # fmt: skip
        self._spawn(argv, env=env, log=self.workdir / "trayer.log", cwd=self.workdir)
        self._wait_until(self.owns_tray, "the _NET_SYSTEM_TRAY_S0 selection", self.start_timeout)

    def owns_tray(self) -> bool:
        import Xlib.display
        import Xlib.X

        display = Xlib.display.Display(self.display)
        try:
            owner = display.get_selection_owner(display.intern_atom("_NET_SYSTEM_TRAY_S0"))
            return bool(owner != Xlib.X.NONE)
        finally:
            display.close()

    @property
    def environment(self) -> dict[str, str]:
        return {"DISPLAY": self.display}


# Variables that would send a child to the real desktop instead of ours.
_DROP_WITH = {
    "DBUS_SESSION_BUS_ADDRESS": ("GNOME_KEYRING_CONTROL", "DBUS_STARTER_ADDRESS", "DBUS_STARTER_BUS_TYPE"),
    "DISPLAY": ("WAYLAND_DISPLAY", "XAUTHORITY"),
}


def environment(*services: Service) -> tuple[dict[str, str], list[str]]:
    """(variables to set, variables to unset) for using ``services``; later services win."""
    values: dict[str, str] = {}
    for service in services:
        values.update(service.environment)
    drop = sorted({name for key, names in _DROP_WITH.items() if key in values for name in names})
    return values, drop


def env_for(*services: Service, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The full environment for a child process that should use ``services`` (based on ``os.environ``)."""
    values, drop = environment(*services)
    env = {**(os.environ if base is None else base), **values}
    for name in drop:
        env.pop(name, None)
    return env


def apply_env(monkeypatch: Any, *services: Service) -> dict[str, str]:
    """Point the test process itself at ``services`` via ``monkeypatch`` (undone after the test)."""
    values, drop = environment(*services)
    for name in drop:
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def require(*needed: type[Service] | str) -> None:
    """Skip the test if a service class or executable name is unavailable; fail instead when CI=true."""
    import pytest

    absent: list[str] = []
    for item in needed:
        names = [item] if isinstance(item, str) and shutil.which(item) is None else []
        if isinstance(item, type):
            names = item.missing()
        absent += [name for name in names if name not in absent]
    if not absent:
        return
    message = "missing: " + ", ".join(absent)
    if is_ci():
        pytest.fail(f"{message} (CI=true: these must be installed, see scripts/ci-apt-packages.txt)")
    pytest.skip(message)


@atexit.register
def _stop_all() -> None:
    for service in list(_RUNNING):
        with contextlib.suppress(Exception):
            service.stop()


__all__ = [
    "Dunst",
    "GnomeKeyring",
    "Service",
    "ServiceError",
    "SessionBus",
    "Xvfb",
    "apply_env",
    "env_for",
    "environment",
    "is_ci",
    "isolated_dirs",
    "pid_alive",
    "require",
    "stray_processes",
]
