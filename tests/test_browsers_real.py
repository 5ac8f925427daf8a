"""Importing from REAL browsers: Chromium and Firefox ESR sign in to a loopback HTTPS chat.qwen.ai whose page
stores a token the loopback chat.qwen.ai API (the simulator) issued; then the installed ``qwen-tray`` lists and
imports it, checking it with the simulator, as a person would from a terminal."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import browsers, desktop
from tests.helpers import wait_for
from tests.test_cli import QWEN_TRAY, Run, cli_env, held, issue, put, qwen
from tray_app.simulator import QwenSimulator


@pytest.fixture
def site(tmp_path: Path) -> Iterator[browsers.FakeQwenSite]:
    desktop.require(browsers.ChromiumProfile, browsers.FirefoxProfile)
    with browsers.FakeQwenSite(tmp_path) as fake:
        yield fake


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "person"
    path.mkdir()
    return path


@pytest.fixture
def env(live_server: QwenSimulator, home: Path) -> dict[str, str]:
    """The person's session: their home, where the browsers keep their profiles (~/.config, ~/.mozilla)."""
    values = cli_env(live_server.base_url, home=home)
    values["XDG_CONFIG_HOME"] = str(home / ".config")
    return values


def listed(env: dict[str, str]) -> list[dict[str, object]]:
    run = qwen(env, "browsers", "--json", timeout=60)
    assert run.returncode == 0, run
    found: list[dict[str, object]] = json.loads(run.stdout)["found"]
    return found


def test_chromium_and_firefox_are_listed_and_the_freshest_is_imported(
    env: dict[str, str], home: Path, site: browsers.FakeQwenSite, live_server: QwenSimulator
) -> None:
    alice = live_server.add_account(email="alice@example.com")
    in_chromium, in_firefox = issue(live_server, alice, 5), issue(live_server, alice, 6)
    browsers.ChromiumProfile(home, site).visit_and_close(in_chromium)
    browsers.FirefoxProfile(home, site).visit_and_close(in_firefox)

    run = qwen(env, "browsers", "--json", timeout=60)
    assert in_chromium not in run.stdout + run.stderr and in_firefox not in run.stdout + run.stderr
    assert sorted(str(row["browser"]) for row in json.loads(run.stdout)["found"]) == ["chromium", "firefox"]
    text = qwen(env, "browsers", timeout=60).stdout
    assert "Chromium" in text and "Firefox / default-release" in text

    imported = qwen(env, "set-token", "--from-browser", timeout=60)
    assert imported.returncode == 0, imported
    assert "from Firefox / default-release" in imported.stdout and "alice@example.com" in imported.stdout
    assert held(env) == in_firefox
    older = qwen(env, "set-token", "--from-browser", "Chromium", timeout=60)
    assert (older.returncode, older.stdout.split(":")[0]) == (0, "Up to date"), older
    assert held(env) == in_firefox, "an older token from another profile never replaces a newer one"


def test_two_accounts_must_be_chosen_by_profile(
    env: dict[str, str], home: Path, site: browsers.FakeQwenSite, live_server: QwenSimulator
) -> None:
    alice, bob = live_server.add_account(email="alice@example.com"), live_server.add_account(email="bob@example.com")
    browsers.ChromiumProfile(home, site).visit_and_close(issue(live_server, alice, 5))
    bobs = issue(live_server, bob, 6)
    browsers.ChromiumProfile(home, site, profile_dir_name="Profile 1").visit_and_close(bobs)

    ambiguous = qwen(env, "set-token", "--from-browser", timeout=60)
    line = ambiguous.error_line()
    assert "2 accounts" in line and "Chromium / " in line and "BROWSER:PROFILE" in line
    assert held(env) is None, "nothing changed"
    chosen = qwen(env, "set-token", "--from-browser", "chromium:Profile 1", timeout=60)
    assert chosen.returncode == 0, chosen
    assert held(env) == bobs
    unknown = qwen(env, "set-token", "--from-browser", "netscape", timeout=60)
    assert "netscape" in unknown.error_line().lower()


