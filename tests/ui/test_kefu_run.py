"""``kefu run`` says why it cannot start or why it stopped, and exits non-zero."""
from __future__ import annotations

import os
import socket
import subprocess
import sys

from bot.embedded_redis import free_port
from bot.launcher import describe_exit, reason_lines
from tests.conftest import PROJECT_ROOT


def test_a_taken_port_is_reported_and_exits_non_zero(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env = dict(os.environ, KEFU_DATA_DIR=str(tmp_path / "var"), KEFU_RASA_PORT=str(port),
                   KEFU_ACTION_PORT=str(free_port()), PYTHONPATH=str(PROJECT_ROOT))
        env.pop("KEFU_DATABASE_URL", None)
        done = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=PROJECT_ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert str(port) in done.stderr and "Rasa server" in done.stderr
    assert "Kefu is running" not in done.stdout


def test_a_dead_server_is_described_with_the_line_that_says_why(tmp_path):
    log = tmp_path / "rasa.log"
    log.write_text("2026-11-30 INFO starting\n"
                   "OSError: [Errno 98] error while attempting to bind on address ('127.0.0.1', 5005): address already in use\n"
                   "2026-11-30 INFO shutting down\n", encoding="utf-8")
    text = describe_exit("Rasa server", 1, log)
    assert "Rasa server" in text and "exit code 1" in text and "address already in use" in text
    assert reason_lines(tmp_path / "missing.log") == []


def test_a_server_that_cannot_be_started_again_is_tried_again_later(tmp_path):
    """The keeper outlives a failed restart (it used to end ``kefu run`` and every server with it)."""
    from bot.launcher import Keeper

    class Stack:
        def __init__(self):
            self.processes = [subprocess.Popen([sys.executable, "-c", "pass"])]
            self.processes[0].wait()
            self.spawns = 0

        def child_environment(self):
            if self.spawns == 0:
                self.spawns += 1
                raise OSError("database file is busy")
            return dict(os.environ)

        def _spawn(self, command, env, log_file):
            self.spawns += 1
            process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
            self.processes.append(process)
            return process

    stack = Stack()
    keeper = Keeper(stack, [("action server", tmp_path / "actions.log")])
    told = keeper.tick(now=100.0) + keeper.tick(now=102.0)
    assert any("could not be started again" in line and "database file is busy" in line for line in told), told
    told = keeper.tick(now=200.0)
    assert any("started again" in line and "could not" not in line for line in told), told
    restarted = keeper.entries[0]["process"]
    assert restarted.poll() is None
    restarted.kill()
    restarted.wait()



def test_a_fresh_install_without_a_data_folder_gets_its_database(tmp_path):
    """`make run` on a fresh clone: no var/ yet. `kefu run` upgraded the schema before anything made the
    folder, and SQLite could not open the file (found by the SIGTERM-while-starting test)."""
    from bot.cli import upgrade_database
    from bot.settings import from_environment

    settings = from_environment({"KEFU_DATA_DIR": str(tmp_path / "fresh" / "var")})
    assert upgrade_database(settings)
    assert (tmp_path / "fresh" / "var" / "kefu.sqlite3").is_file()
