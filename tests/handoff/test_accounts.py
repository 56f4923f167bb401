"""Agent accounts: scrypt hashes with a per-agent salt, wrong passwords rejected, the CLI."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.cli import main
from bot.db.schema import agents
from bot.handoff.accounts import AccountError, AccountStore, hash_password, verify_password
from bot.handoff.commands import ensure_demo_agent


def test_hashes_are_salted_and_verified():
    one, two = hash_password("geheim-123"), hash_password("geheim-123")
    assert one != two and one.startswith("scrypt$") and "geheim" not in one
    assert verify_password("geheim-123", one) and not verify_password("geheim-124", one)
    assert not verify_password("geheim-123", "garbage")


def test_wrong_password_and_unknown_agent_are_rejected(kefu_env):
    store = AccountStore(kefu_env.database_url)
    store.add("wangfang", "correct-horse", ["tv", "billing"], display_name="王芳", known_skills=["tv", "billing"])
    assert store.authenticate("wangfang", "correct-horse").skills == ("tv", "billing")
    assert store.authenticate("wangfang", "wrong-horse") is None
    assert store.authenticate("nobody", "correct-horse") is None
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(agents.c.password_hash)).scalar_one()
    assert "correct-horse" not in stored and verify_password("correct-horse", stored)


def test_an_unknown_name_costs_the_same_scrypt_work_as_a_known_one(kefu_env, monkeypatch):
    """Sign-in time must not tell which agent names exist: count the scrypt runs of each refusal."""
    import hashlib

    store = AccountStore(kefu_env.database_url)
    store.add("lihua", "correct-horse", ["tv"], known_skills=["tv"])
    store.authenticate("nobody-yet", "warm-up")  # whatever is made once per process
    runs: list[int] = []
    real = hashlib.scrypt
    monkeypatch.setattr(hashlib, "scrypt", lambda *a, **k: runs.append(k["n"] * k["r"] * k["p"]) or real(*a, **k))
    store.authenticate("lihua", "wrong-horse")
    known = list(runs)
    runs.clear()
    store.authenticate("no-such-agent", "wrong-horse")
    assert runs == known and len(known) == 1


def test_account_rules(kefu_env):
    store = AccountStore(kefu_env.database_url)
    for name, password, skills in [("a", "short", ["tv"]), ("b", "long-enough", ["space"]), ("c", "long-enough", [])]:
        try:
            store.add(name, password, skills, known_skills=["tv"])
        except AccountError:
            continue
        raise AssertionError(f"{name} should have been refused")


def test_kefu_agent_add_and_demo_agent(kefu_env, capsys):
    assert main(["agent", "add", "lina", "--skills", "tv,broadband", "--password", "lina-pass-1"]) == 0
    assert "lina" in capsys.readouterr().out
    assert main(["agent", "add", "lina", "--skills", "tv", "--password", "lina-pass-1"]) == 1
    assert main(["agent", "add", "x", "--skills", "cooking", "--password", "long-enough"]) == 1
    assert AccountStore(kefu_env.database_url).authenticate("lina", "lina-pass-1") is not None
    assert ensure_demo_agent(kefu_env) is False, "agents exist: no demo agent"


@pytest.mark.parametrize("capacity", ["0", "-3"])
def test_an_agent_who_could_take_no_conversation_is_not_added(kefu_env, capsys, capacity):
    """`kefu agent add … --capacity -3` added an agent who could never take a conversation (接入下一位 said
    they were at capacity), and `--capacity 0` quietly gave content/handoff.yml's agent_capacity instead."""
    with pytest.raises(SystemExit) as refused:
        main(["agent", "add", "mei", "--skills", "tv", "--password", "long-enough", "--capacity", capacity])
    assert refused.value.code == 2
    assert f"--capacity: {capacity!r} is not a whole number of at least 1" in capsys.readouterr().err
    assert AccountStore(kefu_env.database_url).get("mei") is None


