"""What ``kefu run`` says is also in ``var/logs/run.log``: started under nohup with its output thrown
away, or by a supervisor keeping none, its reasons (a taken port, a server that died and was started
again) were on no disk, and gone with the launcher when it was SIGKILLed."""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys

from bot import settings as settings_module
from bot.embedded_redis import free_port
from tests.conftest import PROJECT_ROOT


def environment(tmp_path, **extra) -> dict:
    env = {name: value for name, value in os.environ.items()
           if name not in ("KEFU_DATABASE_URL", "KEFU_LOG_LEVEL", "REDIS_URL")}
    return {**env, "KEFU_DATA_DIR": str(tmp_path / "var"), **extra}


def test_kefu_run_refused_with_its_output_thrown_away_leaves_the_reason_in_run_log(tmp_path):
    with socket.socket() as taken:  # another program on the action server's port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = environment(tmp_path, KEFU_RASA_PORT=str(free_port()), KEFU_ACTION_PORT=str(taken.getsockname()[1]),
                          KEFU_LOG_FORMAT="json")
        run = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=PROJECT_ROOT, env=env, timeout=120,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # nohup kefu run >/dev/null
    assert run.returncode == 2
    log = tmp_path / "var" / "logs" / "run.log"
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [line["level"] for line in lines] == ["warning"]
    assert "Kefu cannot start: port" in lines[0]["event"] and "already in use" in lines[0]["event"]
    assert lines[0]["timestamp"].startswith("20"), lines[0]  # when it was refused
    assert os.stat(log).st_mode & 0o077 == 0


KILLED = ("import logging, os, signal, sys\n"
          "from bot.observability.logging_setup import configure_from_settings\n"
          "from bot.observability.run_log import keep_run_log\n"
          "from bot.settings import get_settings\n"
          "configure_from_settings()\n"  # as bot/cli.py main() does for `kefu run`
          "with keep_run_log(get_settings()):\n"
          "    print('Kefu is running.')\n"
          "    print(\"Kefu's Rasa server died of SIGKILL (exit code -9)\", file=sys.stderr)\n"
          "    logging.getLogger('bot.outbound.worker').warning('outbox.gateway_failed status=503')\n"
          "    print(\"Kefu's Rasa server started again (pid 4242)\", file=sys.stderr, end='')\n"
          "    sys.stderr.write('\\n')\n"
          "    os.kill(os.getpid(), signal.SIGKILL)\n")


def test_what_kefu_run_said_before_it_was_killed_is_in_run_log(tmp_path):
    env = environment(tmp_path)
    killed = subprocess.run([sys.executable, "-c", KILLED], cwd=PROJECT_ROOT, env=env, timeout=120,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert killed.returncode == -signal.SIGKILL
    lines = (tmp_path / "var" / "logs" / "run.log").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4, lines
    assert "[info" in lines[0] and "Kefu is running." in lines[0]
    assert "[warning" in lines[1] and "died of SIGKILL" in lines[1]
    assert "outbox.gateway_failed" in lines[2] and "status=503" in lines[2]  # its own threads' log lines
    assert "started again (pid 4242)" in lines[3]  # a line printed in pieces is one line


def test_kefu_run_still_prints_on_its_console_and_gives_the_console_back(kefu_env, monkeypatch, capsys):
    from bot.cli import cmd_run
    from bot.stack import KefuStack, StartupError

    def start(*_args, **_kwargs):
        logging.getLogger("bot.stack").warning("stack.test_line reason=here")
        raise StartupError("stopped here by the test")

    monkeypatch.setattr(KefuStack, "start", start)
    monkeypatch.setenv("KEFU_RASA_PORT", str(free_port()))
    monkeypatch.setenv("KEFU_ACTION_PORT", str(free_port()))
    monkeypatch.setenv("KEFU_ALLOW_VOLATILE_REDIS", "on")
    settings_module.get_settings.cache_clear()
    stdout, stderr = sys.stdout, sys.stderr
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        assert cmd_run(argparse.Namespace()) == 1
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        settings_module.get_settings.cache_clear()
    assert (sys.stdout, sys.stderr) == (stdout, stderr)
    assert not [handler for handler in logging.getLogger().handlers
                if getattr(handler, "baseFilename", "").endswith("run.log")], "its log handler is removed"
    said = capsys.readouterr()
    assert "Kefu: preparing database" in said.out and "Kefu failed to start: stopped here" in said.err
    kept = (kefu_env.data_dir / "logs" / "run.log").read_text(encoding="utf-8")
    for line in ("Kefu: preparing database", "stack.test_line", "Kefu failed to start: stopped here"):
        assert line in kept, kept
