"""The embedded Redis is the redis-server Kefu started, or it does not start: a Redis already on its
port (one left by a killed ``kefu run``, an operator's own) answered the PING that ``start`` took as
success, our redis-server exited on "Address already in use", and Kefu kept conversations, codes and
the handoff queue in that server, without the append-only file it sets. Real redis-servers of the
test's own on free ports."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from bot import embedded_redis
from bot import settings as settings_module
from bot.embedded_redis import EmbeddedRedis, EmbeddedRedisError, free_port, redis_server_binary


@pytest.fixture
def foreign(tmp_path):
    """Somebody else's Redis on a free port: no persistence, its own folder."""
    folder = tmp_path / "theirs"
    folder.mkdir()
    port = free_port()
    process = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(folder)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.monotonic() < deadline, "the test's own Redis did not start"
            time.sleep(0.05)
    client.config_resetstat()
    yield port, process.pid, client
    client.close()
    process.terminate()
    process.wait(timeout=10)


def untouched(client: redis.Redis) -> None:
    """Nothing written into it, and it was only asked questions (INFO, CONFIG GET), never told anything."""
    assert client.dbsize() == 0
    assert client.info("persistence")["rdb_changes_since_last_save"] == 0
    asked = {name.removeprefix("cmdstat_") for name in client.info("commandstats")}
    assert asked <= {"info", "config", "ping", "dbsize"}, asked


def redis_children() -> set[int]:
    """Pids of the redis-servers this test process started that still run (their command lines are
    rewritten by Redis to ``redis-server 127.0.0.1:port``, so they are found as our children)."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            line = stat.read_text()
        except OSError:  # gone meanwhile
            continue
        name, rest = line.split("(", 1)[1].rsplit(")", 1)
        state, parent = rest.split()[:2]
        if int(parent) == os.getpid() and state != "Z" and name.startswith("redis-server"):
            pids.add(int(stat.parent.name))
    return pids


def kefu_run() -> int:
    """``kefu run`` in this test's process (its servers' start replaced by the test), with the signal
    handlers it installs put back afterwards."""
    from bot import cli

    settings_module.get_settings.cache_clear()
    handlers = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        return cli.cmd_run(argparse.Namespace())
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        settings_module.get_settings.cache_clear()


def test_a_port_another_redis_has_is_refused_naming_it_and_that_redis_is_left_untouched(tmp_path, foreign):
    port, their_pid, client = foreign
    ours = tmp_path / "redis"
    with pytest.raises(EmbeddedRedisError) as refused:
        EmbeddedRedis(ours, port=port).start(timeout=10)
    said = str(refused.value)
    assert f"port {port}" in said and "another Redis" in said and f"pid {their_pid}" in said, said
    assert str(tmp_path / "theirs") in said, said  # its data folder: whose it is
    assert redis_children() == {their_pid}, "ours is stopped"
    assert not list(ours.glob("appendonly*")), "nothing of ours was written"
    untouched(client)


def test_a_redis_left_on_this_data_folder_is_named_with_how_to_stop_it(tmp_path):
    folder = tmp_path / "redis"
    left = EmbeddedRedis(folder, aof_rewrite_s=0).start()  # a killed kefu run's, still serving
    try:
        with pytest.raises(EmbeddedRedisError, match=f"left running by an earlier Kefu: stop it \\(kill {left.process.pid}\\)"):
            EmbeddedRedis(folder, port=left.port).start(timeout=10)
        assert redis_children() == {left.process.pid}, "only the one left running"
    finally:
        left.stop()


def test_a_free_port_taken_before_redis_binds_it_is_chosen_again(tmp_path, foreign, monkeypatch):
    port, _, client = foreign
    ports = iter([port, free_port()])  # the foreign Redis took the port just after it was found free
    monkeypatch.setattr(embedded_redis, "free_port", lambda: next(ports))
    server = EmbeddedRedis(tmp_path / "redis", aof_rewrite_s=0).start()
    try:
        assert server.port != port
        ours = redis.Redis.from_url(server.url)
        assert ours.info("server")["process_id"] == server.process.pid
        ours.set("probe", "1")
        assert ours.info("persistence")["aof_enabled"] == 1  # our persistence, not theirs
        ours.close()
    finally:
        server.stop()
    untouched(client)


def test_kefu_run_refuses_a_redis_port_another_redis_has_before_preparing_anything(tmp_path, foreign, monkeypatch,
                                                                                     capsys):
    from bot.stack import KefuStack

    port, their_pid, client = foreign

    def start(*_args, **_kwargs):
        raise AssertionError("kefu run went on to start the servers")

    monkeypatch.setattr(KefuStack, "start", start)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("KEFU_DATABASE_URL", raising=False)
    monkeypatch.setenv("KEFU_REDIS_PORT", str(port))
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("KEFU_RASA_PORT", str(free_port()))
    monkeypatch.setenv("KEFU_ACTION_PORT", str(free_port()))
    assert kefu_run() == 2
    assert not (tmp_path / "var" / "kefu.sqlite3").exists()  # refused before preparing anything
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("Kefu cannot start: embedded Redis: port") and str(port) in lines[0], lines
    assert f"pid {their_pid}" in lines[0] and "KEFU_REDIS_PORT" in lines[0], lines
    untouched(client)


def test_the_stack_reports_a_taken_redis_port_as_a_start_failure_and_starts_no_server(tmp_path, foreign, monkeypatch):
    """Taken between ``kefu run``'s check and the start: the same one line, not a traceback."""
    from bot.stack import KefuStack, StartupError

    port, their_pid, client = foreign

    def spawn(*_args, **_kwargs):
        raise AssertionError("the servers were started over somebody else's Redis")

    monkeypatch.setattr(KefuStack, "prepare", lambda self: None)
    monkeypatch.setattr(KefuStack, "_spawn", spawn)
    settings = settings_module.from_environment({"KEFU_DATA_DIR": str(tmp_path / "var"),
                                                 "KEFU_REDIS_PORT": str(port)})
    with pytest.raises(StartupError) as refused:
        KefuStack(settings).start()
    assert f"embedded Redis: port {port}" in str(refused.value) and "KEFU_REDIS_PORT" in str(refused.value)
    assert redis_children() == {their_pid}
    untouched(client)


def test_kefu_run_shows_no_old_server_log_lines_when_the_embedded_redis_failed_first(kefu_env, monkeypatch, capsys):
    """No server was started: lines of an earlier run's ``rasa.log`` are not this failure's reason."""
    from bot.stack import KefuStack, StartupError

    logs = kefu_env.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "rasa.log").write_text("ERROR an earlier run's failure\n", encoding="utf-8")

    def start(*_args, **_kwargs):
        raise StartupError("embedded Redis: redis-server exited; see var/redis/redis.log")

    monkeypatch.setattr(KefuStack, "start", start)
    monkeypatch.setenv("KEFU_RASA_PORT", str(free_port()))
    monkeypatch.setenv("KEFU_ACTION_PORT", str(free_port()))
    assert kefu_run() == 1
    err = capsys.readouterr().err
    assert "Kefu failed to start: embedded Redis: redis-server exited" in err
    assert "an earlier run's failure" not in err, err