def test_a_token_changed_twice_and_compacted_into_tables(
    env: dict[str, str], home: Path, site: browsers.FakeQwenSite, live_server: QwenSimulator
) -> None:
    alice = live_server.add_account()
    first, second, third = (issue(live_server, alice, days) for days in (4, 5, 6))
    chromium = browsers.ChromiumProfile(home, site)
    chromium.visit_and_close(first)
    chromium.visit_and_close(second, writes=200)  # enough to compact into .ldb tables at the next start
    chromium.visit_and_close(third)
    assert chromium.leveldb_files(".ldb"), "the writes were compacted into a table"
    assert qwen(env, "set-token", "--from-browser", "chromium", timeout=60).returncode == 0
    assert held(env) == third, "the newest record wins over the old values still in the files"


def test_a_profile_without_a_token_and_a_damaged_file(
    env: dict[str, str], home: Path, site: browsers.FakeQwenSite, live_server: QwenSimulator
) -> None:
    chromium = browsers.ChromiumProfile(home, site)
    chromium.visit_and_close(None)
    nothing = qwen(env, "set-token", "--from-browser", timeout=60)
    assert "sign in at chat.qwen.ai in your browser" in nothing.error_line()
    chromium.visit_and_close(issue(live_server, live_server.add_account(), 5))
    browsers.damage_newest(chromium.leveldb_dir, ".log")
    run = qwen(env, "browsers", timeout=60)
    assert run.returncode == 0, run
    assert "Traceback" not in run.stderr


def test_a_running_firefox_and_a_container_tab(
    env: dict[str, str], home: Path, site: browsers.FakeQwenSite, live_server: QwenSimulator
) -> None:
    alice = live_server.add_account()
    in_container = issue(live_server, alice, 5)
    browsers.FirefoxProfile(home, site, name="work", container=2).visit_and_close(in_container)
    assert qwen(env, "set-token", "--from-browser", "firefox:work", timeout=60).returncode == 0
    assert held(env) == in_container
    newer = issue(live_server, alice, 6)
    with browsers.FirefoxProfile(home, site, name="home") as running:
        running.visit(newer)
        # A running Firefox writes localStorage a few seconds after the page did.
        imported = wait_for(
            lambda: (run := qwen(env, "set-token", "--from-browser", "firefox:home", timeout=60)).returncode == 0
            and held(env) == newer and run,
            "the running Firefox's token on disk and imported",
            timeout=30,
        )
        assert isinstance(imported, Run)


def test_a_rejected_token_heals_itself_from_the_browser(
    env: dict[str, str], home: Path, site: browsers.FakeQwenSite, live_server: QwenSimulator
) -> None:
    """Recovery on: the daemon's token is rejected (401); the browser holds a newer one of the same account."""
    alice = live_server.add_account(email="alice@example.com")
    old = issue(live_server, alice, 2)
    put(env, old)
    live_server.queue("unauthorized")
    assert qwen(env, "refresh", "--force").returncode == 1
    fresh = issue(live_server, alice, 7)
    browsers.FirefoxProfile(home, site).visit_and_close(fresh)
    config = Path(env["XDG_CONFIG_HOME"]) / "qwen-tray" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("recover_from_browser = true\n")
    daemon = subprocess.Popen(
        [str(QWEN_TRAY), "daemon"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: held(env) == fresh, "the daemon to recover the token from Firefox", timeout=30)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=15)
    assert "recovered from Firefox / default-release" in err.decode()
    assert fresh not in err.decode() and old not in err.decode()


def test_a_running_chromium_is_read_and_does_not_notice(
    env: dict[str, str], home: Path, site: browsers.FakeQwenSite, live_server: QwenSimulator
) -> None:
    alice = live_server.add_account()
    first, second = issue(live_server, alice, 5), issue(live_server, alice, 6)
    with browsers.ChromiumProfile(home, site) as running:
        running.visit(first)
        wait_for(
            lambda: qwen(env, "set-token", "--from-browser", "chromium", timeout=60).returncode == 0
            and held(env) == first,
            "the running Chromium's token imported",
            timeout=30,
        )
        running.visit(second)  # the browser goes on working after we read its profile
        wait_for(
            lambda: qwen(env, "set-token", "--from-browser", "chromium", timeout=60).returncode == 0
            and held(env) == second,
            "the newer token imported from the same running Chromium",
            timeout=30,
        )
    assert running.clean_exit, running.quit_problem
