"""Real desktop services for tests: a private D-Bus, gnome-keyring, Xvfb, dunst and tray hosts.

Tray hosts: trayer (XEmbed); xfce4-panel, lxqt-panel and headless sway + waybar (StatusNotifierItem),
with ``restart()``; and the calls a host makes to an item (``registered_items``, ``activate``,
``menu_layout``, ``menu_click``), plus ``find_on_screen`` to locate an icon by its colour.

Plain module (not a conftest). Each service is a context manager with ``start()``/``stop()``;
it records the PIDs it starts (``pids``) and stops exactly those (and whatever they left in their
sessions): SIGTERM, wait, then SIGKILL. Every file a service writes (config, sockets, logs, keyrings,
HOME, XDG dirs) lives in the ``workdir`` the caller passes, normally a pytest ``tmp_path``. The
exceptions: Xvfb's socket and lock file (X clients look for them in ``/tmp/.X11-unix`` and ``/tmp``),
and SwayWaybar's session directory, which must be reachable by ``nobody`` (a temporary directory
under /tmp, removed by ``stop()``).

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
import json
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from PIL import Image

STOP_TIMEOUT = 3.0
# Any helper program we run and wait for (grim, wl-paste, xdotool).
TOOL_TIMEOUT = 10.0
POLL_INTERVAL = 0.02
# sun_path is 108 bytes on Linux, including the terminating NUL.
MAX_UNIX_PATH = 107

# Where X servers and clients meet: fixed paths, not temporary files of ours.
X11_SOCKET_DIR = Path("/tmp/.X11-unix")  # noqa: S108
X11_LOCK_DIR = Path("/tmp")  # noqa: S108

NOTIFICATIONS_NAME = "org.freedesktop.Notifications"
SECRETS_NAME = "org.freedesktop.secrets"
TRAY_SELECTION = "_NET_SYSTEM_TRAY_S0"
WATCHER_NAME = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
ITEM_INTERFACE = "org.kde.StatusNotifierItem"
MENU_INTERFACE = "com.canonical.dbusmenu"
XFCONF_NAME = "org.xfce.Xfconf"
SNI_TIMEOUT = 5.0

# A directory every uid can search, for the files of a session run as another user (see SwayWaybar).
SHARED_TMP = Path("/tmp")  # noqa: S108
NOBODY = 65534  # uid of nobody and gid of nogroup on Debian

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


def _end(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, wait, SIGKILL; close its pipes; then end whatever it left in its session."""
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
    _drain_session(proc.pid)