@pytest.mark.parametrize("name", ["", "   ", " lina", "lina\t", "x" * 65])
def test_a_login_name_no_one_could_sign_in_with_is_refused(kefu_env, capsys, name):
    """`kefu agent add ""` (or " lina", or 65 characters, more than the desk's sign-in reads) added an
    agent who could never sign in, listed with a blank or cut name."""
    assert main(["agent", "add", name, "--skills", "tv", "--password", "long-enough"]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("kefu agent add: the login name must be 1 to 64 characters"), line
    assert AccountStore(kefu_env.database_url).all() == []


def test_a_display_name_longer_than_the_desk_keeps_is_refused(kefu_env, capsys):
    assert main(["agent", "add", "mei", "--skills", "tv", "--password", "long-enough", "--display-name", "美" * 65]) == 1
    assert "display name" in capsys.readouterr().err
    assert AccountStore(kefu_env.database_url).get("mei") is None


def test_roles_plain_by_default_supervisor_when_given_and_changed_from_the_cli(kefu_env, capsys):
    store = AccountStore(kefu_env.database_url)
    assert store.add("plain", "long-enough", ["tv"], known_skills=["tv"]).role == "agent"
    assert store.add("boss", "long-enough", ["tv"], known_skills=["tv"], role="supervisor").role == "supervisor"
    assert store.authenticate("boss", "long-enough").role == "supervisor"
    assert store.role_of("plain") == "agent" and store.role_of("nobody") is None
    assert main(["agent", "role", "plain", "supervisor"]) == 0
    assert store.role_of("plain") == "supervisor"
    assert main(["agent", "role", "boss", "agent"]) == 0
    assert store.role_of("boss") == "agent"
    assert main(["agent", "role", "nobody", "agent"]) == 1
    assert main(["agent", "add", "lead", "--skills", "tv", "--password", "long-enough", "--role", "supervisor"]) == 0
    assert store.role_of("lead") == "supervisor"
    try:
        store.add("x", "long-enough", ["tv"], known_skills=["tv"], role="owner")
    except AccountError:
        pass
    else:
        raise AssertionError("an unknown role must be refused")


def test_the_demo_agent_is_a_supervisor(kefu_env):
    assert ensure_demo_agent(kefu_env) is True
    assert AccountStore(kefu_env.database_url).role_of(kefu_env.demo_agent_name) == "supervisor"


def test_kefu_agent_add_from_a_script_reads_the_password_from_stdin_or_says_what_is_missing(kefu_env):
    """Found by a tester: without a terminal, `kefu agent add` ended in a raw EOFError traceback."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "bot.cli", "agent", "add", "ops_tv", "--skills", "tv"]
    piped = subprocess.run(command, input="ops-tv-pass-1\n", capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert AccountStore(kefu_env.database_url).authenticate("ops_tv", "ops-tv-pass-1") is not None
    empty = subprocess.run(command[:5] + ["ops_bill", "--skills", "billing"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=120)
    assert empty.returncode == 1 and "Traceback" not in empty.stderr
    assert empty.stderr.strip().splitlines()[-1].startswith("kefu agent add:")


def test_kefu_agent_list_shows_every_account_with_role_and_granted_skills(kefu_env, capsys):
    """Found by a tester: there was no way to see the agents from the command line."""
    assert main(["agent", "add", "zhangwei", "--skills", "tv,broadband", "--password", "long-enough",
                 "--display-name", "张伟"]) == 0
    assert main(["agent", "add", "boss", "--skills", "billing", "--password", "long-enough", "--role", "supervisor"]) == 0
    capsys.readouterr()
    assert main(["agent", "list"]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert lines[1:] == [["boss", "boss", "supervisor", "billing"], ["zhangwei", "张伟", "agent", "tv,broadband"],
                         ["2", "agent(s)"]]


def test_a_deployment_without_demo_data_gets_no_supervisor_with_the_published_password(kefu_env, monkeypatch):
    """Found in review: a production first start (external database, no demo data) created the supervisor
    demo / kefu-demo, a password printed in the README, open to anyone who reached the desk until the
    operator changed it; the demo customers were already kept out of such a database for that reason."""
    from bot import settings as settings_module
    from bot.handoff.commands import demo_login_note
    from bot.settings import PUBLISHED_DEMO_PASSWORD

    monkeypatch.setenv("KEFU_DEMO_DATA", "off")
    settings_module.get_settings.cache_clear()
    settings = settings_module.get_settings()
    assert ensure_demo_agent(settings) is False
    assert AccountStore(settings.database_url).authenticate(settings.demo_agent_name, PUBLISHED_DEMO_PASSWORD) is None
    assert "kefu agent add" in demo_login_note(settings), "the banner says how to make the first supervisor"

    monkeypatch.setenv("KEFU_DEMO_AGENT_PASSWORD", "chosen-by-the-operator")  # one the operator chose: made
    settings_module.get_settings.cache_clear()
    settings = settings_module.get_settings()
    assert ensure_demo_agent(settings) is True
    assert AccountStore(settings.database_url).role_of(settings.demo_agent_name) == "supervisor"
    assert demo_login_note(settings) == ""


def test_machines_starting_together_make_one_demo_agent_and_all_start(kefu_env, monkeypatch):
    """Found in review: several machines' first start with KEFU_DEMO_AGENT_PASSWORD set each counted no
    agent, and every one but the first to insert stopped on 'agent exists already' (or the database's
    unique-name error) instead of serving. Here the other machine's agent lands between the count and
    the insert."""
    store = AccountStore(kefu_env.database_url)
    assert ensure_demo_agent(kefu_env) is True  # the other machine, a moment earlier
    monkeypatch.setattr(AccountStore, "count", lambda self: 0)  # what this machine counted before that
    assert ensure_demo_agent(kefu_env) is False
    assert [account.name for account in store.all()] == [kefu_env.demo_agent_name]


def test_kefu_agent_password_at_a_terminal_says_an_unknown_agent_before_asking_for_the_password(kefu_env):
    """Found in review: `kefu agent password NOBODY` asked for the new password, then said there is no such
    agent. The operator is told first, and nothing waits for them to type."""
    import os
    import subprocess
    import sys

    main_end, terminal = os.openpty()  # the operator's terminal, where nobody types
    try:
        done = subprocess.run([sys.executable, "-m", "bot.cli", "agent", "password", "nobody"], stdin=terminal,
                              capture_output=True, text=True, timeout=90, start_new_session=True)
    except subprocess.TimeoutExpired:
        pytest.fail("it waited for a password to be typed")
    finally:
        os.close(terminal)
        os.close(main_end)
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1] == "kefu agent password: no agent 'nobody'"
