"""Where qwen-tray keeps its files, per platform (platformdirs), all overridable through XDG/APPDATA."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "qwen-tray"


@dataclass(frozen=True)
class AppPaths:
    """The folders and files of one profile (the real one, or the demo's)."""

    config_dir: Path
    state_dir: Path
    log_dir: Path

    @classmethod
    def for_profile(cls, profile: str = APP_NAME) -> AppPaths:
        return cls(
            config_dir=Path(platformdirs.user_config_dir(profile, appauthor=False)),
            state_dir=Path(platformdirs.user_state_dir(profile, appauthor=False)),
            log_dir=Path(platformdirs.user_log_dir(profile, appauthor=False)),
        )

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def token_file(self) -> Path:
        """The opt-in file store (``storage = "file"``): a 0600 file holding the token."""
        return self.state_dir / "token.json"

    @property
    def instance_lock(self) -> Path:
        return self.state_dir / "refresher.lock"

    @property
    def refresh_lock(self) -> Path:
        return self.state_dir / "refresh.lock"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "qwen-tray.log"
