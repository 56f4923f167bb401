"""``kefu customer export`` stopped partway. Found in review: a Ctrl-C, or a write that failed (a full disk), left a
folder holding part of the customer's personal data (their voice message, say) with no audit record, since the
record was written after the export. Now the export is written into a staging folder and put in place in the
transaction that records it: stopped partway, it leaves none of their data and no record; finished, it has both.

A real ``kefu`` process, a real SQLite database and the command's own embedded Redis. The Ctrl-C comes at a
condition: the test holds the database's write lock, so the command, its files written, waits to record the
export; the test sends SIGINT once the customer's file is on disk, then lets go. The full disk is the
process's file-size limit (RLIMIT_FSIZE, as ``ulimit -f``): the recording fits, ``customer.json`` does not, and
the write fails with EFBIG as on a full disk — also for root, whom a read-only folder does not stop."""
from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from bot import settings as settings_module
from bot.db.repository import Repository
from bot.db.schema import privacy_requests
from tests.conftest import PROJECT_ROOT
from tests.demo_database import seed_copy
from tests.ops.test_outbox_resend_cut_short import KEFU, kefu_env

DEADLINE_S = 60  # the command's start (imports, its embedded Redis) takes seconds, not this
VOICE = b"RIFF-voice-of-the-customer" * 80  # ~2 KB: under the file-size limit below
FILE_SIZE_LIMIT = 64 * 1024  # bytes: above SQLite's shared-memory file (32 KB) and the recording, below customer.json
LONG_NOTE = "客户说家里电视没有信号，" * 3000  # ~100 KB of the customer's words in a ticket: customer.json is larger


@pytest.fixture
def customer_with_a_voice_message(kefu_env, monkeypatch):
    """(settings, the folder the operator gave --out under): customer 1 of the demo, with a voice message and a
    ticket of long details. Always in the data folder's SQLite file, also on CI's PostgreSQL runs (where these tests
    were skipped): the command is started with the data folder alone, and the test holds SQLite's write lock."""
    if not kefu_env.database_url.startswith("sqlite"):
        monkeypatch.delenv("KEFU_DATABASE_URL")
        settings_module.get_settings.cache_clear()
        kefu_env = settings_module.get_settings()
        seed_copy(kefu_env.database_url, kefu_env.content_dir / "demo" / "seed.yml")
    repository = Repository(kefu_env.database_url)
    voice_id = uuid.uuid4().hex
    repository.add_voice_message(message_id=voice_id, audio=VOICE, conversation_id=f"voicemail-{voice_id}",
                                 duration_s=3.0, caller_phone="13800000001", customer_id=1, channel="ivr")
    repository.create_ticket(kind="fault", customer_id=1, summary="电视没有信号", details={"transcript": LONG_NOTE},
                             channel="webchat", conversation_id="w1")
    handover = kefu_env.data_dir.parent / "handover"
    handover.mkdir()
    return kefu_env, handover


def start_export(settings, out=None, customer="1", **popen) -> subprocess.Popen:
    """``out`` None: into the data folder's exports/, as the operator's plain ``kefu customer export``."""
    where = ["--out", str(out)] if out is not None else []
    return subprocess.Popen(KEFU + ["customer", "export", customer, *where], cwd=PROJECT_ROOT,
                            env=kefu_env(settings.data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **popen)


def files_under(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def audit_rows(settings) -> list[dict]:
    with Repository(settings.database_url).engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(privacy_requests)).mappings()]


@contextlib.contextmanager
def writes_held(database):
    conn = sqlite3.connect(database, isolation_level=None, timeout=DEADLINE_S)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


