"""The embedded Redis is the redis-server Kefu started, or it does not start: a Redis already on its
port (one left by a killed ``kefu run``, an operator's own) answered the PING that ``start`` took as
success, our redis-server exited on "Address already in use", and Kefu kept conversations, codes and
the handoff queue in that server, without the append-only file it sets. And a data folder has one
redis-server at most: one left by a killed ``kefu run`` kept serving its append-only file while the next
started a second server on it (another free port). Real redis-servers of the test's own on free ports."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
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


@pytest.fixture
def orphan(tmp_path):
    """The embedded Redis of a ``kefu run`` killed with SIGKILL, still serving ``tmp_path / "redis"``: a
    launcher in a process of its own starts it and is killed; yields the server's pid and port."""
    code = ("import sys, time; from pathlib import Path; from bot.embedded_redis import EmbeddedRedis; "
            "s = EmbeddedRedis(Path(sys.argv[1]), aof_rewrite_s=0).start(); "
            "print(s.process.pid, s.port, flush=True); time.sleep(600)")
    launcher = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "redis")], stdout=subprocess.PIPE,
                                cwd=Path(embedded_redis.__file__).parent.parent)
    started = launcher.stdout.readline()
    launcher.kill()
    launcher.wait(timeout=10)
    launcher.stdout.close()
    assert started, "the launcher did not start its Redis"
    pid, port = map(int, started.split())
    try:
        yield pid, port
    finally:
        stop_orphan(pid)


def stop_orphan(pid: int) -> None:
    """``kill PID``, as the refusal says, and wait until it has exited (a zombie of init's has too)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        assert time.monotonic() < deadline, f"redis-server {pid} did not stop"
        time.sleep(0.05)


def refusal(folder: Path, **kwargs) -> str:
    """Why a second EmbeddedRedis on ``folder`` did not start (one that did is stopped, and the test fails)."""
    try:
        server = EmbeddedRedis(folder, aof_rewrite_s=0, **kwargs).start(timeout=10)
    except EmbeddedRedisError as exc:
        return str(exc)
    server.stop()
    pytest.fail(f"a second redis-server was started on {folder}")


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


def test_a_redis_left_on_this_data_folder_is_named_with_how_to_stop_it(tmp_path, orphan):
    pid, port = orphan  # a killed kefu run's, still serving
    with pytest.raises(EmbeddedRedisError, match=f"left running by an earlier Kefu: stop it \\(kill {pid}\\)"):
        EmbeddedRedis(tmp_path / "redis", port=port).start(timeout=10)
    assert redis_children() == set(), "only the one left running"


def test_a_redis_left_on_this_data_folder_on_another_port_is_refused_and_its_data_kept(tmp_path, orphan):
    """The default install (a free port chosen at each start): the next start chose another port and
    started a second redis-server on the same append-only file."""
    pid, port = orphan
    folder = tmp_path / "redis"
    left = redis.Redis(port=port)
    left.set("before", "1")
    said = refusal(folder)
    assert str(folder) in said and f"redis-server (pid {pid}) left running by an earlier Kefu" in said, said
    assert said.endswith(f"stop it (kill {pid})"), said
    assert redis_children() == set(), "no second server was started"
    left.set("after", "2")  # written while the refused start was tried: not lost
    left.close()

    stop_orphan(pid)
    server = EmbeddedRedis(folder, aof_rewrite_s=0).start()
    try:
        client = redis.Redis.from_url(server.url)
        assert client.mget("before", "after") == [b"1", b"2"]  # its append-only file, whole
        client.close()
    finally:
        server.stop()


def test_a_data_folder_whose_kefu_still_runs_is_refused_without_telling_to_kill_its_redis(tmp_path):
    """A kefu run still starting, or a kefu command, on the folder: the second one says who has it."""
    folder = tmp_path / "redis"
    first = EmbeddedRedis(folder, aof_rewrite_s=0).start()
    try:
        said = refusal(folder)
        assert f"redis-server (pid {first.process.pid}) of Kefu process {os.getpid()}, still running" in said, said
        assert "kill" not in said, said
        assert redis_children() == {first.process.pid}
    finally:
        first.stop()
    EmbeddedRedis(folder, aof_rewrite_s=0).start().stop()  # stopped: the folder is free again


def test_kefu_run_refuses_a_data_folder_a_killed_kefu_runs_redis_still_serves_before_preparing_anything(
        tmp_path, orphan, monkeypatch, capsys):
    from bot.stack import KefuStack

    pid, _ = orphan

    def start(*_args, **_kwargs):
        raise AssertionError("kefu run went on to start the servers")

    monkeypatch.setattr(KefuStack, "start", start)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("KEFU_DATABASE_URL", raising=False)
    monkeypatch.delenv("KEFU_REDIS_PORT", raising=False)
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path))  # its redis folder is the orphan's
    monkeypatch.setenv("KEFU_RASA_PORT", str(free_port()))
    monkeypatch.setenv("KEFU_ACTION_PORT", str(free_port()))
    assert kefu_run() == 2
    assert not (tmp_path / "kefu.sqlite3").exists()  # refused before preparing anything
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines == [f"Kefu cannot start: embedded Redis: {tmp_path / 'redis'} is in use by a redis-server "
                     f"(pid {pid}) left running by an earlier Kefu: stop it (kill {pid})."], lines


def test_the_stack_reports_a_data_folder_in_use_as_a_start_failure_and_starts_no_server(tmp_path, orphan,
                                                                                         monkeypatch):
    """Taken between ``kefu run``'s check and the start: the same one line, not a traceback."""
    from bot.stack import KefuStack, StartupError

    pid, _ = orphan

    def spawn(*_args, **_kwargs):
        raise AssertionError("the servers were started")

    monkeypatch.setattr(KefuStack, "prepare", lambda self: None)
    monkeypatch.setattr(KefuStack, "_spawn", spawn)
    stack = KefuStack(settings_module.from_environment({"KEFU_DATA_DIR": str(tmp_path)}))
    try:
        with pytest.raises(StartupError, match=f"^embedded Redis: .* stop it \\(kill {pid}\\)$"):
            stack.start()
        assert redis_children() == set()
    finally:
        stack.stop()


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
    monkeypatch.delenv("REDIS_URL", raising=False)  # the embedded Redis (CI's, set for the suite, keeps nothing)
    monkeypatch.setenv("KEFU_RASA_PORT", str(free_port()))
    monkeypatch.setenv("KEFU_ACTION_PORT", str(free_port()))
    assert kefu_run() == 1
    err = capsys.readouterr().err
    assert "Kefu failed to start: embedded Redis: redis-server exited" in err
    assert "an earlier run's failure" not in err, err
