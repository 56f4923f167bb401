"""The servers' log files stay bounded (``KEFU_LOG_MAX_MB``, ``KEFU_LOG_BACKUPS``): ``var/logs/rasa.log``
grew without end and filled the disk on a busy day. The newest lines are in ``rasa.log``, the older in
``rasa.log.1`` ...; the reason a server stopped is still found; a log that cannot be written never
blocks its server."""
from __future__ import annotations

import os
import shutil
import sys

from bot.launcher import describe_exit
from bot.settings import from_environment
from bot.stack import KefuStack

# 4000 numbered lines of 41 bytes (~160 kB), then the reason it stops.
CHATTY = ("import sys\n"
          "for n in range(4000):\n"
          "    print(f'line {n:05d} ' + 'x' * 30)\n"
          "print('RuntimeError: out of patience', file=sys.stderr)\n"
          "sys.exit(3)\n")


def stack_for(tmp_path, **env) -> KefuStack:
    environ = {name: value for name, value in os.environ.items() if name != "KEFU_DATABASE_URL"}
    return KefuStack(from_environment({**environ, "KEFU_DATA_DIR": str(tmp_path / "var"), **env}))


def numbers(path) -> list[int]:
    return [int(line.split()[1]) for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("line ")]


def test_a_chatty_server_leaves_bounded_files_with_the_newest_lines_in_the_current_one(tmp_path):
    stack = stack_for(tmp_path, KEFU_LOG_MAX_MB="0.02", KEFU_LOG_BACKUPS="2")  # 20971 bytes
    log = tmp_path / "var" / "logs" / "rasa.log"
    log.parent.mkdir(parents=True)
    log.write_bytes(b"an earlier run's line\n")
    process = stack._spawn([sys.executable, "-c", CHATTY], stack.child_environment(), log)
    assert process.wait(timeout=60) == 3
    stack.stop()

    files = sorted(log.parent.glob("rasa.log*"))
    assert [path.name for path in files] == ["rasa.log", "rasa.log.1", "rasa.log.2"]  # the oldest dropped
    assert all(0 < path.stat().st_size <= 20971 for path in files), {p.name: p.stat().st_size for p in files}
    current, first, second = numbers(log), numbers(log.parent / "rasa.log.1"), numbers(log.parent / "rasa.log.2")
    assert current[-1] == 3999 and "RuntimeError: out of patience" in log.read_text(encoding="utf-8")
    assert second + first + current == list(range(second[0], 4000)), "lines lost or out of order between files"
    assert all(os.stat(path).st_mode & 0o077 == 0 for path in files), "rotated logs are owner-only too"
    # What kefu run prints when the server stopped: the reason, from the lines written since its start.
    said = describe_exit("Rasa server", 3, log, stack.log_starts[log])
    assert "RuntimeError: out of patience" in said and "earlier run" not in said


def test_the_reason_is_found_when_the_log_was_rotated_right_after_the_start(tmp_path):
    stack = stack_for(tmp_path, KEFU_LOG_MAX_MB="0.02", KEFU_LOG_BACKUPS="3")
    log = tmp_path / "var" / "logs" / "actions.log"
    log.parent.mkdir(parents=True)
    log.write_bytes(b"before: Traceback of an earlier run\n")
    quick = "import sys\nprint('x' * 30000)\nprint('RuntimeError: gone', file=sys.stderr)\nsys.exit(1)\n"
    process = stack._spawn([sys.executable, "-c", quick], stack.child_environment(), log)
    assert process.wait(timeout=60) == 1
    stack.stop()
    said = describe_exit("action server", 1, log, stack.log_starts[log])
    assert "RuntimeError: gone" in said and "earlier run" not in said


def test_a_log_that_cannot_be_written_does_not_block_its_server(tmp_path, capsys):
    stack = stack_for(tmp_path, KEFU_LOG_MAX_MB="0.02", KEFU_LOG_BACKUPS="1")
    logs = tmp_path / "var" / "logs"
    logs.mkdir(parents=True)
    # Its folder goes away after the first lines: rotating and reopening fail; the server must not notice.
    script = ("import shutil, sys\nprint('first')\nsys.stdout.flush()\n"
              f"shutil.rmtree({str(logs)!r})\n"
              "for n in range(20000):\n    print('y' * 60)\nsys.exit(0)\n")  # 1.2 MB: more than a pipe holds
    process = stack._spawn([sys.executable, "-c", script], stack.child_environment(), logs / "rasa.log")
    assert process.wait(timeout=60) == 0
    stack.stop()
    said = capsys.readouterr().err
    assert said.count("cannot write") == 1 and "rasa.log" in said, said  # once, not a traceback a line
    shutil.rmtree(logs, ignore_errors=True)
