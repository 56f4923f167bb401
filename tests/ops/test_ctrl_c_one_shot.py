"""Ctrl-C in a one-shot ``kefu`` command. Found in review: every one that does not handle it itself ended in a
Python traceback (and the shell's exit status -2/130 from Python's own handler). Now it says so in one line
and exits 130, as the shell gives a command Ctrl-C stopped.

A real ``kefu customer import`` reading a named pipe: it waits there, in the command's own code, until the
test writes. The test sends SIGINT once the command has opened the pipe (the test's non-blocking open of the
writing end succeeds only then)."""
from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from bot.db.repository import Repository
from bot.db.schema import customers
from tests.conftest import PROJECT_ROOT
from tests.ops.test_outbox_resend_cut_short import CTRL_C_AS_IN_A_TERMINAL, KEFU, kefu_env

DEADLINE_S = 60  # the command's start (imports) takes seconds, not this


def writing_end_once_read(pipe, process: subprocess.Popen) -> int:
    """The pipe's writing end, opened once the command has opened it to read."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            return os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: nobody reads it yet
                raise
        assert process.poll() is None, f"kefu ended before reading: {process.communicate()}"
        assert time.monotonic() < deadline, "kefu did not open the file within the deadline"
        time.sleep(0.01)


def test_ctrl_c_in_a_one_shot_command_is_one_line_and_exit_130(tmp_path):
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o700)
    repository = Repository(f"sqlite:///{data_dir / 'kefu.sqlite3'}")
    repository.create_schema()
    pipe = tmp_path / "customers.jsonl"
    os.mkfifo(pipe)
    process = subprocess.Popen(KEFU + ["customer", "import", str(pipe)], cwd=PROJECT_ROOT, env=kefu_env(data_dir),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writing = None
    try:
        writing = writing_end_once_read(pipe, process)
        process.send_signal(signal.SIGINT)  # as a terminal's Ctrl-C, while the command waits for its file
        stdout, stderr = process.communicate(timeout=DEADLINE_S)
    finally:
        if writing is not None:
            os.close(writing)
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 130, (process.returncode, stdout, stderr)
    assert stderr == "kefu: stopped by Ctrl-C\n", stderr  # no traceback
    with repository.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(customers)).scalar_one() == 0


# The console script pip writes for pyproject.toml's entry point (``kefu = "module:function"``), with, before it,
# an import hook that stops at one module's import: it says so on stdout and waits there for the test's Ctrl-C.
# Swallowed: a KeyboardInterrupt raised while it waits goes no further, as in the import machinery's weakref
# callbacks (Python prints "Exception ignored in ..." and drops it) and in a library's bare ``except:``.
CONSOLE_SCRIPT = "import sys; from {module} import {function}; sys.exit({function}())"
PAUSE_AT_IMPORT = """
import sys, time
class PauseAt:
    def find_spec(self, name, path=None, target=None):
        if name == {name!r}:
            sys.meta_path.remove(self)
            try:
                print("importing", name, flush=True)
                time.sleep({deadline})
            except BaseException:
                if not {swallowed}:
                    raise
sys.meta_path.insert(0, PauseAt())
"""


def console_script() -> str:
    [(module, function)] = re.findall(r'^kefu = "([\w.]+):(\w+)"$', (PROJECT_ROOT / "pyproject.toml").read_text(),
                                      re.MULTILINE)
    return CONSOLE_SCRIPT.format(module=module, function=function)


@pytest.mark.parametrize("module, swallowed", [
    ("bot.settings", False),  # Kefu's first
    ("sanic", False), ("sqlalchemy", False), ("scipy.signal", False),  # behind the commands' modules: seconds
    ("bot.observability.metrics", False),  # the last before the command itself runs
    ("sqlalchemy", True), ("scipy.signal", True),
    ("alembic", False),  # the command's own (kefu db current's): a KeyboardInterrupt, as before
])
def test_ctrl_c_while_kefu_loads_is_one_line_and_exit_130(tmp_path, module, swallowed):
    """Found in review: a Ctrl-C in the seconds ``kefu`` spends importing its modules, before any command
    runs, ended in a Python traceback; where the KeyboardInterrupt was lost, the command ran on. The Ctrl-C lands
    while ``module`` is being imported, at the start of ``kefu db current``."""
    data_dir = tmp_path / "var"
    data_dir.mkdir(mode=0o700)
    code = (CTRL_C_AS_IN_A_TERMINAL + PAUSE_AT_IMPORT.format(name=module, deadline=DEADLINE_S, swallowed=swallowed)
            + console_script())
    process = subprocess.Popen([sys.executable, "-c", code, "db", "current"], cwd=PROJECT_ROOT,
                               env=kefu_env(data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        paused = process.stdout.readline()  # the hook's line, or "" when kefu ended without importing it
        assert paused == f"importing {module}\n", (paused, process.communicate())
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=DEADLINE_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 130, (process.returncode, stdout, stderr)
    assert stderr == "kefu: stopped by Ctrl-C\n", stderr  # no traceback
    assert stdout == ""  # the command did not run
