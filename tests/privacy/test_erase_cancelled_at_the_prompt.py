"""``kefu customer erase`` cancelled at its "Type 'erase' to confirm" prompt. Found in review: Ctrl-C there ended
in a traceback, and Ctrl-D (end of input) in an EOFError's traceback. Now both cancel: "Not erased.", a
non-zero exit (130 for Ctrl-C, as the shell gives; 1 for Ctrl-D, as for any answer but "erase"), the embedded
Redis the command started stopped, and nothing erased.

A real ``kefu`` process whose terminal is a real pseudo-terminal (its controlling terminal, the command in its
foreground): the test types Ctrl-C or Ctrl-D into it once the prompt is shown and the command waits reading its
terminal (a Ctrl-C a moment before that read would be noted by Python and acted on only after the next key: a
race of the test's, not one an operator's hand meets)."""
from __future__ import annotations

import fcntl
import os
import platform
import subprocess
import sys
import termios
import time

import pytest
import sqlalchemy as sa

from bot.db.repository import Repository
from bot.db.schema import customers
from bot.embedded_redis import EmbeddedRedis
from tests.conftest import PROJECT_ROOT

KEFU = [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]
PROMPT = "Type 'erase' to confirm: "
DEADLINE_S = 60  # the command's start (imports, its embedded Redis) takes seconds, not this
READ = {"x86_64": "0", "aarch64": "63"}  # the read system call's number


def reading_its_terminal(pid: int) -> bool:
    """Whether the process is blocked in read(0, ...) (/proc/PID/syscall: the call's number, then its arguments)."""
    with open(f"/proc/{pid}/syscall", encoding="ascii") as status:
        call = status.read().split()
    return len(call) > 1 and call[1] == "0x0" and call[0] == READ.get(platform.machine(), call[0])


def own_terminal():  # in the command's process, after setsid (start_new_session): stdin becomes its terminal
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def read_until(stream, text: str, process: subprocess.Popen) -> str:
    """The command's output up to ``text`` (the pipe is read as it comes: the prompt ends without a newline)."""
    deadline = time.monotonic() + DEADLINE_S
    seen = ""
    while text not in seen:
        assert time.monotonic() < deadline, f"no {text!r} within the deadline: {seen!r}"
        chunk = os.read(stream.fileno(), 4096).decode("utf-8")
        assert chunk or process.poll() is None, f"kefu ended before {text!r}: {seen!r} {process.communicate()}"
        seen += chunk
    return seen


def wait_for(condition, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert process.poll() is None, f"kefu ended: {process.communicate()}"
        assert time.monotonic() < deadline, "kefu did not wait for an answer within the deadline"
        time.sleep(0.01)


@pytest.mark.parametrize("key, exit_code", [(b"\x03", 130), (b"\x04", 1)], ids=["ctrl-c", "ctrl-d"])
def test_cancelled_at_the_prompt_erases_nothing_and_stops_its_redis(kefu_env, monkeypatch, key, exit_code):
    monkeypatch.delenv("REDIS_URL", raising=False)  # the default install: the command starts the embedded Redis
    keyboard, terminal = os.openpty()
    try:
        process = subprocess.Popen(KEFU + ["customer", "erase", "1"], cwd=PROJECT_ROOT, env=dict(os.environ),
                                   stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True, preexec_fn=own_terminal)
        try:
            shown = read_until(process.stdout, PROMPT, process)
            wait_for(lambda: reading_its_terminal(process.pid), process)
            os.write(keyboard, key)  # the terminal turns it into SIGINT, or the end of input
            rest, stderr = process.communicate(timeout=DEADLINE_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    finally:
        os.close(terminal)
        os.close(keyboard)

    stdout = shown + rest.decode("utf-8")
    stderr = stderr.decode("utf-8")
    assert "would erase" in stdout and PROMPT in stdout
    with Repository(kefu_env.database_url).engine.connect() as conn:
        assert conn.execute(sa.select(customers.c.name).where(customers.c.id == 1)).scalar_one(), "nothing erased"
    assert process.returncode == exit_code, (process.returncode, stdout, stderr)
    assert "Traceback" not in stderr and stderr.strip() == "", stderr
    assert stdout.endswith(PROMPT + "\nNot erased.\n"), stdout
    redis = EmbeddedRedis(kefu_env.redis.embedded_dir).start()  # refused if the command's were still running
    redis.stop()