def _drain_session(session_id: int) -> None:
    """End the processes still in a stopped daemon's session (xfce4-panel's plugin wrapper, a forked helper).

    They are ours: every daemon here is the leader of a session of its own. SIGTERM, wait, then SIGKILL.
    """
    left = _session_members([session_id])
    for signum in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        deadline = time.monotonic() + STOP_TIMEOUT
        while left and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
            left = _session_members([session_id])
        if not left:
            return


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
        """Stop exactly the processes this service started, newest first (and what they left). Idempotent."""
        for proc in reversed(self._procs):
            _end(proc)
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
    #: Let every uid connect (see SharedSessionBus); dbus-daemon accepts only its own uid otherwise.
    any_user: ClassVar[bool] = False

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
        users = '\n    <allow user="*"/>' if self.any_user else ""
        return f"""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>{self.address}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">{users}
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

    def name_owner(self, name: str, timeout: float = 2.0) -> str | None:
        """The unique name (``:1.23``) that owns ``name`` now, or None."""
        from jeepney import DBusErrorResponse
        from jeepney.bus_messages import message_bus

        try:
            return str(self.call(message_bus.GetNameOwner(name), timeout)[0])
        except DBusErrorResponse:
            return None  # org.freedesktop.DBus.Error.NameHasNoOwner


class SharedSessionBus(SessionBus):
    """A SessionBus that every uid may use: the app as root, a desktop session as ``nobody`` (SwayWaybar).

    ``<allow user="*"/>`` in the policy lets other uids in, and the socket is made world-writable (with
    ``<keep_umask/>`` it has our umask). ``workdir`` must be searchable by every uid, so not a pytest
    ``tmp_path`` (under a 0700 directory).
    """

    any_user = True

    def _start(self) -> None:
        super()._start()
        self.socket_path.chmod(0o777)


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


def owns_selection(display: str, selection: str) -> bool:
    """True if some client owns the X ``selection`` (e.g. ``_NET_SYSTEM_TRAY_S0``: a tray accepts icons)."""
    import Xlib.display
    import Xlib.X

    connection = Xlib.display.Display(display)
    try:
        owner = connection.get_selection_owner(connection.intern_atom(selection))
        return bool(owner != Xlib.X.NONE)
    finally:
        connection.close()


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
        self._wait_until(self.owns_tray, f"the {TRAY_SELECTION} selection", self.start_timeout)

    def owns_tray(self) -> bool:
        return owns_selection(self.display, TRAY_SELECTION)

    @property
    def environment(self) -> dict[str, str]:
        return {"DISPLAY": self.display}


class SniHost(Service):
    """A tray host that runs the StatusNotifierWatcher on ``bus``; base of the panels and SwayWaybar.

    Ready once ``org.kde.StatusNotifierWatcher`` has an owner (``watcher_owner``, a unique name) other
    than the previous host's, and ``_host_ready()`` says so. ``restart()`` replaces only the host process.
    """

    modules: ClassVar[tuple[str, ...]] = ("jeepney",)
    needs: ClassVar[tuple[type[Service], ...]] = (SessionBus,)
    # Measured 0.1-0.3 s on an idle machine; generous for a 2-core machine running other tests.
    start_timeout = 20.0
    bus: SessionBus
    workdir: Path

    def __init__(self) -> None:
        super().__init__()
        self.watcher_owner: str | None = None
        self._host: subprocess.Popen[bytes] | None = None

    def _spawn_host(self) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    def _host_ready(self) -> bool:
        return True

    def _start_host(self) -> None:
        previous = self.watcher_owner
        self._host = self._spawn_host()

        def new_watcher() -> str | None:
            owner = self.bus.name_owner(WATCHER_NAME)
            return owner if owner is not None and owner != previous and self._host_ready() else None

        self.watcher_owner = self._wait_until(new_watcher, f"a new {WATCHER_NAME} on the bus", self.start_timeout)

    def stop(self) -> None:
        super().stop()
        self.watcher_owner = None  # a new bus may hand out the same unique name again

    def _check_no_watcher(self) -> None:
        if self.bus.name_has_owner(WATCHER_NAME):
            raise ServiceError(f"{WATCHER_NAME} is already owned on {self.bus.address}")

    def restart(self, crash: bool = False) -> None:
        """Stop the host process and start it again; return once its new watcher is ready.

        Stopped as ``stop()`` does, or with ``crash=True`` by SIGKILL (no clean exit, as a crashed panel).
        Registered items are lost with the old watcher: an item should notice the watcher's new owner
        (``NameOwnerChanged``) and register again. That is the item's job, not this method's.
        """
        if self._host is None or not self.running:
            raise ServiceError(f"{type(self).__name__} is not running")
        if crash:
            with contextlib.suppress(ProcessLookupError):
                self._host.kill()
        _end(self._host)
        self._procs.remove(self._host)
        # The bus drops the name when it notices the closed connection: soon, but not at once.
        self._wait_until(
            lambda: not self.bus.name_has_owner(WATCHER_NAME), f"the old {WATCHER_NAME} to go", self.start_timeout
        )
        self._start_host()


class _XPanel(SniHost):
    """An X11 panel on ``screen`` and ``bus``: SNI host and XEmbed tray, a 32 px white strip along the top."""

    modules: ClassVar[tuple[str, ...]] = ("jeepney", "Xlib")

    def __init__(self, bus: SessionBus, screen: Xvfb | str, workdir: os.PathLike[str] | str) -> None:
        super().__init__()
        self.bus = bus
        self._display = screen
        self.workdir = Path(workdir)
        self.dirs = isolated_dirs(self.workdir)

    @property
    def display(self) -> str:
        return self._display.display if isinstance(self._display, Xvfb) else self._display

    def _env(self) -> dict[str, str]:
        env = {**os.environ, **self.bus.environment, **self.dirs, "DISPLAY": self.display, "NO_AT_BRIDGE": "1"}
        for name in ("WAYLAND_DISPLAY", "XAUTHORITY", "SESSION_MANAGER", "DBUS_STARTER_ADDRESS"):
            env.pop(name, None)
        return env

    def _host_ready(self) -> bool:
        return owns_selection(self.display, TRAY_SELECTION)

    @property
    def environment(self) -> dict[str, str]:
        return {**self.bus.environment, **self.dirs, "DISPLAY": self.display}


def xfconfd_path() -> str | None:
    """xfconfd is not on PATH: it lives in a multiarch directory (``/usr/lib/<triplet>/xfce4/xfconf``)."""
    candidates = [*sorted(Path("/usr/lib").glob("*/xfce4/xfconf/xfconfd")), Path("/usr/lib/xfce4/xfconf/xfconfd")]
    return next((str(path) for path in candidates if os.access(path, os.X_OK)), None)


class XfcePanel(_XPanel):
    """``xfce4-panel`` with only its systray plugin (which runs in a ``wrapper-2.0`` child of the panel).

    Settings: an xfconf channel file in our XDG_CONFIG_HOME, so no first-run dialog. They are served by
    xfconfd, normally D-Bus-activated; our SessionBus activates nothing, and giving it a service dir
    would make xfconfd a child of dbus-daemon, outside our PID bookkeeping. So xfconfd is started here
    as a process of this service, before the panel (which reads its settings once, at start).
    ``--disable-wm-check``: without it the panel waits 5 s for a window manager that never comes.
    """

    executables: ClassVar[tuple[str, ...]] = ("xfce4-panel",)

    @classmethod
    def missing(cls) -> list[str]:
        return super().missing() + ([] if xfconfd_path() else ["xfconfd"])

    CHANNEL = """<?xml version="1.0" encoding="UTF-8"?>
