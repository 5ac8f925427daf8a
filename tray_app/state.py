"""Non-secret state (account, last refresh, last error, backoff) in a JSON file written atomically.

The token is never here: expiry and account id are read from the token itself, so this file and the
keyring can never disagree about them. Losing this file loses only history.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tray_app.errors import StorageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LastError:
    kind: str
    message: str
    at: float


@dataclass(frozen=True)
class State:
    """What we remember between runs besides the token."""

    email: str | None = None
    name: str | None = None
    #: Unix time of the last successful refresh (a new token from the server, stored).
    last_refresh: float | None = None
    last_error: LastError | None = None
    #: ``exp`` of the token the server rejected (401/403): that token is invalid, a new one is not.
    rejected_exp: int | None = None
    #: Consecutive transient failures, for backoff.
    failures: int = 0
    #: No automatic attempt before this unix time (backoff after a failure).
    retry_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        data.update(self.extra)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {key: value for key, value in data.items() if key in names}
        error = known.get("last_error")
        known["last_error"] = LastError(**error) if isinstance(error, dict) else None
        extra = {key: value for key, value in data.items() if key not in names}
        return cls(**known, extra=extra)


class StateFile:
    """Load and save :class:`State`; saves are atomic (temp file, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> State:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return State.from_json(data)
        except FileNotFoundError:
            return State()
        except (OSError, ValueError, TypeError) as exc:
            log.warning("Ignoring unreadable state file %s (%s); starting afresh.", self.path, exc)
            return State()

    def mtime_ns(self) -> int | None:
        """Changes whenever another process saves; cheap enough to check every minute."""
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return None

    def save(self, state: State) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, json.dumps(state.to_json(), indent=2, sort_keys=True) + "\n")
        except OSError as exc:
            raise StorageError(f"Cannot write the state file {self.path}: {exc.strerror or exc}") from exc

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` so a crash leaves either the old file or the new one, never half of either.

    The file is created 0600 (mkstemp's mode) whatever the umask.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    tmp = Path(tmp_name)
    replaced = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
        replaced = True
    finally:
        if not replaced:
            tmp.unlink(missing_ok=True)
