"""Instances of one deployment share their secrets through the database (deployer's finding 1).

Two ``kefu run`` on two machines, sharing Redis and the database but each with its own data dir,
each generated their own channel secret: a web-chat customer failing over to the other machine had
their session id refused and was dropped into a new conversation.
"""
from __future__ import annotations

import os
import stat
import threading

import pytest

from bot.channels import webchat_sessions as sessions
from bot.security.secrets import SecretsUnavailable, load_secrets
from bot.settings import from_environment


def machine(tmp_path, name: str, **extra) -> object:
    """Settings of one machine: its own data dir, the deployment's shared database."""
    return from_environment({"KEFU_DATA_DIR": str(tmp_path / name),
                             "KEFU_DATABASE_URL": f"sqlite:///{tmp_path / 'shared.sqlite3'}", **extra})


def test_a_web_chat_session_issued_on_one_machine_resumes_on_another(tmp_path):
    first, second = machine(tmp_path, "a"), machine(tmp_path, "b")
    session_id = sessions.issue(load_secrets(first).channel_secret)
    assert sessions.issued(session_id, load_secrets(second).channel_secret)
    assert load_secrets(first) == load_secrets(second)


def test_instances_starting_together_agree(tmp_path):
    found, errors = [], []

    def start(name):
        try:
            found.append(load_secrets(machine(tmp_path, name)))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(f"m{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(found) == 4 and len(set(found)) == 1


def test_an_existing_secrets_file_becomes_the_shared_value(tmp_path):
    """Upgrading: the machine that had sessions keeps them; the others adopt its secret."""
    old = tmp_path / "a" / "secrets"
    old.mkdir(parents=True)
    (old / "channel_secret").write_text("the-secret-my-customers-hold", encoding="ascii")
    other = tmp_path / "b" / "secrets"
    other.mkdir(parents=True)
    (other / "channel_secret").write_text("a-later-machines-own", encoding="ascii")
    assert load_secrets(machine(tmp_path, "a")).channel_secret == "the-secret-my-customers-hold"
    assert load_secrets(machine(tmp_path, "b")).channel_secret == "the-secret-my-customers-hold"
    # the local copy now mirrors the shared value, owner-only
    assert (other / "channel_secret").read_text(encoding="ascii") == "the-secret-my-customers-hold"
    assert stat.S_IMODE(os.stat(other / "channel_secret").st_mode) == 0o600


def test_the_environment_still_wins(tmp_path):
    load_secrets(machine(tmp_path, "a"))
    chosen = load_secrets(machine(tmp_path, "b", KEFU_CHANNEL_SECRET="from-the-operator"))
    assert chosen.channel_secret == "from-the-operator"
    assert chosen.rasa_token == load_secrets(machine(tmp_path, "a")).rasa_token


def test_with_the_database_down_a_machine_uses_its_copy_and_never_invents_one(tmp_path):
    shared = load_secrets(machine(tmp_path, "a"))
    unreachable = {"KEFU_DATABASE_URL": f"sqlite:///{tmp_path / 'no-such-dir' / 'x.sqlite3'}"}
    assert load_secrets(from_environment({"KEFU_DATA_DIR": str(tmp_path / "a"), **unreachable})) == shared
    with pytest.raises(SecretsUnavailable, match="KEFU_CHANNEL_SECRET"):
        load_secrets(from_environment({"KEFU_DATA_DIR": str(tmp_path / "fresh"), **unreachable}))
