"""Ctrl-C during ``kefu outbox resend|drop ID ID…`` (and ``kefu dispatch resend|drop``). Found in review: it ended
in a Python traceback, and the interrupt could land between a row's change and the line naming it, so the
operator could not tell whether that message would go out. Now the id under way finishes and its line is
printed, one more line names the ids left as they are, and the exit code is 130.

A real ``kefu`` process and a real SQLite file: the same set-up as ``--all-failed``'s test (the test holds the
database's write lock once rows are being taken, and sends SIGINT then)."""
from __future__ import annotations


import pytest

from tests.ops.test_all_failed_ctrl_c import ROWS, ctrl_c_once_some_taken, many_failed
from tests.ops.test_outbox_resend_cut_short import statuses


@pytest.mark.parametrize("argv, channel, kind, now, done", [
    (["outbox", "resend"], "sms", "ticket_notice", "pending", "queued again"),
    (["outbox", "drop"], "sms", "ticket_notice", "dropped", "dropped"),
    (["dispatch", "resend"], "dispatch", "ticket_created", "pending", "queued again"),  # the same outbox table
])
def test_ctrl_c_stops_after_the_id_under_way_and_names_those_left(tmp_path, argv, channel, kind, now, done):
    data_dir, repository, ids = many_failed(tmp_path, channel, kind)
    process, taken_at_ctrl_c, stdout, stderr = ctrl_c_once_some_taken(argv + [str(i) for i in ids], data_dir)

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
