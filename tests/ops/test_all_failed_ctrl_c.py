"""Ctrl-C during ``kefu outbox resend --all-failed`` (and ``drop``, and ``kefu dispatch resend``). Found in
review: it ended in a Python traceback (the line naming those taken said "before the error below", and no
error line followed), and the interrupt could land between a row's change and its mention. Now the row under
way finishes, the run stops before the next one, one line names every row taken (no more, no fewer), and the
exit code is 130, as the shell gives a command Ctrl-C stopped.

A real ``kefu`` process and a real SQLite file holding many failed rows. The test sends SIGINT once rows are
being taken, while it holds the database's write lock: no further row can be taken until it lets go, so the
command is stopped mid-run with rows still to do, however fast it runs."""
from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import time

import pytest
import sqlalchemy as sa

from bot.db.repository import Repository
from bot.db.schema import outbox
from tests.conftest import PROJECT_ROOT
from tests.ops.test_outbox_resend_cut_short import KEFU, kefu_env, statuses

ROWS = 2000  # far more than the command takes between two of the test's looks (it takes ~25 a second here)
DEADLINE_S = 60  # the command's start (imports) and its first row take seconds, not this


def many_failed(tmp_path, channel: str, kind: str):
    """(data folder, repository, the failed rows' ids, oldest first)."""
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o700)
    repository = Repository(f"sqlite:///{data_dir / 'kefu.sqlite3'}")
    repository.create_schema()
    with repository.engine.begin() as conn:
        conn.execute(outbox.insert(), [
            {"channel": channel, "recipient": f"138{n:08d}", "kind": kind, "status": "failed",
             "payload": {"text": "您的报修单已受理。", "attempts": 5, "last_error": "HTTP 503"}} for n in range(ROWS)])
        ids = list(conn.execute(sa.select(outbox.c.id).order_by(outbox.c.id)).scalars())
    return data_dir, repository, ids


@contextlib.contextmanager
def writes_held_once_some_taken(database, process: subprocess.Popen):
    """Waits until the command has taken some rows, and holds the database's write lock from that look on:
    yields how many were taken then. Looked at under the lock, so none is taken between the look and the
    yield."""
    deadline = time.monotonic() + DEADLINE_S
    conn = sqlite3.connect(database, isolation_level=None, timeout=DEADLINE_S)
    try:
        while True:
            conn.execute("BEGIN IMMEDIATE")
            [taken] = conn.execute("SELECT count(*) FROM outbox WHERE status != 'failed'").fetchone()
            if taken:
                break
            conn.execute("ROLLBACK")
            assert process.poll() is None, f"kefu ended before taking a row: {process.communicate()}"
            assert time.monotonic() < deadline, "kefu took no row within the deadline"
            time.sleep(0.01)
        try:
            yield taken
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.close()


def ctrl_c_once_some_taken(argv: list[str], data_dir):
    """``kefu ARGV`` run on ``data_dir``, sent SIGINT (a terminal's Ctrl-C) once it has taken some rows, the
    database's write lock held meanwhile so its next row waits: (the process, how many were taken at the Ctrl-C,
    its output, its errors)."""
    process = subprocess.Popen(KEFU + argv, cwd=PROJECT_ROOT, env=kefu_env(data_dir),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with writes_held_once_some_taken(data_dir / "kefu.sqlite3", process) as taken_at_ctrl_c:
            process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=DEADLINE_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process, taken_at_ctrl_c, stdout, stderr


@pytest.mark.parametrize("argv, channel, kind, now, noun", [
    (["outbox", "resend"], "sms", "ticket_notice", "pending", "message(s)"),
    (["outbox", "drop"], "sms", "ticket_notice", "dropped", "message(s)"),
    (["dispatch", "resend"], "dispatch", "ticket_created", "pending", "event(s)"),  # the same outbox table
])
def test_ctrl_c_stops_after_the_row_under_way_and_names_those_taken(tmp_path, argv, channel, kind, now, noun):
    data_dir, repository, ids = many_failed(tmp_path, channel, kind)
    process, taken_at_ctrl_c, stdout, stderr = ctrl_c_once_some_taken([*argv, "--all-failed"], data_dir)

    assert process.returncode == 130, (process.returncode, stdout, stderr)
    assert stderr == "", stderr  # no traceback
    found = statuses(repository, ids)
    assert set(found) <= {now, "failed"}, set(found)  # each row taken or left, nothing in between
    taken = [i for i, status in zip(ids, found) if status == now]
    assert taken == ids[:len(taken)], "taken oldest first, the ones after left as they are"
    assert len(taken) - taken_at_ctrl_c in (0, 1), (taken_at_ctrl_c, len(taken))  # at most the row under way
    assert len(taken) < ROWS
    [said] = stdout.splitlines()
    assert said.startswith(f"{len(taken)} failed {noun} ") and "Ctrl-C" in said, said
    assert said.endswith(": " + " ".join(map(str, taken))), said  # every row taken is named, and no other
