"""The optional ``on_refresh`` command: other tools learn the new token on their stdin.

The token goes only to the command's stdin, never into its argv or environment (both are visible to
other users through ``ps`` and ``/proc``). A failing hook is logged; it never undoes a refresh.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from collections.abc import Mapping

log = logging.getLogger(__name__)

HOOK_TIMEOUT = 60.0
EXPIRES_AT_ENV = "QWEN_TRAY_EXPIRES_AT"
ACCOUNT_ID_ENV = "QWEN_TRAY_ACCOUNT_ID"
ACCOUNT_EMAIL_ENV = "QWEN_TRAY_ACCOUNT_EMAIL"


def hook_argv(command: str) -> list[str]:
    """Split the configured command the way the user's platform would."""
    return shlex.split(command, posix=os.name != "nt")


def run_hook(
    command: str,
    token: str,
    expires_at: int,
    *,
    account_id: str = "",
    email: str = "",
    env: Mapping[str, str] | None = None,
) -> bool:
    """Run ``command`` with ``token`` on stdin, and which account it is (id, email: not secrets) and when
    it expires in the environment; True when it exited 0. Failures are logged, not raised."""
    child_env = dict(os.environ if env is None else env)
    child_env[EXPIRES_AT_ENV] = str(expires_at)
    child_env[ACCOUNT_ID_ENV] = account_id
    child_env[ACCOUNT_EMAIL_ENV] = email
    try:
        argv = hook_argv(command)
        result = subprocess.run(
            argv,
            input=token + "\n",
            text=True,
            env=child_env,
            capture_output=True,
            timeout=HOOK_TIMEOUT,
            check=False,
        )
    except ValueError as exc:
        log.warning("on_refresh hook %r cannot be parsed: %s", command, exc)
        return False
    except OSError as exc:
        log.warning("on_refresh hook %r could not start: %s", command, exc.strerror or exc)
        return False
    except subprocess.TimeoutExpired:
        log.warning("on_refresh hook %r ran over %g s and was stopped.", command, HOOK_TIMEOUT)
        return False
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or [""])[-1]
        log.warning("on_refresh hook %r exited %d: %s", command, result.returncode, last_line)
        return False
    log.info("on_refresh hook %r ran.", command)
    return True
