"""``kefu outbox resend --all-failed`` (and ``drop``, and ``kefu dispatch resend``) takes the failed messages one transaction each: when
the database fails partway, those already queued again stay so and will go out. Found in review: the
command then printed only the error, so the operator could not tell which texts were going out again.
Now it says which ones it took before the error, then the error line, and exits non-zero.

The database is a real SQLite file, made to fail at the third message by a trigger on that row which
hits an error of SQLite's own ("malformed JSON": an OperationalError, as a database going away between
one message and the next gives). A real ``kefu`` process, as the operator runs it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from bot.db.repository import Repository
from bot.db.schema import outbox
from tests.conftest import PROJECT_ROOT

# Ctrl-C as a terminal's foreground command has it: a run started in the background of a non-interactive shell
# hands SIGINT down ignored (a CI run's Ctrl-C tests all timed out so), and Kefu rightly leaves an ignored one alone.
CTRL_C_AS_IN_A_TERMINAL = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
KEFU = [sys.executable, "-c", CTRL_C_AS_IN_A_TERMINAL + "import sys; from bot.cli import main; sys.exit(main())"]


def kefu_env(data_dir) -> dict[str, str]:
    """This environment without Kefu's settings but the data folder: the command's database is the test's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEFU_", "PROMETHEUS_"))}
    env.pop("REDIS_URL", None)
    env.update(KEFU_DATA_DIR=str(data_dir))
    return env


def kefu(args: list[str], data_dir) -> subprocess.CompletedProcess:
    return subprocess.run(KEFU + args, cwd=PROJECT_ROOT, env=kefu_env(data_dir), capture_output=True, text=True,
                          timeout=120)


def failed_rows(tmp_path, channel: str, kind: str):
    """(data folder, repository, ids of four failed rows, oldest first); the third one's change fails."""
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o700)
    repository = Repository(f"sqlite:///{data_dir / 'kefu.sqlite3'}")
    repository.create_schema()
    ids = []
    with repository.engine.begin() as conn:
        for n in range(4):
            ids.append(conn.execute(outbox.insert().values(
                channel=channel, recipient=f"1380000000{n}", kind=kind, status="failed",
                payload={"text": "您的报修单已受理。", "attempts": 5, "last_error": "HTTP 503"})).inserted_primary_key[0])
        conn.execute(sa.text(f"CREATE TRIGGER fails_at_the_third BEFORE UPDATE ON outbox WHEN OLD.id = {ids[2]} "
                             "BEGIN SELECT json('{broken'); END"))  # SQLite's own error, raised as it runs
    return data_dir, repository, ids


def statuses(repository: Repository, ids: list[int]) -> list[str]:
    with repository.engine.connect() as conn:
        found = dict(conn.execute(sa.select(outbox.c.id, outbox.c.status)).all())
    return [found[i] for i in ids]


@pytest.mark.parametrize("argv, channel, kind, now, noun", [
    (["outbox", "resend"], "sms", "ticket_notice", "pending", "message(s)"),
    (["outbox", "drop"], "sms", "ticket_notice", "dropped", "message(s)"),
    (["dispatch", "resend"], "dispatch", "ticket_created", "pending", "event(s)"),  # the same outbox table
])
def test_the_rows_taken_before_the_database_failed_are_named(tmp_path, argv, channel, kind, now, noun):
    data_dir, repository, ids = failed_rows(tmp_path, channel, kind)
    result = kefu([*argv, "--all-failed"], data_dir)

    assert result.returncode == 1, (result.stdout, result.stderr)
    assert statuses(repository, ids) == [now, now, "failed", "failed"]  # what the operator must be told
    [said] = result.stdout.splitlines()
    assert said.startswith(f"2 failed {noun} ") and "before the error below" in said, said
    assert said.endswith(f": {ids[0]} {ids[1]}"), said
    [error] = result.stderr.splitlines()
    assert error.startswith("kefu: error: the database cannot be used: ") and "malformed JSON" in error, error
