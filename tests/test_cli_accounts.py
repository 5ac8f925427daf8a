"""Several accounts through the real command line (subprocesses) against the loopback chat.qwen.ai:
adding, replacing, selecting, the default, listing, forgetting, the hook's account variables, and the
upgrade of a release 0.1.0 store by the first command that runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import (
    HOOK_SCRIPT,
    Run,
    app_dir,
    cli_env,
    held,
    hook_config,
    issue,
    keyring_file,
    put,
    qwen,
    state_json,
    write_config,
)
from tray_app.simulator import Account, QwenSimulator
from tray_app.store import KEYRING_SERVICE, PREVIOUS, previous_slot


@pytest.fixture
def env(live_server: QwenSimulator) -> dict[str, str]:
    return cli_env(live_server.base_url)


@pytest.fixture
def people(live_server: QwenSimulator) -> tuple[Account, Account, Account]:
    return (
        live_server.add_account(email="alice@example.com", name="Alice"),
        live_server.add_account(email="bob@example.com", name="Bob"),
        live_server.add_account(email="bobby@example.com", name="Bobby"),
    )


def listed(env: dict[str, str]) -> list[dict[str, Any]]:
    run = qwen(env, "accounts", "--json")
    assert run.returncode == 0, run
    rows: list[dict[str, Any]] = json.loads(run.stdout)
    return rows


def token_of(env: dict[str, str], *selector: str) -> Run:
    return qwen(env, "token", *(("--account", *selector) if selector else ()))


def add_three(env: dict[str, str], server: QwenSimulator, people: tuple[Account, ...]) -> dict[str, str]:
    """alice, bob and bobby, each checked with the server (so their emails are known); their tokens."""
    tokens = {person.email: issue(server, person, 6) for person in people}
    said = [qwen(env, "set-token", stdin=tokens[person.email]) for person in people]
    assert [run.returncode for run in said] == [0, 0, 0], said
    assert "new account" not in said[0].stdout, "the first account is simply stored"
    assert said[1].stdout.startswith("Added Bob <bob@example.com> as a new account (2 accounts now).")
    assert said[2].stdout.startswith("Added Bobby <bobby@example.com> as a new account (3 accounts now).")
    return tokens


def test_three_accounts_are_added_selected_listed_and_made_default(
    env: dict[str, str], live_server: QwenSimulator, people: tuple[Account, Account, Account]
) -> None:
    alice, bob, bobby = people
    tokens = add_three(env, live_server, people)

    rows = listed(env)
    assert [(row["email"], row["id"], row["state"], row["default"]) for row in rows] == [
        ("alice@example.com", alice.user_id, "ok", True),
        ("bob@example.com", bob.user_id, "ok", False),
        ("bobby@example.com", bobby.user_id, "ok", False),
    ]
    assert all(5.9 < row["days_left"] <= 6 for row in rows)
    text = qwen(env, "accounts")
    assert text.returncode == 0 and "* alice@example.com" in text.stdout
    for run in (text, qwen(env, "accounts", "--json"), qwen(env, "status", "--all", "--json")):
        assert not any(token in run.stdout + run.stderr for token in tokens.values()), "never a token"

    assert token_of(env).stdout == tokens["alice@example.com"] + "\n", "the default: the first added"
    for selector, email in (
        ("bob@example.com", "bob@example.com"),  # exact email, though "bob" starts bobby's too
        ("BOBBY@EXAMPLE.COM", "bobby@example.com"),
        (bob.user_id, "bob@example.com"),
        (bobby.user_id[:13], "bobby@example.com"),
        ("bobb", "bobby@example.com"),
        ("al", "alice@example.com"),
    ):
        run = token_of(env, selector)
        assert (run.returncode, run.stdout) == (0, tokens[email] + "\n"), selector

    ambiguous = token_of(env, "bob")
    assert ambiguous.stdout == ""
    assert ambiguous.error_line() == (
        f"qwen-tray: 'bob' matches 2 accounts (bob@example.com (id {bob.user_id[:8]}), "
        f"bobby@example.com (id {bobby.user_id[:8]})); give more of it."
    )
    unknown = qwen(env, "refresh", "--account", "carol", "--force")
    assert unknown.error_line().startswith("qwen-tray: No account matches 'carol'; the accounts are: alice@example.com")
    assert live_server.requests[3:] == [], "an unknown account asks the server nothing"

    everyone = qwen(env, "token", "--all")
    assert everyone.returncode == 0
    assert everyone.stdout.splitlines() == [tokens[p.email] for p in (alice, bob, bobby)]

    used = qwen(env, "use", "bobby")
    assert used.returncode == 0
    assert used.stdout == f"The default account is now bobby@example.com (id {bobby.user_id}).\n"
    assert token_of(env).stdout == tokens["bobby@example.com"] + "\n"
    assert qwen(env, "token", "--all").stdout.splitlines()[0] == tokens["bobby@example.com"], "the default first"
    single = qwen(env, "status", "--json")
    assert single.json()["email"] == "bobby@example.com", "status --json: the default account's object"
    assert [row["default"] for row in listed(env)] == [False, False, True]
    assert qwen(env, "use", "nobody").returncode == 1
    assert [row["default"] for row in listed(env)] == [False, False, True], "nothing changed"


def test_replacing_refreshing_and_insisting_act_on_one_account_only(
    env: dict[str, str], live_server: QwenSimulator, people: tuple[Account, Account, Account]
) -> None:
    alice, bob, bobby = people
    tokens = add_three(env, live_server, people)

    newer = issue(live_server, bob, 6.5)
    replaced = qwen(env, "set-token", stdin=newer)
    assert replaced.returncode == 0 and "new account" not in replaced.stdout
    assert held(env, bob.user_id) == newer
    assert keyring_file(env).get_password(KEYRING_SERVICE, previous_slot(bob.user_id)) == tokens["bob@example.com"]
    assert len(listed(env)) == 3

    wrong = qwen(env, "set-token", "--account", "alice@example.com", stdin=issue(live_server, bobby, 6))
    assert wrong.error_line() == (
        "qwen-tray: This token belongs to bobby@example.com, not alice@example.com; nothing was stored."
    )
    assert held(env, bobby.user_id) == tokens["bobby@example.com"]

    before = {person.user_id: held(env, person.user_id) for person in people}
    refreshed = qwen(env, "refresh", "--account", "alice", "--force")
    assert refreshed.returncode == 0, refreshed
    after = {person.user_id: held(env, person.user_id) for person in people}
    assert after[alice.user_id] != before[alice.user_id]
    assert live_server.verify_token(after[alice.user_id] or "") == alice
    assert {k: v for k, v in after.items() if k != alice.user_id} == {
        k: v for k, v in before.items() if k != alice.user_id
    }

    everyone = qwen(env, "status", "--all", "--json")
    assert everyone.returncode == 0, everyone
    rows = json.loads(everyone.stdout)
    assert [(row["email"], row["state"], row["default"]) for row in rows] == [
        ("alice@example.com", "ok", True),
        ("bob@example.com", "ok", False),
        ("bobby@example.com", "ok", False),
    ]
    assert rows[0]["last_refresh"] is not None and rows[1]["last_refresh"] is None


def test_forgetting_one_account_passes_the_default_on_and_forget_all_leaves_nothing(
    env: dict[str, str], live_server: QwenSimulator, people: tuple[Account, Account, Account]
) -> None:
    _, bob, _ = people
    tokens = add_three(env, live_server, people)
    assert qwen(env, "use", "bob@").returncode == 0

    gone = qwen(env, "forget", "--account", "bob@example.com")
    assert gone.returncode == 0
    assert gone.stdout == (
        "Forgot bob@example.com: its token and the previous one. 2 left; the default is alice@example.com.\n"
    )
    assert [(row["email"], row["default"]) for row in listed(env)] == [
        ("alice@example.com", True),
        ("bobby@example.com", False),
    ]
    assert held(env, bob.user_id) is None, "the removed account's token is gone from the keyring"
    assert token_of(env, "bob@example.com").returncode == 1
    assert token_of(env).stdout == tokens["alice@example.com"] + "\n"

    assert qwen(env, "forget", "--all").stdout.startswith("Forgot every account")
    assert listed(env) == []
    assert [held(env, person.user_id) for person in people] == [None, None, None]
    assert qwen(env, "token").returncode == 1
    assert qwen(env, "token", "--all").returncode == 1
    assert not (app_dir(env, "STATE") / "state.json").exists()
    assert qwen(env, "forget", "--all").stdout.startswith("Nothing to forget")


def test_the_hook_learns_which_account_got_the_new_token(
    env: dict[str, str], live_server: QwenSimulator, people: tuple[Account, Account, Account], tmp_path: Path
) -> None:
    alice, bob, _ = people
    qwen(env, "set-token", stdin=issue(live_server, alice, 6))
    script, seen = tmp_path / "hook.py", tmp_path / "seen.json"
    script.write_text(HOOK_SCRIPT, encoding="utf-8")
    write_config(env, hook_config(script, seen))

    assert qwen(env, "set-token", stdin=issue(live_server, bob, 6)).returncode == 0

    record = json.loads(seen.read_text("utf-8"))
    assert record["environ"]["QWEN_TRAY_ACCOUNT_ID"] == bob.user_id
    assert record["environ"]["QWEN_TRAY_ACCOUNT_EMAIL"] == "bob@example.com"
    assert record["stdin"].strip() == held(env, bob.user_id)


def test_a_release_0_1_0_store_is_upgraded_by_the_first_token_command(
    env: dict[str, str], live_server: QwenSimulator, people: tuple[Account, Account, Account]
) -> None:
    alice, bob, _ = people
    current, previous = issue(live_server, alice, 5), issue(live_server, alice, 2)
    put(env, current)  # release 0.1.0's slot "token"
    keyring_file(env).set_password(KEYRING_SERVICE, PREVIOUS, previous)
    state = app_dir(env, "STATE") / "state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"email": "alice@example.com", "name": "Alice", "last_refresh": 1.8e9, "failures": 0}))

    assert token_of(env).stdout == current + "\n"

    book = state_json(env)
    assert book["default"] == alice.user_id
    assert [(a["id"], a["email"], a["last_refresh"]) for a in book["accounts"]] == [
        (alice.user_id, "alice@example.com", 1.8e9)
    ]
    assert keyring_file(env).get_password(KEYRING_SERVICE, previous_slot(alice.user_id)) == previous
    assert keyring_file(env).get_password(KEYRING_SERVICE, "token") is None
    added = qwen(env, "set-token", stdin=issue(live_server, bob, 6))
    assert "as a new account (2 accounts now)" in added.stdout
    assert token_of(env).stdout == current + "\n", "the upgraded account stays the default"