<channel name="xfce4-panel" version="1.0">
  <property name="configver" type="int" value="2"/>
  <property name="panels" type="array">
    <value type="int" value="1"/>
    <property name="panel-1" type="empty">
      <property name="position" type="string" value="p=6;x=0;y=0"/>
      <property name="length" type="uint" value="100"/>
      <property name="position-locked" type="bool" value="true"/>
      <property name="size" type="uint" value="32"/>
      <property name="background-style" type="uint" value="1"/>
      <property name="background-rgba" type="array">
        <value type="double" value="1"/><value type="double" value="1"/>
        <value type="double" value="1"/><value type="double" value="1"/>
      </property>
      <property name="plugin-ids" type="array"><value type="int" value="1"/></property>
    </property>
  </property>
  <property name="plugins" type="empty">
    <property name="plugin-1" type="string" value="systray"/>
  </property>
</channel>
"""

    def _start(self) -> None:
        self._check_no_watcher()
        if self.bus.name_has_owner(XFCONF_NAME):
            raise ServiceError(f"{XFCONF_NAME} is already owned on {self.bus.address}")
        channel = Path(self.dirs["XDG_CONFIG_HOME"]) / "xfce4" / "xfconf" / "xfce-perchannel-xml" / "xfce4-panel.xml"
        channel.parent.mkdir(parents=True, exist_ok=True)
        channel.write_text(self.CHANNEL)
        xfconfd = xfconfd_path()
        if xfconfd is None:
            raise ServiceError("xfconfd not found")
        self._spawn([xfconfd], env=self._env(), log=self.workdir / "xfconfd.log", cwd=self.workdir)
        self.bus.wait_for_name(XFCONF_NAME, self.start_timeout, owner=self)
        self._start_host()

    def _spawn_host(self) -> subprocess.Popen[bytes]:
        env = {**self._env(), "GDK_BACKEND": "x11"}
        argv = ["xfce4-panel", "--disable-wm-check", "--sm-client-disable"]
        return self._spawn(argv, env=env, log=self.workdir / "xfce4-panel.log", cwd=self.workdir)


class PlasmaShell(SniHost):
    """KDE Plasma 5's shell (``plasmashell``) on ``screen`` and ``bus``: its panel's system tray is an SNI host,
    and Klipper (its clipboard history) runs inside it.

    On a private bus nothing is D-Bus-activated, so what Plasma would activate is started here: ``kded5``
    with its ``statusnotifierwatcher`` module (the watcher lives there, not in the shell) and
    ``kactivitymanagerd`` (the shell refuses to load without it). ``kbuildsycoca5`` first builds the
    service cache those read. Ready once the watcher is owned and the shell and Klipper are on the bus.
    ``restart()`` does not apply: the watcher is kded's, and it does not go away with the shell.
    """

    executables: ClassVar[tuple[str, ...]] = ("plasmashell", "kded5", "kbuildsycoca5")
    modules: ClassVar[tuple[str, ...]] = ("jeepney",)
    start_timeout = 60.0
    ACTIVITY_MANAGER = "/usr/lib/x86_64-linux-gnu/libexec/kactivitymanagerd"

    def __init__(self, bus: SessionBus, screen: Xvfb, workdir: os.PathLike[str] | str) -> None:
        super().__init__()
        self.bus = bus
        self.screen = screen
        self.workdir = Path(workdir)
        self.dirs = isolated_dirs(self.workdir)

    @classmethod
    def missing(cls) -> list[str]:
        absent = super().missing()
        return absent if os.access(cls.ACTIVITY_MANAGER, os.X_OK) else [*absent, "kactivitymanagerd"]

    def _env(self) -> dict[str, str]:
        env = {**os.environ, **self.bus.environment, **self.dirs, "DISPLAY": self.screen.display}
        env.update(QT_QPA_PLATFORM="xcb", QT_QUICK_BACKEND="software", XDG_CURRENT_DESKTOP="KDE", NO_AT_BRIDGE="1")
        for name in ("WAYLAND_DISPLAY", "XAUTHORITY", "SESSION_MANAGER"):
            env.pop(name, None)
        return env

    def _start(self) -> None:
        from jeepney import DBusAddress, new_method_call

        self._check_no_watcher()
        env = self._env()
        subprocess.run(["kbuildsycoca5"], env=env, capture_output=True, timeout=120, check=False)
        self._spawn(["kded5"], env=env, log=self.workdir / "kded5.log", cwd=self.workdir)
        self.bus.wait_for_name("org.kde.kded5", self.start_timeout, owner=self)
        self._spawn([self.ACTIVITY_MANAGER], env=env, log=self.workdir / "kactivitymanagerd.log", cwd=self.workdir)
        kded = DBusAddress("/kded", bus_name="org.kde.kded5", interface="org.kde.kded5")
        self.bus.call(new_method_call(kded, "loadModule", "s", ("statusnotifierwatcher",)), timeout=30)
        self._start_host()

    def _spawn_host(self) -> subprocess.Popen[bytes]:
        return self._spawn(["plasmashell", "--no-respawn"], env=self._env(), log=self.workdir / "plasmashell.log",
                           cwd=self.workdir)  # fmt: skip

    def _host_ready(self) -> bool:
        """The shell, and its panel's applets loaded (Klipper, the clipboard applet, comes with them)."""
        return self.bus.name_has_owner("org.kde.plasmashell") and self.bus.name_has_owner("org.kde.klipper")

    def klipper_history(self) -> list[str]:
        """The texts Klipper keeps (its history menu), newest first."""
        from jeepney import DBusAddress, new_method_call

        klipper = DBusAddress("/klipper", bus_name="org.kde.klipper", interface="org.kde.klipper.klipper")
        (history,) = self.bus.call(new_method_call(klipper, "getClipboardHistoryMenu"), timeout=SNI_TIMEOUT)
        return [str(text) for text in history]

    @property
    def environment(self) -> dict[str, str]:
        return {**self.bus.environment, **self.dirs, "DISPLAY": self.screen.display}


