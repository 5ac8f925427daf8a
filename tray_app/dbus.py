"""A short, bounded conversation with the session D-Bus (jeepney's sans-I/O pieces over a plain socket).

jeepney's blocking connection sends ``Hello`` without a timeout and leaves its socket open when that
fails, so a bus that accepts us and never answers would hang the caller. Here every step of one
conversation shares a single deadline, and the socket is always closed. The notifier and the tray's
desktop probe both talk to the bus through this.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections import deque
from pathlib import Path
from typing import Any

#: What a failed conversation raises besides these: OSError (refused, reset, timeout), ValueError and
#: struct.error (jeepney's AuthenticationError, malformed messages), RuntimeError (an unusable address).
NO_SESSION_BUS = "no session bus: DBUS_SESSION_BUS_ADDRESS is not set"


def session_bus_address() -> str | None:
    """The session bus address: ``$DBUS_SESSION_BUS_ADDRESS``, else systemd's ``$XDG_RUNTIME_DIR/bus``."""
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "").strip()
    if address:
        return address
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime_dir and Path(runtime_dir, "bus").exists():
        return f"unix:path={Path(runtime_dir, 'bus')}"
    return None


class BusConversation:
    """One short blocking D-Bus connection in which every step shares a single deadline."""

    def __init__(self, address: str, timeout: float) -> None:
        from jeepney import Parser
        from jeepney.bus import get_bus

        self._deadline = time.monotonic() + timeout
        self._timeout = timeout
        self._parser = Parser()
        self._inbox: deque[Any] = deque()
        self._serials = itertools.count(1)
        target = get_bus(address)  # RuntimeError for transports other than unix:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connected = False
        try:
            self._sock.settimeout(self._remaining())
            self._sock.connect(target)
            self._authenticate()
            self.call(bus_message("Hello"))
            connected = True
        finally:
            if not connected:
                self._sock.close()

    def __enter__(self) -> BusConversation:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._sock.close()

    def _remaining(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no answer on the session bus within {self._timeout:g} s")
        return left

    def _send(self, data: bytes) -> None:
        self._sock.settimeout(self._remaining())
        self._sock.sendall(data)

    def _receive(self) -> bytes:
        self._sock.settimeout(self._remaining())
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            raise TimeoutError(f"no answer on the session bus within {self._timeout:g} s") from None
        if not data:
            raise ConnectionResetError("the session bus closed the connection")
        return data

    def _authenticate(self) -> None:
        from jeepney.auth import BEGIN, Authenticator

        scm_creds = getattr(socket, "SCM_CREDS", None)  # BSD: credentials go as ancillary data
        authenticator = Authenticator(inc_null_byte=scm_creds is None)
        if scm_creds is not None:
            self._sock.sendmsg([b"\0"], [(socket.SOL_SOCKET, scm_creds, bytes(512))])
        for line in authenticator:
            self._send(line)
            authenticator.feed(self._receive())
        self._send(BEGIN)

    def call(self, message: Any) -> Any:
        """Send a method call; return its reply (a jeepney Message, possibly an error) within the deadline."""
        from jeepney import HeaderFields

        serial = next(self._serials)
        self._send(message.serialise(serial=serial))
        while True:
            while self._inbox:
                reply = self._inbox.popleft()
                if reply.header.fields.get(HeaderFields.reply_serial) == serial:
                    return reply
            self._inbox.extend(self._parser.feed(self._receive()))

    def name_has_owner(self, name: str) -> bool:
        from jeepney.bus_messages import message_bus

        reply = self.call(message_bus.NameHasOwner(name))
        return bool(reply.body and reply.body[0] is True)


def bus_message(method: str) -> Any:
    from jeepney import new_method_call
    from jeepney.bus_messages import message_bus

    return new_method_call(message_bus, method)
