"""Ctrl-C during ``kefu outbox resend|drop ID ID…`` (and ``kefu dispatch resend|drop``). Found in review: it ended
in a Python traceback, and the interrupt could land between a row's change and the line naming it, so the
operator could not tell whether that message would go out. Now the id under way finishes and its line is
printed, one more line names the ids left as they are, and the exit code is 130.

A real ``kefu`` process and a real SQLite file: the same set-up as ``--all-failed``'s test (the test holds the
database's write lock once rows are being taken, and sends SIGINT then)."""
from __future__ import annotations

import signal
import subprocess

import pytest

from tests.conftest import PROJECT_ROOT
from tests.ops.test_all_failed_ctrl_c import DEADLINE_S, ROWS, many_failed, writes_held_once_some_taken
from tests.ops.test_outbox_resend_cut_short import KEFU, kefu_env, statuses


@pytest.mark.parametrize("argv, channel, kind, now, done", [
    (["outbox", "resend"], "sms", "ticket_notice", "pending", "queued again"),
    (["outbox", "drop"], "sms", "ticket_notice", "dropped", "dropped"),
    (["dispatch", "resend"], "dispatch", "ticket_created", "pending", "queued again"),  # the same outbox table
])
def test_ctrl_c_stops_after_the_id_under_way_and_names_those_left(tmp_path, argv, channel, kind, now, done):
    data_dir, repository, ids = many_failed(tmp_path, channel, kind)
    process = subprocess.Popen(KEFU + argv + [str(i) for i in ids], cwd=PROJECT_ROOT, env=kefu_env(data_dir),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with writes_held_once_some_taken(data_dir / "kefu.sqlite3", process) as taken_at_ctrl_c:
            process.send_signal(signal.SIGINT)  # as a terminal's Ctrl-C: the command's next id waits for the lock
        stdout, stderr = process.communicate(timeout=DEADLINE_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    found = statuses(repository, ids)
    assert set(found) <= {now, "failed"}, set(found)  # each row taken or left, nothing in between
    taken = [i for i, status in zip(ids, found) if status == now]
    assert taken == ids[:len(taken)], "taken in the order given, the ones after left as they are"
    assert len(taken) - taken_at_ctrl_c in (0, 1), (taken_at_ctrl_c, len(taken))  # at most the id under way
    assert len(taken) < ROWS
    assert process.returncode == 130, (process.returncode, stdout[-500:], stderr[-2000:])
    said = stdout.splitlines()
    assert [line.split(":")[0] for line in said] == [str(i) for i in taken], "every row taken is named, no other"
    assert all(done in line for line in said), said[-1]
    assert stderr == f"kefu: stopped by Ctrl-C; left as they are: {' '.join(map(str, ids[len(taken):]))}\n", \
        stderr[-2000:]  # one line, no traceback