def wait_for(condition, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert process.poll() is None, f"kefu ended before {what}: {process.communicate()}"
        assert time.monotonic() < deadline, f"not {what} within the deadline"
        time.sleep(0.01)


def finished(process: subprocess.Popen) -> tuple[str, str]:
    try:
        return process.communicate(timeout=DEADLINE_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_ctrl_c_once_the_customers_file_is_written_leaves_none_of_their_data_and_no_record(
        customer_with_a_voice_message):
    settings, handover = customer_with_a_voice_message
    with writes_held(settings.data_dir / "kefu.sqlite3"):  # the command cannot record the export yet
        process = start_export(settings, handover / "export")
        try:
            wait_for(lambda: any(p.name == "customer.json" for p in handover.rglob("*")), process,
                     "writing customer.json")
            process.send_signal(signal.SIGINT)  # as a terminal's Ctrl-C
        except BaseException:
            process.kill()
            raise
    stdout, stderr = finished(process)

    assert files_under(handover) == [], "none of the customer's data is left"
    assert audit_rows(settings) == []  # nothing handed over, nothing recorded
    assert process.returncode == 130, (process.returncode, stdout, stderr)
    assert stderr == "kefu: stopped by Ctrl-C; nothing was exported.\n", stderr  # no traceback
    assert stdout == ""


def test_a_write_failing_partway_leaves_none_of_their_data_and_no_record(customer_with_a_voice_message):
    settings, handover = customer_with_a_voice_message

    def full_disk():  # in the command's process: a file may not grow past the limit (EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))

    process = start_export(settings, handover / "export", preexec_fn=full_disk)
    stdout, stderr = finished(process)

    assert files_under(handover) == [], "none of the customer's data is left"
    assert audit_rows(settings) == []
    assert process.returncode == 2, (process.returncode, stdout, stderr)
    [line] = stderr.splitlines()
    assert line.startswith(f"kefu: cannot write the export to {handover / 'export'}: File too large;"), line
    assert "nothing was exported" in line, line

    # The same export, able to write, is whole and recorded once.
    process = start_export(settings, handover / "export")
    stdout, stderr = finished(process)
    assert process.returncode == 0, (stdout, stderr)
    recordings = [f for f in files_under(handover) if f.startswith("export/recordings/")]
    assert len(recordings) == 1 and (handover / recordings[0]).read_bytes() == VOICE
    assert "export/customer.json" in files_under(handover)
    assert [row["kind"] for row in audit_rows(settings)] == ["export"]


def test_an_empty_folder_given_as_the_target_is_filled_and_nothing_else_left(customer_with_a_voice_message):
    """An empty folder the operator made (a mount point, say) is filled from a staging folder inside it."""
    settings, handover = customer_with_a_voice_message
    (handover / "export").mkdir()
    process = start_export(settings, handover / "export")
    stdout, stderr = finished(process)
    assert process.returncode == 0, (stdout, stderr)
    assert sorted(p.name for p in (handover / "export").iterdir()) == ["customer.json", "recordings"]
    assert [p.name for p in handover.iterdir()] == ["export"]
    assert [row["kind"] for row in audit_rows(settings)] == ["export"]


def untouched_since(folder, seconds_ago: float) -> None:
    """The folder and everything in it last changed ``seconds_ago``."""
    when = time.time() - seconds_ago
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (when, when))


def test_an_export_a_power_cut_left_unfinished_is_removed_by_the_tidy_pass(customer_with_a_voice_message):
    """Found in review: the staging folder (``<name>.partial-…``) of an export cut short by a power cut or a
    kill -9, which no ``finally`` removes, kept that customer's data in the data folder until they were erased.
    Now ``kefu run``'s tidy pass removes one nothing in which has changed for hours (bot/privacy/
    staged_folder.py); a recent one (an export maybe under way) stays, and so do finished exports."""
    from bot.db.recordings import tidy_forever

    settings, _handover = customer_with_a_voice_message
    exports = settings.data_dir / "exports"
    process = start_export(settings, customer="2")
    stdout, stderr = finished(process)
    assert process.returncode == 0, (stdout, stderr)
    [whole] = exports.iterdir()
    with writes_held(settings.data_dir / "kefu.sqlite3"):  # the command cannot put it in place yet
        process = start_export(settings)
        try:
            wait_for(lambda: any(p.name == "customer.json" for p in exports.glob("*.partial-*/*")), process,
                     "writing customer.json")
        finally:
            process.kill()  # as a power cut: no handler runs
            finished(process)
    [cut_short] = exports.glob("customer-1-*.partial-*")
    assert (cut_short / "customer.json").is_file() and files_under(cut_short / "recordings")  # their data
    under_way = exports / cut_short.name.replace(".partial-", ".partial-under-way-")
    shutil.copytree(cut_short, under_way)  # written just now
    untouched_since(cut_short, 24 * 3600)
    untouched_since(whole, 24 * 3600)  # an old finished export is the operator's, whatever its age
    in_under_way, in_whole = files_under(under_way), files_under(whole)

    stop = threading.Event()
    stop.set()  # one pass
    tidy_forever(settings, stop)

    assert not cut_short.exists()
    assert files_under(under_way) == in_under_way
    assert files_under(whole) == in_whole and "customer.json" in in_whole
