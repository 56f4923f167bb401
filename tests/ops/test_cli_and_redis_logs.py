"""``cli.log`` and the embedded Redis's ``redis.log`` stay bounded like the servers' logs
(``KEFU_LOG_MAX_MB``, ``KEFU_LOG_BACKUPS``): both grew for ever, ``cli.log`` with every ``kefu`` command
ever run, ``redis.log`` with every start and every hourly append-only rewrite. Several ``kefu`` commands
write ``cli.log`` at once: the rotation must neither tear, lose nor reorder their lines."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
import redis

from bot.embedded_redis import EmbeddedRedis, EmbeddedRedisError
from bot.observability.log_files import SharedBoundedLog
from tests.conftest import PROJECT_ROOT

WRITERS, LINES = 4, 500
# What a one-shot `kefu` command does (bot/cli.py main): log through configure_from_settings(one_shot=True).
COMMAND = ("import logging, sys\n"
           "from bot.observability.logging_setup import configure_from_settings\n"
           "from bot.settings import from_environment\n"
           "configure_from_settings(from_environment(), one_shot=True)\n"
           "log = logging.getLogger('kefu.test')\n"
           f"for n in range({LINES}):\n"
           "    log.info('probe.line writer=%s n=%d %s', sys.argv[1], n, 'x' * 40)\n")


def test_kefu_commands_writing_cli_log_at_once_keep_it_bounded_with_whole_lines_in_order(tmp_path):
    env = {name: value for name, value in os.environ.items() if name not in ("KEFU_DATABASE_URL", "KEFU_LOG_LEVEL")}
    env.update(KEFU_DATA_DIR=str(tmp_path / "var"), KEFU_LOG_MAX_MB="0.02", KEFU_LOG_BACKUPS="2",  # 20971 bytes
               KEFU_LOG_FORMAT="json")
    logs = tmp_path / "var" / "logs"
    logs.mkdir(parents=True)
    (logs / "cli.log").write_bytes(b'{"event": "an earlier command"}\n' * 2000)  # 64 kB from before
    writers = [subprocess.Popen([sys.executable, "-c", COMMAND, str(w)], cwd=PROJECT_ROOT, env=env)
               for w in range(WRITERS)]
    assert [writer.wait(timeout=120) for writer in writers] == [0] * WRITERS

    files = [logs / name for name in ("cli.log.2", "cli.log.1", "cli.log")]  # oldest first
    assert sorted(path.name for path in logs.glob("cli.log*")) == ["cli.log", "cli.log.1", "cli.log.2"]
    assert all(0 < path.stat().st_size <= 20971 for path in files), {p.name: p.stat().st_size for p in files}
    assert all(os.stat(path).st_mode & 0o077 == 0 for path in files), "rotated logs are owner-only too"
    lines = [json.loads(line) for path in files for line in path.read_text(encoding="utf-8").splitlines()]
    probes = [line["message"].split() for line in lines if line["event"] == "probe.line"]
    assert len(probes) == len(lines), "only these commands' lines are left: the earlier ones were rotated out"
    for writer in range(WRITERS):
        kept = [int(n.split("=")[1]) for w, n, _ in probes if w == f"writer={writer}"]
        assert not kept or kept == list(range(kept[0], LINES)), f"writer {writer}: lines lost or out of order"
    assert probes[-1][1] == f"n={LINES - 1}", "the newest line is the last of cli.log"


def test_a_command_goes_on_in_the_file_another_command_rotated_to(tmp_path):
    """Two commands taking turns (each has its own open file, as two processes do): after one rotates,
    the other writes into the new ``cli.log``, not on into ``cli.log.1`` — the lines of the three files
    read oldest first are the newest ones in the order written, each file within the limit."""
    import logging

    first, second = (SharedBoundedLog(tmp_path / "cli.log", 2000, 2) for _ in range(2))
    try:
        for n in range(300):
            (first, second)[n % 2].handle(logging.makeLogRecord({"msg": f"line {n:04d} " + "x" * 40}))
    finally:
        first.close()
        second.close()
    files = [tmp_path / name for name in ("cli.log.2", "cli.log.1", "cli.log")]
    assert all(0 < path.stat().st_size <= 2000 for path in files), {p.name: p.stat().st_size for p in files}
    written = [int(line.split()[1]) for path in files for line in path.read_text(encoding="utf-8").splitlines()]
    assert written == list(range(written[0], 300)), "lines lost or out of order between files"


def wait_for_rewrite(client: redis.Redis) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = client.info("persistence")
        if not state["aof_rewrite_in_progress"] and not state["aof_rewrite_scheduled"]:
            return
        time.sleep(0.05)
    raise AssertionError("the append-only rewrite did not finish")


def test_the_embedded_redis_log_stays_bounded_across_restarts(tmp_path):
    folder = tmp_path / "redis"
    for _ in range(4):  # each start, rewrite and stop logs a few lines
        server = EmbeddedRedis(folder, aof_rewrite_s=0, log_max_bytes=1500, log_backups=2).start()
        try:
            client = redis.Redis.from_url(server.url)
            for _ in range(3):
                wait_for_rewrite(client)
                client.bgrewriteaof()
            wait_for_rewrite(client)
            client.close()
        finally:
            server.stop()

    files = sorted(folder.glob("redis.log*"))
    assert [path.name for path in files] == ["redis.log", "redis.log.1", "redis.log.2"]
    assert all(0 < path.stat().st_size <= 1500 for path in files), {p.name: p.stat().st_size for p in files}
    assert all(os.stat(path).st_mode & 0o077 == 0 for path in files), "Redis's log is owner-only"
    newest = (folder / "redis.log").read_text(encoding="utf-8").splitlines()
    assert "ready to exit" in newest[-1], newest[-3:]  # the last stop's own line, nothing lost after it


def test_an_embedded_redis_that_cannot_start_says_why_in_its_log(tmp_path):
    """Its reason is in ``redis.log`` by the time the error sends the operator there."""
    with socket.socket() as taken:  # its port is someone else's
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(EmbeddedRedisError, match="redis.log"):
            EmbeddedRedis(tmp_path / "redis", port=taken.getsockname()[1]).start(timeout=10)
    assert "Address already in use" in (tmp_path / "redis" / "redis.log").read_text(encoding="utf-8")
