"""Two file locks: one refresher (daemon or tray) per user, and one refresh in flight across processes."""

from __future__ import annotations

from pathlib import Path

from filelock import FileLock, Timeout

from tray_app.errors import AlreadyRunningError
from tray_app.i18n import tr


def hold_instance_lock(path: Path) -> FileLock:
    """Take the one-refresher-per-user lock, or say another daemon or tray already has it.

    The OS releases it when the process dies, so a crash never leaves a stale lock behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise AlreadyRunningError(
            tr("qwen-tray is already running (a tray or daemon is keeping the token alive); only one may run per user.")
        ) from exc
    return lock


def refresh_lock(path: Path) -> FileLock:
    """The lock a refresh or a token change holds, so two processes never interleave them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(path, thread_local=False)