class LxqtPanel(_XPanel):
    """``lxqt-panel`` with its statusnotifier (SNI) and tray (XEmbed) plugins.

    The panel rewrites ``panel.conf`` when it exits: ours is written again before every start.
    """

    executables: ClassVar[tuple[str, ...]] = ("lxqt-panel",)

    CONFIG = """[General]
__userfile__=true
panels=panel1

[panel1]
plugins=statusnotifier, tray
position=Top
panelSize=32
iconSize=22
alignment=-1
width=100
width-percent=true
desktop=0
background-color=#ffffff
opacity=100

[statusnotifier]
type=statusnotifier

[tray]
type=tray
"""

    def _start(self) -> None:
        self._check_no_watcher()
        self._start_host()

    def _spawn_host(self) -> subprocess.Popen[bytes]:
        config = Path(self.dirs["XDG_CONFIG_HOME"]) / "lxqt" / "panel.conf"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(self.CONFIG)
        env = {**self._env(), "QT_QPA_PLATFORM": "xcb"}
        return self._spawn(["lxqt-panel"], env=env, log=self.workdir / "lxqt-panel.log", cwd=self.workdir)


class SwayWaybar(SniHost):
    """A pure-Wayland desktop: headless sway, and waybar with its tray (an SNI host), on a SharedSessionBus.

    sway refuses to run as root, so (when we are root) sway and waybar run as ``nobody`` via setpriv,
    with HOME and XDG_RUNTIME_DIR in a fresh directory under /tmp (``root``; removed by ``stop()``) that
    nobody can reach, unlike pytest's ``tmp_path``. The app under test runs as root: ``environment``
    gives it that bus, ``WAYLAND_DISPLAY`` as the absolute path of sway's socket (libwayland takes one,
    and root may enter nobody's 0700 runtime directory), and no DISPLAY. waybar is started here, not by
    sway's ``bar`` block, so that its PID is ours to stop and restart. ``workdir`` gets the logs.
    """

    executables: ClassVar[tuple[str, ...]] = ("sway", "waybar", "setpriv", "grim", "wl-paste", "wl-copy")
    modules: ClassVar[tuple[str, ...]] = ("jeepney", "PIL")

    WAYBAR_CONFIG: ClassVar[dict[str, Any]] = {
        "layer": "top",
        "position": "top",
        "height": 32,
        "modules-right": ["tray"],
        "tray": {"icon-size": 22, "spacing": 4},
    }
    WAYBAR_STYLE = """* { font-family: "DejaVu Sans"; font-size: 13px; border: none; border-radius: 0; }
window#waybar { background: #ffffff; color: #000000; }
#tray { background: #ffffff; padding: 0 4px; }
"""

    def __init__(self, workdir: os.PathLike[str] | str, size: str = "1024x600") -> None:
        super().__init__()
        self.workdir = Path(workdir)
        self.size = size
        self.root: Path | None = None
        self.wayland_socket: Path | None = None
        self._copier: subprocess.Popen[bytes] | None = None

    # -- as whom sway and waybar run ------------------------------------------------------------------
    @staticmethod
    def _as_user() -> list[str]:
        if os.geteuid() != 0:
            return []
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]

    def _private_dir(self, path: Path) -> Path:
        """A 0700 directory owned by the user sway runs as."""
        path.mkdir(mode=0o700)
        if os.geteuid() == 0:
            os.chown(path, NOBODY, NOBODY)
        return path

    def _user_env(self) -> dict[str, str]:
        assert self.root is not None
        home = self.root / "home"
        return {
            "PATH": os.environ.get("PATH", os.defpath),
            "LANG": "C.UTF-8",
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_STATE_HOME": str(home / "state"),
            "XDG_RUNTIME_DIR": str(self.root / "runtime"),
            "NO_AT_BRIDGE": "1",
        }

    # -- lifecycle --------------------------------------------------------------------------------------
    def _start(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="qwen-tray-sway-", dir=SHARED_TMP))
        self.root.chmod(0o711)  # nobody may pass through to its own directories, not list ours
        self.bus = SharedSessionBus(self.root / "bus")
        self.bus.start()
        self.pids.extend(self.bus.pids)  # stray_processes(self) covers the bus too
        home = self._private_dir(self.root / "home")
        runtime = self._private_dir(self.root / "runtime")
        config = home / "config"
        for path in (config, config / "sway", config / "waybar"):
            self._private_dir(path)
        files = {
            config / "sway" / "config": f"output HEADLESS-1 resolution {self.size}\nxwayland disable\n",
            config / "waybar" / "config": json.dumps(self.WAYBAR_CONFIG),
            config / "waybar" / "style.css": self.WAYBAR_STYLE,
        }
        for path, text in files.items():
            path.write_text(text)
            if os.geteuid() == 0:
                os.chown(path, NOBODY, NOBODY)
        env = {**self._user_env(), "WLR_BACKENDS": "headless", "WLR_RENDERER": "pixman", "WLR_LIBINPUT_NO_DEVICES": "1"}
        self._spawn(
            [*self._as_user(), "sway", "-c", str(config / "sway" / "config")],
            env=env,
            log=self.workdir / "sway.log",
            cwd=self.root,
        )
        self.wayland_socket = self._wait_until(lambda: self._socket_in(runtime), "sway's socket", self.start_timeout)
        self._start_host()

    @staticmethod
    def _socket_in(runtime: Path) -> Path | None:
        for path in sorted(runtime.glob("wayland-*")):
            if not path.name.endswith(".lock") and (sock := _connect_unix(path, timeout=1.0)) is not None:
                sock.close()
                return path
        return None

    def _spawn_host(self) -> subprocess.Popen[bytes]:
        assert self.root is not None
        config = self.root / "home" / "config" / "waybar"
        env = {
            **self._user_env(),
            "WAYLAND_DISPLAY": str(self.wayland_socket),
            "DBUS_SESSION_BUS_ADDRESS": self.bus.address,
            "GDK_BACKEND": "wayland",
        }
        argv = [*self._as_user(), "waybar", "-c", str(config / "config"), "-s", str(config / "style.css")]
        return self._spawn(argv, env=env, log=self.workdir / "waybar.log", cwd=self.root)

    def stop(self) -> None:
        if self._copier is not None:
            _end(self._copier)
            self._copier = None
        super().stop()
        if getattr(self, "bus", None) is not None:
            self.bus.stop()
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        self.wayland_socket = None

    @property
    def environment(self) -> dict[str, str]:
        """For root's processes (the app): the shared bus, sway's socket by absolute path, no DISPLAY."""
        if self.wayland_socket is None:
            raise ServiceError("SwayWaybar has no Wayland socket before start()")
        return {**self.bus.environment, "WAYLAND_DISPLAY": str(self.wayland_socket)}

    # -- what a person sees and copies ------------------------------------------------------------------
    def _tool_env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", os.defpath), **self.environment}

    def screenshot(self, path: os.PathLike[str] | str, box: Box) -> Image.Image:
        """``grim -g`` of ``box`` (left, top, right, bottom) into ``path``; returned as an RGB image."""
        from PIL import Image

        left, top, right, bottom = box
        geometry = f"{left},{top} {right - left}x{bottom - top}"
        subprocess.run(
            ["grim", "-g", geometry, str(path)],
            env=self._tool_env(), stdin=subprocess.DEVNULL, capture_output=True, timeout=TOOL_TIMEOUT, check=True,
        )  # fmt: skip
        with Image.open(path) as shot:
            return shot.convert("RGB")

    def clipboard(self) -> str:
        """The text on the Wayland clipboard (``wl-paste --no-newline``), "" when there is none."""
        result = subprocess.run(
            ["wl-paste", "--no-newline"],
            env=self._tool_env(), stdin=subprocess.DEVNULL, capture_output=True, timeout=TOOL_TIMEOUT, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            if b"No selection" in result.stderr or b"Nothing is copied" in result.stderr:
                return ""
            raise ServiceError(f"wl-paste failed ({result.returncode}): {result.stderr.decode(errors='replace')}")
        return result.stdout.decode()

    def copy(self, text: str) -> None:
        """Put ``text`` on the clipboard as a client would (``wl-copy --foreground``, until replaced or stop())."""
        if self._copier is not None:
            _end(self._copier)
        self._copier = subprocess.Popen(
            ["wl-copy", "--foreground"],
            env=self._tool_env(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        self.pids.append(self._copier.pid)
        assert self._copier.stdin is not None
        self._copier.stdin.write(text.encode())
        self._copier.stdin.close()
        self._wait_until(lambda: self.clipboard() == text, "wl-copy's text on the clipboard", self.start_timeout)


# Variables that would send a child to the real desktop instead of ours.
_DROP_WITH = {
    "DBUS_SESSION_BUS_ADDRESS": ("GNOME_KEYRING_CONTROL", "DBUS_STARTER_ADDRESS", "DBUS_STARTER_BUS_TYPE"),
    "DISPLAY": ("WAYLAND_DISPLAY", "XAUTHORITY"),
    "WAYLAND_DISPLAY": ("DISPLAY", "XAUTHORITY"),
}


def environment(*services: Service) -> tuple[dict[str, str], list[str]]:
    """(variables to set, variables to unset) for using ``services``; later services win."""
    values: dict[str, str] = {}
    for service in services:
        values.update(service.environment)
    # A variable a service sets is never dropped (an X screen and a Wayland session may be used together).
    drop = sorted({name for key, names in _DROP_WITH.items() if key in values for name in names} - values.keys())
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


# -- StatusNotifierItem hosts' side of the conversation (jeepney) ---------------------------------------------
def split_item(item: str) -> tuple[str, str]:
    """(bus name, object path) of a registered item.

    Watchers list ``:1.23/StatusNotifierItem``, ``org.kde.StatusNotifierItem-PID-1/StatusNotifierItem``,
    or ``:1.23/org/ayatana/NotificationItem/x``: the name ends at the first "/". A bare name means the
    standard path.
    """
    service, slash, path = item.partition("/")
    return service, f"/{path}" if slash else "/StatusNotifierItem"


def _item_address(item: str, interface: str = ITEM_INTERFACE) -> Any:
    from jeepney import DBusAddress

    service, path = split_item(item)
    return DBusAddress(path, bus_name=service, interface=interface)


def registered_items(bus: SessionBus, timeout: float = SNI_TIMEOUT) -> list[str]:
    """The watcher's ``RegisteredStatusNotifierItems``; [] while no watcher runs (a panel restarting)."""
    from jeepney import DBusAddress, DBusErrorResponse, Properties

    watcher = DBusAddress(WATCHER_PATH, bus_name=WATCHER_NAME, interface=WATCHER_NAME)
    try:
        ((_signature, items),) = bus.call(Properties(watcher).get("RegisteredStatusNotifierItems"), timeout)
    except DBusErrorResponse as error:
        if error.name in ("org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner"):
            return []
        raise
    return [str(item) for item in items]


def item_property(bus: SessionBus, item: str, name: str, timeout: float = SNI_TIMEOUT) -> Any:
    """One ``org.kde.StatusNotifierItem`` property, unwrapped (``IconPixmap``: [(w, h, bytes), ...])."""
    from jeepney import Properties

    ((_signature, value),) = bus.call(Properties(_item_address(item)).get(name), timeout)
    return value


def activate(bus: SessionBus, item: str, x: int, y: int, timeout: float = SNI_TIMEOUT) -> None:
    """``Activate(x, y)``: what a host calls on a primary (left) click."""
    from jeepney import new_method_call

    bus.call(new_method_call(_item_address(item), "Activate", "ii", (x, y)), timeout)


def secondary_activate(bus: SessionBus, item: str, x: int, y: int, timeout: float = SNI_TIMEOUT) -> None:
    """``SecondaryActivate(x, y)``: what a host calls on a middle click."""
    from jeepney import new_method_call

    bus.call(new_method_call(_item_address(item), "SecondaryActivate", "ii", (x, y)), timeout)


def _menu_address(bus: SessionBus, item: str, timeout: float) -> Any:
    from jeepney import DBusAddress

    service, _path = split_item(item)
    return DBusAddress(str(item_property(bus, item, "Menu", timeout)), bus_name=service, interface=MENU_INTERFACE)


def _plain_layout(node: tuple[int, dict[str, tuple[str, Any]], list[tuple[str, Any]]]) -> dict[str, Any]:
    item_id, properties, children = node
    return {
        "id": item_id,
        "properties": {name: value for name, (_signature, value) in properties.items()},
        "children": [_plain_layout(child) for _signature, child in children],
    }


def menu_layout(bus: SessionBus, item: str, timeout: float = SNI_TIMEOUT) -> dict[str, Any]:
    """The item's whole DBusMenu, ``GetLayout(0, -1, [])``, as plain data.

    ``{"id": 0, "properties": {...}, "children": [{"id": 1, "properties": {"label": "Copy"}, ...}]}``
    """
    from jeepney import new_method_call

    message = new_method_call(_menu_address(bus, item, timeout), "GetLayout", "iias", (0, -1, []))
    _revision, layout = bus.call(message, timeout)
    return _plain_layout(layout)


def menu_click(bus: SessionBus, item: str, item_id: int, timeout: float = SNI_TIMEOUT) -> None:
    """``Event(id, "clicked", <int32 0>, 0)`` on the item's menu: a host's click on that menu entry."""
    from jeepney import new_method_call

    message = new_method_call(_menu_address(bus, item, timeout), "Event", "isvu", (item_id, "clicked", ("i", 0), 0))
    bus.call(message, timeout)


# -- finding an icon on screen ------------------------------------------------------------------------------------
#: (left, top, right, bottom), right and bottom exclusive: PIL's ``bbox`` convention.
Box = tuple[int, int, int, int]
RGB = tuple[int, int, int]


def near(colour: RGB, tolerance: int = 40) -> Callable[[RGB], bool]:
    """A pixel predicate: every channel within ``tolerance`` of ``colour`` (icons get scaled and blended)."""
    return lambda pixel: all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def pixel_box(image: Image.Image, match: Callable[[RGB], bool], origin: tuple[int, int] = (0, 0)) -> Box | None:
    """The bounding box of the pixels of ``image`` that ``match``, offset by ``origin``; None if none do."""
    rgb = image.convert("RGB")
    width, data = rgb.width, rgb.tobytes()  # (getdata() is deprecated in Pillow 13)
    pixels = zip(data[0::3], data[1::3], data[2::3], strict=True)
    hits = [index for index, pixel in enumerate(pixels) if match(pixel)]
    if not hits:
        return None
    xs = [index % width for index in hits]
    ys = [index // width for index in hits]
    left, top = origin
    return left + min(xs), top + min(ys), left + max(xs) + 1, top + max(ys) + 1


def grab(screen: Xvfb | str, box: Box) -> Image.Image:
    """A screenshot of ``box`` on an X screen (Pillow's XCB grab: no ImageMagick needed)."""
    from PIL import ImageGrab

    display = screen.display if isinstance(screen, Xvfb) else screen
    return ImageGrab.grab(bbox=box, xdisplay=display).convert("RGB")


def find_on_screen(screen: Xvfb | str, box: Box, match: Callable[[RGB], bool]) -> Box | None:
    """Where, within ``box`` of an X screen, the pixels that ``match`` are (screen coordinates)."""
    return pixel_box(grab(screen, box), match, origin=(box[0], box[1]))


def centre(box: Box) -> tuple[int, int]:
    left, top, right, bottom = box
    return (left + right) // 2, (top + bottom) // 2


def click(screen: Xvfb | str, x: int, y: int, button: int = 1) -> None:
    """``xdotool mousemove X Y click BUTTON`` (no ``--sync``: it blocks when the pointer is already there)."""
    display = screen.display if isinstance(screen, Xvfb) else screen
    env = {**os.environ, "DISPLAY": display}
    env.pop("WAYLAND_DISPLAY", None)
    subprocess.run(
        ["xdotool", "mousemove", str(x), str(y), "click", str(button)],
        env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=TOOL_TIMEOUT, check=True,
    )  # fmt: skip


@atexit.register
def _stop_all() -> None:
    for service in list(_RUNNING):
        with contextlib.suppress(Exception):
            service.stop()


__all__ = [
    "Box",
    "Dunst",
    "GnomeKeyring",
    "LxqtPanel",
    "Service",
    "ServiceError",
    "SessionBus",
    "SharedSessionBus",
    "SniHost",
    "SwayWaybar",
    "Trayer",
    "XfcePanel",
    "Xvfb",
    "activate",
    "apply_env",
    "centre",
    "click",
    "env_for",
    "environment",
    "find_on_screen",
    "grab",
    "is_ci",
    "isolated_dirs",
    "item_property",
    "menu_click",
    "menu_layout",
    "near",
    "owns_selection",
    "pid_alive",
    "pixel_box",
    "registered_items",
    "require",
    "secondary_activate",
    "split_item",
    "stray_processes",
    "xfconfd_path",
]
