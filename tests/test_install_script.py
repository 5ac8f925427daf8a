"""scripts/install.sh, the README's first command, without apt: fake apt-get/dpkg-query/sudo record their calls.

One real install (venv from /usr/bin/python3 and `pip install .`, ~10 s with PyPI) in a temporary copy of
the repository, with a `python3` first on PATH that must never be used; the rest reuse it or stop early.
The whole thing, on a fresh Debian 12 chroot as root and as a sudo user, was checked by hand (issue 8).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tray_app import __version__

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "install.sh"
BASH = shutil.which("bash") or "/bin/bash"
SYSTEM_PYTHON = "/usr/bin/python3"
PACKAGES = "python3-venv python3-gi gir1.2-gtk-3.0 gir1.2-ayatanaappindicator3-0.1 xclip wl-clipboard"
GTK_CHECK = "import gi; gi.require_version('Gtk', '3.0'); from gi.repository import Gtk"
NOBODY = 65534


def _system_python_has_gtk() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    check = subprocess.run([SYSTEM_PYTHON, "-c", f"import venv; {GTK_CHECK}"], capture_output=True, check=False)
    return check.returncode == 0


needs_system_gtk = pytest.mark.skipif(
    not _system_python_has_gtk(),
    reason="needs /usr/bin/python3 with venv and PyGObject: apt-get install python3-venv python3-gi gir1.2-gtk-3.0",
)
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="running as nobody needs root and setpriv"
)


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


@dataclass
class Tools:
    """A folder of fake commands (put first on PATH) and the log they append to."""

    bin: Path
    log: Path
    python_marker: Path

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def make_tools(folder: Path, *, sudo: bool = False, apt_install_fails: bool = False) -> Tools:
    """apt-get (logs, with DEBIAN_FRONTEND), dpkg-query (nothing installed, unless FAKE_DPKG_ALL_INSTALLED=1),
    python3/python (a different interpreter that must never run), and optionally sudo (logs, then runs)."""
    folder.mkdir(parents=True)
    tools = Tools(folder / "bin", folder / "calls.log", folder / "python3-was-used")
    tools.bin.mkdir()
    for path in (tools.log, tools.python_marker):
        path.touch()
        path.chmod(0o666)  # nobody writes here too
    tools.python_marker.unlink()
    log = tools.log
    failure = 'echo "E: Unable to locate package wl-clipboard" >&2; exit 100' if apt_install_fails else "exit 0"
    _executable(
        tools.bin / "apt-get",
        f'#!/bin/sh\necho "apt-get|${{DEBIAN_FRONTEND:-}}|$*" >> {log}\n'
        f'case "$1" in install) {failure};; esac\necho "Reading package lists..."\n',
    )
    _executable(
        tools.bin / "dpkg-query",
        '#!/bin/sh\n[ "${FAKE_DPKG_ALL_INSTALLED:-}" = 1 ] || exit 1\nprintf "install ok installed"\n',
    )
    for name in ("python3", "python"):
        _executable(tools.bin / name, f'#!/bin/sh\necho "$0 $*" >> {tools.python_marker}\nexit 97\n')
    if sudo:
        _executable(tools.bin / "sudo", f'#!/bin/sh\necho "sudo|$*" >> {log}\nexec "$@"\n')
    return tools


def clean_environment(path: str, **extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("QWEN_TRAY_", "FAKE_DPKG_"))
        and name not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "DEBIAN_FRONTEND")
    }
    env["PATH"] = path
    env.update(extra)
    return env


def run_script(
    checkout: Path, args: list[str], env: dict[str, str], *, as_nobody: bool = False
) -> subprocess.CompletedProcess[str]:
    command = [BASH, str(checkout / "scripts" / "install.sh"), *args]
    if as_nobody:
        command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]
    return subprocess.run(command, env=env, cwd="/", capture_output=True, text=True, timeout=240, check=False)


def copy_checkout(destination: Path) -> Path:
    """What `pip install .` and the script need: pyproject.toml, README.md, tray_app/, scripts/install.sh."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, destination / name)
    shutil.copytree(ROOT / "tray_app", destination / "tray_app", ignore=shutil.ignore_patterns("__pycache__"))
    (destination / "scripts").mkdir()
    shutil.copy2(SCRIPT, destination / "scripts" / "install.sh")
    return destination


