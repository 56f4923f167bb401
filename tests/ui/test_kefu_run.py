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
