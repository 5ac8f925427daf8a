"""A browser profile of our own making, signed in to chat.qwen.ai: for ``qwen-tray demo``, so the demo can
show importing and recovery without touching the person's real browsers. Firefox's layout, as Firefox
writes it: ``profiles.ini`` and the origin's LSNG localStorage (``data.sqlite``)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

PROFILE_NAME = "demo"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS database (origin TEXT NOT NULL, usage INTEGER NOT NULL DEFAULT 0,
  last_vacuum_time INTEGER NOT NULL DEFAULT 0, last_analyze_time INTEGER NOT NULL DEFAULT 0,
  last_vacuum_size INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS data (key TEXT PRIMARY KEY, utf16_length INTEGER NOT NULL DEFAULT 0,
  conversion_type INTEGER NOT NULL DEFAULT 0, compression_type INTEGER NOT NULL DEFAULT 0,
  last_access_time INTEGER NOT NULL DEFAULT 0, value BLOB NOT NULL);
"""


def write_simulated_firefox(home: Path, token: str, profile: str = PROFILE_NAME) -> Path:
    """``home``/.mozilla/firefox with one profile whose localStorage for https://chat.qwen.ai holds
    ``token`` (written again on each call: the browser signed in anew). Returns the profile folder."""
    root = home / ".mozilla" / "firefox"
    folder = root / f"qwentray.{profile}"
    database = folder / "storage" / "default" / "https+++chat.qwen.ai" / "ls" / "data.sqlite"
    database.parent.mkdir(parents=True, exist_ok=True)
    (root / "profiles.ini").write_text(
        f"[Profile0]\nName={profile}\nIsRelative=1\nPath={folder.name}\nDefault=1\n\n"
        "[General]\nStartWithLastProfile=1\nVersion=2\n"
    )
    with closing(sqlite3.connect(database)) as connection:
        connection.executescript(_SCHEMA)
        connection.execute("DELETE FROM database")
        connection.execute("INSERT INTO database (origin) VALUES ('https://chat.qwen.ai')")
        connection.execute(
            "INSERT OR REPLACE INTO data (key, utf16_length, conversion_type, compression_type, value) "
            "VALUES ('token', ?, 1, 0, ?)",
            (len(token), token.encode()),
        )
        connection.commit()
    return folder
