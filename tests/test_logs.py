"""Logging: library noise stays in the log file; our own lines reach the console."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tray_app.logs import setup_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_library_errors_go_to_the_file_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    log_file = tmp_path / "qwen-tray.log"
    setup_logging(log_file, verbose=False, console_level=logging.ERROR)
    logging.getLogger("dbus_fast.message_bus").error("Unexpected error processing message")
    logging.getLogger("asyncio").error("Future exception was never retrieved")
    logging.getLogger("tray_app.tray").error("The tray stopped: the session bus closed the connection")
    for handler in logging.getLogger().handlers:
        handler.flush()
    console = capsys.readouterr().err.splitlines()
    assert console == ["ERROR: The tray stopped: the session bus closed the connection"]
    written = log_file.read_text()
    assert "Unexpected error processing message" in written
    assert "Future exception was never retrieved" in written