@pytest.fixture(scope="module")
def public_dir() -> Iterator[Path]:
    """A folder that `nobody` can read (pytest's own temp folders are private to their user)."""
    folder = Path(tempfile.mkdtemp(prefix="qwen-install-test-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.fixture(scope="module")
def bare_bin(public_dir: Path) -> Path:
    """/usr/bin without sudo, apt-get, dpkg-query and python: a PATH for 'no sudo' and 'not Debian'."""
    farm = public_dir / "usr-bin"
    farm.mkdir()
    left_out = {"sudo", "apt", "apt-get", "dpkg-query", "python", "python3"}
    for entry in Path("/usr/bin").iterdir():
        if entry.name not in left_out:
            (farm / entry.name).symlink_to(entry)
    return farm


@dataclass
class Installed:
    checkout: Path
    tools: Tools
    result: subprocess.CompletedProcess[str]
    seconds: float


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The one real install: apt 'needed' (fake), pip install . for real, then `qwen-tray --version`."""
    work = tmp_path_factory.mktemp("install")
    checkout = copy_checkout(work / "checkout")
    tools = make_tools(work / "tools", sudo=True)
    env = clean_environment(f"{tools.bin}:/usr/local/bin:/usr/bin:/bin")
    started = time.monotonic()
    result = run_script(checkout, ["--version"], env)
    return Installed(checkout, tools, result, time.monotonic() - started)


def test_script_is_valid_bash() -> None:
    result = subprocess.run([BASH, "-n", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert SCRIPT.read_text().splitlines()[0] == "#!/usr/bin/env bash"
    assert "set -Eeuo pipefail" in SCRIPT.read_text()


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_finds_nothing() -> None:
    result = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


@needs_system_gtk
def test_installs_into_a_venv_of_the_distribution_python_whatever_python3_is_on_path(installed: Installed) -> None:
    result = installed.result
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"qwen-tray {__version__}\n"  # stdout is qwen-tray's alone
    assert not installed.tools.python_marker.exists(), "the python3 first on PATH was used"

    # apt-get got the run-time packages, non-interactively, without recommends (through sudo unless root).
    install = f"apt-get|noninteractive|install -y -q --no-install-recommends {PACKAGES}"
    if os.geteuid() == 0:
        assert installed.tools.calls() == ["apt-get||update -q", install]
    else:
        apt_calls = [call for call in installed.tools.calls() if call.startswith("apt-get")]
        assert apt_calls == ["apt-get||update -q", install]

    venv = installed.checkout / ".venv"
    config = dict(line.split(" = ", 1) for line in (venv / "pyvenv.cfg").read_text().splitlines() if " = " in line)
    assert config["home"] == "/usr/bin"
    assert config["include-system-site-packages"] == "true"

    facts = "import sys; print(sys.base_prefix, sys.version)"
    in_venv = subprocess.run([venv / "bin" / "python", "-c", facts], capture_output=True, text=True, check=True)
    system = subprocess.run([SYSTEM_PYTHON, "-c", facts], capture_output=True, text=True, check=True)
    assert in_venv.stdout == system.stdout

    gi = subprocess.run(
        [venv / "bin" / "python", "-c", f"{GTK_CHECK}; print(gi.__file__)"], capture_output=True, text=True, check=False
    )
    assert gi.returncode == 0, gi.stderr
    assert not gi.stdout.startswith(str(venv)), "PyGObject should be the distribution's, not one built into the venv"
    assert (venv / "bin" / "qwen-tray").exists()


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path): (path.lstat().st_mtime_ns, path.lstat().st_size)
        for path in folder.rglob("*")
        if not stat.S_ISDIR(path.lstat().st_mode)
    }


@needs_system_gtk
def test_a_second_run_is_quick_and_changes_nothing(installed: Installed) -> None:
    assert installed.result.returncode == 0, installed.result.stderr
    before = _snapshot(installed.checkout)
    calls_before = installed.tools.calls()
    env = clean_environment(f"{installed.tools.bin}:/usr/local/bin:/usr/bin:/bin", FAKE_DPKG_ALL_INSTALLED="1")
    started = time.monotonic()
    again = run_script(installed.checkout, ["--version"], env)
    seconds = time.monotonic() - started

    assert again.returncode == 0, again.stderr
    assert again.stdout == f"qwen-tray {__version__}\n"
    assert "Debian packages: all there" in again.stderr
    assert "qwen-tray in ./.venv is up to date" in again.stderr
    assert installed.tools.calls() == calls_before, "apt-get ran although every package is there"
    assert _snapshot(installed.checkout) == before
    assert seconds < min(5.0, installed.seconds), f"second run took {seconds:.1f} s"


@needs_system_gtk
def test_a_venv_without_pygobject_stops_with_what_to_do_once(installed: Installed, tmp_path: Path) -> None:
    """The same install, but a `gi` in the venv that fails to import: exit 6, one instruction, no qwen-tray."""
    assert installed.result.returncode == 0, installed.result.stderr
    checkout = tmp_path / "checkout"
    shutil.copytree(installed.checkout, checkout, symlinks=True)
    (site_packages,) = (checkout / ".venv" / "lib").glob("python3*/site-packages")
    (site_packages / "gi.py").write_text("raise ImportError('no PyGObject here')\n")
    env = clean_environment(f"{installed.tools.bin}:/usr/local/bin:/usr/bin:/bin", FAKE_DPKG_ALL_INSTALLED="1")

    result = run_script(checkout, ["--version"], env)

    assert result.returncode == 6, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("install.sh: ./.venv cannot import PyGObject with GTK 3")
    assert "apt-get install --no-install-recommends python3-gi gir1.2-gtk-3.0" in lines[-1]
    assert sum("PyGObject" in line for line in lines) == 1


def _foreign_venv(checkout: Path) -> Path:
    """A venv without the system's site packages (like one made by pyenv's python3): no PyGObject in it."""
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", checkout / ".venv"], check=True)
    return checkout / ".venv" / "pyvenv.cfg"


@needs_system_gtk
def test_skip_apt_and_a_foreign_venv_is_left_alone(tmp_path: Path) -> None:
    checkout = copy_checkout(tmp_path / "checkout")
    config = _foreign_venv(checkout)
    before = config.read_text()
    tools = make_tools(tmp_path / "tools", sudo=True)
    env = clean_environment(f"{tools.bin}:/usr/local/bin:/usr/bin:/bin", QWEN_TRAY_SKIP_APT="1")

    result = run_script(checkout, ["demo"], env)

    assert result.returncode == 5, result.stderr
    assert tools.calls() == []
    assert not tools.python_marker.exists()
    lines = result.stderr.splitlines()
    assert lines[0] == f"install.sh: QWEN_TRAY_SKIP_APT=1: not installing the missing Debian packages: {PACKAGES}"
    assert lines[-1].endswith(f"Move it away and run again: rm -rf '{checkout}/.venv' && bash scripts/install.sh demo")
    assert config.read_text() == before
    assert not (checkout / ".venv" / "bin" / "qwen-tray").exists()


@needs_system_gtk
def test_without_apt_get_it_says_what_to_install_and_goes_on_with_the_system_python(
    tmp_path: Path, bare_bin: Path
) -> None:
    checkout = copy_checkout(tmp_path / "checkout")
    _foreign_venv(checkout)
    tools = make_tools(tmp_path / "tools")
    for name in ("apt-get", "dpkg-query"):
        (tools.bin / name).unlink()

    result = run_script(checkout, ["demo"], clean_environment(f"{tools.bin}:{bare_bin}"))

    assert result.returncode == 5, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("install.sh: No apt-get here (not Debian/Ubuntu): install by hand Python >= 3.10")
    assert "not a venv of /usr/bin/python3" in lines[-1]
    assert not tools.python_marker.exists()


@needs_root
def test_no_root_and_no_sudo_is_one_clear_line(public_dir: Path, bare_bin: Path) -> None:
    checkout = public_dir / "no-sudo"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(SCRIPT, checkout / "scripts" / "install.sh")
    tools = make_tools(public_dir / "no-sudo-tools")

    result = run_script(checkout, ["demo"], clean_environment(f"{tools.bin}:{bare_bin}", HOME="/"), as_nobody=True)

    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"install.sh: Installing the Debian packages ({PACKAGES}) needs root, and sudo is not installed: run this "
        f"script as root (su -), or have root run `apt-get install --no-install-recommends {PACKAGES}`, then run it "
        "again."
    ]
    assert tools.calls() == []
    assert not (checkout / ".venv").exists()


@needs_root
def test_a_user_goes_through_sudo_and_an_apt_failure_is_reported(public_dir: Path, bare_bin: Path) -> None:
    checkout = public_dir / "with-sudo"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(SCRIPT, checkout / "scripts" / "install.sh")
    tools = make_tools(public_dir / "with-sudo-tools", sudo=True, apt_install_fails=True)

    result = run_script(checkout, ["demo"], clean_environment(f"{tools.bin}:{bare_bin}", HOME="/"), as_nobody=True)

    assert result.returncode == 3, result.stderr
    install = f"install -y -q --no-install-recommends {PACKAGES}"
    assert tools.calls() == [
        "sudo|apt-get update -q",
        "apt-get||update -q",
        f"sudo|env DEBIAN_FRONTEND=noninteractive apt-get {install}",
        f"apt-get|noninteractive|{install}",
    ]
    lines = result.stderr.splitlines()
    assert lines[0] == f"install.sh: Installing Debian packages through sudo: {PACKAGES}"
    assert "E: Unable to locate package wl-clipboard" in lines
    assert lines[-1].startswith(f"install.sh: apt-get could not install: {PACKAGES} (its last lines are above")
    assert not (checkout / ".venv").exists()
