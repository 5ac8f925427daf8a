"""Logging to a rotating file, with anything token-shaped redacted before it is written anywhere."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from tray_app.token import redact

LOG_FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"
#: Libraries whose own error records are for the log file only: when the session bus dies under the tray,
#: dbus-fast and asyncio log what each pending call saw; the person gets our one line about it instead.
FILE_ONLY_LOGGERS = ("dbus_fast", "asyncio")


class NotFromLibraries(logging.Filter):
    """Keeps :data:`FILE_ONLY_LOGGERS`' records off the console (below CRITICAL)."""

    def filter(self, record: logging.LogRecord) -> bool:
        library = record.name.split(".", 1)[0] in FILE_ONLY_LOGGERS
        return not library or record.levelno >= logging.CRITICAL


class RedactTokens(logging.Filter):
    """Replaces token-shaped text in the formatted message (and drops args so nothing re-expands)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class RedactingFormatter(logging.Formatter):
    """Redacts tracebacks too, which filters never see formatted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(log_file: Path | None, *, verbose: bool, console_level: int | None = logging.WARNING) -> None:
    """File log (rotating, 1 MB x 3) at INFO, or DEBUG when verbose; stderr from ``console_level``."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    formatter = RedactingFormatter(LOG_FORMAT)
    if log_file is not None:
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            file_handler = logging.handlers.RotatingFileHandler(
                log_file, maxBytes=1_000_000, backupCount=3, encoding="utf-8"
            )
        except OSError as exc:
            logging.getLogger(__name__).warning("Cannot write the log file %s: %s", log_file, exc)
        else:
            file_handler.setFormatter(formatter)
            file_handler.addFilter(RedactTokens())
            root.addHandler(file_handler)
    if console_level is not None:
        stream = logging.StreamHandler()
        stream.setLevel(logging.DEBUG if verbose else console_level)
        stream.setFormatter(RedactingFormatter("%(levelname)s: %(message)s" if not verbose else LOG_FORMAT))
        stream.addFilter(RedactTokens())
        if not verbose:
            stream.addFilter(NotFromLibraries())
        root.addHandler(stream)
    for noisy in ("httpx", "httpcore", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
